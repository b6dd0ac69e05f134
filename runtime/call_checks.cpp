/** \file
 * The checks before a call. See call_checks.h.
 */
#include "runtime/call_checks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace weft {

namespace {

template <typename T>
std::optional<std::string> first_out_of_range(std::string_view op, const T* p, int64_t count, int axis, int64_t n,
                                              bool wrap) {
  const int64_t low = wrap ? -n : 0;
  for (int64_t j = 0; j < count; ++j) {
    auto i = static_cast<int64_t>(p[j]);
    if (i < low || i >= n)
      return fmt::format(
          "{}: index {} (at flat position {} of the indices) is out of range for axis {} of size {} "
          "(valid: {} to {})",
          op, i, j, axis, n, low, n - 1);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_indices(std::string_view op, const void* data, DType dtype, int64_t count, int axis,
                                         int64_t n, bool wrap) {
  if (dtype == DType::i32) return first_out_of_range(op, static_cast<const int32_t*>(data), count, axis, n, wrap);
  if (dtype == DType::i64) return first_out_of_range(op, static_cast<const int64_t*>(data), count, axis, n, wrap);
  return fmt::format("{}: indices must be i32 or i64, but got {}", op, dtype_name(dtype));
}

std::optional<std::string> empty_axis_error(const EmptyAxisCheck& check, const std::vector<int64_t>& sizes) {
  int64_t kept = 1;
  int empty_axis = -1;
  for (int i = 0; i < static_cast<int>(sizes.size()); ++i) {
    if (!(check.reduced >> i & 1))
      kept *= sizes[i];
    else if (sizes[i] == 0 && empty_axis < 0)
      empty_axis = i;
  }
  if (empty_axis < 0 || kept == 0) return std::nullopt;
  std::string where =
      fmt::format("axis {} of {}[{}]", empty_axis, dtype_name(check.operand.dtype), fmt::join(sizes, ", "));
  std::string why =
      check.op == OpKind::argmax
          ? fmt::format("argmax over an empty axis: {} has size 0, so there is no maximum to index", where)
          : fmt::format("{} over an empty axis: {} has size 0, and the {} of no elements is undefined",
                        check.op == OpKind::reduce_max ? "reduce_max" : "reduce_min", where,
                        check.op == OpKind::reduce_max ? "maximum" : "minimum");
  return with_location(why, check.loc);
}

std::optional<std::string> check_call(const KernelCall& call, std::span<void* const> buffers,
                                      const SymbolBindings& sizes) {
  if (const std::optional<IndexCheck>& c = call.index_check) {
    const TensorType& indices = call.operands[c->indices].type;
    int64_t n = call.operands[c->bounded].type.shape[c->axis].evaluate(sizes);
    int64_t count = num_elements(indices.shape).evaluate(sizes);
    std::string_view op = call.op == OpKind::gather ? "gather" : "scatter_add";
    if (std::optional<std::string> why =
            check_indices(op, buffers[c->indices], indices.dtype, count, c->axis, n, c->wrap))
      return with_location(*why, call.loc);
  }
  for (const EmptyAxisCheck& c : call.empty_axis_checks)
    if (std::optional<std::string> why = empty_axis_error(c, evaluate_shape(c.operand.shape, sizes))) return why;
  return std::nullopt;
}

}  // namespace weft
