#include "examples/g2p/model.h"

#include <fmt/format.h>

#include "examples/g2p/cmudict.h"

namespace g2p {

using weft::DType;

namespace {

nn::EmbeddingOptions embedding_options() {
  // The reference re-initializes every matrix, embeddings included, with xavier_uniform.
  return {.scale_by_sqrt_dim = true, .init = weft::xavier_uniform_init()};
}

nn::TransformerOptions transformer_options(const ModelConfig& c) {
  return {.layer = {.d_model = c.d_model, .nhead = c.heads, .dim_feedforward = c.feedforward, .dropout = c.dropout},
          .num_encoder_layers = c.layers,
          .num_decoder_layers = c.layers};
}

}  // namespace

G2PTransformer::G2PTransformer(Builder& b, const ModelConfig& c, nn::Mode mode)
    : config(c),
      dropout(nn::dropout_step(b, mode)),
      src_embed(b, "src_embed", c.src_vocab, c.d_model, embedding_options()),
      tgt_embed(b, "tgt_embed", c.tgt_vocab, c.d_model, embedding_options()),
      positions(b, "positions", c.d_model, c.dropout),
      transformer(b, "transformer", transformer_options(c)),
      generator(b, "generator", c.d_model, c.tgt_vocab, nn::LinearOptions{.weight_init = weft::xavier_uniform_init()}) {
}

Tensor G2PTransformer::memory(const Tensor& src, const Tensor& padding) const {
  return transformer.encoder(positions(src_embed(src), dropout), {.key_padding_mask = padding}, dropout);
}

void G2PTransformer::train_graph(Builder& b, const ModelConfig& c) {
  weft::Dim batch = b.symbol("B", kMaxBatch), s = b.symbol("S", kMaxSource), t = b.symbol("T", kMaxTarget);
  Tensor src = b.input("src", DType::i64, {batch, s});
  Tensor tgt_in = b.input("tgt_in", DType::i64, {batch, t});
  Tensor tgt_out = b.input("tgt_out", DType::i64, {batch, t});
  G2PTransformer m(b, c, nn::Mode::train);
  Tensor padding = src == kPad;
  // Padding sits after the real tokens, so the causal mask alone keeps real queries off it.
  Tensor y = m.transformer.decoder(m.positions(m.tgt_embed(tgt_in), m.dropout), m.memory(src, padding),
                                   {.self = {.causal = true}, .memory = {.key_padding_mask = padding}}, m.dropout);
  b.output("loss", cross_entropy(m.generator(y), tgt_out, {.label_smoothing = c.label_smoothing}));
}

void G2PTransformer::encode_graph(Builder& b, const ModelConfig& c) {
  weft::Dim batch = b.symbol("B", kMaxRows), s = b.symbol("S", kMaxSource);
  Tensor src = b.input("src", DType::i64, {batch, s});
  G2PTransformer m(b, c, nn::Mode::eval);
  Tensor padding = src == kPad;
  const nn::TransformerDecoder& decoder = m.transformer.decoder;
  decoder.output_memory(b, decoder.project_memory(m.memory(src, padding)));
  b.output("memory_padding", padding);
}

void G2PTransformer::step_graph(Builder& b, const ModelConfig& c) {
  weft::Dim rows = b.symbol("R", kMaxRows), past = b.symbol("P", kMaxTarget), s = b.symbol("S", kMaxSource);
  Tensor tokens = b.input("tokens", DType::i64, {rows});
  Tensor position = b.input("position", DType::i64, {});
  G2PTransformer m(b, c, nn::Mode::eval);
  const nn::TransformerDecoder& decoder = m.transformer.decoder;
  nn::TransformerDecoder::Cache cache = decoder.declare_cache(b, rows, past, s, /*memory_padding=*/true);
  Tensor x = m.tgt_embed(tokens) + m.positions.encode(position);
  nn::TransformerDecoder::StepOutput out = decoder.step(x, position, cache, /*want_weights=*/true);
  b.output("logits", m.generator(out.output));
  decoder.output_cache(b, out);
  // Every layer's heads side by side, [R, layers * heads, S], so that the search collects them all.
  b.output("attention", concat(out.layer_cross_weights, 1));
}

}  // namespace g2p

namespace g2p {

weft::Graph graph_of(const std::string& name, const std::function<void(Builder&)>& build) {
  Builder b(name);
  build(b);
  return b.finish();
}

}  // namespace g2p

namespace g2p {

namespace {

nn::Seq2SeqAttentionOptions lstm_options(const ModelConfig& c) {
  return {.src_vocab = c.src_vocab,
          .tgt_vocab = c.tgt_vocab,
          .embed_dim = c.lstm_embed,
          .hidden_size = c.d_model,
          .num_layers = 1,
          .attention = nn::AttentionKind::additive,
          .style = nn::AttentionStyle::bahdanau};
}

/// Each word's letters + <eos>: the count of non-padding ids, so that the encoder's final state is
/// the word's own (PyTorch's packed sequences).
Tensor lengths_of(const Tensor& src) { return sum(cast(src != kPad, DType::i64), {1}); }

}  // namespace

std::string describe(const ModelConfig& c) {
  if (c.kind == ModelKind::lstm)
    return fmt::format("An LSTM encoder-decoder with additive attention, embedding {}, hidden {}{}", c.lstm_embed,
                       c.d_model, c.lstm_embed == 128 && c.d_model == 256 ? " (the reference's)" : "");
  bool reference = c.d_model == 256 && c.heads == 4 && c.layers == 3 && c.feedforward == 1024;
  return fmt::format("A Transformer of d {}, {} heads, {}+{} layers, feed-forward {}{}", c.d_model, c.heads, c.layers,
                     c.layers, c.feedforward, reference ? " (the reference's)" : "");
}

void build_train_graph(Builder& b, const ModelConfig& c) {
  if (c.kind == ModelKind::transformer) return G2PTransformer::train_graph(b, c);
  weft::Dim batch = b.symbol("B", kMaxBatch), s = b.symbol("S", kMaxSource), t = b.symbol("T", kMaxTarget);
  Tensor src = b.input("src", DType::i64, {batch, s});
  Tensor tgt_in = b.input("tgt_in", DType::i64, {batch, t});
  Tensor tgt_out = b.input("tgt_out", DType::i64, {batch, t});
  nn::Seq2SeqAttention m(b, "model", lstm_options(c));
  b.output("loss",
           cross_entropy(m(src, tgt_in, lengths_of(src)).logits, tgt_out, {.label_smoothing = c.label_smoothing}));
}

void build_encode_graph(Builder& b, const ModelConfig& c) {
  if (c.kind == ModelKind::transformer) return G2PTransformer::encode_graph(b, c);
  weft::Dim batch = b.symbol("B", kMaxRows), s = b.symbol("S", kMaxSource);
  Tensor src = b.input("src", DType::i64, {batch, s});
  nn::Seq2SeqAttention m(b, "model", lstm_options(c));
  m.output_encoded(b, m.encode(src, lengths_of(src)));
}

void build_step_graph(Builder& b, const ModelConfig& c) {
  if (c.kind == ModelKind::transformer) return G2PTransformer::step_graph(b, c);
  weft::Dim rows = b.symbol("R", kMaxRows), s = b.symbol("S", kMaxSource);
  nn::Seq2SeqAttention m(b, "model", lstm_options(c));
  nn::Seq2SeqAttention::StepInputs in = m.declare_step_inputs(b, rows, s);
  m.output_step(b, m.decode_step(in.tokens, in.state, in.encoded));
}

}  // namespace g2p
