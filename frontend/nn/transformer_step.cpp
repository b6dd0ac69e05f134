// The Transformer decoder's step with a KV cache (docs/decoding.md): the same layers, parameters and
// arithmetic as TransformerDecoder::operator() with a causal mask, one new token per row.
#include <fmt/format.h>

#include "frontend/nn/transformer.h"

namespace weft::nn {

TransformerDecoderLayer::StepOutput TransformerDecoderLayer::step(const Tensor& x, const Tensor& position,
                                                                  const Tensor& cache_k, const Tensor& cache_v,
                                                                  const MultiHeadAttention::ProjectedMemory& memory,
                                                                  const Tensor& memory_key_padding_mask,
                                                                  bool want_weights, Loc loc) const {
  expect_shape(id, "x", x, DType::f32, {"rows", options.d_model}, loc);
  auto scope = id.enter(x.builder(), loc);
  StepOutput out;
  auto attend_self = [&](const Tensor& h) {
    MultiHeadAttention::StepResult r = self_attn.self_attention_step(h, cache_k, cache_v, position, loc);
    out.k = r.k;
    out.v = r.v;
    return r.output;
  };
  auto attend_memory = [&](const Tensor& h) {
    MultiHeadAttention::Result r = multihead_attn.attend_memory(h, memory, memory_key_padding_mask, want_weights, loc);
    out.cross_weights = r.weights;
    return r.output;
  };
  Tensor h = x;
  if (options.norm_first) {
    h = ops::add(h, attend_self(norm1(h, loc)), loc);
    h = ops::add(h, attend_memory(norm2(h, loc)), loc);
    h = ops::add(h, ff(norm3(h, loc), {}, loc), loc);
  } else {
    h = norm1(ops::add(h, attend_self(h), loc), loc);
    h = norm2(ops::add(h, attend_memory(h), loc), loc);
    h = norm3(ops::add(h, ff(h, {}, loc), loc), loc);
  }
  out.output = h;
  return out;
}

std::vector<MultiHeadAttention::ProjectedMemory> TransformerDecoder::project_memory(const Tensor& memory,
                                                                                    Loc loc) const {
  expect_shape(id, "memory", memory, DType::f32, {"rows", "length", layers[0].options.d_model}, loc);
  auto scope = id.enter(memory.builder(), loc);
  std::vector<MultiHeadAttention::ProjectedMemory> projected;
  for (const TransformerDecoderLayer& layer : layers) {
    auto layer_scope = layer.id.enter(memory.builder(), loc);
    projected.push_back(layer.multihead_attn.project_memory(memory, loc));
  }
  return projected;
}

TransformerDecoder::StepOutput TransformerDecoder::step(const Tensor& x, const Tensor& position, const Cache& cache,
                                                        bool want_weights, Loc loc) const {
  const size_t n = layers.size();
  if (cache.self_k.size() != n || cache.self_v.size() != n || cache.memory.size() != n)
    id.fail(fmt::format("the cache must have one entry per layer ({}), but has {} self_k, {} self_v and {} memory", n,
                        cache.self_k.size(), cache.self_v.size(), cache.memory.size()),
            loc);
  expect_shape(id, "x", x, DType::f32, {"rows", layers[0].options.d_model}, loc);
  auto scope = id.enter(x.builder(), loc);
  StepOutput out;
  Tensor h = x;
  for (size_t i = 0; i < n; ++i) {
    TransformerDecoderLayer::StepOutput r =
        layers[i].step(h, position, cache.self_k[i], cache.self_v[i], cache.memory[i], cache.memory_key_padding_mask,
                       want_weights, loc);
    h = r.output;
    out.new_k.push_back(r.k);
    out.new_v.push_back(r.v);
    out.cross_weights = r.cross_weights;
    if (want_weights) out.layer_cross_weights.push_back(r.cross_weights);
  }
  out.output = norm.empty() ? h : norm[0](h, loc);
  return out;
}

TransformerDecoder::Cache TransformerDecoder::declare_cache(Builder& b, const Dim& rows, const Dim& past,
                                                            const Dim& src_length, bool memory_padding, Loc loc) const {
  const TransformerLayerOptions& o = layers[0].options;
  const int64_t head_dim = layers[0].self_attn.head_dim;
  Cache cache;
  for (size_t i = 0; i < layers.size(); ++i) {
    cache.self_k.push_back(b.input(fmt::format("cache.{}.k", i), DType::f32, {past, rows, o.d_model}, loc));
    cache.self_v.push_back(b.input(fmt::format("cache.{}.v", i), DType::f32, {past, rows, o.d_model}, loc));
    Shape memory_shape{rows, o.nhead, src_length, head_dim};
    cache.memory.push_back({b.input(fmt::format("memory.{}.k", i), DType::f32, memory_shape, loc),
                            b.input(fmt::format("memory.{}.v", i), DType::f32, memory_shape, loc)});
  }
  if (memory_padding)
    cache.memory_key_padding_mask = b.input("memory_padding", DType::boolean, {rows, src_length}, loc);
  return cache;
}

void TransformerDecoder::output_memory(Builder& b, const std::vector<MultiHeadAttention::ProjectedMemory>& memory,
                                       Loc loc) const {
  for (size_t i = 0; i < memory.size(); ++i) {
    b.output(fmt::format("memory.{}.k", i), memory[i].k, loc);
    b.output(fmt::format("memory.{}.v", i), memory[i].v, loc);
  }
}

void TransformerDecoder::output_cache(Builder& b, const StepOutput& out, Loc loc) const {
  for (size_t i = 0; i < out.new_k.size(); ++i) {
    b.output(fmt::format("cache.{}.k.new", i), out.new_k[i], loc);
    b.output(fmt::format("cache.{}.v.new", i), out.new_v[i], loc);
  }
}

}  // namespace weft::nn
