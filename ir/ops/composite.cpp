/** \file
 * Composite ops: softmax, log_softmax, layer_norm, attention (composite_attention.cpp), the losses,
 * dropout, one_hot and embedding. Each is defined by its decomposition into core ops, so the interpreter and autodiff get
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

}  // namespace

void register_loss_ops(std::vector<OpDef>& t);       // composite_losses.cpp
void register_attention_ops(std::vector<OpDef>& t);  // composite_attention.cpp
void register_recurrent_ops(std::vector<OpDef>& t);  // composite_recurrent.cpp

void register_composite_ops(std::vector<OpDef>& t) {
  t.push_back(softmax_def(false));
  t.push_back(softmax_def(true));
  t.push_back(layer_norm_def());
  register_attention_ops(t);
  register_recurrent_ops(t);
  register_loss_ops(t);
}

}  // namespace weft::ops_detail
