#include "frontend/nn/transformer.h"

#include <fmt/format.h>

namespace weft::nn {

namespace {

std::optional<Initializer> matrix_init(const TransformerLayerOptions& o) {
  if (!o.xavier_init) return std::nullopt;
  return Initializer{"xavier_uniform", {{"gain", 1.0}}, 0};
}

MultiHeadAttentionOptions attention_options(const TransformerLayerOptions& o) {
  return MultiHeadAttentionOptions{.bias = true, .out_proj_init = matrix_init(o)};
}

FeedForwardOptions ff_options(const TransformerLayerOptions& o) {
  return FeedForwardOptions{.activation = o.activation, .dropout = o.dropout, .weight_init = matrix_init(o)};
}

void check_layer_count(const Builder& b, const char* kind, int64_t n, const Loc& loc) {
  if (n < 1) config_error(b, fmt::format("{}: num_layers must be at least 1, but got {}", kind, n), loc);
}

std::string layer_name(const std::string& stack, size_t i) { return join_name(stack, fmt::format("layers.{}", i)); }

}  // namespace

// --- TransformerEncoderLayer ---

TransformerEncoderLayer::TransformerEncoderLayer(Builder& b, const std::string& name, const TransformerLayerOptions& o,
                                                 Loc loc)
    : id("TransformerEncoderLayer", b, name),
      options(o),
      self_attn(b, join_name(name, "self_attn"), o.d_model, o.nhead, attention_options(o), loc),
      ff(b, name, o.d_model, o.dim_feedforward, ff_options(o), loc),
      norm1(b, join_name(name, "norm1"), o.d_model, o.layer_norm_eps, true, loc),
      norm2(b, join_name(name, "norm2"), o.d_model, o.layer_norm_eps, true, loc),
      dropout1(b, o.dropout, loc),
      dropout2(b, o.dropout, loc) {}

Tensor TransformerEncoderLayer::operator()(const Tensor& src, const AttentionMasks& masks, const DropoutStep& step,
                                           Loc loc) const {
  expect_shape(id, "src", src, DType::f32, {"batch", "length", options.d_model}, loc);
  auto scope = id.enter(src.builder(), loc);
  auto attend = [&](const Tensor& x) { return dropout1(self_attn(x, x, x, masks, loc), step, loc); };
  auto feed = [&](const Tensor& x) { return dropout2(ff(x, step, loc), step, loc); };
  Tensor x = src;
  if (options.norm_first) {
    x = ops::add(x, attend(norm1(x, loc)), loc);
    x = ops::add(x, feed(norm2(x, loc)), loc);
  } else {
    x = norm1(ops::add(x, attend(x), loc), loc);
    x = norm2(ops::add(x, feed(x), loc), loc);
  }
  return x;
}

// --- TransformerDecoderLayer ---

TransformerDecoderLayer::TransformerDecoderLayer(Builder& b, const std::string& name, const TransformerLayerOptions& o,
                                                 Loc loc)
    : id("TransformerDecoderLayer", b, name),
      options(o),
      self_attn(b, join_name(name, "self_attn"), o.d_model, o.nhead, attention_options(o), loc),
      multihead_attn(b, join_name(name, "multihead_attn"), o.d_model, o.nhead, attention_options(o), loc),
      ff(b, name, o.d_model, o.dim_feedforward, ff_options(o), loc),
      norm1(b, join_name(name, "norm1"), o.d_model, o.layer_norm_eps, true, loc),
      norm2(b, join_name(name, "norm2"), o.d_model, o.layer_norm_eps, true, loc),
      norm3(b, join_name(name, "norm3"), o.d_model, o.layer_norm_eps, true, loc),
      dropout1(b, o.dropout, loc),
      dropout2(b, o.dropout, loc),
      dropout3(b, o.dropout, loc) {}

Tensor TransformerDecoderLayer::operator()(const Tensor& tgt, const Tensor& memory, const DecoderMasks& masks,
                                           const DropoutStep& step, Loc loc) const {
  expect_shape(id, "tgt", tgt, DType::f32, {"batch", "length", options.d_model}, loc);
  expect_shape(id, "memory", memory, DType::f32, {tgt.dim(0), "length", options.d_model}, loc);
  auto scope = id.enter(tgt.builder(), loc);
  auto attend_self = [&](const Tensor& x) { return dropout1(self_attn(x, x, x, masks.self, loc), step, loc); };
  auto attend_memory = [&](const Tensor& x) {
    return dropout2(multihead_attn(x, memory, memory, masks.memory, loc), step, loc);
  };
  auto feed = [&](const Tensor& x) { return dropout3(ff(x, step, loc), step, loc); };
  Tensor x = tgt;
  if (options.norm_first) {
    x = ops::add(x, attend_self(norm1(x, loc)), loc);
    x = ops::add(x, attend_memory(norm2(x, loc)), loc);
    x = ops::add(x, feed(norm3(x, loc)), loc);
  } else {
    x = norm1(ops::add(x, attend_self(x), loc), loc);
    x = norm2(ops::add(x, attend_memory(x), loc), loc);
    x = norm3(ops::add(x, feed(x), loc), loc);
  }
  return x;
}

// --- stacks ---

TransformerEncoder::TransformerEncoder(Builder& b, const std::string& name, const TransformerLayerOptions& o,
                                       int64_t num_layers, bool final_norm, Loc loc)
    : id("TransformerEncoder", b, name) {
  check_layer_count(b, "TransformerEncoder", num_layers, loc);
  for (size_t i = 0; i < static_cast<size_t>(num_layers); ++i) layers.emplace_back(b, layer_name(name, i), o, loc);
  if (final_norm) norm.emplace_back(b, join_name(name, "norm"), o.d_model, o.layer_norm_eps, true, loc);
}

Tensor TransformerEncoder::operator()(const Tensor& src, const AttentionMasks& masks, const DropoutStep& step,
                                      Loc loc) const {
  expect_shape(id, "src", src, DType::f32, {"batch", "length", layers[0].options.d_model}, loc);
  auto scope = id.enter(src.builder(), loc);
  Tensor x = src;
  for (const TransformerEncoderLayer& layer : layers) x = layer(x, masks, step, loc);
  return norm.empty() ? x : norm[0](x, loc);
}

TransformerDecoder::TransformerDecoder(Builder& b, const std::string& name, const TransformerLayerOptions& o,
                                       int64_t num_layers, bool final_norm, Loc loc)
    : id("TransformerDecoder", b, name) {
  check_layer_count(b, "TransformerDecoder", num_layers, loc);
  for (size_t i = 0; i < static_cast<size_t>(num_layers); ++i) layers.emplace_back(b, layer_name(name, i), o, loc);
  if (final_norm) norm.emplace_back(b, join_name(name, "norm"), o.d_model, o.layer_norm_eps, true, loc);
}

Tensor TransformerDecoder::operator()(const Tensor& tgt, const Tensor& memory, const DecoderMasks& masks,
                                      const DropoutStep& step, Loc loc) const {
  int64_t d_model = layers[0].options.d_model;
  expect_shape(id, "tgt", tgt, DType::f32, {"batch", "length", d_model}, loc);
  expect_shape(id, "memory", memory, DType::f32, {tgt.dim(0), "length", d_model}, loc);
  auto scope = id.enter(tgt.builder(), loc);
  Tensor x = tgt;
  for (const TransformerDecoderLayer& layer : layers) x = layer(x, memory, masks, step, loc);
  return norm.empty() ? x : norm[0](x, loc);
}

// --- Transformer ---

namespace {
TransformerLayerOptions with_init(TransformerLayerOptions layer, bool xavier) {
  layer.xavier_init = xavier;
  return layer;
}
}  // namespace

Transformer::Transformer(Builder& b, const std::string& name, const TransformerOptions& o, Loc loc)
    : id("Transformer", b, name),
      options(o),
      encoder(b, join_name(name, "encoder"), with_init(o.layer, o.xavier_init), o.num_encoder_layers, o.final_norms,
              loc),
      decoder(b, join_name(name, "decoder"), with_init(o.layer, o.xavier_init), o.num_decoder_layers, o.final_norms,
              loc) {}

Tensor Transformer::operator()(const Tensor& src, const Tensor& tgt, const TransformerMasks& masks,
                               const DropoutStep& step, Loc loc) const {
  int64_t d_model = options.layer.d_model;
  expect_shape(id, "src", src, DType::f32, {"batch", "length", d_model}, loc);
  expect_shape(id, "tgt", tgt, DType::f32, {src.dim(0), "length", d_model}, loc);
  auto scope = id.enter(src.builder(), loc);
  Tensor memory = encoder(src, AttentionMasks{masks.src_mask, masks.src_key_padding_mask, false}, step, loc);
  DecoderMasks dm{AttentionMasks{masks.tgt_mask, masks.tgt_key_padding_mask, masks.causal_tgt},
                  AttentionMasks{masks.memory_mask, masks.memory_key_padding_mask, false}};
  return decoder(tgt, memory, dm, step, loc);
}

}  // namespace weft::nn
