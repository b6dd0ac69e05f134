// Small seq2seq models for the decoding tests, each with its full (teacher-forced) graph and the
// `encode` and `step` graphs of docs/decoding.md, built from the same layers.
#pragma once

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "frontend/nn/nn.h"
#include "runtime/tensor.h"

namespace weft::decode::testing {

using dsl::Tensor;
namespace nn = weft::nn;

constexpr int64_t kMaxRows = 128, kMaxLength = 12, kMaxSource = 10;

/// A Transformer translator: embeddings with positions, nn::Transformer, a generator.
struct Translator {
  struct Config {
    int64_t vocab = 7, d_model = 16, heads = 2, ff = 32, layers = 2;
    bool norm_first = false;
  };

  Translator(Builder& b, const Config& c)
      : config(c),
        src_embed(b, "src_embed", c.vocab, c.d_model, {.scale_by_sqrt_dim = true}),
        tgt_embed(b, "tgt_embed", c.vocab, c.d_model, {.scale_by_sqrt_dim = true}),
        positions(b, "positions", c.d_model),
        transformer(b, "transformer",
                    {.layer = {.d_model = c.d_model,
                               .nhead = c.heads,
                               .dim_feedforward = c.ff,
                               .dropout = 0.0,
                               .norm_first = c.norm_first},
                     .num_encoder_layers = c.layers,
                     .num_decoder_layers = c.layers}),
        generator(b, "generator", c.d_model, c.vocab) {}

  Tensor memory(const Tensor& src, const Tensor& padding) const {
    return transformer.encoder(positions(src_embed(src)), {.key_padding_mask = padding});
  }

  /// src i64[B, S], src_padding bool[B, S], tgt_in i64[B, T] -> logits [B, T, V].
  static Graph full(const Config& c) {
    Builder b("full");
    Dim batch = b.symbol("B", kMaxRows), s = b.symbol("S", kMaxSource), t = b.symbol("T", kMaxLength);
    Tensor src = b.input("src", DType::i64, {batch, s});
    Tensor padding = b.input("src_padding", DType::boolean, {batch, s});
    Tensor tgt_in = b.input("tgt_in", DType::i64, {batch, t});
    Translator m(b, c);
    Tensor y = m.transformer.decoder(m.positions(m.tgt_embed(tgt_in)), m.memory(src, padding),
                                     {.self = {.causal = true}, .memory = {.key_padding_mask = padding}});
    b.output("logits", m.generator(y));
    return b.finish();
  }

  /// src, src_padding -> memory.<l>.{k,v}, memory_padding.
  static Graph encode(const Config& c) {
    Builder b("encode");
    Dim batch = b.symbol("B", kMaxRows), s = b.symbol("S", kMaxSource);
    Tensor src = b.input("src", DType::i64, {batch, s});
    Tensor padding = b.input("src_padding", DType::boolean, {batch, s});
    Translator m(b, c);
    m.transformer.decoder.output_memory(b, m.transformer.decoder.project_memory(m.memory(src, padding)));
    b.output("memory_padding", padding);
    return b.finish();
  }

  /// tokens, position, cache.*, memory.*, memory_padding -> logits, cache.*.new, attention [R, H, S].
  static Graph step(const Config& c) {
    Builder b("step");
    Dim rows = b.symbol("R", kMaxRows), past = b.symbol("P", kMaxLength), s = b.symbol("S", kMaxSource);
    Tensor tokens = b.input("tokens", DType::i64, {rows});
    Tensor position = b.input("position", DType::i64, {});
    Translator m(b, c);
    const nn::TransformerDecoder& decoder = m.transformer.decoder;
    nn::TransformerDecoder::Cache cache = decoder.declare_cache(b, rows, past, s, true);
    Tensor x = m.tgt_embed(tokens) + m.positions.encode(position);
    nn::TransformerDecoder::StepOutput out = decoder.step(x, position, cache, true);
    b.output("logits", m.generator(out.output));
    decoder.output_cache(b, out);
    b.output("attention", out.cross_weights);
    return b.finish();
  }

  Config config;
  nn::Embedding src_embed, tgt_embed;
  nn::PositionalEncoding positions;
  nn::Transformer transformer;
  nn::Linear generator;
};

/// An LSTM encoder-decoder with attention (its state is replaced each step, not grown).
struct LstmTranslator {
  /// Luong's form with a general score, or Bahdanau's with an additive one.
  static nn::Seq2SeqAttentionOptions options(int64_t vocab, nn::AttentionStyle style) {
    bool luong = style == nn::AttentionStyle::luong;
    return {.src_vocab = vocab,
            .tgt_vocab = vocab,
            .embed_dim = 8,
            .hidden_size = 12,
            .num_layers = 2,
            .attention = luong ? nn::AttentionKind::general : nn::AttentionKind::additive,
            .style = style};
  }

  static Graph full(int64_t vocab, nn::AttentionStyle style) {
    Builder b("full");
    Dim batch = b.symbol("B", kMaxRows), s = b.symbol("S", kMaxSource), t = b.symbol("T", kMaxLength);
    Tensor src = b.input("src", DType::i64, {batch, s});
    Tensor lengths = b.input("src_lengths", DType::i64, {batch});
    Tensor tgt_in = b.input("tgt_in", DType::i64, {batch, t});
    nn::Seq2SeqAttention m(b, "model", options(vocab, style));
    b.output("logits", m(src, tgt_in, lengths).logits);
    return b.finish();
  }

  static Graph encode(int64_t vocab, nn::AttentionStyle style) {
    Builder b("encode");
    Dim batch = b.symbol("B", kMaxRows), s = b.symbol("S", kMaxSource);
    Tensor src = b.input("src", DType::i64, {batch, s});
    Tensor lengths = b.input("src_lengths", DType::i64, {batch});
    nn::Seq2SeqAttention m(b, "model", options(vocab, style));
    m.output_encoded(b, m.encode(src, lengths));
    return b.finish();
  }

  static Graph step(int64_t vocab, nn::AttentionStyle style) {
    Builder b("step");
    Dim rows = b.symbol("R", kMaxRows), s = b.symbol("S", kMaxSource);
    nn::Seq2SeqAttention m(b, "model", options(vocab, style));
    nn::Seq2SeqAttention::StepInputs in = m.declare_step_inputs(b, rows, s);
    m.output_step(b, m.decode_step(in.tokens, in.state, in.encoded));
    return b.finish();
  }
};

/// Random ids in [lo, hi).
inline weft::Tensor random_ids(std::vector<int64_t> shape, int64_t lo, int64_t hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> id(lo, hi - 1);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t& x : v) x = id(rng);
  return weft::Tensor::from<int64_t>(std::move(shape), v);
}

/// Makes every matrix of `exe` random N(0, scale²), leaving biases and norms as initialized, so that
/// the outputs depend strongly on the source and the prefix (PyTorch's initial weights give nearly
/// uniform distributions, where every search finds the same thing).
inline void randomize(Executable& exe, uint64_t seed, float scale = 0.8f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  for (const TensorSpec& s : exe.signature().state) {
    weft::Tensor t = exe.state(s.name);
    if (t.dtype() != DType::f32 || t.rank() < 2) continue;
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = normal(rng);
    exe.set_state(s.name, t);
  }
}

}  // namespace weft::decode::testing
