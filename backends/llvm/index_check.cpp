/** \file
 * The index check before a generated gather or scatter_add. See index_check.h.
 */
#include "backends/llvm/index_check.h"

#include <fmt/format.h>

#include "ir/ops.h"

namespace weft::llvm_backend {

std::optional<IndexOperands> index_operands(const KernelCall& call) {
  IndexOperands ops;
  if (call.op == OpKind::gather)
    ops.bounded = 0;
  else if (call.op == OpKind::scatter_add)
    ops.bounded = call.num_inputs;  // the result, whose shape is the `shape` attribute
  else
    return std::nullopt;
  WEFT_CHECK(call.num_inputs == 2 && static_cast<int>(call.operands.size()) == 3,
             fmt::format("{} call with {} operands", op_name(call.op), call.operands.size()));
  ops.axis =
      normalize_axis(call.attrs.get_int("axis"), call.operands[ops.bounded].type.rank(), std::string(op_name(call.op)));
  ops.wrap = call.op != OpKind::gather || !call.attrs.has("wrap") || call.attrs.get_bool("wrap");
  return ops;
}

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

std::optional<std::string> check_call_indices(const KernelCall& call, const std::vector<void*>& buffers,
                                              const SymbolBindings& bindings) {
  std::optional<IndexOperands> ops = index_operands(call);
  if (!ops) return std::nullopt;
  const TensorType& indices = call.operands[ops->indices].type;
  int64_t n = call.operands[ops->bounded].type.shape[ops->axis].evaluate(bindings);
  int64_t count = num_elements(indices.shape).evaluate(bindings);
  return check_indices(op_name(call.op), buffers[ops->indices], indices.dtype, count, ops->axis, n, ops->wrap);
}

}  // namespace weft::llvm_backend
