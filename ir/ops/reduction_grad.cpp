/** \file
 * Gradient rules of the reductions (defined in reduction.cpp), attached after registration.
 *
 * sum spreads the gradient over the reduced axes; mean also divides by the count (counted at run
 * time when a reduced dim is symbolic). max and min follow PyTorch's `amax`/`amin`: the gradient
 * goes to every position equal to the result, split evenly among ties (so max(x, x) over two equal
 * elements gives each half). argmax has no gradient (it is marked non-differentiable).
 */
#include "ir/ops/emit.h"
#include "ir/ops/grad_util.h"

namespace weft::ops_detail {

namespace {

struct ReduceInfo {
  Shape shape;
  DType dtype;
  std::vector<int64_t> axes;
  bool keepdims;
};

ReduceInfo info_of(const GradQuery& q) {
  const TensorType& x = q.builder.type(q.node.operands[0]);
  return ReduceInfo{x.shape, x.dtype, q.node.attrs.get_ints("axes"), q.node.attrs.get_bool("keepdims")};
}

Grads sum_grad(const GradQuery& q) {
  ReduceInfo r = info_of(q);
  return {unreduce(q.builder, *q.result_grads[0], r.shape, r.axes, r.keepdims)};
}

Grads mean_grad(const GradQuery& q) {
  ReduceInfo r = info_of(q);
  Emit e{q.builder};
  ValueId spread = unreduce(q.builder, *q.result_grads[0], r.shape, r.axes, r.keepdims);
  return {e.div(spread, count_along(q.builder, r.shape, r.axes, r.dtype))};
}

/// amax / amin: the gradient divided evenly among the positions that attain the extremum.
Grads extremum_grad(const GradQuery& q) {
  ReduceInfo r = info_of(q);
  GraphBuilder& b = q.builder;
  Emit e{b};
  ValueId x = q.node.operands[0];
  ValueId hit = b.binary(OpKind::eq, x, unreduce(b, q.node.results[0], r.shape, r.axes, r.keepdims));
  ValueId ties = b.reduce(OpKind::reduce_sum, e.cast(hit, r.dtype), r.axes, true);
  ValueId share = e.div(unreduce(b, *q.result_grads[0], r.shape, r.axes, r.keepdims), ties);
  return {e.select(hit, share, e.c(0.0, r.dtype))};
}

}  // namespace

void attach_reduction_gradients(std::vector<OpDef>& t) {
  find_def(t, OpKind::reduce_sum).gradient = sum_grad;
  find_def(t, OpKind::reduce_mean).gradient = mean_grad;
  find_def(t, OpKind::reduce_max).gradient = extremum_grad;
  find_def(t, OpKind::reduce_min).gradient = extremum_grad;
}

}  // namespace weft::ops_detail
