/** \file
 * Composite ops: softmax, log_softmax, layer_norm, attention, the losses, dropout, one_hot and
 * embedding. Each is defined by its decomposition into core ops, so the interpreter and autodiff get
 * it for free; a backend may implement one directly, and tests check it agrees with the decomposition.
 *
 * softmax, log_softmax, layer_norm and attention also carry direct gradient rules: the textbook
 * formulas, which emit far fewer nodes than differentiating the decomposition (tests check the two
 * agree). A rule recomputes what it needs from the operands (mean and 1/std, attention weights),
 * since a composite node exposes only its results.
 */
#include <cmath>
#include <fmt/format.h>

#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "ir/ops/emit.h"
#include "ir/ops/grad_util.h"

namespace weft::ops_detail {

namespace {

// ---- softmax / log_softmax ----

ValueId stable_shift(Emit& e, ValueId x, int64_t axis) { return e.sub(x, e.max(x, {axis}, true)); }

OpDef softmax_def(bool log) {
  OpDef d = composite(log ? OpKind::log_softmax : OpKind::softmax, log ? "log_softmax" : "softmax", 1, 1,
                      log ? "x - log(sum(exp(x))) along axis, numerically stable"
                          : "exp(x) / sum(exp(x)) along axis, numerically stable");
  d.attrs = {AttrSpec{"axis", AttrKind::integer, AttrValue{int64_t{-1}}}};
  std::string name = d.name;
  d.infer = [name](const ShapeQuery& q) {
    require_float(name, q.operands[0], "the operand");
    normalize_axis(q.attrs.get_int("axis"), q.operands[0].rank(), name);
    return std::vector<TensorType>{q.operands[0]};
  };
  d.decompose = [log](GraphBuilder& b, const std::vector<ValueId>& x, const Attrs& a) {
    Emit e{b};
    int64_t axis = a.get_int("axis");
    ValueId shifted = stable_shift(e, x[0], axis);
    ValueId ex = e.exp(shifted);
    ValueId s = e.sum(ex, {axis}, true);
    return std::vector<ValueId>{log ? e.sub(shifted, e.log(s)) : e.div(ex, s)};
  };
  d.gradient = [log](const GradQuery& q) {
    Emit e{q.builder};
    int64_t axis = q.node.attrs.get_int("axis");
    ValueId y = q.node.results[0];
    ValueId g = *q.result_grads[0];
    // softmax: y (g - sum(g y)); log_softmax: g - softmax(x) sum(g), with softmax(x) = exp(y).
    if (log) return Grads{e.sub(g, e.mul(e.exp(y), e.sum(g, {axis}, true)))};
    return Grads{e.mul(y, e.sub(g, e.sum(e.mul(g, y), {axis}, true)))};
  };
  return d;
}

// ---- layer_norm(x, [gamma], [beta]) over dims [axis, rank) ----

OpDef layer_norm_def() {
  OpDef d = composite(OpKind::layer_norm, "layer_norm", 1, 3,
                      "(x - mean) / sqrt(var + eps) * gamma + beta over the trailing dims from axis");
  d.attrs = {AttrSpec{"axis", AttrKind::integer, AttrValue{int64_t{-1}}},
             AttrSpec{"eps", AttrKind::real, AttrValue{1e-5}}};
  d.infer = [](const ShapeQuery& q) {
    const TensorType& x = q.operands[0];
    require_float("layer_norm", x, "the input");
    int axis = normalize_axis(q.attrs.get_int("axis"), x.rank(), "layer_norm");
    Shape normalized(x.shape.begin() + axis, x.shape.end());
    for (size_t i = 1; i < q.operands.size(); ++i) {
      const TensorType& p = q.operands[i];
      if (p.dtype != x.dtype || p.shape != normalized)
        throw Error(fmt::format("layer_norm: {} must be {}{} (the normalized dims of the input {}), but got {}",
                                i == 1 ? "gamma" : "beta", dtype_name(x.dtype), shape_str(normalized), x.str(),
                                p.str()));
    }
    return std::vector<TensorType>{x};
  };
  d.decompose = [](GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a) {
    Emit e{b};
    ValueId x = ops[0];
    int rank = e.type(x).rank();
    int axis = normalize_axis(a.get_int("axis"), rank, "layer_norm");
    std::vector<int64_t> axes;
    for (int i = axis; i < rank; ++i) axes.push_back(i);
    DType t = e.type(x).dtype;
    ValueId mu = e.mean(x, axes, true);
    ValueId centered = e.sub(x, mu);
    ValueId var = e.mean(e.mul(centered, centered), axes, true);
    ValueId inv = b.unary(OpKind::rsqrt, e.add(var, e.c(a.get_real("eps"), t)));
    ValueId y = e.mul(centered, inv);
    if (ops.size() > 1) y = e.mul(y, ops[1]);
    if (ops.size() > 2) y = e.add(y, ops[2]);
    return std::vector<ValueId>{y};
  };
  d.gradient = [](const GradQuery& q) {
    Emit e{q.builder};
    const std::vector<ValueId>& ops = q.node.operands;
    ValueId x = ops[0];
    ValueId g = *q.result_grads[0];
    const TensorType xt = e.type(x);
    int axis = normalize_axis(q.node.attrs.get_int("axis"), xt.rank(), "layer_norm");
    std::vector<int64_t> norm_axes, lead_axes;
    for (int i = 0; i < xt.rank(); ++i) (i < axis ? lead_axes : norm_axes).push_back(i);
    DType t = xt.dtype;
    ValueId centered = e.sub(x, e.mean(x, norm_axes, true));
    ValueId var = e.mean(e.mul(centered, centered), norm_axes, true);
    ValueId inv = q.builder.unary(OpKind::rsqrt, e.add(var, e.c(q.node.attrs.get_real("eps"), t)));
    ValueId xhat = e.mul(centered, inv);
    // dx = inv * (gx - mean(gx) - xhat * mean(gx * xhat)), with gx the gradient of xhat.
    ValueId gx = ops.size() > 1 ? e.mul(g, ops[1]) : g;
    ValueId dx = e.mul(inv, e.sub(e.sub(gx, e.mean(gx, norm_axes, true)),
                                  e.mul(xhat, e.mean(e.mul(gx, xhat), norm_axes, true))));
    auto over_lead = [&](ValueId v) { return lead_axes.empty() ? v : e.sum(v, lead_axes, false); };
    Grads out{dx};
    if (ops.size() > 1) out.push_back(q.wanted[1] ? std::optional(over_lead(e.mul(g, xhat))) : std::nullopt);
    if (ops.size() > 2) out.push_back(q.wanted[2] ? std::optional(over_lead(g)) : std::nullopt);
    return out;
  };
  return d;
}

// ---- attention(q, k, v, [mask]) ----

double attention_scale(const TensorType& q, const Attrs& a) {
  double scale = a.get_real("scale");
  return scale != 0.0 ? scale : 1.0 / std::sqrt(static_cast<double>(q.shape[q.rank() - 1].value()));
}

/// q k^T * scale, masked (additive or boolean) and causally masked: the softmax's input.
ValueId attention_scores(GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a) {
  Emit e{b};
  ValueId q = ops[0], k = ops[1];
  const TensorType qt = e.type(q);
  const TensorType kt = e.type(k);
  int r = qt.rank();
  DType t = qt.dtype;
  double scale = attention_scale(qt, a);
  ValueId scores = b.emit1(OpKind::matmul, {q, k}, Attrs{{"transpose_b", true}});
  scores = e.mul(scores, e.c(scale, t));
  ValueId neg_inf = e.c(-INFINITY, t);
  if (ops.size() == 4) {
    ValueId m = ops[3];
    scores = e.type(m).dtype == DType::boolean ? e.select(m, neg_inf, scores) : e.add(scores, m);
  }
  if (a.get_bool("causal")) {
    Shape sq{qt.shape[r - 2], kt.shape[r - 2]};
    ValueId row = b.emit1(OpKind::iota, {}, Attrs{{"shape", sq}, {"axis", int64_t{0}}, {"dtype", DType::i64}});
    ValueId col = b.emit1(OpKind::iota, {}, Attrs{{"shape", sq}, {"axis", int64_t{1}}, {"dtype", DType::i64}});
    scores = e.select(b.binary(OpKind::gt, col, row), neg_inf, scores);
  }
  return scores;
}

/// With w = softmax(s): dv = w^T g, dw = g v^T, ds = w (dw - sum(dw w)), dq = ds k * scale,
/// dk = ds^T q * scale, and an additive mask gets ds summed to its shape.
Grads attention_grad(const GradQuery& q) {
  GraphBuilder& b = q.builder;
  Emit e{b};
  const std::vector<ValueId>& ops = q.node.operands;
  const TensorType qt = e.type(ops[0]);
  bool with_weights = q.node.attrs.get_bool("with_weights");
  std::optional<ValueId> g_out = q.result_grads[0];
  std::optional<ValueId> g_w = with_weights ? q.result_grads[1] : std::nullopt;
  ValueId w = with_weights ? q.node.results[1]
                           : b.emit1(OpKind::softmax, {attention_scores(b, ops, q.node.attrs)}, Attrs{{"axis", int64_t{-1}}});
  Grads out(ops.size());
  if (g_out && q.wanted[2]) out[2] = b.emit1(OpKind::matmul, {w, *g_out}, Attrs{{"transpose_a", true}});
  std::optional<ValueId> dw = g_w;
  if (g_out) {
    ValueId from_out = b.emit1(OpKind::matmul, {*g_out, ops[2]}, Attrs{{"transpose_b", true}});
    dw = dw ? e.add(*dw, from_out) : from_out;
  }
  bool want_scores = q.wanted[0] || q.wanted[1] || (ops.size() == 4 && q.wanted[3]);
  if (!dw || !want_scores) return out;
  ValueId ds = e.mul(w, e.sub(*dw, e.sum(e.mul(*dw, w), {-1}, true)));
  ValueId scale = e.c(attention_scale(qt, q.node.attrs), qt.dtype);
  if (q.wanted[0]) out[0] = e.mul(b.emit1(OpKind::matmul, {ds, ops[1]}), scale);
  if (q.wanted[1]) out[1] = e.mul(b.emit1(OpKind::matmul, {ds, ops[0]}, Attrs{{"transpose_a", true}}), scale);
  if (ops.size() == 4 && q.wanted[3] && is_float(e.type(ops[3]).dtype))
    out[3] = unbroadcast(b, ds, Shape(e.type(ops[3]).shape));
  return out;
}

OpDef attention_def() {
  OpDef d = composite(OpKind::attention, "attention", 3, 4,
                      "scaled dot-product attention softmax(q k^T * scale + mask) v; mask: bool (true = masked "
                      "out) or additive float; causal masks keys after the query's position");
  d.attrs = {AttrSpec{"causal", AttrKind::boolean, AttrValue{false}},
             AttrSpec{"scale", AttrKind::real, AttrValue{0.0}},
             AttrSpec{"with_weights", AttrKind::boolean, AttrValue{false}}};
  d.infer = [](const ShapeQuery& q) {
    const TensorType& qt = q.operands[0];
    const TensorType& kt = q.operands[1];
    const TensorType& vt = q.operands[2];
    for (const TensorType* t : {&qt, &kt, &vt}) {
      require_float("attention", *t, "q, k and v");
      if (t->rank() < 2 || t->dtype != qt.dtype)
        throw Error(fmt::format("attention: q, k and v must have rank >= 2 and one dtype, but got q {}, k {}, v {}",
                                qt.str(), kt.str(), vt.str()));
    }
    int r = qt.rank();
    if (kt.rank() != r || vt.rank() != r || qt.shape[r - 1] != kt.shape[r - 1] || kt.shape[r - 2] != vt.shape[r - 2])
      throw Error(fmt::format("attention: q [..., Tq, d], k [..., Tk, d] and v [..., Tk, dv] must agree, but got "
                              "q {}, k {}, v {}",
                              qt.str(), kt.str(), vt.str()));
    if (!qt.shape[r - 1].is_static())
      throw Error(fmt::format("attention: the head dim d must be static, but q is {}", qt.str()));
    Shape batch_q(qt.shape.begin(), qt.shape.end() - 2), batch_k(kt.shape.begin(), kt.shape.end() - 2);
    Shape batch_v(vt.shape.begin(), vt.shape.end() - 2);
    if (batch_q != batch_k || batch_q != batch_v)
      throw Error(fmt::format("attention: q, k and v must have the same batch dims, but got q {}, k {}, v {}",
                              qt.str(), kt.str(), vt.str()));
    Shape scores = batch_q;
    scores.push_back(qt.shape[r - 2]);
    scores.push_back(kt.shape[r - 2]);
    if (q.operands.size() == 4) {
      const TensorType& m = q.operands[3];
      if (m.dtype != DType::boolean && m.dtype != qt.dtype)
        throw Error(fmt::format("attention: the mask must be bool (true = masked out) or {} (added to the scores), "
                                "but got {}",
                                dtype_name(qt.dtype), m.str()));
      Shape bs = broadcast_shapes("attention mask", m, TensorType{qt.dtype, scores});
      if (bs != scores)
        throw Error(fmt::format("attention: the mask {} must broadcast to the scores' shape {}", m.str(),
                                shape_str(scores)));
    }
    Shape out = batch_q;
    out.push_back(qt.shape[r - 2]);
    out.push_back(vt.shape[r - 1]);
    std::vector<TensorType> results{TensorType{qt.dtype, out}};
    if (q.attrs.get_bool("with_weights")) results.push_back(TensorType{qt.dtype, scores});
    return results;
  };
  d.decompose = [](GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a) {
    ValueId scores = attention_scores(b, ops, a);
    ValueId w = op_def(OpKind::softmax).decompose(b, {scores}, Attrs{{"axis", int64_t{-1}}})[0];
    ValueId out = b.emit1(OpKind::matmul, {w, ops[2]});
    std::vector<ValueId> results{out};
    if (a.get_bool("with_weights")) results.push_back(w);
    return results;
  };
  d.gradient = attention_grad;
  return d;
}

}  // namespace

void register_loss_ops(std::vector<OpDef>& t);  // composite_losses.cpp

void register_composite_ops(std::vector<OpDef>& t) {
  t.push_back(softmax_def(false));
  t.push_back(softmax_def(true));
  t.push_back(layer_norm_def());
  t.push_back(attention_def());
  register_loss_ops(t);
}

}  // namespace weft::ops_detail
