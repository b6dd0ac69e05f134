#include "frontend/nn/basic.h"

#include <fmt/format.h>

#include "ir/init.h"

namespace weft::nn {

namespace {

/// `init` with the builder's next seed when it has none.
Initializer seeded(Initializer init, Builder& b) {
  if (init.seed == 0) init.seed = b.next_seed();
  return init;
}

LinearOptions with_bias(bool bias) {
  LinearOptions o;
  o.bias = bias;
  return o;
}

LinearOptions with_weight_init(const std::optional<Initializer>& init) {
  LinearOptions o;
  o.weight_init = init;
  return o;
}

void require_positive(const Builder& b, const char* kind, const char* what, int64_t v, const Loc& loc) {
  if (v <= 0) config_error(b, fmt::format("{}: {} must be positive, but got {}", kind, what, v), loc);
}

}  // namespace

// --- Linear ---

Linear::Linear(Builder& b, const std::string& name, int64_t in, int64_t out, bool has_bias, Loc loc)
    : Linear(b, name, in, out, with_bias(has_bias), loc) {}

Linear::Linear(Builder& b, const std::string& name, int64_t in, int64_t out, LinearOptions options, Loc loc)
    : id("Linear", b, name), in_features(in), out_features(out) {
  require_positive(b, "Linear", "in_features", in, loc);
  require_positive(b, "Linear", "out_features", out, loc);
  auto s = open_scope(b, name, loc);
  weight =
      b.param("weight", DType::f32, {out, in}, seeded(options.weight_init.value_or(linear_weight_init(0)), b), loc);
  if (options.bias)
    bias = b.param("bias", DType::f32, {out}, seeded(options.bias_init.value_or(linear_bias_init(in, 0)), b), loc);
}

Tensor Linear::operator()(const Tensor& x, Loc loc) const {
  expect_last_dim(id, "the input", x, weight.dtype(), in_features, loc);
  auto s = id.enter(x.builder(), loc);
  // matmul needs rank >= 2: a single vector is treated as a batch of one.
  bool vector = x.rank() == 1;
  Tensor x2 = vector ? dsl::reshape(x, {1, in_features}, loc) : x;
  Tensor y = dsl::matmul(x2, weight, {.transpose_b = true}, loc);
  if (bias.defined()) y = ops::add(y, bias, loc);
  return vector ? dsl::reshape(y, {out_features}, loc) : y;
}

// --- LayerNorm ---

LayerNorm::LayerNorm(Builder& b, const std::string& name, int64_t dim_, double eps_, bool affine, Loc loc)
    : id("LayerNorm", b, name), dim(dim_), eps(eps_) {
  require_positive(b, "LayerNorm", "the normalized dim", dim, loc);
  if (!(eps > 0)) config_error(b, fmt::format("LayerNorm: eps must be positive, but got {}", eps), loc);
  auto s = open_scope(b, name, loc);
  if (affine) {
    weight = b.param("weight", DType::f32, {dim}, Initializer{"ones", {}, b.next_seed()}, loc);
    bias = b.param("bias", DType::f32, {dim}, Initializer{"zeros", {}, b.next_seed()}, loc);
  }
}

Tensor LayerNorm::operator()(const Tensor& x, Loc loc) const {
  expect_last_dim(id, "the input", x, DType::f32, dim, loc);
  auto s = id.enter(x.builder(), loc);
  return dsl::layer_norm(x, weight, bias, {.axis = -1, .eps = eps}, loc);
}

// --- Dropout ---

Dropout::Dropout(Builder& b, double p_, Loc loc) : p(p_), seed(static_cast<int64_t>(b.next_seed())) {
  if (!(p >= 0 && p < 1)) config_error(b, fmt::format("Dropout: p must be in [0, 1), but got {}", p), loc);
}

Tensor Dropout::operator()(const Tensor& x, const DropoutStep& step, Loc loc) const {
  if (p == 0 || !step.defined()) return x;
  return dsl::dropout(x, step, {.p = p, .seed = seed, .training = true}, loc);
}

// --- FeedForward ---

FeedForward::FeedForward(Builder& b, const std::string& name, int64_t d_model, int64_t d_ff, FeedForwardOptions options,
                         Loc loc)
    : id("FeedForward", b, name),
      linear1(b, join_name(name, "linear1"), d_model, d_ff, with_weight_init(options.weight_init), loc),
      linear2(b, join_name(name, "linear2"), d_ff, d_model, with_weight_init(options.weight_init), loc),
      dropout(b, options.dropout, loc),
      activation(options.activation) {}

Tensor FeedForward::operator()(const Tensor& x, const DropoutStep& step, Loc loc) const {
  expect_last_dim(id, "the input", x, DType::f32, linear1.in_features, loc);
  auto s = id.enter(x.builder(), loc);
  return linear2(dropout(activate(activation, linear1(x, loc), loc), step, loc), loc);
}

}  // namespace weft::nn
