/** \file
 * Gradient rules of the data-movement ops (defined in movement.cpp), attached after registration.
 *
 * Each is the op's adjoint: reshape back, the inverse permutation, a sum over broadcast axes, a
 * slice's gradient placed back into zeros (concatenated zeros for a unit-step slice of a static
 * axis, a scatter_add of the gradient into the sliced positions otherwise), concat's gradient
 * sliced apart, gather's scattered with scatter_add and scatter_add's gathered. Index operands get
 * no gradient.
 */
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "ir/ops/emit.h"
#include "ir/ops/grad_util.h"

namespace weft::ops_detail {

namespace {

constexpr int64_t kToEnd = std::numeric_limits<int64_t>::max();

Grads reshape_grad(const GradQuery& q) {
  Shape x = q.builder.type(q.node.operands[0]).shape;
  return {q.builder.reshape(*q.result_grads[0], x)};
}

Grads transpose_grad(const GradQuery& q) {
  const auto& perm = q.node.attrs.get_ints("perm");
  auto rank = static_cast<int64_t>(perm.size());
  std::vector<int64_t> inverse(perm.size());
  for (int64_t i = 0; i < rank; ++i) inverse[perm[i] < 0 ? perm[i] + rank : perm[i]] = i;
  return {q.builder.transpose(*q.result_grads[0], inverse)};
}

Grads broadcast_grad(const GradQuery& q) {
  Shape x = q.builder.type(q.node.operands[0]).shape;
  return {unbroadcast(q.builder, *q.result_grads[0], x)};
}

/// A zero block of `t` with dim `axis` set to `size`.
ValueId zero_block(GraphBuilder& b, TensorType t, int axis, int64_t size) {
  t.shape[axis] = size;
  return zeros_of(b, t);
}

Grads slice_grad(const GradQuery& q) {
  GraphBuilder& b = q.builder;
  const TensorType x = b.type(q.node.operands[0]);
  const TensorType y = b.type(q.node.results[0]);
  ValueId g = *q.result_grads[0];
  int axis = normalize_axis(q.node.attrs.get_int("axis"), x.rank(), "slice");
  int64_t start = q.node.attrs.get_int("start");
  int64_t end = q.node.attrs.get_int("end");
  int64_t step = q.node.attrs.get_int("step");
  const Dim& dim = x.shape[axis];
  if (!dim.is_static() && start == 0 && end == kToEnd && step == 1) return {g};  // the whole symbolic axis
  // The first position taken, as the shape rule computes it (Python's slice clamping for a static dim;
  // a symbolic dim only admits a non-negative static window).
  int64_t first = start;
  if (dim.is_static()) {
    int64_t n = dim.value();
    first = start < 0 ? std::max<int64_t>(start + n, 0) : std::min(start, n);
  }
  WEFT_CHECK(y.shape[axis].is_static(), "slice: a partial slice has a static size");
  int64_t count = y.shape[axis].value();
  if (count == 0) return {zeros_of(b, x)};
  if (dim.is_static() && step == 1) {
    int64_t after = dim.value() - first - count;
    std::vector<ValueId> parts;
    if (first > 0) parts.push_back(zero_block(b, x, axis, first));
    parts.push_back(g);
    if (after > 0) parts.push_back(zero_block(b, x, axis, after));
    if (parts.size() == 1) return {g};
    return {b.emit1(OpKind::concat, parts, Attrs{{"axis", int64_t{axis}}})};
  }
  std::vector<double> positions;
  for (int64_t i = 0; i < count; ++i) positions.push_back(static_cast<double>(first + i * step));
  ValueId indices = b.emit1(OpKind::constant, {},
                            Attrs{{"value", positions}, {"dtype", DType::i64}, {"shape", Shape{Dim(count)}}});
  return {b.emit1(OpKind::scatter_add, {g, indices}, Attrs{{"axis", int64_t{axis}}, {"shape", x.shape}})};
}

Grads concat_grad(const GradQuery& q) {
  GraphBuilder& b = q.builder;
  ValueId g = *q.result_grads[0];
  std::vector<TensorType> types;
  for (ValueId v : q.node.operands) types.push_back(b.type(v));
  int axis = normalize_axis(q.node.attrs.get_int("axis"), types[0].rank(), "concat");
  bool all_static = std::all_of(types.begin(), types.end(), [&](const TensorType& t) { return t.shape[axis].is_static(); });
  Grads out;
  if (all_static) {
    int64_t offset = 0;
    for (const TensorType& t : types) {
      int64_t size = t.shape[axis].value();
      out.push_back(b.emit1(OpKind::slice, {g}, Attrs{{"axis", int64_t{axis}}, {"start", offset}, {"end", offset + size}}));
      offset += size;
    }
    return out;
  }
  // n copies of one symbolic dim D: view the axis as [n, D] and take row k of the n axis.
  const Shape& part = types[0].shape;
  Shape split(part.begin(), part.begin() + axis);
  split.push_back(Dim(static_cast<int64_t>(types.size())));
  split.insert(split.end(), part.begin() + axis, part.end());
  ValueId rows = b.reshape(g, split);
  for (size_t k = 0; k < types.size(); ++k) {
    auto i = static_cast<int64_t>(k);
    ValueId row = b.emit1(OpKind::slice, {rows}, Attrs{{"axis", int64_t{axis}}, {"start", i}, {"end", i + 1}});
    out.push_back(b.reshape(row, part));
  }
  return out;
}

Grads gather_grad(const GradQuery& q) {
  GraphBuilder& b = q.builder;
  Shape x = b.type(q.node.operands[0]).shape;
  ValueId dx = b.emit1(OpKind::scatter_add, {*q.result_grads[0], q.node.operands[1]},
                       Attrs{{"axis", q.node.attrs.get_int("axis")}, {"shape", x}});
  return {dx, std::nullopt};
}

Grads scatter_add_grad(const GradQuery& q) {
  ValueId du = q.builder.emit1(OpKind::gather, {*q.result_grads[0], q.node.operands[1]},
                               Attrs{{"axis", q.node.attrs.get_int("axis")}});
  return {du, std::nullopt};
}

}  // namespace

void attach_movement_gradients(std::vector<OpDef>& t) {
  find_def(t, OpKind::reshape).gradient = reshape_grad;
  find_def(t, OpKind::transpose).gradient = transpose_grad;
  find_def(t, OpKind::broadcast).gradient = broadcast_grad;
  find_def(t, OpKind::slice).gradient = slice_grad;
  find_def(t, OpKind::concat).gradient = concat_grad;
  find_def(t, OpKind::gather).gradient = gather_grad;
  find_def(t, OpKind::scatter_add).gradient = scatter_add_grad;
}

}  // namespace weft::ops_detail
