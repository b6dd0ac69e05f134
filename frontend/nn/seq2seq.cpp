#include "frontend/nn/seq2seq.h"

#include <fmt/format.h>

namespace weft::nn {

namespace {

/// `o`, after checking the sizes the layers cannot check themselves.
template <typename Options>
const Options& checked(const Builder& b, const char* kind, const Options& o, const Loc& loc) {
  if (o.src_vocab <= 0 || o.tgt_vocab <= 0)
    config_error(
        b,
        fmt::format("{}: src_vocab and tgt_vocab must be positive, but got {} and {}", kind, o.src_vocab, o.tgt_vocab),
        loc);
  return o;
}

/// Checks source ids [batch, S] and lengths [batch]; embeds and encodes them.
Encoded encode_with(const LayerId& id, const Embedding& embed, const LSTM& encoder, const Tensor& src,
                    const Tensor& lengths, const Loc& loc) {
  expect_integer(id, "the source ids", src, loc);
  expect_shape(id, "the source ids", src, src.dtype(), {"batch", "length"}, loc);
  if (lengths.defined()) {
    expect_integer(id, "src_lengths", lengths, loc);
    expect_shape(id, "src_lengths", lengths, lengths.dtype(), {src.dim(0)}, loc);
  }
  auto s = id.enter(src.builder(), loc);
  LstmOutput r = encoder(embed(src, loc), {}, lengths, loc);
  Tensor mask = lengths.defined() ? padding_mask(lengths, src.dim(1), loc) : Tensor();
  return Encoded{r.output, LstmState{r.h_n, r.c_n}, mask};
}

void check_target(const LayerId& id, const Tensor& tgt_in, const Tensor& src, const Loc& loc) {
  expect_integer(id, "the target ids", tgt_in, loc);
  expect_shape(id, "the target ids", tgt_in, tgt_in.dtype(), {src.dim(0), "length"}, loc);
}

/// The top layer of a [num_layers, batch, H] state: [batch, H].
Tensor top_layer(const Tensor& state, const Loc& loc) {
  int64_t n = state.dim(0).value();
  return dsl::reshape(dsl::slice(state, 0, n - 1, n, 1, loc), {state.dim(1), state.dim(2)}, loc);
}

}  // namespace

// --- Seq2Seq ---

Seq2Seq::Seq2Seq(Builder& b, const std::string& name, const Seq2SeqOptions& o, Loc loc)
    : id("Seq2Seq", b, name),
      options(checked(b, "Seq2Seq", o, loc)),
      src_embed(b, join_name(name, "src_embed"), o.src_vocab, o.embed_dim, {}, loc),
      tgt_embed(b, join_name(name, "tgt_embed"), o.tgt_vocab, o.embed_dim, {}, loc),
      encoder(b, join_name(name, "encoder"), o.embed_dim, o.hidden_size, {.num_layers = o.num_layers}, loc),
      decoder(b, join_name(name, "decoder"), o.embed_dim + o.hidden_size, o.hidden_size, {.num_layers = o.num_layers},
              loc),
      out(b, join_name(name, "out"), o.hidden_size, o.tgt_vocab, true, loc) {}

Encoded Seq2Seq::encode(const Tensor& src, const Tensor& src_lengths, Loc loc) const {
  return encode_with(id, src_embed, encoder, src, src_lengths, loc);
}

Tensor Seq2Seq::context_of(const LstmState& state, Loc loc) const {
  expect_shape(id, "the state's h", state.h, DType::f32, {options.num_layers, "batch", options.hidden_size}, loc);
  auto s = id.enter(state.h.builder(), loc);
  return top_layer(state.h, loc);
}

Tensor Seq2Seq::operator()(const Tensor& src, const Tensor& tgt_in, const Tensor& src_lengths, Loc loc) const {
  Encoded enc = encode(src, src_lengths, loc);
  check_target(id, tgt_in, src, loc);
  auto s = id.enter(src.builder(), loc);
  const Dim batch = src.dim(0), steps = tgt_in.dim(1);
  // The context joins every step's input: [batch, H] -> [batch, T, H].
  Tensor context = dsl::reshape(context_of(enc.state, loc), {batch, 1, options.hidden_size}, loc);
  context = dsl::broadcast_to(context, {batch, steps, options.hidden_size}, loc);
  Tensor x = dsl::concat({tgt_embed(tgt_in, loc), context}, -1, loc);
  return out(decoder(x, enc.state, {}, loc).output, loc);
}

DecodeStep Seq2Seq::decode_step(const Tensor& prev, const LstmState& state, const Tensor& context, Loc loc) const {
  expect_integer(id, "the previous ids", prev, loc);
  expect_shape(id, "the previous ids", prev, prev.dtype(), {"batch"}, loc);
  expect_shape(id, "the context", context, DType::f32, {prev.dim(0), options.hidden_size}, loc);
  auto s = id.enter(prev.builder(), loc);
  LstmState next = decoder.step(dsl::concat({tgt_embed(prev, loc), context}, -1, loc), state, loc);
  return DecodeStep{out(top_layer(next.h, loc), loc), next, {}};
}

// --- Seq2SeqAttention ---

namespace {

std::optional<AdditiveAttention> make_additive(Builder& b, const std::string& name, const Seq2SeqAttentionOptions& o,
                                               const Loc& loc) {
  if (o.attention != AttentionKind::additive) return std::nullopt;
  int64_t dim = o.attention_dim > 0 ? o.attention_dim : o.hidden_size;
  return AdditiveAttention(b, join_name(name, "attention"), o.hidden_size, o.hidden_size, dim, loc);
}

std::optional<MultiplicativeAttention> make_multiplicative(Builder& b, const std::string& name,
                                                           const Seq2SeqAttentionOptions& o, const Loc& loc) {
  ScoreKind kind = ScoreKind::general;
  switch (o.attention) {
    case AttentionKind::additive:
      return std::nullopt;
    case AttentionKind::dot:
      kind = ScoreKind::dot;
      break;
    case AttentionKind::general:
      kind = ScoreKind::general;
      break;
    case AttentionKind::scaled_dot:
      kind = ScoreKind::scaled_dot;
      break;
  }
  return MultiplicativeAttention(b, join_name(name, "attention"), kind, o.hidden_size, o.hidden_size, loc);
}

}  // namespace

Seq2SeqAttention::Seq2SeqAttention(Builder& b, const std::string& name, const Seq2SeqAttentionOptions& o, Loc loc)
    : id("Seq2SeqAttention", b, name),
      options(checked(b, "Seq2SeqAttention", o, loc)),
      src_embed(b, join_name(name, "src_embed"), o.src_vocab, o.embed_dim, {}, loc),
      tgt_embed(b, join_name(name, "tgt_embed"), o.tgt_vocab, o.embed_dim, {}, loc),
      encoder(b, join_name(name, "encoder"), o.embed_dim, o.hidden_size, {.num_layers = o.num_layers}, loc),
      decoder(b, join_name(name, "decoder"), o.embed_dim + (o.style == AttentionStyle::bahdanau ? o.hidden_size : 0),
              o.hidden_size, {.num_layers = o.num_layers}, loc),
      additive(make_additive(b, name, o, loc)),
      multiplicative(make_multiplicative(b, name, o, loc)),
      combine(o.style == AttentionStyle::luong ? std::optional<Linear>(std::in_place, b, join_name(name, "combine"),
                                                                       2 * o.hidden_size, o.hidden_size, true, loc)
                                               : std::nullopt),
      out(b, join_name(name, "out"), o.hidden_size, o.tgt_vocab, true, loc) {}

Encoded Seq2SeqAttention::encode(const Tensor& src, const Tensor& src_lengths, Loc loc) const {
  return encode_with(id, src_embed, encoder, src, src_lengths, loc);
}

AttentionResult Seq2SeqAttention::attend(const Tensor& h, const Encoded& encoded, const Loc& loc) const {
  if (additive) return (*additive)(h, encoded.outputs, encoded.outputs, encoded.padding_mask, loc);
  return (*multiplicative)(h, encoded.outputs, encoded.outputs, encoded.padding_mask, loc);
}

Tensor Seq2SeqAttention::predict(const Tensor& h, const Tensor& context, const Loc& loc) const {
  if (!combine) return out(h, loc);  // Bahdanau: the context went into the LSTM
  Tensor attentional = dsl::tanh((*combine)(dsl::concat({h, context}, -1, loc), loc), loc);
  return out(attentional, loc);
}

Seq2SeqAttentionOutput Seq2SeqAttention::operator()(const Tensor& src, const Tensor& tgt_in, const Tensor& src_lengths,
                                                    Loc loc) const {
  Encoded enc = encode(src, src_lengths, loc);
  check_target(id, tgt_in, src, loc);
  auto s = id.enter(src.builder(), loc);
  if (options.style == AttentionStyle::bahdanau) {
    auto [h, weights] = bahdanau_decoder(tgt_embed(tgt_in, loc), enc, loc);
    return Seq2SeqAttentionOutput{out(h, loc), weights};
  }
  Tensor h = decoder(tgt_embed(tgt_in, loc), enc.state, {}, loc).output;  // [batch, T, H]
  AttentionResult a = attend(h, enc, loc);
  return Seq2SeqAttentionOutput{predict(h, a.context, loc), a.weights};
}

DecodeStep Seq2SeqAttention::decode_step(const Tensor& prev, const LstmState& state, const Encoded& encoded,
                                         Loc loc) const {
  expect_integer(id, "the previous ids", prev, loc);
  expect_shape(id, "the previous ids", prev, prev.dtype(), {"batch"}, loc);
  auto s = id.enter(prev.builder(), loc);
  if (options.style == AttentionStyle::bahdanau) {
    AttentionResult a = attend(top_layer(state.h, loc), encoded, loc);
    LstmState next = decoder.step(dsl::concat({tgt_embed(prev, loc), a.context}, -1, loc), state, loc);
    return DecodeStep{out(top_layer(next.h, loc), loc), next, a.weights};
  }
  LstmState next = decoder.step(tgt_embed(prev, loc), state, loc);
  Tensor h = top_layer(next.h, loc);  // [batch, H]
  AttentionResult a = attend(h, encoded, loc);
  return DecodeStep{predict(h, a.context, loc), next, a.weights};
}

void Seq2SeqAttention::output_encoded(Builder& b, const Encoded& encoded, Loc loc) const {
  b.output("state.h", encoded.state.h, loc);
  b.output("state.c", encoded.state.c, loc);
  b.output("memory", encoded.outputs, loc);
  if (encoded.padding_mask.defined()) b.output("memory_padding", encoded.padding_mask, loc);
}

Seq2SeqAttention::StepInputs Seq2SeqAttention::declare_step_inputs(Builder& b, const Dim& rows, const Dim& src_length,
                                                                   bool memory_padding, Loc loc) const {
  const int64_t layers = options.num_layers, hidden = options.hidden_size;
  StepInputs in;
  in.tokens = b.input("tokens", DType::i64, {rows}, loc);
  in.state = LstmState{b.input("state.h", DType::f32, {Dim(layers), rows, Dim(hidden)}, loc),
                       b.input("state.c", DType::f32, {Dim(layers), rows, Dim(hidden)}, loc)};
  in.encoded.outputs = b.input("memory", DType::f32, {rows, src_length, Dim(hidden)}, loc);
  if (memory_padding) in.encoded.padding_mask = b.input("memory_padding", DType::boolean, {rows, src_length}, loc);
  return in;
}

void Seq2SeqAttention::output_step(Builder& b, const DecodeStep& out, Loc loc) const {
  b.output("logits", out.logits, loc);
  b.output("state.h.next", out.state.h, loc);
  b.output("state.c.next", out.state.c, loc);
  b.output("attention", out.weights, loc);
}

}  // namespace weft::nn
