/** \file
 * The LLVM provider's call-to-region mapping. See node_region.h.
 */
#include "backends/llvm/node_region.h"

#include <fmt/format.h>

#include "ir/ops.h"

namespace weft::llvm_backend {

namespace {

/// A lone transpose, slice, concat, gather, scatter_add or rng_uniform (never fused) as a region.
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
  if (call.op == OpKind::fusion && call.body) return NodeRegion{*call.body, call.attrs.get_string("kind")};
  if (call.op == OpKind::transpose || call.op == OpKind::slice) return NodeRegion{single_node_region(call), "loop"};
  if (call.op == OpKind::concat) return NodeRegion{single_node_region(call), "concat"};
  if (call.op == OpKind::gather || call.op == OpKind::scatter_add || call.op == OpKind::rng_uniform)
    return NodeRegion{single_node_region(call), std::string(op_name(call.op))};
  if (why) *why = fmt::format("no generated code for {}", op_name(call.op));
  return std::nullopt;
}

}  // namespace weft::llvm_backend
