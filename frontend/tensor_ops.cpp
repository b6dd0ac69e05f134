#include "frontend/tensor_ops.h"

#include <fmt/format.h>

#include <cmath>

namespace weft::dsl {

namespace {

SourceLoc where(const Loc& loc) { return SourceLoc::from(loc); }

/// The builder of the first defined handle, or an error naming the op and the user's line.
Builder& builder_of(std::string_view op, const std::vector<const Tensor*>& ts, const SourceLoc& loc) {
  for (const Tensor* t : ts)
    if (t->defined()) return t->builder();
  throw Error(with_location(fmt::format("{}: needs a tensor operand, but got only empty Tensor handles", op), loc));
}

Tensor unary(OpKind op, const Tensor& x, const Loc& loc, const Attrs& attrs = {}) {
  SourceLoc at = where(loc);
  return builder_of(op_name(op), {&x}, at).emit1(op, {x}, attrs, at);
}

/// Checks that `value` is exactly representable in `dtype`, as a scalar operand must be (no promotion).
void check_scalar(std::string_view op, double value, DType dtype, const SourceLoc& loc) {
  bool ok = true;
  if (dtype == DType::boolean) {
    ok = value == 0.0 || value == 1.0;
  } else if (is_int(dtype)) {
    double lo = dtype == DType::i32 ? -2147483648.0 : -9223372036854775808.0;
    double hi = dtype == DType::i32 ? 2147483647.0 : 9223372036854775807.0;
    ok = std::isfinite(value) && std::trunc(value) == value && value >= lo && value <= hi;
  }
  if (!ok)
    throw Error(
        with_location(fmt::format("{}: a scalar operand takes the tensor operand's dtype (Weft never promotes), "
                                  "so it must be exactly representable as {}, but got {}",
                                  op, dtype_name(dtype), value),
                      loc));
}

/// The operand as a tensor: scalars become constants of `dtype`.
Tensor materialize(std::string_view op, Builder& b, const Operand& x, DType dtype, const SourceLoc& loc) {
  if (!x.is_scalar()) return x.tensor();
  check_scalar(op, x.scalar(), dtype, b.location(loc));
  return b.emit1(OpKind::constant, {},
                 Attrs{{"value", std::vector<double>{x.scalar()}}, {"dtype", dtype}, {"shape", Shape{}}}, loc);
}

Tensor binary(OpKind op, const Operand& a, const Operand& b) {
  SourceLoc at = a.loc();
  std::string_view name = op_name(op);
  if (a.is_scalar() && b.is_scalar())
    throw Error(with_location(fmt::format("{}: needs at least one tensor operand, but got two scalars ({} and {})",
                                          name, a.scalar(), b.scalar()),
                              at));
  const Tensor& t = a.is_scalar() ? b.tensor() : a.tensor();
  Builder& bld = builder_of(name, {&t}, at);
  DType dtype = t.dtype();
  Tensor ta = materialize(name, bld, a, dtype, at);
  Tensor tb = materialize(name, bld, b, dtype, at);
  return bld.emit1(op, {ta, tb}, {}, at);
}

}  // namespace

// --- unary elementwise ---

Tensor neg(const Tensor& x, Loc loc) { return unary(OpKind::neg, x, loc); }
Tensor abs(const Tensor& x, Loc loc) { return unary(OpKind::abs, x, loc); }
Tensor exp(const Tensor& x, Loc loc) { return unary(OpKind::exp, x, loc); }
Tensor log(const Tensor& x, Loc loc) { return unary(OpKind::log, x, loc); }
Tensor sqrt(const Tensor& x, Loc loc) { return unary(OpKind::sqrt, x, loc); }
Tensor rsqrt(const Tensor& x, Loc loc) { return unary(OpKind::rsqrt, x, loc); }
Tensor tanh(const Tensor& x, Loc loc) { return unary(OpKind::tanh, x, loc); }
Tensor sigmoid(const Tensor& x, Loc loc) { return unary(OpKind::sigmoid, x, loc); }
Tensor relu(const Tensor& x, Loc loc) { return unary(OpKind::relu, x, loc); }
Tensor gelu(const Tensor& x, const std::string& approximate, Loc loc) {
  return unary(OpKind::gelu, x, loc, Attrs{{"approximate", approximate}});
}
Tensor sin(const Tensor& x, Loc loc) { return unary(OpKind::sin, x, loc); }
Tensor cos(const Tensor& x, Loc loc) { return unary(OpKind::cos, x, loc); }
Tensor logical_not(const Tensor& x, Loc loc) { return unary(OpKind::logical_not, x, loc); }

// --- binary elementwise ---

Tensor add(Operand a, Operand b) { return binary(OpKind::add, a, b); }
Tensor sub(Operand a, Operand b) { return binary(OpKind::sub, a, b); }
Tensor mul(Operand a, Operand b) { return binary(OpKind::mul, a, b); }
Tensor div(Operand a, Operand b) { return binary(OpKind::div, a, b); }
Tensor pow(Operand a, Operand b) { return binary(OpKind::pow, a, b); }
Tensor maximum(Operand a, Operand b) { return binary(OpKind::maximum, a, b); }
Tensor minimum(Operand a, Operand b) { return binary(OpKind::minimum, a, b); }
Tensor eq(Operand a, Operand b) { return binary(OpKind::eq, a, b); }
Tensor ne(Operand a, Operand b) { return binary(OpKind::ne, a, b); }
Tensor lt(Operand a, Operand b) { return binary(OpKind::lt, a, b); }
Tensor le(Operand a, Operand b) { return binary(OpKind::le, a, b); }
Tensor gt(Operand a, Operand b) { return binary(OpKind::gt, a, b); }
Tensor ge(Operand a, Operand b) { return binary(OpKind::ge, a, b); }
Tensor logical_and(Operand a, Operand b) { return binary(OpKind::logical_and, a, b); }
Tensor logical_or(Operand a, Operand b) { return binary(OpKind::logical_or, a, b); }

Tensor select(const Tensor& cond, Operand a, Operand b) {
  SourceLoc at = a.loc();
  Builder& bld = builder_of("select", {&cond}, at);
  if (a.is_scalar() && b.is_scalar())
    throw Error(with_location(fmt::format("select: needs at least one tensor branch to take the dtype from, but got "
                                          "two scalars ({} and {}); make one with Builder::constant",
                                          a.scalar(), b.scalar()),
                              at));
  DType dtype = a.is_scalar() ? b.tensor().dtype() : a.tensor().dtype();
  Tensor ta = materialize("select", bld, a, dtype, at);
  Tensor tb = materialize("select", bld, b, dtype, at);
  return bld.emit1(OpKind::select, {cond, ta, tb}, {}, at);
}

Tensor operator+(Operand a, Operand b) { return binary(OpKind::add, a, b); }
Tensor operator-(Operand a, Operand b) { return binary(OpKind::sub, a, b); }
Tensor operator*(Operand a, Operand b) { return binary(OpKind::mul, a, b); }
Tensor operator/(Operand a, Operand b) { return binary(OpKind::div, a, b); }
Tensor operator<(Operand a, Operand b) { return binary(OpKind::lt, a, b); }
Tensor operator<=(Operand a, Operand b) { return binary(OpKind::le, a, b); }
Tensor operator>(Operand a, Operand b) { return binary(OpKind::gt, a, b); }
Tensor operator>=(Operand a, Operand b) { return binary(OpKind::ge, a, b); }
Tensor operator==(Operand a, Operand b) { return binary(OpKind::eq, a, b); }
Tensor operator!=(Operand a, Operand b) { return binary(OpKind::ne, a, b); }
Tensor operator&(Operand a, Operand b) { return binary(OpKind::logical_and, a, b); }
Tensor operator|(Operand a, Operand b) { return binary(OpKind::logical_or, a, b); }

Tensor operator-(Operand x) {
  SourceLoc at = x.loc();
  if (x.is_scalar()) throw Error(with_location("neg: needs a tensor operand, but got a scalar", at));
  return builder_of("neg", {&x.tensor()}, at).emit1(OpKind::neg, {x.tensor()}, {}, at);
}

Tensor operator!(Operand x) {
  SourceLoc at = x.loc();
  if (x.is_scalar()) throw Error(with_location("logical_not: needs a tensor operand, but got a scalar", at));
  return builder_of("logical_not", {&x.tensor()}, at).emit1(OpKind::logical_not, {x.tensor()}, {}, at);
}

// --- reductions ---

namespace {
Tensor reduce(OpKind op, const Tensor& x, std::vector<int64_t> axes, bool keepdims, const Loc& loc) {
  return unary(op, x, loc, Attrs{{"axes", std::move(axes)}, {"keepdims", keepdims}});
}
}  // namespace

Tensor sum(const Tensor& x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  return reduce(OpKind::reduce_sum, x, std::move(axes), keepdims, loc);
}
Tensor mean(const Tensor& x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  return reduce(OpKind::reduce_mean, x, std::move(axes), keepdims, loc);
}
Tensor max(const Tensor& x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  return reduce(OpKind::reduce_max, x, std::move(axes), keepdims, loc);
}
Tensor min(const Tensor& x, std::vector<int64_t> axes, bool keepdims, Loc loc) {
  return reduce(OpKind::reduce_min, x, std::move(axes), keepdims, loc);
}
Tensor argmax(const Tensor& x, int64_t axis, bool keepdims, Loc loc) {
  return unary(OpKind::argmax, x, loc, Attrs{{"axis", axis}, {"keepdims", keepdims}});
}

// --- data movement ---

Tensor reshape(const Tensor& x, Shape shape, Loc loc) {
  return unary(OpKind::reshape, x, loc, Attrs{{"shape", std::move(shape)}});
}
Tensor transpose(const Tensor& x, std::vector<int64_t> perm, Loc loc) {
  return unary(OpKind::transpose, x, loc, Attrs{{"perm", std::move(perm)}});
}
Tensor broadcast_to(const Tensor& x, Shape shape, Loc loc) {
  return unary(OpKind::broadcast, x, loc, Attrs{{"shape", std::move(shape)}});
}
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step, Loc loc) {
  return unary(OpKind::slice, x, loc, Attrs{{"axis", axis}, {"start", start}, {"end", end}, {"step", step}});
}
Tensor concat(const std::vector<Tensor>& xs, int64_t axis, Loc loc) {
  SourceLoc at = where(loc);
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : xs) ptrs.push_back(&t);
  return builder_of("concat", ptrs, at).emit1(OpKind::concat, xs, Attrs{{"axis", axis}}, at);
}
Tensor gather(const Tensor& x, const Tensor& indices, int64_t axis, Loc loc) {
  SourceLoc at = where(loc);
  return builder_of("gather", {&x, &indices}, at).emit1(OpKind::gather, {x, indices}, Attrs{{"axis", axis}}, at);
}
Tensor scatter_add(const Tensor& updates, const Tensor& indices, Shape shape, int64_t axis, Loc loc) {
  SourceLoc at = where(loc);
  return builder_of("scatter_add", {&updates, &indices}, at)
      .emit1(OpKind::scatter_add, {updates, indices}, Attrs{{"axis", axis}, {"shape", std::move(shape)}}, at);
}

