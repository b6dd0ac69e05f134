/** \file
 * Helpers shared by the gradient rules of the op table (internal to ir/ops/).
 *
 * A rule returns, for each operand, a gradient of exactly that operand's type. Broadcasting ops
 * produce gradients of the broadcast shape, so their rules sum them back with `unbroadcast`;
 * reductions spread a gradient back over the reduced axes with `unreduce`.
 */
#pragma once

#include <optional>
#include <vector>

#include "ir/graph_builder.h"
#include "ir/ops.h"

namespace weft::ops_detail {

using Grads = std::vector<std::optional<ValueId>>;

/// The definition of `kind` in a table under construction (to attach a rule after registration).
OpDef& find_def(std::vector<OpDef>& table, OpKind kind);

/// `grad` (of a broadcast result) summed over the axes along which a value of shape `target` was
/// broadcast — the leading axes it lacked and the axes where it had size 1 — and reshaped to `target`.
ValueId unbroadcast(GraphBuilder& b, ValueId grad, const Shape& target);

/// The reduced axes of a reduction attribute, normalized and sorted (an empty list means all axes).
std::vector<int64_t> reduced_axes_of(const std::vector<int64_t>& axes, int rank);

/// The gradient `grad` of a reduction over `axes` of a value of shape `shape`, broadcast back to
/// `shape` (inserting the reduced axes as size 1 first when the reduction dropped them).
ValueId unreduce(GraphBuilder& b, ValueId grad, const Shape& shape, const std::vector<int64_t>& axes, bool keepdims);

/// The number of elements along `axes` of `shape` as a scalar of `dtype`: a constant when static,
/// counted at run time when a symbolic dim is involved.
ValueId count_along(GraphBuilder& b, const Shape& shape, const std::vector<int64_t>& axes, DType dtype);

/// A zero tensor of type `t` (a broadcast scalar; symbolic dims are fine).
ValueId zeros_of(GraphBuilder& b, TensorType t);  // by value: emitting grows the value table

}  // namespace weft::ops_detail
