/** \file
 * Attention layers: the Transformer's multi-head attention, and the two attentions of RNN
 * encoder-decoders — additive (Bahdanau et al. 2015) and multiplicative (Luong et al. 2015: dot,
 * general, scaled dot).
 *
 * All take batch-first tensors: queries [batch, Tq, Dq], keys [batch, Tk, Dk], values [batch, Tk, Dv].
 * Masks follow PyTorch: a bool mask's `true` means *masked out*; a float mask is added to the
 * scores. A key padding mask is bool [batch, Tk] (`true` = a padded key). A query whose every key is
 * masked gets NaN weights, as in PyTorch.
 */
#pragma once

#include <optional>

#include "frontend/nn/basic.h"

namespace weft::nn {

struct AttentionMasks {
  /// [Tq, Tk] (shared by the batch and heads), [batch·heads, Tq, Tk] as PyTorch allows, or any
  /// shape that broadcasts to [batch, heads, Tq, Tk]. Bool (true = masked out) or additive f32.
  Tensor attn_mask{};
  /// bool [batch, Tk]: true where the key is padding.
  Tensor key_padding_mask{};
  /// Mask every key after the query's position (a decoder's self-attention), without a mask tensor.
  bool causal = false;
};

struct MultiHeadAttentionOptions {
  bool bias = true;
  /// Replaces out_proj's weight initializer (nn.Transformer re-initializes it with xavier_uniform).
  /// q/k/v weights are always U(±sqrt(6 / 4E)): xavier_uniform over PyTorch's packed [3E, E] matrix,
  /// which both nn.MultiheadAttention and nn.Transformer use. Biases start at zero, as in PyTorch.
  std::optional<Initializer> out_proj_init{};
};

/// nn.MultiheadAttention(embed_dim, num_heads, batch_first=True) without attention-weight dropout.
/// Params: `q_proj`, `k_proj`, `v_proj`, `out_proj`, each `{weight [E, E], bias [E]}`. PyTorch packs
/// the first three into `in_proj_weight [3E, E]`; the loader (load_torch.h) splits it.
/// Each head h attends with features [h·E/H, (h+1)·E/H) at scale 1/sqrt(E/H).
struct MultiHeadAttention {
  MultiHeadAttention(Builder& b, const std::string& name, int64_t embed_dim, int64_t num_heads,
                     MultiHeadAttentionOptions options = {}, Loc loc = Loc::current());

  struct Result {
    Tensor output;   // [batch, Tq, E]
    Tensor weights;  // [batch, Tq, Tk] averaged over heads, or [batch, heads, Tq, Tk]
  };

  /// query [batch, Tq, E], key and value [batch, Tk, E] -> [batch, Tq, E].
  Tensor operator()(const Tensor& query, const Tensor& key, const Tensor& value, const AttentionMasks& masks = {},
                    Loc loc = Loc::current()) const;
  /// Also returns the attention weights, averaged over heads as PyTorch's default does, or per head.
  Result with_weights(const Tensor& query, const Tensor& key, const Tensor& value, const AttentionMasks& masks = {},
                      bool average_heads = true, Loc loc = Loc::current()) const;

  // --- one query per row, for step-by-step decoding (docs/decoding.md) ---

  /// Keys and values of a fixed memory, projected and split into heads once per source:
  /// [rows, heads, S, head_dim] each.
  struct ProjectedMemory {
    Tensor k, v;
  };
  ProjectedMemory project_memory(const Tensor& memory, Loc loc = Loc::current()) const;
  /// query [rows, E] attends over `memory` (project_memory) -> output [rows, E]; with `want_weights`,
  /// weights [rows, heads, S]. key_padding_mask: bool [rows, S] or empty.
  Result attend_memory(const Tensor& query, const ProjectedMemory& memory, const Tensor& key_padding_mask = {},
                       bool want_weights = false, Loc loc = Loc::current()) const;

  struct StepResult {
    Tensor output;  // [rows, E]
    Tensor k, v;    // [rows, E]: the new token's key and value, for its cache slot
  };
  /// Causal self-attention of a new token x [rows, E] at integer scalar `position` = P - 1 over a
  /// key/value cache [P, rows, E] whose slots 0..P-2 hold the earlier tokens' keys and values. Slot
  /// P-1 is the new token's: its content is ignored (it must be finite) and replaced by x's own key
  /// and value, which are returned for the caller to write there.
  StepResult self_attention_step(const Tensor& x, const Tensor& cache_k, const Tensor& cache_v,
                                 const Tensor& position, Loc loc = Loc::current()) const;

  LayerId id;
  int64_t embed_dim, num_heads, head_dim;
  Linear q_proj, k_proj, v_proj, out_proj;

 private:
  Result run(const Tensor& query, const Tensor& key, const Tensor& value, const AttentionMasks& masks,
             bool want_weights, bool average_heads, const Loc& loc) const;
};

/// What an RNN-style attention returns: the context (a weighted sum of the values) and the weights.
struct AttentionResult {
  Tensor context;  // [batch, Tq, Dv], or [batch, Dv] for a single query [batch, Dq]
  Tensor weights;  // [batch, Tq, Tk], or [batch, Tk]; each row sums to 1 over unmasked keys
};

/// Bahdanau's additive attention: score(q, k) = vᵀ tanh(W_q q + W_k k).
/// Params: `query_proj.weight [A, Dq]`, `key_proj.weight [A, Dk]`, `v.weight [1, A]` (no biases).
struct AdditiveAttention {
  AdditiveAttention(Builder& b, const std::string& name, int64_t query_dim, int64_t key_dim, int64_t attention_dim,
                    Loc loc = Loc::current());

  /// query [batch, Tq, Dq] or [batch, Dq]; keys [batch, Tk, Dk]; values [batch, Tk, Dv];
  /// key_padding_mask bool [batch, Tk] (true = padding) or empty.
  AttentionResult operator()(const Tensor& query, const Tensor& keys, const Tensor& values,
                             const Tensor& key_padding_mask = {}, Loc loc = Loc::current()) const;

  LayerId id;
  int64_t query_dim, key_dim, attention_dim;
  Linear query_proj, key_proj, v;
};

/// Luong's score functions: dot qᵀk, general qᵀ W k, scaled dot qᵀk / sqrt(d).
enum class ScoreKind { dot, general, scaled_dot };
std::string_view score_kind_name(ScoreKind kind);

/// Luong's multiplicative attention. Param (general only): `weight [Dq, Dk]` (W in qᵀ W k).
struct MultiplicativeAttention {
  /// dot and scaled_dot need query_dim == key_dim.
  MultiplicativeAttention(Builder& b, const std::string& name, ScoreKind kind, int64_t query_dim, int64_t key_dim,
                          Loc loc = Loc::current());

  /// As AdditiveAttention::operator().
  AttentionResult operator()(const Tensor& query, const Tensor& keys, const Tensor& values,
                             const Tensor& key_padding_mask = {}, Loc loc = Loc::current()) const;

  LayerId id;
  ScoreKind kind;
  int64_t query_dim, key_dim;
  Tensor weight;  // general only
};

/// bool [batch, length]: true at positions >= lengths[b] (padding), for a key_padding_mask.
Tensor padding_mask(const Tensor& lengths, const Dim& length, Loc loc = Loc::current());
/// bool [length, length]: true above the diagonal (position i may not attend to j > i), as
/// nn.Transformer.generate_square_subsequent_mask, but bool.
Tensor causal_mask(Builder& b, const Dim& length, Loc loc = Loc::current());

}  // namespace weft::nn