// --- compute and sources ---

Tensor matmul(const Tensor& a, const Tensor& b, MatMulOptions options, Loc loc) {
  SourceLoc at = where(loc);
  return builder_of("matmul", {&a, &b}, at)
      .emit1(OpKind::matmul, {a, b}, Attrs{{"transpose_a", options.transpose_a}, {"transpose_b", options.transpose_b}},
             at);
}
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b, Loc loc) {
  return matmul(a, b, MatMulOptions{transpose_a, transpose_b}, loc);
}
Tensor cast(const Tensor& x, DType dtype, Loc loc) { return unary(OpKind::cast, x, loc, Attrs{{"dtype", dtype}}); }
Tensor iota(Builder& b, Shape shape, int64_t axis, DType dtype, Loc loc) {
  return b.emit1(OpKind::iota, {}, Attrs{{"shape", std::move(shape)}, {"axis", axis}, {"dtype", dtype}}, where(loc));
}
Tensor rng_uniform(const Tensor& offset, Shape shape, DType dtype, int64_t seed, Loc loc) {
  return unary(OpKind::rng_uniform, offset, loc, Attrs{{"shape", std::move(shape)}, {"dtype", dtype}, {"seed", seed}});
}

// --- composites ---

Tensor softmax(const Tensor& x, int64_t axis, Loc loc) { return unary(OpKind::softmax, x, loc, Attrs{{"axis", axis}}); }
Tensor log_softmax(const Tensor& x, int64_t axis, Loc loc) {
  return unary(OpKind::log_softmax, x, loc, Attrs{{"axis", axis}});
}

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, LayerNormOptions options, Loc loc) {
  SourceLoc at = where(loc);
  if (beta.defined() && !gamma.defined())
    throw Error(with_location("layer_norm: beta needs gamma (the operands are x, [gamma], [beta])", at));
  std::vector<Tensor> operands{x};
  if (gamma.defined()) operands.push_back(gamma);
  if (beta.defined()) operands.push_back(beta);
  return builder_of("layer_norm", {&x}, at)
      .emit1(OpKind::layer_norm, operands, Attrs{{"axis", options.axis}, {"eps", options.eps}}, at);
}

