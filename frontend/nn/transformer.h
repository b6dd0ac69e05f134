/** \file
 * The Transformer of "Attention Is All You Need", laid out as PyTorch's nn.Transformer so that its
 * `state_dict` loads by name (docs/pytorch-mapping.md):
 *
 *   encoder layer, post-norm (the paper):  x = norm1(x + self_attn(x)); x = norm2(x + ff(x))
 *   encoder layer, pre-norm (option):      x = x + self_attn(norm1(x)); x = x + ff(norm2(x))
 *   decoder layer adds cross-attention over the encoder's output ("memory"):
 *     x = norm1(x + self_attn(x, causal)); x = norm2(x + multihead_attn(x, memory)); x = norm3(x + ff(x))
 *
 * N-layer stacks have unshared parameters (`layers.0`, `layers.1`, ...) and, as in nn.Transformer,
 * an optional final LayerNorm (`norm`). Dropout is applied after each sub-layer and inside the
 * feed-forward block when a `DropoutStep` is given (training); attention weights are not dropped.
 * Shapes are batch-first, [batch, length, d_model], and may be symbolic.
 */
#pragma once

#include <vector>

#include "frontend/nn/attention.h"

namespace weft::nn {

struct TransformerLayerOptions {
  int64_t d_model = 512;
  int64_t nhead = 8;
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  Activation activation = Activation::relu;
  bool norm_first = false;  // pre-norm
  double layer_norm_eps = 1e-5;
  /// Initialize every matrix with xavier_uniform, as nn.Transformer does (its layers alone do not).
  bool xavier_init = false;
};

/// One encoder layer. Params: `self_attn.*`, `linear1.*`, `linear2.*`, `norm1.*`, `norm2.*`.
struct TransformerEncoderLayer {
  TransformerEncoderLayer(Builder& b, const std::string& name, const TransformerLayerOptions& options,
                          Loc loc = Loc::current());

  /// src [batch, S, d_model] -> [batch, S, d_model]. `masks` apply to the self-attention
  /// (nn.TransformerEncoderLayer's src_mask and src_key_padding_mask).
  Tensor operator()(const Tensor& src, const AttentionMasks& masks = {}, const DropoutStep& step = {},
                    Loc loc = Loc::current()) const;

  LayerId id;
  TransformerLayerOptions options;
  MultiHeadAttention self_attn;
  FeedForward ff;  // linear1, linear2 directly in the layer's scope
  LayerNorm norm1, norm2;
  Dropout dropout1, dropout2;
};

struct DecoderMasks {
  AttentionMasks self{};    // tgt_mask, tgt_key_padding_mask; `causal` for the usual decoder
  AttentionMasks memory{};  // memory_mask, memory_key_padding_mask
};

/// One decoder layer. Params: `self_attn.*`, `multihead_attn.*`, `linear1.*`, `linear2.*`, `norm1..3.*`.
struct TransformerDecoderLayer {
  TransformerDecoderLayer(Builder& b, const std::string& name, const TransformerLayerOptions& options,
                          Loc loc = Loc::current());

  /// tgt [batch, T, d_model], memory [batch, S, d_model] -> [batch, T, d_model].
  Tensor operator()(const Tensor& tgt, const Tensor& memory, const DecoderMasks& masks = {},
                    const DropoutStep& step = {}, Loc loc = Loc::current()) const;

  struct StepOutput {
    Tensor output;        // [rows, d_model]
    Tensor k, v;          // [rows, d_model]: the new token's self-attention key and value
    Tensor cross_weights;  // [rows, heads, S], when asked
  };
  /// One decoding step (docs/decoding.md): x [rows, d_model] is the new token at `position` = P - 1;
  /// cache_k/cache_v [P, rows, d_model] hold the earlier tokens' keys and values in slots 0..P-2.
  StepOutput step(const Tensor& x, const Tensor& position, const Tensor& cache_k, const Tensor& cache_v,
                  const MultiHeadAttention::ProjectedMemory& memory, const Tensor& memory_key_padding_mask = {},
                  bool want_weights = false, Loc loc = Loc::current()) const;

  LayerId id;
  TransformerLayerOptions options;
  MultiHeadAttention self_attn, multihead_attn;
  FeedForward ff;
  LayerNorm norm1, norm2, norm3;
  Dropout dropout1, dropout2, dropout3;
};

/// N encoder layers with unshared parameters (`layers.<i>.*`) and an optional final `norm`.
struct TransformerEncoder {
  TransformerEncoder(Builder& b, const std::string& name, const TransformerLayerOptions& options, int64_t num_layers,
                     bool final_norm = true, Loc loc = Loc::current());

  Tensor operator()(const Tensor& src, const AttentionMasks& masks = {}, const DropoutStep& step = {},
                    Loc loc = Loc::current()) const;

