/** \file
 * Composite ops for training and lookup: cross_entropy (label smoothing, ignore index), kl_div,
 * mse_loss, dropout (seeded Philox), one_hot and embedding. Semantics follow PyTorch's functional API.
 *
 * cross_entropy has a direct gradient rule, (softmax - smoothed one-hot) scaled per row; autodiff
 * differentiates the decompositions of kl_div, mse_loss, dropout and embedding (each a handful of
 * core ops, so a direct rule would save little). one_hot carries no gradient.
 */
#include <fmt/format.h>

#include "ir/ops.h"
#include "ir/ops/emit.h"
#include "ir/ops/grad_util.h"

namespace weft::ops_detail {

namespace {

void check_reduction(const std::string& op, const Attrs& attrs, std::initializer_list<const char*> allowed) {
  const std::string& r = attrs.get_string("reduction");
  std::string list;
  for (const char* a : allowed) {
    if (r == a) return;
    list += (list.empty() ? "" : ", ") + std::string("\"") + a + "\"";
  }
  throw Error(fmt::format("{}: reduction must be one of {}, but got \"{}\"", op, list, r));
}

/// Applies "none" / "sum" / "mean" (over all elements) / "batchmean" (sum over dim 0's size).
ValueId reduce_loss(Emit& e, ValueId per_element, const std::string& reduction) {
  int rank = e.type(per_element).rank();
  std::vector<int64_t> all;
  for (int i = 0; i < rank; ++i) all.push_back(i);
  if (reduction == "none") return per_element;
  if (reduction == "sum") return e.sum(per_element, all, false);
  if (reduction == "mean") return e.mean(per_element, all, false);
  // batchmean: sum / N, where N is the leading dim (it may be symbolic, so count it at run time).
  ValueId total = e.sum(per_element, all, false);
  const TensorType t = e.type(per_element);  // a copy: emitting may grow the value table
  ValueId rows = e.sum(e.b.broadcast_to(e.c(1.0, t.dtype), Shape{t.shape[0]}), {0}, false);
  return e.div(total, rows);
}

Shape scalar_or(const Shape& s, const std::string& reduction) { return reduction == "none" ? s : Shape{}; }

// ---- one_hot(indices; depth, dtype) ----

OpDef one_hot_def() {
  OpDef d = composite(OpKind::one_hot, "one_hot", 1, 1,
                      "out[..., c] = (indices[...] == c), for c in [0, depth); out-of-range indices give all zeros");
  d.differentiable = false;
  d.attrs = {AttrSpec{"depth", AttrKind::integer, std::nullopt},
             AttrSpec{"dtype", AttrKind::dtype, AttrValue{DType::f32}}};
  d.infer = [](const ShapeQuery& q) {
    const TensorType& idx = q.operands[0];
    if (!is_int(idx.dtype)) throw Error(fmt::format("one_hot: indices must be i32 or i64, but got {}", idx.str()));
    int64_t depth = q.attrs.get_int("depth");
    if (depth <= 0) throw Error(fmt::format("one_hot: depth must be positive, but got {}", depth));
    Shape s = idx.shape;
    s.push_back(depth);
    return std::vector<TensorType>{TensorType{q.attrs.get_dtype("dtype"), s}};
  };
  d.decompose = [](GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a) {
    Emit e{b};
    const TensorType idx = e.type(ops[0]);
    Shape s = idx.shape;
    s.push_back(a.get_int("depth"));
    Shape expanded = idx.shape;
    expanded.push_back(1);
    ValueId classes = b.emit1(OpKind::iota, {}, Attrs{{"shape", s}, {"axis", int64_t{-1 + static_cast<int64_t>(s.size())}},
                                                      {"dtype", idx.dtype}});
    ValueId hit = b.binary(OpKind::eq, b.reshape(ops[0], expanded), classes);
    return std::vector<ValueId>{e.cast(hit, a.get_dtype("dtype"))};
  };
  return d;
}

// ---- embedding(table, ids) ----

OpDef embedding_def() {
  OpDef d = composite(OpKind::embedding, "embedding", 2, 2, "table[ids]: rows of a [V, D] table (gather on axis 0)");
  d.infer = [](const ShapeQuery& q) {
    const TensorType& table = q.operands[0];
    const TensorType& ids = q.operands[1];
    if (table.rank() != 2) throw Error(fmt::format("embedding: the table must be [V, D], but got {}", table.str()));
    if (!is_int(ids.dtype)) throw Error(fmt::format("embedding: ids must be i32 or i64, but got {}", ids.str()));
    Shape s = ids.shape;
    s.push_back(table.shape[1]);
    return std::vector<TensorType>{TensorType{table.dtype, s}};
  };
  d.decompose = [](GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs&) {
    return std::vector<ValueId>{b.emit1(OpKind::gather, {ops[0], ops[1]}, Attrs{{"axis", int64_t{0}}})};
  };
  return d;
}

// ---- cross_entropy(logits [..., C], targets [...]) ----

OpDef cross_entropy_def() {
  OpDef d = composite(OpKind::cross_entropy, "cross_entropy", 2, 2,
                      "PyTorch's F.cross_entropy over the last axis, with label_smoothing and ignore_index");
  d.attrs = {AttrSpec{"label_smoothing", AttrKind::real, AttrValue{0.0}},
             AttrSpec{"ignore_index", AttrKind::integer, AttrValue{int64_t{-100}}},
             AttrSpec{"reduction", AttrKind::string, AttrValue{std::string("mean")}}};
  d.infer = [](const ShapeQuery& q) {
    const TensorType& logits = q.operands[0];
    const TensorType& targets = q.operands[1];
    require_float("cross_entropy", logits, "the logits");
    check_reduction("cross_entropy", q.attrs, {"none", "sum", "mean"});
    double eps = q.attrs.get_real("label_smoothing");
    if (eps < 0 || eps > 1) throw Error(fmt::format("cross_entropy: label_smoothing must be in [0, 1], but got {}", eps));
    Shape lead(logits.shape.begin(), logits.shape.end() - (logits.rank() > 0 ? 1 : 0));
    if (logits.rank() < 1 || !is_int(targets.dtype) || targets.shape != lead)
      throw Error(fmt::format("cross_entropy: logits [..., C] need integer class targets [...], but got logits {} "
                              "and targets {}",
                              logits.str(), targets.str()));
    return std::vector<TensorType>{TensorType{logits.dtype, scalar_or(lead, q.attrs.get_string("reduction"))}};
  };
  d.decompose = [](GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a) {
    Emit e{b};
    ValueId logits = ops[0], targets = ops[1];
    const TensorType lt = e.type(logits);
    DType t = lt.dtype;
    int64_t classes = lt.shape.back().value();
    double eps = a.get_real("label_smoothing");
    ValueId logp = op_def(OpKind::log_softmax).decompose(b, {logits}, Attrs{{"axis", int64_t{-1}}})[0];
    ValueId ignore = b.constant(static_cast<double>(a.get_int("ignore_index")), e.type(targets).dtype);
    ValueId valid = b.binary(OpKind::ne, targets, ignore);
    // A target outside [0, C) that is not ignore_index is an error, as in PyTorch (one_hot alone
    // would give it a loss of 0): the targets pass through a gather of 0..C-1 that does not wrap,
    // so the index checks every backend runs before a gather raise it.
    DType index_type = e.type(targets).dtype;
    ValueId labels = b.emit1(OpKind::iota, {}, Attrs{{"shape", Shape{classes}}, {"axis", int64_t{0}}, {"dtype", index_type}});
    ValueId safe = e.select(valid, targets, b.constant(0.0, index_type));
    ValueId checked = b.emit1(OpKind::gather, {labels, safe}, Attrs{{"axis", int64_t{0}}, {"wrap", false}});
    ValueId onehot = op_def(OpKind::one_hot).decompose(b, {checked}, Attrs{{"depth", classes}, {"dtype", t}})[0];
    ValueId nll = e.neg(e.sum(e.mul(onehot, logp), {-1}, false));
    ValueId per = nll;
    if (eps > 0) {
      ValueId smooth = e.neg(e.mean(logp, {-1}, false));
      per = e.add(e.mul(e.c(1.0 - eps, t), nll), e.mul(e.c(eps, t), smooth));
    }
    per = e.select(valid, per, e.c(0.0, t));
    const std::string& reduction = a.get_string("reduction");
    if (reduction == "none") return std::vector<ValueId>{per};
    int rank = e.type(per).rank();
    std::vector<int64_t> all;
    for (int i = 0; i < rank; ++i) all.push_back(i);
    ValueId total = e.sum(per, all, false);
    if (reduction == "sum") return std::vector<ValueId>{total};
    ValueId count = e.sum(e.cast(valid, t), all, false);
    return std::vector<ValueId>{e.div(total, count)};
  };
  d.gradient = [](const GradQuery& q) {
    // d per-row loss / d logits = softmax - ((1 - eps) one_hot + eps / C); each row is then scaled by
    // its incoming gradient (divided by the count of valid targets for "mean") and zeroed if ignored.
    GraphBuilder& b = q.builder;
    Emit e{b};
    ValueId logits = q.node.operands[0], targets = q.node.operands[1];
    const TensorType lt = e.type(logits);
    DType t = lt.dtype;
    int64_t classes = lt.shape.back().value();
    double eps = q.node.attrs.get_real("label_smoothing");
    ValueId p = b.emit1(OpKind::softmax, {logits}, Attrs{{"axis", int64_t{-1}}});
    ValueId target = b.emit1(OpKind::one_hot, {targets}, Attrs{{"depth", classes}, {"dtype", t}});
    if (eps > 0) target = e.add(e.mul(e.c(1.0 - eps, t), target), e.c(eps / static_cast<double>(classes), t));
    ValueId ignore = b.constant(static_cast<double>(q.node.attrs.get_int("ignore_index")), e.type(targets).dtype);
    ValueId valid = b.binary(OpKind::ne, targets, ignore);
    ValueId g = *q.result_grads[0];
    if (q.node.attrs.get_string("reduction") == "mean") g = e.div(g, e.sum(e.cast(valid, t), {}, false));
    ValueId row_scale = e.select(valid, g, e.c(0.0, t));
    Shape column = e.type(targets).shape;
    column.push_back(1);
    return Grads{e.mul(e.sub(p, target), b.reshape(row_scale, column)), std::nullopt};
  };
  return d;
}

// ---- kl_div(input = log-probabilities, target) ----

OpDef kl_div_def() {
  OpDef d = composite(OpKind::kl_div, "kl_div", 2, 2,
                      "PyTorch's F.kl_div: target * (log target - input), 0 where target is 0; input holds log-probs");
  d.attrs = {AttrSpec{"reduction", AttrKind::string, AttrValue{std::string("batchmean")}},
             AttrSpec{"log_target", AttrKind::boolean, AttrValue{false}}};
  d.infer = [](const ShapeQuery& q) {
    const TensorType& x = q.operands[0];
    const TensorType& y = q.operands[1];
    require_float("kl_div", x, "the input");
    check_reduction("kl_div", q.attrs, {"none", "sum", "mean", "batchmean"});
    if (x != y) throw Error(fmt::format("kl_div: input and target must have the same type, but got {} and {}", x.str(), y.str()));
    if (q.attrs.get_string("reduction") == "batchmean" && x.rank() == 0)
      throw Error("kl_div: reduction \"batchmean\" needs a batch dim, but the input is a scalar");
    return std::vector<TensorType>{TensorType{x.dtype, scalar_or(x.shape, q.attrs.get_string("reduction"))}};
  };
  d.decompose = [](GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a) {
    Emit e{b};
    ValueId x = ops[0], y = ops[1];
    DType t = e.type(x).dtype;
    ValueId per;
    if (a.get_bool("log_target")) {
      per = e.mul(e.exp(y), e.sub(y, x));
    } else {
      // xlogy: 0 * log 0 = 0, so a zero target contributes nothing (and no NaN).
      ValueId positive = b.binary(OpKind::gt, y, e.c(0.0, t));
      ValueId safe = e.select(positive, y, e.c(1.0, t));
      per = e.select(positive, e.mul(y, e.sub(e.log(safe), x)), e.c(0.0, t));
    }
    return std::vector<ValueId>{reduce_loss(e, per, a.get_string("reduction"))};
  };
  return d;
}

// ---- mse_loss(input, target) ----

OpDef mse_loss_def() {
  OpDef d = composite(OpKind::mse_loss, "mse_loss", 2, 2, "mean (or sum) of (input - target)^2");
  d.attrs = {AttrSpec{"reduction", AttrKind::string, AttrValue{std::string("mean")}}};
  d.infer = [](const ShapeQuery& q) {
    const TensorType& x = q.operands[0];
    const TensorType& y = q.operands[1];
    require_float("mse_loss", x, "the input");
    check_reduction("mse_loss", q.attrs, {"none", "sum", "mean"});
    if (x != y)
      throw Error(fmt::format("mse_loss: input and target must have the same type, but got {} and {}", x.str(), y.str()));
    return std::vector<TensorType>{TensorType{x.dtype, scalar_or(x.shape, q.attrs.get_string("reduction"))}};
  };
  d.decompose = [](GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a) {
    Emit e{b};
    ValueId diff = e.sub(ops[0], ops[1]);
    return std::vector<ValueId>{reduce_loss(e, e.mul(diff, diff), a.get_string("reduction"))};
  };
  return d;
}

// ---- dropout(x, offset) ----

OpDef dropout_def() {
  OpDef d = composite(OpKind::dropout, "dropout", 2, 2,
                      "zeroes each element with probability p and scales the rest by 1/(1-p); the mask is Philox "
                      "keyed by seed and the i64 scalar operand offset (pass the step to vary it), so runs repeat");
  d.attrs = {AttrSpec{"p", AttrKind::real, AttrValue{0.1}}, AttrSpec{"seed", AttrKind::integer, AttrValue{int64_t{0}}},
             AttrSpec{"training", AttrKind::boolean, AttrValue{true}}};
  d.infer = [](const ShapeQuery& q) {
    require_float("dropout", q.operands[0], "the input");
    const TensorType& off = q.operands[1];
    if (off.dtype != DType::i64 || off.rank() != 0)
      throw Error(fmt::format("dropout: the offset must be an i64 scalar (e.g. the step), but got {}", off.str()));
    double p = q.attrs.get_real("p");
    if (p < 0 || p >= 1) throw Error(fmt::format("dropout: p must be in [0, 1), but got {}", p));
    return std::vector<TensorType>{q.operands[0]};
  };
  d.decompose = [](GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a) {
    Emit e{b};
    ValueId x = ops[0];
    double p = a.get_real("p");
    if (!a.get_bool("training") || p == 0.0) return std::vector<ValueId>{x};
    const TensorType xt = e.type(x);
    ValueId u = b.emit1(OpKind::rng_uniform, {ops[1]},
                        Attrs{{"seed", a.get_int("seed")}, {"shape", xt.shape}, {"dtype", xt.dtype}});
    ValueId keep = b.binary(OpKind::ge, u, e.c(p, xt.dtype));
    return std::vector<ValueId>{e.select(keep, e.mul(x, e.c(1.0 / (1.0 - p), xt.dtype)), e.c(0.0, xt.dtype))};
  };
  return d;
}

}  // namespace

void register_loss_ops(std::vector<OpDef>& t) {
  t.push_back(cross_entropy_def());
  t.push_back(kl_div_def());
  t.push_back(mse_loss_def());
  t.push_back(dropout_def());
  t.push_back(one_hot_def());
  t.push_back(embedding_def());
}

}  // namespace weft::ops_detail
