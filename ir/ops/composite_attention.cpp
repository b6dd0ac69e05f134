/** \file
 * Scaled dot-product attention as composites: `attention` and the gradient it emits,
 * `attention_backward`.
 *
 * Both are defined by their decompositions (matmuls, a softmax, the mask as a select or an add), so
 * every provider runs them. They are kept as single nodes until decomposition because a provider that
 * compiles attention as one region (the LLVM provider's flash-style kernel, passes/fuse_attention.h)
 * then sees the whole computation in one place instead of recognising a pattern of matmuls, softmax
 * and masks after the fact. The gradient rule of `attention` emits one `attention_backward` (dq, dk
 * and dv together, recomputing the weights from q and k) rather than the textbook formula's matmuls
 * and softmax, unless the forward returns its weights or a float mask needs a gradient, where the
 * textbook formula is emitted as before.
 *
 * On a gradient path, attention's save rule makes the forward also return each row's log-sum-exp
 * of its scores (`with_stats`), and the backward then takes the forward's output and those (`o`,
 * `lse`): a kernel that has them computes the weights as exp(s - lse) and rowsum(g ⊙ o) directly
 * instead of running the forward's loop again. The decompositions ignore them (they recompute).
 */
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "ir/ops/emit.h"
#include "ir/ops/grad_util.h"

