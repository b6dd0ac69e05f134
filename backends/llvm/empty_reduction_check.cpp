/** \file
 * The empty-axis check before a generated region. See empty_reduction_check.h.
 */
#include "backends/llvm/empty_reduction_check.h"

#include <fmt/format.h>

#include <algorithm>

#include "ir/graph_builder.h"
#include "ir/ops.h"

namespace weft::llvm_backend {

namespace {

/// The interpreter's message for `node` (a reduce_max, reduce_min or argmax of an operand of type
/// `x`) at `bindings`, or empty.
std::optional<std::string> check_one(const Node& node, const TensorType& x, const SymbolBindings& bindings) {
  std::vector<int> axes;
  if (node.op == OpKind::argmax) {
    axes.push_back(normalize_axis(node.attrs.get_int("axis"), x.rank(), "argmax"));
  } else {
    const std::vector<int64_t>& attr = node.attrs.get_ints("axes");
    for (int64_t a : attr) axes.push_back(normalize_axis(a, x.rank(), std::string(op_name(node.op))));
    if (attr.empty())
      for (int i = 0; i < x.rank(); ++i) axes.push_back(i);
  }
  std::vector<int64_t> sizes = evaluate_shape(x.shape, bindings);
  int64_t kept = 1;
  int empty_axis = -1;
  for (int i = 0; i < static_cast<int>(sizes.size()); ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (!reduced)
      kept *= sizes[i];
    else if (sizes[i] == 0 && empty_axis < 0)
      empty_axis = i;
  }
  if (empty_axis < 0 || kept == 0) return std::nullopt;
  std::string where = fmt::format("axis {} of {}[{}]", empty_axis, dtype_name(x.dtype), fmt::join(sizes, ", "));
  if (node.op == OpKind::argmax)
    return fmt::format("argmax over an empty axis: {} has size 0, so there is no maximum to index", where);
  return fmt::format("{} over an empty axis: {} has size 0, and the {} of no elements is undefined", op_name(node.op),
                     where, node.op == OpKind::reduce_max ? "maximum" : "minimum");
}

std::optional<std::string> check_in(const Graph& g, const Node& node, const SymbolBindings& bindings) {
  if (node.op == OpKind::reduce_max || node.op == OpKind::reduce_min || node.op == OpKind::argmax) {
    if (std::optional<std::string> why = check_one(node, g.type(node.operands[0]), bindings))
      return with_location(*why, node.loc);
  }
  if (node.body)
    for (const Node& inner : node.body->nodes())
      if (std::optional<std::string> why = check_in(*node.body, inner, bindings)) return why;
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_empty_reductions(const Graph& g, const Node& node, const SymbolBindings& bindings) {
  return check_in(g, node, bindings);
}

}  // namespace weft::llvm_backend
