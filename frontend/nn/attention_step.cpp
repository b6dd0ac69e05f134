// MultiHeadAttention for one query per row: the pieces of a Transformer decoder's step with a KV
// cache (docs/decoding.md explains the cache's layout and why it is read, never copied, per step).
#include <fmt/format.h>

#include <cmath>

#include "frontend/nn/attention.h"

namespace weft::nn {

MultiHeadAttention::ProjectedMemory MultiHeadAttention::project_memory(const Tensor& memory, Loc loc) const {
  expect_shape(id, "memory", memory, DType::f32, {"rows", "length", embed_dim}, loc);
  auto scope = id.enter(memory.builder(), loc);
  const Dim rows = memory.dim(0), length = memory.dim(1);
  auto split = [&](const Tensor& x) {  // [R, S, E] -> [R, H, S, d]
    return dsl::transpose(dsl::reshape(x, {rows, length, num_heads, head_dim}, loc), {0, 2, 1, 3}, loc);
  };
  return ProjectedMemory{split(k_proj(memory, loc)), split(v_proj(memory, loc))};
}

MultiHeadAttention::Result MultiHeadAttention::attend_memory(const Tensor& query, const ProjectedMemory& memory,
                                                             const Tensor& key_padding_mask, bool want_weights,
                                                             Loc loc) const {
  expect_shape(id, "query", query, DType::f32, {"rows", embed_dim}, loc);
  const Dim rows = query.dim(0);
  expect_shape(id, "memory keys", memory.k, DType::f32, {rows, num_heads, "length", head_dim}, loc);
  const Dim length = memory.k.dim(2);
  expect_shape(id, "memory values", memory.v, DType::f32, {rows, num_heads, length, head_dim}, loc);
  if (key_padding_mask.defined())
    expect_shape(id, "key_padding_mask", key_padding_mask, DType::boolean, {rows, length}, loc);
  auto scope = id.enter(query.builder(), loc);
  Tensor q = dsl::reshape(q_proj(query, loc), {rows, num_heads, 1, head_dim}, loc);
  Tensor mask = key_padding_mask.defined() ? dsl::reshape(key_padding_mask, {rows, 1, 1, length}, loc) : Tensor();
  Tensor heads_out, weights;
  if (want_weights) {
    std::tie(heads_out, weights) = dsl::attention_with_weights(q, memory.k, memory.v, mask, {}, loc);
    weights = dsl::reshape(weights, {rows, num_heads, length}, loc);
  } else {
    heads_out = dsl::attention(q, memory.k, memory.v, mask, {}, loc);
  }
  return Result{out_proj(dsl::reshape(heads_out, {rows, embed_dim}, loc), loc), weights};
}

MultiHeadAttention::StepResult MultiHeadAttention::self_attention_step(const Tensor& x, const Tensor& cache_k,
                                                                       const Tensor& cache_v, const Tensor& position,
                                                                       Loc loc) const {
  expect_shape(id, "x", x, DType::f32, {"rows", embed_dim}, loc);
  const Dim rows = x.dim(0);
  expect_shape(id, "cache_k", cache_k, DType::f32, {"past", rows, embed_dim}, loc);
  const Dim past = cache_k.dim(0);
  expect_shape(id, "cache_v", cache_v, DType::f32, {past, rows, embed_dim}, loc);
  expect_integer(id, "position", position, loc);
  expect_shape(id, "position", position, position.dtype(), {}, loc);
  auto scope = id.enter(x.builder(), loc);
  const Dim heads(num_heads);
  // The cache is [P, R, E], position-major so that a prefix is contiguous; it is only read here,
  // by elementwise products and reductions over its own layout (no transpose, no copy).
  auto split = [&](const Tensor& t, const Dim& n) { return dsl::reshape(t, {n, rows, heads, head_dim}, loc); };
  Tensor k_new = k_proj(x, loc), v_new = v_proj(x, loc);
  double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  Tensor q = split(ops::mul(q_proj(x, loc), scale, loc), 1);                          // [1, R, H, d]
  Tensor scores = dsl::sum(ops::mul(split(cache_k, past), q, loc), {3}, false, loc);  // [P, R, H]
  Tensor own = dsl::sum(ops::mul(split(k_new, 1), q, loc), {3}, false, loc);          // [1, R, H]
  Tensor slot = dsl::eq(dsl::Operand(dsl::iota(x.builder(), {past, 1, 1}, 0, position.dtype(), loc), loc),
                        dsl::Operand(position, loc));  // [P, 1, 1]: the new token's slot
  scores = dsl::select(slot, dsl::Operand(own, loc), dsl::Operand(scores, loc));
  Tensor weights = dsl::softmax(scores, 0, loc);  // [P, R, H]
  Tensor cached_weights = dsl::select(slot, dsl::Operand(0.0, loc), dsl::Operand(weights, loc));
  Tensor own_weight = dsl::sum(ops::sub(weights, cached_weights, loc), {0}, true, loc);  // [1, R, H]
  auto weigh = [&](const Tensor& w, const Tensor& values, const Dim& n) {                // sum_p w[p] v[p] -> [R, H, d]
    return dsl::sum(ops::mul(dsl::reshape(w, {n, rows, heads, 1}, loc), split(values, n), loc), {0}, false, loc);
  };
  Tensor heads_out = ops::add(weigh(cached_weights, cache_v, past), weigh(own_weight, v_new, 1), loc);
  return StepResult{out_proj(dsl::reshape(heads_out, {rows, embed_dim}, loc), loc), k_new, v_new};
}

}  // namespace weft::nn
