/** \file
 * The LLVM provider's call-to-region mapping. See node_region.h.
 */
#include "backends/llvm/node_region.h"

#include <fmt/format.h>

#include "ir/ops.h"

namespace weft::llvm_backend {

namespace {

/// A lone node the fuser never fuses (transpose, slice, concat, gather, scatter_add, rng_uniform) as a region.
Graph single_node_region(const KernelCall& call) {
  Graph body(std::string(op_name(call.op)));
  std::vector<ValueId> xs;
  for (int32_t i = 0; i < call.num_inputs; ++i)
    xs.push_back(body.add_input(fmt::format("x{}", i), call.operands[i].type));
  int32_t index = body.add_node(call.op, xs, call.attrs, {call.operands[call.num_inputs].type});
  body.add_output("out0", body.nodes()[index].results[0]);
  return body;
}

}  // namespace

std::optional<NodeRegion> call_region(const KernelCall& call, std::string* why) {
  // The op table's LLVM column says how each op runs (ir/ops.h, ProviderImpl).
  const ProviderSupport& llvm = op_def(call.op).llvm;
  std::string reason;
  switch (llvm.impl) {
    case ProviderImpl::region:
      if (call.body) return NodeRegion{*call.body, call.attrs.get_string("kind")};
      reason = fmt::format("a {} without a body", op_name(call.op));
      break;
    case ProviderImpl::fused_or_alone:
      return NodeRegion{single_node_region(call), "loop"};
    case ProviderImpl::alone:
      return NodeRegion{single_node_region(call), std::string(op_name(call.op))};
    case ProviderImpl::fused:
      reason = fmt::format("{} is generated inside fused regions only, and this one is not in one", op_name(call.op));
      break;
    case ProviderImpl::decomposed:
      reason = fmt::format("{} is a composite, generated only as the core ops it decomposes into", op_name(call.op));
      break;
    case ProviderImpl::interpreter:
      reason = llvm.reason.empty() ? fmt::format("no generated code for {}", op_name(call.op)) : llvm.reason;
      break;
  }
  if (why) *why = reason;
  return std::nullopt;
}

}  // namespace weft::llvm_backend