namespace {
std::vector<Tensor> emit_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                   const AttentionOptions& options, bool with_weights, const SourceLoc& at) {
  std::vector<Tensor> operands{q, k, v};
  if (mask.defined()) operands.push_back(mask);
  return builder_of("attention", {&q, &k, &v}, at)
      .emit(OpKind::attention, operands,
            Attrs{{"causal", options.causal}, {"scale", options.scale}, {"with_weights", with_weights}}, at);
}
}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, AttentionOptions options,
                 Loc loc) {
  return emit_attention(q, k, v, mask, options, false, where(loc))[0];
}

std::pair<Tensor, Tensor> attention_with_weights(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                                 AttentionOptions options, Loc loc) {
  std::vector<Tensor> r = emit_attention(q, k, v, mask, options, true, where(loc));
  return {r[0], r[1]};
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, CrossEntropyOptions options, Loc loc) {
  SourceLoc at = where(loc);
  return builder_of("cross_entropy", {&logits, &targets}, at)
      .emit1(OpKind::cross_entropy, {logits, targets},
             Attrs{{"label_smoothing", options.label_smoothing},
                   {"ignore_index", options.ignore_index},
                   {"reduction", options.reduction}},
             at);
}

Tensor kl_div(const Tensor& input, const Tensor& target, KlDivOptions options, Loc loc) {
  SourceLoc at = where(loc);
  return builder_of("kl_div", {&input, &target}, at)
      .emit1(OpKind::kl_div, {input, target},
             Attrs{{"reduction", options.reduction}, {"log_target", options.log_target}}, at);
}

Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction, Loc loc) {
  SourceLoc at = where(loc);
  return builder_of("mse_loss", {&input, &target}, at)
      .emit1(OpKind::mse_loss, {input, target}, Attrs{{"reduction", reduction}}, at);
}

