/** \file
 * The LLVM backend's pipeline and its node-to-region mapping. See node_region.h.
 */
#include "backends/llvm/node_region.h"

#include <fmt/format.h>

#include "backends/interp/constant_evaluator.h"
#include "ir/ops.h"
#include "passes/decompose.h"
#include "passes/fuse.h"
#include "passes/inline_fusions.h"
#include "passes/pass_manager.h"

namespace weft::llvm_backend {

namespace {

/// A lone node the fuser never fuses (transpose, slice, concat, gather, scatter_add, rng_uniform) as a region.
Graph single_node_region(const Graph& g, const Node& node) {
  Graph body(std::string(op_name(node.op)));
  std::vector<ValueId> xs;
  for (size_t i = 0; i < node.operands.size(); ++i)
    xs.push_back(body.add_input(fmt::format("x{}", i), g.type(node.operands[i])));
  int32_t index = body.add_node(node.op, xs, node.attrs, {g.type(node.results[0])});
  body.add_output("out0", body.nodes()[index].results[0]);
  return body;
}

}  // namespace

Graph compile_pipeline(const Graph& graph) {
  PassManager passes;
  // Fusion nodes from the input (a hand-written or dumped fused graph) give way to the fuser's.
  passes.add(Pass{"inline_fusions", [](const Graph& g) { return inline_fusions(g); }});
  passes.add(Pass{"decompose", [](const Graph& g) { return decompose(g); }});
  passes.add(standard_pipeline(PassContext{interpreter_constant_evaluator()}));
  passes.add(Pass{"fuse", [](const Graph& g) { return fuse(g); }});
  return passes.run(graph);
}

std::optional<NodeRegion> node_region(const Graph& g, const Node& node, std::string* why) {
  // The op table's LLVM column says how each op runs (ir/ops.h, ProviderImpl).
  const ProviderSupport& llvm = op_def(node.op).llvm;
  std::string reason;
  switch (llvm.impl) {
    case ProviderImpl::region:
      if (node.body) return NodeRegion{*node.body, node.attrs.get_string("kind")};
      reason = fmt::format("a {} without a body", op_name(node.op));
      break;
    case ProviderImpl::fused_or_alone:
      return NodeRegion{single_node_region(g, node), "loop"};
    case ProviderImpl::alone:
      return NodeRegion{single_node_region(g, node), std::string(op_name(node.op))};
    case ProviderImpl::fused:
      reason = fmt::format("{} is generated inside fused regions only, and this one is not in one", op_name(node.op));
      break;
    case ProviderImpl::decomposed:
      reason = fmt::format("{} is a composite, generated only as the core ops it decomposes into", op_name(node.op));
      break;
    case ProviderImpl::interpreter:
      reason = llvm.reason.empty() ? fmt::format("no generated code for {}", op_name(node.op)) : llvm.reason;
      break;
  }
  if (why) *why = reason;
  return std::nullopt;
}

}  // namespace weft::llvm_backend