  LayerId id;
  std::vector<TransformerEncoderLayer> layers;
  std::vector<LayerNorm> norm;  // empty or one
};

/// N decoder layers with unshared parameters and an optional final `norm`.
struct TransformerDecoder {
  TransformerDecoder(Builder& b, const std::string& name, const TransformerLayerOptions& options, int64_t num_layers,
                     bool final_norm = true, Loc loc = Loc::current());

  Tensor operator()(const Tensor& tgt, const Tensor& memory, const DecoderMasks& masks = {},
                    const DropoutStep& step = {}, Loc loc = Loc::current()) const;

  // --- step-by-step decoding with a KV cache (docs/decoding.md) ---

  /// What a step reads besides the new token.
  struct Cache {
    std::vector<Tensor> self_k, self_v;                       // per layer [P, rows, d_model]
    std::vector<MultiHeadAttention::ProjectedMemory> memory;  // per layer [rows, heads, S, head_dim]
    Tensor memory_key_padding_mask{};                         // bool [rows, S], or empty
  };
  struct StepOutput {
    Tensor output;                            // [rows, d_model], after the final norm
    std::vector<Tensor> new_k, new_v;         // per layer [rows, d_model]: for cache slot P - 1
    Tensor cross_weights;                     // [rows, heads, S]: the last layer's, when asked
    std::vector<Tensor> layer_cross_weights;  // every layer's [rows, heads, S], first to last, when asked
  };

  /// Every layer's cross-attention keys and values of `memory` [rows, S, d_model], computed once.
  std::vector<MultiHeadAttention::ProjectedMemory> project_memory(const Tensor& memory,
                                                                  Loc loc = Loc::current()) const;
  /// One step: x [rows, d_model] (the new token's embedding and positional encoding) at integer
  /// scalar `position` = P - 1. Same numbers as the full decoder's row `position` with a causal mask.
  StepOutput step(const Tensor& x, const Tensor& position, const Cache& cache, bool want_weights = false,
                  Loc loc = Loc::current()) const;

  /// Declares a step graph's cache inputs by the naming of docs/decoding.md: `cache.<l>.k` and
  /// `cache.<l>.v` f32[past, rows, d_model], `memory.<l>.k` and `memory.<l>.v`
  /// f32[rows, heads, src_length, head_dim], and, when asked, `memory_padding` bool[rows, src_length].
  Cache declare_cache(Builder& b, const Dim& rows, const Dim& past, const Dim& src_length, bool memory_padding,
                      Loc loc = Loc::current()) const;
  /// Outputs `memory.<l>.k` and `memory.<l>.v` (an encode graph's side of declare_cache).
  void output_memory(Builder& b, const std::vector<MultiHeadAttention::ProjectedMemory>& memory,
                     Loc loc = Loc::current()) const;
  /// Outputs `cache.<l>.k.new` and `cache.<l>.v.new`: the rows a decoder writes into slot P - 1.
  void output_cache(Builder& b, const StepOutput& out, Loc loc = Loc::current()) const;

  LayerId id;
  std::vector<TransformerDecoderLayer> layers;
  std::vector<LayerNorm> norm;
};

struct TransformerOptions {
  TransformerLayerOptions layer{};
  int64_t num_encoder_layers = 6;
  int64_t num_decoder_layers = 6;
  /// The final LayerNorm of each stack (`encoder.norm`, `decoder.norm`), as nn.Transformer has.
  bool final_norms = true;
  /// nn.Transformer initializes every matrix with xavier_uniform; this overrides layer.xavier_init.
  bool xavier_init = true;
};

/// nn.Transformer's masks, and `causal_tgt` for the usual decoder self-attention mask.
struct TransformerMasks {
  Tensor src_mask{}, tgt_mask{}, memory_mask{};
  Tensor src_key_padding_mask{}, tgt_key_padding_mask{}, memory_key_padding_mask{};
  bool causal_tgt = false;
};

/// The encoder-decoder Transformer (nn.Transformer, batch_first). Params: `encoder.*`, `decoder.*`.
/// Embeddings, positional encodings and the output projection are separate layers
/// (docs/transformer-tutorial.md puts them together).
struct Transformer {
  Transformer(Builder& b, const std::string& name, const TransformerOptions& options, Loc loc = Loc::current());

  /// src [batch, S, d_model], tgt [batch, T, d_model] -> [batch, T, d_model].
  Tensor operator()(const Tensor& src, const Tensor& tgt, const TransformerMasks& masks = {},
                    const DropoutStep& step = {}, Loc loc = Loc::current()) const;

  LayerId id;
  TransformerOptions options;
  TransformerEncoder encoder;
  TransformerDecoder decoder;
};

}  // namespace weft::nn