Tensor dropout(const Tensor& x, const Tensor& offset, DropoutOptions options, Loc loc) {
  SourceLoc at = where(loc);
  return builder_of("dropout", {&x, &offset}, at)
      .emit1(OpKind::dropout, {x, offset},
             Attrs{{"p", options.p}, {"seed", options.seed}, {"training", options.training}}, at);
}

Tensor one_hot(const Tensor& indices, int64_t depth, DType dtype, Loc loc) {
  return unary(OpKind::one_hot, indices, loc, Attrs{{"depth", depth}, {"dtype", dtype}});
}

Tensor all_reduce(const Tensor& x, const std::string& reduce, const std::string& group, Loc loc) {
  return unary(OpKind::all_reduce, x, loc, Attrs{{"reduce", reduce}, {"group", group}});
}

Tensor embedding(const Tensor& table, const Tensor& ids, Loc loc) {
  SourceLoc at = where(loc);
  return builder_of("embedding", {&table, &ids}, at).emit1(OpKind::embedding, {table, ids}, {}, at);
}

// --- regions ---

std::vector<Tensor> scan(const Graph& body, const ScanOperands& operands, ScanOptions options, Loc loc) {
  SourceLoc at = where(loc);
  std::vector<Tensor> all = operands.carries;
  all.insert(all.end(), operands.sequences.begin(), operands.sequences.end());
  all.insert(all.end(), operands.consts.begin(), operands.consts.end());
  bool has_lengths = operands.lengths.defined();
  if (has_lengths) all.push_back(operands.lengths);
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : all) ptrs.push_back(&t);
  Attrs attrs{{"num_carry", static_cast<int64_t>(operands.carries.size())},
              {"num_seq", static_cast<int64_t>(operands.sequences.size())},
              {"time_axis", options.time_axis},
              {"reverse", options.reverse},
              {"has_lengths", has_lengths}};
  return builder_of("scan", ptrs, at).emit(OpKind::scan, all, attrs, at, std::make_shared<const Graph>(body));
}

std::vector<Tensor> fusion(const Graph& body, const std::vector<Tensor>& inputs, const std::string& kind, Loc loc) {
  SourceLoc at = where(loc);
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : inputs) ptrs.push_back(&t);
  return builder_of("fusion", ptrs, at)
      .emit(OpKind::fusion, inputs, Attrs{{"kind", kind}}, at, std::make_shared<const Graph>(body));
}

}  // namespace weft::dsl
