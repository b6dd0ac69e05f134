/** \file
 * The empty-axis check before a generated region. See empty_reduction_check.h.
 */
#include "backends/llvm/empty_reduction_check.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "ir/graph_builder.h"
#include "ir/ops.h"

namespace weft::llvm_backend {

namespace {

void collect(const Graph& g, const Node& node, std::vector<MaximumSite>& out) {
  if (node.op == OpKind::reduce_max || node.op == OpKind::reduce_min || node.op == OpKind::argmax) {
    MaximumSite site{&node, g.type(node.operands[0]), 0};
    const int rank = site.operand.rank();
    if (node.op == OpKind::argmax) {
      site.reduced |= uint64_t{1} << normalize_axis(node.attrs.get_int("axis"), rank, "argmax");
    } else {
      const std::vector<int64_t>& attr = node.attrs.get_ints("axes");
      for (int64_t a : attr) site.reduced |= uint64_t{1} << normalize_axis(a, rank, std::string(op_name(node.op)));
      if (attr.empty()) site.reduced = rank >= 64 ? ~uint64_t{0} : (uint64_t{1} << rank) - 1;
    }
    out.push_back(std::move(site));
  }
  if (node.body)
    for (const Node& inner : node.body->nodes()) collect(*node.body, inner, out);
}

}  // namespace

std::vector<MaximumSite> maximum_sites(const Graph& g, const Node& node) {
  std::vector<MaximumSite> out;
  collect(g, node, out);
  return out;
}

std::optional<std::string> empty_axis_error(const MaximumSite& site, const std::vector<int64_t>& sizes) {
  int64_t kept = 1;
  int empty_axis = -1;
  for (int i = 0; i < static_cast<int>(sizes.size()); ++i) {
    if (!(site.reduced >> i & 1))
      kept *= sizes[i];
    else if (sizes[i] == 0 && empty_axis < 0)
      empty_axis = i;
  }
  if (empty_axis < 0 || kept == 0) return std::nullopt;
  std::string where =
      fmt::format("axis {} of {}[{}]", empty_axis, dtype_name(site.operand.dtype), fmt::join(sizes, ", "));
  OpKind op = site.node->op;
  std::string why =
      op == OpKind::argmax
          ? fmt::format("argmax over an empty axis: {} has size 0, so there is no maximum to index", where)
          : fmt::format("{} over an empty axis: {} has size 0, and the {} of no elements is undefined", op_name(op),
                        where, op == OpKind::reduce_max ? "maximum" : "minimum");
  return with_location(why, site.node->loc);
}

std::optional<std::string> check_empty_reductions(const Graph& g, const Node& node, const SymbolBindings& bindings) {
  for (const MaximumSite& site : maximum_sites(g, node))
    if (std::optional<std::string> why = empty_axis_error(site, evaluate_shape(site.operand.shape, bindings)))
      return why;
  return std::nullopt;
}

}  // namespace weft::llvm_backend
