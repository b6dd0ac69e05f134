/** \file
 * LSTM encoder-decoders, without and with attention (the models before the Transformer).
 *
 * Both read source ids [batch, S] (with optional lengths) into an LSTM encoder, and decode target
 * ids [batch, T] — during training, the targets shifted right (teacher forcing) — into vocabulary
 * logits [batch, T, V]; apply log_softmax / cross_entropy to them. `decode_step` runs one step for
 * greedy or beam search, with the state passed in and out.
 *
 * Without attention (Sutskever et al. 2014; Cho et al. 2014), the encoder's last state is the whole
 * summary of the source: it is the decoder's initial state, and its top-layer h (the "context") is
 * also fed to every decoder step, concatenated to the embedded input token.
 *
 * With attention (Luong et al. 2015), each decoder step runs the LSTM, attends over every encoder
 * output with its new h, and predicts from concat(h, context) through a tanh feed-forward layer and
 * the vocabulary projection. The attention does not feed back into the recurrence, so training
 * computes the LSTM for all steps in one scan and then attends for all steps at once, which is the
 * same arithmetic as stepping.
 *
 * In the Bahdanau form (Bahdanau et al. 2015, and PyTorch's seq2seq tutorial), each step first
 * attends with the previous state's top-layer h, feeds [embedding; context] to the LSTM, and
 * predicts from the new h by the vocabulary projection. The context feeds the recurrence, so
 * training runs attention and LSTM together in one scan, written as the step is; the keys'
 * projection inside it is loop-invariant and leaves the loop (passes/hoist_scan_invariants.h).
 */
#pragma once

#include <optional>

#include "frontend/nn/attention.h"
#include "frontend/nn/embedding.h"
#include "frontend/nn/recurrent.h"

namespace weft::nn {

struct Seq2SeqOptions {
  int64_t src_vocab = 0;
  int64_t tgt_vocab = 0;
  int64_t embed_dim = 64;
  int64_t hidden_size = 128;
  int64_t num_layers = 1;
};

/// What the encoder hands the decoder.
struct Encoded {
  Tensor outputs;       // [batch, S, H], zero past each source's length
  LstmState state;      // [num_layers, batch, H]: each source's state at its last valid step
  Tensor padding_mask;  // bool [batch, S], true past each length; empty without lengths
};

struct DecodeStep {
  Tensor logits;    // [batch, V]
  LstmState state;  // [num_layers, batch, H]
  Tensor weights;   // [batch, S] attention weights (empty without attention)
};

/// Params: `src_embed.weight`, `tgt_embed.weight`, `encoder.*` and `decoder.*` (nn.LSTM names),
/// `out.{weight [V, H], bias}`. The decoder's LSTM takes embed_dim + hidden_size inputs.
struct Seq2Seq {
  Seq2Seq(Builder& b, const std::string& name, const Seq2SeqOptions& options, Loc loc = Loc::current());

  Encoded encode(const Tensor& src, const Tensor& src_lengths = {}, Loc loc = Loc::current()) const;
  /// src [batch, S], tgt_in [batch, T] -> logits [batch, T, tgt_vocab].
  Tensor operator()(const Tensor& src, const Tensor& tgt_in, const Tensor& src_lengths = {},
                    Loc loc = Loc::current()) const;
  /// prev [batch] ids; the context is `encoded.state.h`'s top layer.
  DecodeStep decode_step(const Tensor& prev, const LstmState& state, const Tensor& context,
                         Loc loc = Loc::current()) const;
  /// The top layer's h of a [num_layers, batch, H] state: [batch, H].
  Tensor context_of(const LstmState& state, Loc loc = Loc::current()) const;

  LayerId id;
  Seq2SeqOptions options;
  Embedding src_embed, tgt_embed;
  LSTM encoder, decoder;
  Linear out;
};

enum class AttentionKind { additive, dot, general, scaled_dot };

/// Where the attention sits in a decoder step (see the file comment).
enum class AttentionStyle {
  luong,     // LSTM step, then attend with the new h; predict from tanh(combine([h; context]))
  bahdanau,  // attend with the previous h; the LSTM reads [embedding; context]; predict from h
};

struct Seq2SeqAttentionOptions {
  int64_t src_vocab = 0;
  int64_t tgt_vocab = 0;
  int64_t embed_dim = 64;
  int64_t hidden_size = 128;
  int64_t num_layers = 1;
  AttentionKind attention = AttentionKind::general;
  int64_t attention_dim = 0;  // additive only; 0: hidden_size
  AttentionStyle style = AttentionStyle::luong;
};

struct Seq2SeqAttentionOutput {
  Tensor logits;   // [batch, T, V]
  Tensor weights;  // [batch, T, S]: where each target step looked (for heatmaps)
};

/// Params: as Seq2Seq (the decoder's LSTM takes embed_dim inputs, embed_dim + hidden_size in the
/// Bahdanau form), plus `attention.*` (AdditiveAttention or MultiplicativeAttention) and, in the
/// Luong form, `combine.{weight [H, 2H], bias}`.
struct Seq2SeqAttention {
  Seq2SeqAttention(Builder& b, const std::string& name, const Seq2SeqAttentionOptions& options,
                   Loc loc = Loc::current());

  Encoded encode(const Tensor& src, const Tensor& src_lengths = {}, Loc loc = Loc::current()) const;
  Seq2SeqAttentionOutput operator()(const Tensor& src, const Tensor& tgt_in, const Tensor& src_lengths = {},
                                    Loc loc = Loc::current()) const;
  DecodeStep decode_step(const Tensor& prev, const LstmState& state, const Encoded& encoded,
                         Loc loc = Loc::current()) const;

  /// The decoding graphs by the naming of docs/decoding.md, which weft_generate and decode:: read.
  /// An encode graph outputs `state.h`, `state.c` [layers, B, H], `memory` [B, S, H] and
  /// `memory_padding` bool [B, S]; a step graph takes `tokens` i64 [rows] and those four per row
  /// (declare_step_inputs; `memory_padding` when asked: an encoder given lengths has it), and outputs
  /// `logits`, `state.h.next`, `state.c.next`, `attention`.
  struct StepInputs {
    Tensor tokens;
    LstmState state;
    Encoded encoded;
  };
  void output_encoded(Builder& b, const Encoded& encoded, Loc loc = Loc::current()) const;
  StepInputs declare_step_inputs(Builder& b, const Dim& rows, const Dim& src_length, bool memory_padding = true,
                                 Loc loc = Loc::current()) const;
  void output_step(Builder& b, const DecodeStep& out, Loc loc = Loc::current()) const;

  LayerId id;
  Seq2SeqAttentionOptions options;
  Embedding src_embed, tgt_embed;
  LSTM encoder, decoder;
  std::optional<AdditiveAttention> additive;
  std::optional<MultiplicativeAttention> multiplicative;
  std::optional<Linear> combine;  // Luong form only
  Linear out;

 private:
  AttentionResult attend(const Tensor& h, const Encoded& encoded, const Loc& loc) const;
  /// The Bahdanau form's decoder over all target steps, as one scan: h [batch, T, H] and the
  /// attention weights [batch, T, S] (seq2seq_bahdanau.cpp).
  std::pair<Tensor, Tensor> bahdanau_decoder(const Tensor& embedded, const Encoded& encoded, const Loc& loc) const;
  /// tanh(combine(concat(h, context))) -> out: the vocabulary logits.
  Tensor predict(const Tensor& h, const Tensor& context, const Loc& loc) const;
};

}  // namespace weft::nn
