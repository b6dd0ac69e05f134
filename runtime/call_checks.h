/** \file
 * The checks the program executor runs before a call, from the fields planning computed
 * (ir/program.h `IndexCheck`, `EmptyAxisCheck`): what the interpreter raises inside its kernels,
 * raised here for code that cannot throw.
 *
 * Indices (gather, scatter_add). The interpreter throws weft::Error for an index outside [-n, n);
 * generated code only stays in bounds — a gather writes zeros for such a row, a scatter_add drops
 * such an update — so the executor validates the indices first:
 *
 *   op           indices (i32 or i64)   n = dim `axis` of          valid index i
 *   gather       call operand 1         call operand 0 (x)         -n <= i < n
 *   scatter_add  call operand 1         call operand 2 (result)    -n <= i < n
 *
 * where call operands are the node's operands then its results, and a negative i means i + n
 * (numpy.take) — except for a gather with wrap=false (cross_entropy's class labels): 0 <= i < n.
 * An empty index tensor is always valid; with n = 0 any index is out of range.
 *
 * Empty axes (reduce_max, reduce_min, argmax, also inside a fused region): the maximum of no
 * elements is undefined, so reducing an axis of size 0 into a non-empty result is the
 * interpreter's error, with the node's location. (reduce_sum gives 0 and reduce_mean NaN there.)
 *
 * The C runtime of compiled models (runtime/capi) runs the same checks from its call table.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ir/program.h"

namespace weft {

/// The interpreter's message for the first index outside the valid range of `count` indices of
/// `dtype` (i32 or i64) at `data`, e.g. "gather: index 7 (at flat position 2 of the indices) is out of
/// range for axis 0 of size 5 (valid: -5 to 4)"; empty when all are valid.
std::optional<std::string> check_indices(std::string_view op, const void* data, DType dtype, int64_t count, int axis,
                                         int64_t n, bool wrap = true);

/// The interpreter's error for `check` when its operand has shape `sizes`, with the node's
/// location; empty when no reduced axis is empty or the result is empty.
std::optional<std::string> empty_axis_error(const EmptyAxisCheck& check, const std::vector<int64_t>& sizes);

/// Every check of `call` (its operands at `buffers`, host memory, in call operand order) with the
/// run's `sizes`: the first failure's message, or empty.
std::optional<std::string> check_call(const KernelCall& call, std::span<void* const> buffers,
                                      const SymbolBindings& sizes);

}  // namespace weft
