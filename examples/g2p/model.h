/** \file
 * The grapheme-to-phoneme Transformer of the PyTorch reference (`../shared/g2p/train_torch.py`):
 * letter and phoneme embeddings scaled by sqrt(d), sinusoidal positions and dropout, PyTorch's
 * nn.Transformer (post-norm, final norms, xavier_uniform on every matrix, embeddings included),
 * and a linear generator; padding keys masked in the encoder and the cross-attention, a causal
 * decoder. One model, three graphs built by the same code (docs/decoding.md):
 *
 *  - `train_graph`:  src i64[B, S] (0-padded), tgt_in, tgt_out i64[B, T] -> `loss`
 *    (label-smoothed cross-entropy over the real target tokens);
 *  - `encode_graph`: src -> `memory.<l>.{k,v}`, `memory_padding` (named `encode` for weft-compile);
 *  - `step_graph`:   tokens, position, caches -> `logits`, `cache.*.new`, `attention`
 *    [R, layers * heads, S]: every decoder layer's cross-attention heads (named `decode_step`).
 *
 * The second option (ModelKind::lstm) is the reference's other model: the LSTM encoder-decoder of
 * PyTorch's seq2seq tutorial with additive (Bahdanau) attention — a 1-layer LSTM encoder (embedding
 * 128, hidden 256), a 1-layer LSTM decoder fed [embedding; context], attention recomputed every step
 * from the previous h (nn::Seq2SeqAttention, Bahdanau form), trained with plain cross-entropy and
 * Adam at lr 1e-3; without the reference's embedding dropout. Its step graph carries `state.h` and
 * `state.c` instead of a cache; the source lengths are counted in the graphs (`src != 0`), so both
 * models' encode graphs take `src` alone.
 */
#pragma once

#include <functional>
#include <string>

#include "frontend/nn/nn.h"

namespace g2p {

namespace nn = weft::nn;
using weft::dsl::Builder;
using weft::dsl::Tensor;

enum class ModelKind { transformer, lstm };

struct ModelConfig {
  ModelKind kind = ModelKind::transformer;
  int64_t src_vocab = 30;
  int64_t tgt_vocab = 44;
  int64_t d_model = 256;
  int64_t heads = 4;
  int64_t layers = 3;  // encoder layers, and as many decoder layers
  int64_t feedforward = 1024;
  double dropout = 0.1;
  double label_smoothing = 0.1;
  int64_t lstm_embed = 128;  // the LSTM's embedding size; its hidden size is d_model
};

/// "A Transformer of d 256, 4 heads, 3+3 layers, feed-forward 1024 (the reference's)", or the LSTM's.
std::string describe(const ModelConfig& c);

/// The three graphs of either model (see the file comment).
void build_train_graph(Builder& b, const ModelConfig& c);
void build_encode_graph(Builder& b, const ModelConfig& c);
void build_step_graph(Builder& b, const ModelConfig& c);

/// Bounds of the graphs' symbols: words per batch, letters + <eos>, phonemes + 1, decoding rows.
constexpr int64_t kMaxBatch = 512, kMaxSource = 40, kMaxTarget = 40, kMaxRows = 1024;

struct G2PTransformer {
  G2PTransformer(Builder& b, const ModelConfig& c, nn::Mode mode);

  /// The encoder's output for src [B, S] and its padding mask (src == <pad>).
  Tensor memory(const Tensor& src, const Tensor& padding) const;

  static void train_graph(Builder& b, const ModelConfig& c);
  static void encode_graph(Builder& b, const ModelConfig& c);
  static void step_graph(Builder& b, const ModelConfig& c);

  ModelConfig config;
  nn::DropoutStep dropout;
  nn::Embedding src_embed, tgt_embed;
  nn::PositionalEncoding positions;
  nn::Transformer transformer;
  nn::Linear generator;
};

}  // namespace g2p

namespace g2p {

/// A graph called `name`, built by `build` in a fresh Builder.
weft::Graph graph_of(const std::string& name, const std::function<void(Builder&)>& build);

}  // namespace g2p