namespace weft::ops_detail {

namespace {

double attention_scale(const TensorType& q, const Attrs& a) {
  double scale = a.get_real("scale");
  return scale != 0.0 ? scale : 1.0 / std::sqrt(static_cast<double>(q.shape[q.rank() - 1].value()));
}

/// q k^T * scale, masked (additive or boolean) and causally masked: the softmax's input.
ValueId attention_scores(GraphBuilder& b, ValueId q, ValueId k, const ValueId* mask, const Attrs& a) {
  Emit e{b};
  const TensorType qt = e.type(q);
  const TensorType kt = e.type(k);
  int r = qt.rank();
  DType t = qt.dtype;
  double scale = attention_scale(qt, a);
  ValueId scores = b.emit1(OpKind::matmul, {q, k}, Attrs{{"transpose_b", true}});
  scores = e.mul(scores, e.c(scale, t));
  ValueId neg_inf = e.c(-INFINITY, t);
  if (mask) scores = e.type(*mask).dtype == DType::boolean ? e.select(*mask, neg_inf, scores) : e.add(scores, *mask);
  if (a.get_bool("causal")) {
    Shape sq{qt.shape[r - 2], kt.shape[r - 2]};
    ValueId row = b.emit1(OpKind::iota, {}, Attrs{{"shape", sq}, {"axis", int64_t{0}}, {"dtype", DType::i64}});
    ValueId col = b.emit1(OpKind::iota, {}, Attrs{{"shape", sq}, {"axis", int64_t{1}}, {"dtype", DType::i64}});
    scores = e.select(b.binary(OpKind::gt, col, row), neg_inf, scores);
  }
  return scores;
}

ValueId attention_weights(GraphBuilder& b, ValueId q, ValueId k, const ValueId* mask, const Attrs& a) {
  return b.emit1(OpKind::softmax, {attention_scores(b, q, k, mask, a)}, Attrs{{"axis", int64_t{-1}}});
}

/// The textbook gradient: with w = softmax(s), dv = w^T g, dw = g v^T, ds = w (dw - sum(dw w)),
/// dq = ds k * scale, dk = ds^T q * scale, and an additive mask gets ds summed to its shape.
Grads textbook_grad(const GradQuery& q) {
  GraphBuilder& b = q.builder;
  Emit e{b};
  const std::vector<ValueId>& ops = q.node.operands;
  const TensorType qt = e.type(ops[0]);
  bool with_weights = q.node.attrs.get_bool("with_weights");
  const ValueId* mask = ops.size() == 4 ? &ops[3] : nullptr;
  std::optional<ValueId> g_out = q.result_grads[0];
  std::optional<ValueId> g_w = with_weights ? q.result_grads[1] : std::nullopt;
  ValueId w = with_weights ? q.node.results[1] : attention_weights(b, ops[0], ops[1], mask, q.node.attrs);
  Grads out(ops.size());
  if (g_out && q.wanted[2]) out[2] = b.emit1(OpKind::matmul, {w, *g_out}, Attrs{{"transpose_a", true}});
  std::optional<ValueId> dw = g_w;
  if (g_out) {
    ValueId from_out = b.emit1(OpKind::matmul, {*g_out, ops[2]}, Attrs{{"transpose_b", true}});
    dw = dw ? e.add(*dw, from_out) : from_out;
  }
  bool want_scores = q.wanted[0] || q.wanted[1] || (mask && q.wanted[3]);
  if (!dw || !want_scores) return out;
  ValueId ds = e.mul(w, e.sub(*dw, e.sum(e.mul(*dw, w), {-1}, true)));
  ValueId scale = e.c(attention_scale(qt, q.node.attrs), qt.dtype);
  if (q.wanted[0]) out[0] = e.mul(b.emit1(OpKind::matmul, {ds, ops[1]}), scale);
  if (q.wanted[1]) out[1] = e.mul(b.emit1(OpKind::matmul, {ds, ops[0]}, Attrs{{"transpose_a", true}}), scale);
  if (mask && q.wanted[3] && is_float(e.type(*mask).dtype)) out[3] = unbroadcast(b, ds, Shape(e.type(*mask).shape));
  return out;
}

Grads attention_grad(const GradQuery& q) {
  const std::vector<ValueId>& ops = q.node.operands;
  bool mask_grad = ops.size() == 4 && q.wanted[3] && is_float(q.builder.type(ops[3]).dtype);
  if (q.node.attrs.get_bool("with_weights") || mask_grad || !q.result_grads[0]) return textbook_grad(q);
  std::vector<ValueId> operands(ops.begin(), ops.end());
  operands.push_back(*q.result_grads[0]);
  bool stats = q.saved.size() == 1;  // the save rule's row log-sum-exps
  if (stats) {
    operands.push_back(q.node.results[0]);
    operands.push_back(q.saved[0]);
  }
  Attrs attrs{
      {"causal", q.node.attrs.get_bool("causal")}, {"scale", q.node.attrs.get_real("scale")}, {"with_stats", stats}};
  std::vector<ValueId> d = q.builder.emit(OpKind::attention_backward, operands, attrs);
  Grads out(ops.size());
  for (size_t i = 0; i < 3; ++i)
    if (q.wanted[i]) out[i] = d[i];
  return out;
}

/// Each row's log(Σ exp(s - max)) + max of attention's scores s, [..., Tq]: NaN for a row whose
/// keys are all masked, as the softmax's weights.
ValueId row_log_sum_exp(GraphBuilder& b, ValueId scores) {
  Emit e{b};
  ValueId m = e.max(scores, {-1}, true);
  ValueId lse = e.add(e.log(e.sum(e.exp(e.sub(scores, m)), {-1}, true)), m);
  Shape rows(e.type(scores).shape.begin(), e.type(scores).shape.end() - 1);
  return b.reshape(lse, rows);
}

/// The forward on a gradient path also returns its rows' log-sum-exps (see the file comment).
std::vector<ValueId> save_attention_stats(GraphBuilder& b, const Node& node) {
  Attrs attrs = node.attrs;
  if (!node.attrs.get_bool("with_weights")) attrs.set("with_stats", true);
  return b.emit(OpKind::attention, node.operands, attrs);
}

/// The checks both ops share; returns the scores' shape [..., Tq, Tk].
Shape check_attention_operands(const char* op, const TensorType& qt, const TensorType& kt, const TensorType& vt,
                               const TensorType* mask) {
  for (const TensorType* t : {&qt, &kt, &vt}) {
    require_float(op, *t, "q, k and v");
    if (t->rank() < 2 || t->dtype != qt.dtype)
      throw Error(fmt::format("{}: q, k and v must have rank >= 2 and one dtype, but got q {}, k {}, v {}", op,
                              qt.str(), kt.str(), vt.str()));
  }
  int r = qt.rank();
  if (kt.rank() != r || vt.rank() != r || qt.shape[r - 1] != kt.shape[r - 1] || kt.shape[r - 2] != vt.shape[r - 2])
    throw Error(
        fmt::format("{}: q [..., Tq, d], k [..., Tk, d] and v [..., Tk, dv] must agree, but got q {}, k {}, v {}", op,
                    qt.str(), kt.str(), vt.str()));
  if (!qt.shape[r - 1].is_static())
    throw Error(fmt::format("{}: the head dim d must be static, but q is {}", op, qt.str()));
  Shape batch_q(qt.shape.begin(), qt.shape.end() - 2), batch_k(kt.shape.begin(), kt.shape.end() - 2);
  Shape batch_v(vt.shape.begin(), vt.shape.end() - 2);
  if (batch_q != batch_k || batch_q != batch_v)
    throw Error(fmt::format("{}: q, k and v must have the same batch dims, but got q {}, k {}, v {}", op, qt.str(),
                            kt.str(), vt.str()));
  Shape scores = batch_q;
  scores.push_back(qt.shape[r - 2]);
  scores.push_back(kt.shape[r - 2]);
  if (mask) {
    if (mask->dtype != DType::boolean && mask->dtype != qt.dtype)
      throw Error(fmt::format("{}: the mask must be bool (true = masked out) or {} (added to the scores), but got {}",
                              op, dtype_name(qt.dtype), mask->str()));
    Shape bs = broadcast_shapes(std::string(op) + " mask", *mask, TensorType{qt.dtype, scores});
    if (bs != scores)
      throw Error(
          fmt::format("{}: the mask {} must broadcast to the scores' shape {}", op, mask->str(), shape_str(scores)));
  }
  return scores;
}

TensorType attention_out_type(const TensorType& qt, const TensorType& vt) {
  Shape out(qt.shape.begin(), qt.shape.end() - 1);
  out.push_back(vt.shape[vt.rank() - 1]);
  return TensorType{qt.dtype, out};
}

const std::vector<AttrSpec> kMaskAttrs{AttrSpec{"causal", AttrKind::boolean, AttrValue{false}},
                                       AttrSpec{"scale", AttrKind::real, AttrValue{0.0}},
                                       AttrSpec{"with_stats", AttrKind::boolean, AttrValue{false}}};

TensorType row_stats_type(const TensorType& qt) {
  return TensorType{qt.dtype, Shape(qt.shape.begin(), qt.shape.end() - 1)};
}

OpDef attention_def() {
  OpDef d = composite(OpKind::attention, "attention", 3, 4,
                      "scaled dot-product attention softmax(q k^T * scale + mask) v; mask: bool (true = masked "
                      "out) or additive float; causal masks keys after the query's position");
  d.attrs = kMaskAttrs;
  d.attrs.push_back(AttrSpec{"with_weights", AttrKind::boolean, AttrValue{false}});
  d.infer = [](const ShapeQuery& q) {
    const TensorType* mask = q.operands.size() == 4 ? &q.operands[3] : nullptr;
    Shape scores = check_attention_operands("attention", q.operands[0], q.operands[1], q.operands[2], mask);
    std::vector<TensorType> results{attention_out_type(q.operands[0], q.operands[2])};
    if (q.attrs.get_bool("with_weights")) results.push_back(TensorType{q.operands[0].dtype, scores});
    if (q.attrs.get_bool("with_stats")) results.push_back(row_stats_type(q.operands[0]));
    return results;
  };
  d.decompose = [](GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a) {
    const ValueId* mask = ops.size() == 4 ? &ops[3] : nullptr;
    ValueId scores = attention_scores(b, ops[0], ops[1], mask, a);
    ValueId w = op_def(OpKind::softmax).decompose(b, {scores}, Attrs{{"axis", int64_t{-1}}})[0];
    ValueId out = b.emit1(OpKind::matmul, {w, ops[2]});
    std::vector<ValueId> results{out};
    if (a.get_bool("with_weights")) results.push_back(w);
    if (a.get_bool("with_stats")) results.push_back(row_log_sum_exp(b, scores));
    return results;
  };
  d.save = save_attention_stats;
  d.gradient = attention_grad;
  return d;
}

/// attention_backward(q, k, v, [mask], g, [o, lse]) -> (dq, dk, dv): the gradients of attention(q,
/// k, v, [mask]) given g, the gradient of its output; with `with_stats`, also the forward's output o
/// and its rows' log-sum-exps lse (which the decomposition does not need). Its own gradient is
/// autodiff's, through the decomposition.
OpDef attention_backward_def() {
  OpDef d = composite(OpKind::attention_backward, "attention_backward", 4, 7,
                      "the gradients (dq, dk, dv) of attention(q, k, v, [mask]) given the gradient g of its output; "
                      "the weights are recomputed from q and k");
  d.attrs = kMaskAttrs;
  d.infer = [](const ShapeQuery& q) {
    const std::vector<TensorType>& ops = q.operands;
    const size_t core = ops.size() - (q.attrs.get_bool("with_stats") ? 2 : 0);
    if (core != 4 && core != 5)
      throw Error(fmt::format("attention_backward: the operands are q, k, v, [mask], g{}, but got {}",
                              q.attrs.get_bool("with_stats") ? ", o, lse" : "", ops.size()));
    const TensorType* mask = core == 5 ? &ops[3] : nullptr;
    check_attention_operands("attention_backward", ops[0], ops[1], ops[2], mask);
    TensorType out = attention_out_type(ops[0], ops[2]);
    for (size_t i = core - 1; i < std::min(core + 1, ops.size()); ++i)
      if (ops[i] != out)
        throw Error(fmt::format("attention_backward: {} must have the output's type {}, but got {}",
                                i == core - 1 ? "g" : "o", out.str(), ops[i].str()));
    if (core < ops.size() && ops[core + 1] != row_stats_type(ops[0]))
      throw Error(fmt::format("attention_backward: lse must be {}, but got {}", row_stats_type(ops[0]).str(),
                              ops[core + 1].str()));
    return std::vector<TensorType>{ops[0], ops[1], ops[2]};
  };
  d.decompose = [](GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a) {
    Emit e{b};
    const size_t core = ops.size() - (a.get_bool("with_stats") ? 2 : 0);
    ValueId q = ops[0], k = ops[1], v = ops[2], g = ops[core - 1];
    const ValueId* mask = core == 5 ? &ops[3] : nullptr;
    ValueId w =
        op_def(OpKind::softmax).decompose(b, {attention_scores(b, q, k, mask, a)}, Attrs{{"axis", int64_t{-1}}})[0];
    ValueId dv = b.emit1(OpKind::matmul, {w, g}, Attrs{{"transpose_a", true}});
    ValueId dw = b.emit1(OpKind::matmul, {g, v}, Attrs{{"transpose_b", true}});
    ValueId ds = e.mul(w, e.sub(dw, e.sum(e.mul(dw, w), {-1}, true)));
    ValueId scale = e.c(attention_scale(e.type(q), a), e.type(q).dtype);
    ValueId dq = e.mul(b.emit1(OpKind::matmul, {ds, k}), scale);
    ValueId dk = e.mul(b.emit1(OpKind::matmul, {ds, q}, Attrs{{"transpose_a", true}}), scale);
    return std::vector<ValueId>{dq, dk, dv};
  };
  return d;
}

}  // namespace

void register_attention_ops(std::vector<OpDef>& t) {
  t.push_back(attention_def());
  t.push_back(attention_backward_def());
}

}  // namespace weft::ops_detail
