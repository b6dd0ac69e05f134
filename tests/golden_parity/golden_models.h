/** \file
 * The layers of the golden files (tests/golden/README.md) built with Weft's DSL, inputs named as
 * each file's `in.*` and outputs as its `out.*`, with PyTorch's parameter names (frontend/nn/
 * load_torch.h): one builder per file, shared by the forward parity tests (attention_, recurrent_,
 * functional_parity_test.cpp), the gradient parity tests and the LLVM backend's golden tests.
 */
#pragma once

#include <map>
#include <string>

#include "frontend/nn/nn.h"
#include "tests/golden_parity/golden.h"

namespace weft::golden {

/// The layers of make_golden.py: d_model 8, 2 heads, feed-forward 16, no dropout.
inline nn::TransformerLayerOptions small_layer(bool norm_first, nn::Activation activation) {
  nn::TransformerLayerOptions o;
  o.d_model = 8;
  o.nhead = 2;
  o.dim_feedforward = 16;
  o.dropout = 0.0;
  o.norm_first = norm_first;
  o.activation = activation;
  return o;
}

/// nn.Transformer of 2 + 2 post-norm ReLU layers.
inline nn::TransformerOptions small_transformer() {
  nn::TransformerOptions o;
  o.layer = small_layer(false, nn::Activation::relu);
  o.num_encoder_layers = 2;
  o.num_decoder_layers = 2;
  return o;
}

/// The file's `in.<name>` tensors, keyed by name.
inline std::map<std::string, Tensor> inputs_of(const SafetensorsFile& f, std::initializer_list<const char*> names) {
  std::map<std::string, Tensor> inputs;
  for (const char* name : names) inputs[name] = tensor_of(f, std::string("in.") + name);
  return inputs;
}

/// "mha" / "mha_masked": nn.MultiheadAttention (with the causal and key-padding masks).
inline Graph mha_graph(const SafetensorsFile& f, bool masked) {
  dsl::Builder b(masked ? "mha_masked" : "mha");
  auto q = b.input("query", DType::f32, shape_of(f, "in.query"));
  auto k = b.input("key", DType::f32, shape_of(f, "in.key"));
  auto v = b.input("value", DType::f32, shape_of(f, "in.value"));
  nn::AttentionMasks masks;
  if (masked) {
    masks.attn_mask = b.input("attn_mask", DType::boolean, shape_of(f, "in.attn_mask"));
    masks.key_padding_mask = b.input("key_padding_mask", DType::boolean, shape_of(f, "in.key_padding_mask"));
  }
  nn::MultiHeadAttention mha(b, "", 8, 2);
  auto r = mha.with_weights(q, k, v, masks);
  b.output("attn_output", r.output);
  b.output("attn_weights", r.weights);
  return b.finish();
}

/// "encoder_layer" (post-norm, ReLU) / "encoder_layer_prenorm" (pre-norm, GELU).
inline Graph encoder_layer_graph(const SafetensorsFile& f, bool norm_first, nn::Activation activation) {
  dsl::Builder b("encoder_layer");
  auto src = b.input("src", DType::f32, shape_of(f, "in.src"));
  nn::TransformerEncoderLayer layer(b, "", small_layer(norm_first, activation));
  b.output("output", layer(src));
  return b.finish();
}

/// "decoder_layer": with a causal target mask; parameters under `scope` (PyTorch's names after it).
inline Graph decoder_layer_graph(const SafetensorsFile& f, const std::string& scope = "") {
  dsl::Builder b("decoder_layer");
  auto tgt = b.input("tgt", DType::f32, shape_of(f, "in.tgt"));
  auto memory = b.input("memory", DType::f32, shape_of(f, "in.memory"));
  auto tgt_mask = b.input("tgt_mask", DType::boolean, shape_of(f, "in.tgt_mask"));
  nn::TransformerDecoderLayer layer(b, scope, small_layer(false, nn::Activation::relu));
  b.output("output", layer(tgt, memory, {.self = {.attn_mask = tgt_mask}}));
  return b.finish();
}

/// "transformer": with a causal target mask and source and memory key-padding masks.
inline Graph transformer_graph(const SafetensorsFile& f) {
  dsl::Builder b("transformer");
  auto src = b.input("src", DType::f32, shape_of(f, "in.src"));
  auto tgt = b.input("tgt", DType::f32, shape_of(f, "in.tgt"));
  auto tgt_mask = b.input("tgt_mask", DType::boolean, shape_of(f, "in.tgt_mask"));
  auto src_pad = b.input("src_key_padding_mask", DType::boolean, shape_of(f, "in.src_key_padding_mask"));
  auto mem_pad = b.input("memory_key_padding_mask", DType::boolean, shape_of(f, "in.memory_key_padding_mask"));
  nn::Transformer model(b, "", small_transformer());
  b.output(
      "output",
      model(src, tgt, {.tgt_mask = tgt_mask, .src_key_padding_mask = src_pad, .memory_key_padding_mask = mem_pad}));
  return b.finish();
}

inline std::map<std::string, Tensor> transformer_inputs(const SafetensorsFile& f) {
  return inputs_of(f, {"src", "tgt", "tgt_mask", "src_key_padding_mask", "memory_key_padding_mask"});
}

/// "lstm", "lstm_state", "lstm_lengths": nn.LSTM(4, 5, num_layers=2) under the scope "lstm"
/// (load with kLstmNames), from zero state or a given one, over padded sequences with lengths or
/// not; `symbolic`: batch and length as symbols B and T.
struct LstmCase {
  bool with_state = false;
  bool with_lengths = false;
  bool symbolic = false;
};

inline Graph lstm_graph(const SafetensorsFile& f, LstmCase c) {
  dsl::Builder b("lstm");
  auto input = c.symbolic ? b.input("input", "f32[B, T, 4]") : b.input("input", DType::f32, shape_of(f, "in.input"));
  nn::LstmState initial;
  if (c.with_state) {
    initial.h = c.symbolic ? b.input("h0", "f32[2, B, 5]") : b.input("h0", DType::f32, shape_of(f, "in.h0"));
    initial.c = c.symbolic ? b.input("c0", "f32[2, B, 5]") : b.input("c0", DType::f32, shape_of(f, "in.c0"));
  }
  dsl::Tensor lengths;
  if (c.with_lengths)
    lengths = c.symbolic ? b.input("lengths", "i64[B]") : b.input("lengths", DType::i64, shape_of(f, "in.lengths"));
  nn::LSTM lstm(b, "lstm", 4, 5, {.num_layers = 2});
  nn::LstmOutput r = lstm(input, initial, lengths);
  b.output("output", r.output);
  b.output("h_n", r.h_n);
  b.output("c_n", r.c_n);
  return b.finish();
}

inline std::map<std::string, Tensor> lstm_inputs(const SafetensorsFile& f, LstmCase c) {
  std::map<std::string, Tensor> inputs = inputs_of(f, {"input"});
  if (c.with_state) inputs.merge(inputs_of(f, {"h0", "c0"}));
  if (c.with_lengths) inputs.merge(inputs_of(f, {"lengths"}));
  return inputs;
}

inline const nn::TorchLoadOptions kLstmNames{.weft_prefix = "lstm."};

/// "rnn", "rnn_lengths" (nn.RNN) and "gru", "gru_state", "gru_lengths" (nn.GRU): (4, 5,
/// num_layers=2) under the scope "rnn" or "gru" (load with kRnnNames or kGruNames), cases as
/// LstmCase's but with h0 alone.
inline Graph h_state_graph(const SafetensorsFile& f, bool gru, LstmCase c) {
  dsl::Builder b(gru ? "gru" : "rnn");
  auto input = c.symbolic ? b.input("input", "f32[B, T, 4]") : b.input("input", DType::f32, shape_of(f, "in.input"));
  dsl::Tensor h0, lengths;
  if (c.with_state) h0 = c.symbolic ? b.input("h0", "f32[2, B, 5]") : b.input("h0", DType::f32, shape_of(f, "in.h0"));
  if (c.with_lengths)
    lengths = c.symbolic ? b.input("lengths", "i64[B]") : b.input("lengths", DType::i64, shape_of(f, "in.lengths"));
  nn::RnnOutput r;
  if (gru) {
    nn::GRU layer(b, "gru", 4, 5, {.num_layers = 2});
    r = layer(input, h0, lengths);
  } else {
    nn::RNN layer(b, "rnn", 4, 5, {.num_layers = 2});
    r = layer(input, h0, lengths);
  }
  b.output("output", r.output);
  b.output("h_n", r.h_n);
  return b.finish();
}

inline std::map<std::string, Tensor> h_state_inputs(const SafetensorsFile& f, LstmCase c) {
  std::map<std::string, Tensor> inputs = inputs_of(f, {"input"});
  if (c.with_state) inputs.merge(inputs_of(f, {"h0"}));
  if (c.with_lengths) inputs.merge(inputs_of(f, {"lengths"}));
  return inputs;
}

inline const nn::TorchLoadOptions kRnnNames{.weft_prefix = "rnn."};
inline const nn::TorchLoadOptions kGruNames{.weft_prefix = "gru."};

/// "seq2seq_bahdanau": nn::Seq2SeqAttention in the Bahdanau form with additive attention, under the
/// scope "model" (load with kModelNames); `symbolic`: batch and lengths as symbols B, S and T.
inline const nn::Seq2SeqAttentionOptions kBahdanau{.src_vocab = 9,
                                                   .tgt_vocab = 9,
                                                   .embed_dim = 4,
                                                   .hidden_size = 5,
                                                   .num_layers = 2,
                                                   .attention = nn::AttentionKind::additive,
                                                   .attention_dim = 6,
                                                   .style = nn::AttentionStyle::bahdanau};

inline Graph seq2seq_bahdanau_graph(const SafetensorsFile& f, bool symbolic = false) {
  dsl::Builder b("seq2seq_bahdanau");
  auto src = symbolic ? b.input("src", "i64[B, S]") : b.input("src", DType::i64, shape_of(f, "in.src"));
  auto lengths =
      symbolic ? b.input("src_lengths", "i64[B]") : b.input("src_lengths", DType::i64, shape_of(f, "in.src_lengths"));
  auto tgt_in = symbolic ? b.input("tgt_in", "i64[B, T]") : b.input("tgt_in", DType::i64, shape_of(f, "in.tgt_in"));
  nn::Seq2SeqAttention model(b, "model", kBahdanau);
  nn::Seq2SeqAttentionOutput r = model(src, tgt_in, lengths);
  b.output("logits", r.logits);
  b.output("weights", r.weights);
  return b.finish();
}

inline const nn::TorchLoadOptions kModelNames{.weft_prefix = "model."};

/// "layer_norm": nn.LayerNorm(8).
inline Graph layer_norm_graph(const SafetensorsFile& f) {
  dsl::Builder b("layer_norm");
  nn::LayerNorm norm(b, "", 8);
  b.output("output", norm(b.input("input", DType::f32, shape_of(f, "in.input"))));
  return b.finish();
}

/// "cross_entropy": label smoothing 0.1 with each reduction, an ignored index, and no smoothing.
inline Graph cross_entropy_graph(const SafetensorsFile& f) {
  dsl::Builder b("cross_entropy");
  auto logits = b.input("logits", DType::f32, shape_of(f, "in.logits"));
  auto targets = b.input("targets", DType::i64, shape_of(f, "in.targets"));
  auto targets0 = b.input("targets_ignore0", DType::i64, shape_of(f, "in.targets_ignore0"));
  b.output("ce_mean", dsl::cross_entropy(logits, targets, {.label_smoothing = 0.1, .ignore_index = -100}));
  b.output("ce_sum", dsl::cross_entropy(logits, targets, {.label_smoothing = 0.1, .reduction = "sum"}));
  b.output("ce_none", dsl::cross_entropy(logits, targets, {.label_smoothing = 0.1, .reduction = "none"}));
  b.output("ce_mean_ignore0", dsl::cross_entropy(logits, targets0, {.label_smoothing = 0.1, .ignore_index = 0}));
  b.output("ce_mean_no_smoothing", dsl::cross_entropy(logits, targets, {.label_smoothing = 0.0}));
  return b.finish();
}

/// "kl_div": batch-mean KL divergence of log_softmax(x) from a target distribution.
inline Graph kl_div_graph(const SafetensorsFile& f) {
  dsl::Builder b("kl_div");
  auto x = b.input("x", DType::f32, shape_of(f, "in.x"));
  auto target = b.input("target", DType::f32, shape_of(f, "in.target"));
  b.output("kl_div", dsl::kl_div(dsl::log_softmax(x, -1), target, {.reduction = "batchmean"}));
  return b.finish();
}

/// "mse_loss": mean and sum.
inline Graph mse_loss_graph(const SafetensorsFile& f) {
  dsl::Builder b("mse_loss");
  auto x = b.input("input", DType::f32, shape_of(f, "in.input"));
  auto target = b.input("target", DType::f32, shape_of(f, "in.target"));
  b.output("mse_mean", dsl::mse_loss(x, target, "mean"));
  b.output("mse_sum", dsl::mse_loss(x, target, "sum"));
  return b.finish();
}

/// "softmax": softmax and log_softmax of large logits over the last axis and axis 1.
inline Graph softmax_graph(const SafetensorsFile& f) {
  dsl::Builder b("softmax");
  auto x = b.input("x", DType::f32, shape_of(f, "in.x"));
  b.output("softmax_last", dsl::softmax(x, -1));
  b.output("softmax_dim1", dsl::softmax(x, 1));
  b.output("log_softmax_last", dsl::log_softmax(x, -1));
  b.output("log_softmax_dim1", dsl::log_softmax(x, 1));
  return b.finish();
}

/// "gelu": the exact and the tanh forms.
inline Graph gelu_graph(const SafetensorsFile& f) {
  dsl::Builder b("gelu");
  auto x = b.input("x", DType::f32, shape_of(f, "in.x"));
  b.output("gelu_exact", dsl::gelu(x));
  b.output("gelu_tanh", dsl::gelu(x, "tanh"));
  return b.finish();
}

}  // namespace weft::golden
