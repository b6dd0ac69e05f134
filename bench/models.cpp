#include "bench/models.h"

#include "frontend/tensor_ops.h"

namespace weft::bench {

using dsl::Builder;
using dsl::Tensor;

double EncoderLayerSize::flops() const {
  double tokens = static_cast<double>(batch * length);
  double projections = 2.0 * tokens * (4.0 * d_model * d_model + 2.0 * d_model * ff);
  double attention = 2.0 * 2.0 * static_cast<double>(batch) * length * length * d_model;  // q·kᵀ, weights·v
  return projections + attention;
}

double TransformerSize::train_flops() const {
  auto per_token = [&](int64_t attentions, int64_t attended) {
    return attentions * (2.0 * 4.0 * d_model * d_model + 2.0 * 2.0 * attended * d_model) + 2.0 * 2.0 * d_model * ff;
  };
  double encoder = layers * per_token(1, source) * static_cast<double>(batch * source);
  double decoder = layers * (per_token(1, target) + 2.0 * 4.0 * d_model * d_model + 2.0 * 2.0 * source * d_model) *
                   static_cast<double>(batch * target);
  double generator = 2.0 * d_model * vocab * static_cast<double>(batch * target);
  return 3.0 * (encoder + decoder + generator);
}

Graph encoder_layer_graph(const EncoderLayerSize& size) {
  Builder b("encoder_layer");
  Tensor x = b.input("x", DType::f32, {Dim(size.batch), Dim(size.length), Dim(size.d_model)});
  nn::TransformerEncoderLayer layer(
      b, "layer", {.d_model = size.d_model, .nhead = size.heads, .dim_feedforward = size.ff, .dropout = 0.0});
  b.output("y", layer(x));
  return b.finish();
}

TransformerModel::TransformerModel(Builder& b, const TransformerSize& size)
    : size(size),
      src_embed(b, "src_embed", size.vocab, size.d_model, {.scale_by_sqrt_dim = true}),
      tgt_embed(b, "tgt_embed", size.vocab, size.d_model, {.scale_by_sqrt_dim = true}),
      positions(b, "positions", size.d_model),
      transformer(b, "transformer",
                  {.layer = {.d_model = size.d_model, .nhead = size.heads, .dim_feedforward = size.ff, .dropout = 0.0},
                   .num_encoder_layers = size.layers,
                   .num_decoder_layers = size.layers}),
      generator(b, "generator", size.d_model, size.vocab) {}

Tensor TransformerModel::memory(const Tensor& src) const { return transformer.encoder(positions(src_embed(src))); }

Graph transformer_train_graph(const TransformerSize& size) {
  Builder b("transformer_train");
  Tensor src = b.input("src", DType::i64, {Dim(size.batch), Dim(size.source)});
  Tensor tgt_in = b.input("tgt_in", DType::i64, {Dim(size.batch), Dim(size.target)});
  Tensor tgt_out = b.input("tgt_out", DType::i64, {Dim(size.batch), Dim(size.target)});
  TransformerModel m(b, size);
  Tensor y = m.transformer(m.positions(m.src_embed(src)), m.positions(m.tgt_embed(tgt_in)), {.causal_tgt = true});
  b.output("loss", dsl::cross_entropy(m.generator(y), tgt_out, {.label_smoothing = size.label_smoothing}));
  return b.finish();
}

Graph transformer_prefix_graph(const TransformerSize& size) {
  Builder b("prefix");
  Dim batch = b.symbol("B", size.batch), source = b.symbol("S", size.source), target = b.symbol("T", size.steps + 1);
  Tensor src = b.input("src", DType::i64, {batch, source});
  Tensor tgt_in = b.input("tgt_in", DType::i64, {batch, target});
  Tensor last = b.input("last", "i64[]");  // T - 1: only the last position goes through the generator
  TransformerModel m(b, size);
  Tensor y = m.transformer.decoder(m.positions(m.tgt_embed(tgt_in)), m.memory(src), {.self = {.causal = true}});
  b.output("next", dsl::argmax(m.generator(dsl::gather(y, last, 1)), -1));  // [B]
  return b.finish();
}

void transformer_encode_graph(Builder& b, const TransformerSize& size) {
  Dim batch = b.symbol("B", size.batch), source = b.symbol("S", size.source);
  Tensor src = b.input("src", DType::i64, {batch, source});
  TransformerModel m(b, size);
  m.transformer.decoder.output_memory(b, m.transformer.decoder.project_memory(m.memory(src)));
}

void transformer_step_graph(Builder& b, const TransformerSize& size) {
  // Rows are sources × beam width: up to 32 for batch 8 and beam 4.
  Dim rows = b.symbol("R", std::max<int64_t>(size.batch, 32)), past = b.symbol("P", size.steps),
      src_length = b.symbol("S", size.source);
  Tensor tokens = b.input("tokens", DType::i64, {rows});
  Tensor position = b.input("position", "i64[]");
  TransformerModel m(b, size);
  const nn::TransformerDecoder& decoder = m.transformer.decoder;
  nn::TransformerDecoder::Cache cache = decoder.declare_cache(b, rows, past, src_length, false);
  nn::TransformerDecoder::StepOutput out =
      decoder.step(m.tgt_embed(tokens) + m.positions.encode(position), position, cache);
  b.output("logits", m.generator(out.output));
  decoder.output_cache(b, out);
}

Graph lstm_attention_graph(const LstmAttentionSize& size) {
  Builder b("lstm_attention");
  Tensor src = b.input("src", DType::i64, {Dim(size.batch), Dim(size.length)});
  Tensor tgt_in = b.input("tgt_in", DType::i64, {Dim(size.batch), Dim(size.length)});
  Tensor tgt_out = b.input("tgt_out", DType::i64, {Dim(size.batch), Dim(size.length)});
  nn::Seq2SeqAttention m(b, "model",
                         {.src_vocab = size.vocab,
                          .tgt_vocab = size.vocab,
                          .embed_dim = size.embed,
                          .hidden_size = size.hidden,
                          .attention = nn::AttentionKind::additive,
                          .style = nn::AttentionStyle::bahdanau});
  b.output("loss", dsl::cross_entropy(m(src, tgt_in).logits, tgt_out));
  return b.finish();
}

}  // namespace weft::bench
