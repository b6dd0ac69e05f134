/** \file
 * Gradient rules of the compute ops (defined in compute.cpp), attached after registration.
 *
 * matmul: with A = op(a) and B = op(b) (op transposing the last two dims when asked), dA = g B^T
 * and dB = A^T g; each is written as one matmul whose transpose flags fold in both the op and the
 * adjoint, then summed over the batch dims the operand was broadcast along — except a matrix b
 * (a weight) under a batched, untransposed a: its gradient sums outer products over every batch
 * element and row, which is one 2-D product with the batch folded into the rows ([B·M, K]ᵀ·[B·M, N])
 * rather than B small products and a sum over a [B, K, N] temporary. cast passes the
 * gradient back (cast to the operand's dtype) between float dtypes; a cast from or to an integer or
 * bool has none. constant, iota and rng_uniform are sources without a gradient.
 */
#include "ir/ops/grad_util.h"

namespace weft::ops_detail {

namespace {

ValueId mm(GraphBuilder& b, ValueId x, ValueId y, bool ta, bool tb) {
  return b.emit1(OpKind::matmul, {x, y}, Attrs{{"transpose_a", ta}, {"transpose_b", tb}});
}

Grads matmul_grad(const GradQuery& q) {
  GraphBuilder& b = q.builder;
  ValueId a = q.node.operands[0];
  ValueId bv = q.node.operands[1];
  ValueId g = *q.result_grads[0];
  bool ta = q.node.attrs.get_bool("transpose_a");
  bool tb = q.node.attrs.get_bool("transpose_b");
  Grads out(2);
  if (q.wanted[0]) {
    // dA = g B^T; when a is stored transposed, da = dA^T = B g^T.
    ValueId da = ta ? mm(b, bv, g, tb, true) : mm(b, g, bv, false, !tb);
    out[0] = unbroadcast(b, da, Shape(b.type(a).shape));
  }
  const TensorType& at = b.type(a);
  if (q.wanted[1] && b.type(bv).rank() == 2 && at.rank() > 2 && !ta) {
    // The batch dims fold into the rows: a as [B·M, K], g as [B·M, N].
    const Shape& as = at.shape;
    const Shape& gs = b.type(g).shape;
    Shape batch(as.begin(), as.end() - 1);
    ValueId a2 = b.reshape(a, Shape{num_elements(batch), as.back()});
    ValueId g2 = b.reshape(g, Shape{num_elements(batch), gs.back()});
    out[1] = tb ? mm(b, g2, a2, true, false) : mm(b, a2, g2, true, false);
  } else if (q.wanted[1]) {
    // dB = A^T g; when b is stored transposed, db = dB^T = g^T A.
    ValueId db = tb ? mm(b, g, a, true, ta) : mm(b, a, g, !ta, false);
    out[1] = unbroadcast(b, db, Shape(b.type(bv).shape));
  }
  return out;
}

Grads cast_grad(const GradQuery& q) {
  DType from = q.builder.type(q.node.operands[0]).dtype;
  DType to = q.node.attrs.get_dtype("dtype");
  if (!is_float(from) || !is_float(to)) return {std::nullopt};
  return {q.builder.cast(*q.result_grads[0], from)};
}

}  // namespace

void attach_compute_gradients(std::vector<OpDef>& t) {
  find_def(t, OpKind::matmul).gradient = matmul_grad;
  find_def(t, OpKind::cast).gradient = cast_grad;
}

}  // namespace weft::ops_detail
