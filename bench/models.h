/** \file
 * The whole models that `make bench` times against its peers (bench/compare.py), built once here
 * so that the benchmark worker (bench_models), bench_decode and the tests that check the
 * benchmark programs (tests/bench) build the same graphs. Each size is a parameter with the
 * benchmark's value as its default; the tests use small ones.
 *
 *  - the Transformer encoder layer: post-norm, ReLU, no mask, no dropout (nn.TransformerEncoderLayer
 *    in eval mode);
 *  - the seq2seq Transformer (nn.Transformer with embeddings scaled by sqrt(d), sinusoidal
 *    positions and a generator): its train graph (label-smoothed cross-entropy, no dropout), and
 *    the encode and step graphs of greedy decoding with the KV cache, and the naive decoder that
 *    re-runs the whole prefix;
 *  - the LSTM encoder-decoder with additive (Bahdanau) attention, teacher-forced, the context fed to
 *    the LSTM's input (nn::Seq2SeqAttention, AttentionStyle::bahdanau).
 */
#pragma once

#include <cstdint>

#include "frontend/builder.h"
#include "frontend/nn/nn.h"
#include "ir/graph.h"

namespace weft::bench {

struct EncoderLayerSize {
  int64_t batch = 8, length = 128, d_model = 512, heads = 8, ff = 2048;
  /// Multiply-adds ×2 of the forward: projections, attention scores and mixing, feed-forward.
  double flops() const;
};

/// x: f32[batch, length, d_model] -> y: f32[batch, length, d_model].
Graph encoder_layer_graph(const EncoderLayerSize& size = {});

struct TransformerSize {
  int64_t vocab = 1000, d_model = 256, heads = 4, layers = 3, ff = 1024;
  int64_t batch = 32, source = 32, target = 32;
  /// The decoders generate this many tokens; the step graph's cache holds as many positions.
  int64_t steps = 32;
  double label_smoothing = 0.1;
  /// The train step's, counted as 3× the forward's matrix products (forward, and two for backward).
  double train_flops() const;
};

/// The seq2seq Transformer's layers, in one Builder.
struct TransformerModel {
  TransformerModel(dsl::Builder& b, const TransformerSize& size);
  dsl::Tensor memory(const dsl::Tensor& src) const;

  TransformerSize size;
  nn::Embedding src_embed, tgt_embed;
  nn::PositionalEncoding positions;
  nn::Transformer transformer;
  nn::Linear generator;
};

/// src, tgt_in, tgt_out: i64[B, S|T] -> loss: the label-smoothed cross-entropy (make_train_step's model).
Graph transformer_train_graph(const TransformerSize& size = {});
/// src i64[B, S], tgt_in i64[B, T], last i64[] -> next: i64[B], the argmax at position `last` (the
/// decoder re-run over the prefix for every token).
Graph transformer_prefix_graph(const TransformerSize& size = {});
/// The graphs decode::greedy_decode and weft-compile --decode take (docs/decoding.md).
void transformer_encode_graph(dsl::Builder& b, const TransformerSize& size = {});
void transformer_step_graph(dsl::Builder& b, const TransformerSize& size = {});

struct LstmAttentionSize {
  int64_t vocab = 1000, embed = 256, hidden = 512, batch = 32, length = 32;
};

/// src, tgt_in, tgt_out: i64[B, L] -> loss (cross-entropy), the keys' projection written inside
/// the decoder's scan as PyTorch's seq2seq tutorial does.
Graph lstm_attention_graph(const LstmAttentionSize& size = {});

}  // namespace weft::bench
