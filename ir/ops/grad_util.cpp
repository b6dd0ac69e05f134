#include "ir/ops/grad_util.h"

#include <algorithm>

namespace weft::ops_detail {

OpDef& find_def(std::vector<OpDef>& table, OpKind kind) {
  for (OpDef& d : table)
    if (d.kind == kind) return d;
  WEFT_CHECK(false, "attaching a gradient rule to an op that is not registered");
  __builtin_unreachable();
}

ValueId unbroadcast(GraphBuilder& b, ValueId grad, const Shape& target) {
  const Shape have = b.type(grad).shape;  // a copy: emitting grows the value table
  WEFT_CHECK(have.size() >= target.size(), "unbroadcast: the gradient has lower rank than its operand");
  size_t lead = have.size() - target.size();
  std::vector<int64_t> axes;
  for (size_t i = 0; i < have.size(); ++i)
    if (i < lead || (target[i - lead] == Dim(1) && have[i] != Dim(1))) axes.push_back(static_cast<int64_t>(i));
  ValueId out = axes.empty() ? grad : b.reduce(OpKind::reduce_sum, grad, axes, false);
  return b.type(out).shape == target ? out : b.reshape(out, target);
}

std::vector<int64_t> reduced_axes_of(const std::vector<int64_t>& axes, int rank) {
  std::vector<int64_t> out;
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : axes) out.push_back(a < 0 ? a + rank : a);
  std::sort(out.begin(), out.end());
  return out;
}

ValueId unreduce(GraphBuilder& b, ValueId grad, const Shape& shape, const std::vector<int64_t>& axes, bool keepdims) {
  if (!keepdims) {
    std::vector<int64_t> reduced = reduced_axes_of(axes, static_cast<int>(shape.size()));
    Shape kept = shape;
    for (int64_t a : reduced) kept[a] = Dim(1);
    grad = b.reshape(grad, kept);
  }
  return b.broadcast_to(grad, shape);
}

ValueId count_along(GraphBuilder& b, const Shape& shape, const std::vector<int64_t>& axes, DType dtype) {
  Shape counted;
  for (int64_t a : reduced_axes_of(axes, static_cast<int>(shape.size()))) counted.push_back(shape[a]);
  Dim n = num_elements(counted);
  if (n.is_static()) return b.constant(static_cast<double>(n.value()), dtype);
  ValueId ones = b.broadcast_to(b.constant(1.0, dtype), counted);
  return b.reduce(OpKind::reduce_sum, ones, {}, false);
}

ValueId zeros_of(GraphBuilder& b, TensorType t) { return b.broadcast_to(b.constant(0.0, t.dtype), t.shape); }

}  // namespace weft::ops_detail
