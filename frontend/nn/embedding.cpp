#include "frontend/nn/embedding.h"

#include <fmt/format.h>

#include <cmath>

#include "ir/init.h"

namespace weft::nn {

// --- Embedding ---

Embedding::Embedding(Builder& b, const std::string& name, int64_t num_embeddings_, int64_t dim_,
                     EmbeddingOptions options_, Loc loc)
    : id("Embedding", b, name), num_embeddings(num_embeddings_), dim(dim_), options(options_) {
  if (num_embeddings <= 0 || dim <= 0)
    config_error(
        b, fmt::format("Embedding: num_embeddings and dim must be positive, but got {} and {}", num_embeddings, dim),
        loc);
  auto s = open_scope(b, name, loc);
  Initializer init = options.init.value_or(embedding_init(0));
  if (init.seed == 0) init.seed = b.next_seed();
  weight = b.param("weight", DType::f32, {num_embeddings, dim}, init, loc);
}

Tensor Embedding::operator()(const Tensor& ids, Loc loc) const {
  expect_integer(id, "the ids", ids, loc);
  auto s = id.enter(ids.builder(), loc);
  Tensor y = dsl::embedding(weight, ids, loc);
  if (options.scale_by_sqrt_dim) y = ops::mul(y, std::sqrt(static_cast<double>(dim)), loc);
  return y;
}

// --- PositionalEncoding ---

PositionalEncoding::PositionalEncoding(Builder& b, const std::string& name, int64_t d_model_, double p, double base_,
                                       Loc loc)
    : id("PositionalEncoding", b, name), d_model(d_model_), base(base_), dropout(b, p, loc) {
  if (d_model <= 0 || d_model % 2 != 0)
    config_error(b,
                 fmt::format("PositionalEncoding: d_model must be positive and even (sines and cosines "
                             "come in pairs), but got {}",
                             d_model),
                 loc);
  if (!(base > 1)) config_error(b, fmt::format("PositionalEncoding: base must be > 1, but got {}", base), loc);
}

namespace {

/// sin/cos of `pos` [...] (f32) times each frequency, interleaved: [..., d_model].
Tensor sinusoids(const Tensor& pos, int64_t d_model, double base, const Loc& loc) {
  Builder& b = pos.builder();
  int64_t half = d_model / 2;
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv_freq[static_cast<size_t>(i)] =
        std::exp(-std::log(base) * static_cast<double>(2 * i) / static_cast<double>(d_model));
  Tensor freq = b.constant(inv_freq, DType::f32, {half}, loc);
  Shape column = pos.shape();
  column.push_back(1);
  Tensor angle = ops::mul(dsl::reshape(pos, column, loc), freq, loc);  // [..., half]
  Shape pair = pos.shape();
  pair.push_back(half);
  pair.push_back(1);
  Tensor sin = dsl::reshape(dsl::sin(angle, loc), pair, loc);
  Tensor cos = dsl::reshape(dsl::cos(angle, loc), pair, loc);
  Shape out = pos.shape();
  out.push_back(d_model);
  return dsl::reshape(dsl::concat({sin, cos}, -1, loc), out, loc);  // [..., half, 2] -> [..., d_model]
}

}  // namespace

Tensor PositionalEncoding::encode(const Tensor& positions, Loc loc) const {
  expect_integer(id, "the positions", positions, loc);
  auto s = id.enter(positions.builder(), loc);
  return sinusoids(dsl::cast(positions, DType::f32, loc), d_model, base, loc);
}

Tensor PositionalEncoding::table(Builder& b, const Dim& length, Loc loc) const {
  auto s = id.enter(b, loc);
  return sinusoids(dsl::iota(b, {length}, 0, DType::f32, loc), d_model, base, loc);
}

Tensor PositionalEncoding::operator()(const Tensor& x, const DropoutStep& step, Loc loc) const {
  expect_shape(id, "the input", x, DType::f32, {"batch", "length", d_model}, loc);
  auto s = id.enter(x.builder(), loc);
  return dropout(ops::add(x, table(x.builder(), x.dim(1), loc), loc), step, loc);
}

}  // namespace weft::nn
