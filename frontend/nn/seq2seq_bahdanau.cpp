// The Bahdanau form of Seq2SeqAttention's decoder over all target steps: one scan whose body is the
// decode step as written — attend with the previous h, run the LSTM on [embedding; context] — with
// the layers' weights passed in as consts. The body projects the keys every step, as the tutorial
// draws it; passes/hoist_scan_invariants.h moves that projection out of the loop.
#include <fmt/format.h>

#include "frontend/nn/seq2seq.h"

namespace weft::nn {

std::pair<Tensor, Tensor> Seq2SeqAttention::bahdanau_decoder(const Tensor& embedded, const Encoded& encoded,
                                                             const Loc& loc) const {
  Builder& outer = embedded.builder();
  const Dim batch = embedded.dim(0);
  const int64_t layers = options.num_layers, hidden = options.hidden_size;

  Builder body("bahdanau_step");
  auto body_scope = open_scope(body, id.scope, loc);  // the step's nodes print with the model's scope
  for (const SymbolDecl& s : outer.graph().symbols()) body.symbol(s.name, s.bound, loc);
  Tensor h = body.input("h", DType::f32, {layers, batch, hidden}, loc);
  Tensor c = body.input("c", DType::f32, {layers, batch, hidden}, loc);
  Tensor x_t = body.input("x_t", DType::f32, {batch, options.embed_dim}, loc);

  // Consts: the keys (and padding), then every weight the step reads, rebound to body inputs.
  std::vector<Tensor> consts;
  auto take = [&](const Tensor& outer_value, const std::string& name) {
    consts.push_back(outer_value);
    return body.input(name, outer_value.type().dtype, outer_value.shape(), loc);
  };
  Encoded inside{take(encoded.outputs, "keys"), {}, {}};
  if (encoded.padding_mask.defined()) inside.padding_mask = take(encoded.padding_mask, "padding");
  std::optional<AdditiveAttention> add = additive;
  std::optional<MultiplicativeAttention> mul = multiplicative;
  if (add) {
    for (Linear* l : {&add->query_proj, &add->key_proj, &add->v}) l->weight = take(l->weight, l->id.scope + ".weight");
  } else if (mul->weight.defined()) {
    mul->weight = take(mul->weight, mul->id.scope + ".weight");
  }
  LSTM lstm = decoder;
  for (size_t l = 0; l < lstm.layers.size(); ++l) {
    RecurrentWeights& w = lstm.layers[l];
    for (auto [t, name] : {std::pair{&w.weight_ih, "weight_ih"},
                           {&w.weight_hh, "weight_hh"},
                           {&w.bias_ih, "bias_ih"},
                           {&w.bias_hh, "bias_hh"}})
      if (t->defined()) *t = take(*t, fmt::format("{}.{}_l{}", lstm.id.scope, name, l));
  }

  auto top = [&](const Tensor& state) {
    return dsl::reshape(dsl::slice(state, 0, layers - 1, layers, 1, loc), {batch, hidden}, loc);
  };
  AttentionResult a = add ? (*add)(top(h), inside.outputs, inside.outputs, inside.padding_mask, loc)
                          : (*mul)(top(h), inside.outputs, inside.outputs, inside.padding_mask, loc);
  LstmState next = lstm.step(dsl::concat({x_t, a.context}, -1, loc), LstmState{h, c}, loc);
  body.output("h_next", next.h, loc);
  body.output("c_next", next.c, loc);
  body.output("y", top(next.h), loc);
  body.output("weights", a.weights, loc);

  dsl::ScanOperands operands{.carries = {encoded.state.h, encoded.state.c}, .sequences = {embedded}, .consts = consts};
  std::vector<Tensor> r = dsl::scan(body.finish(loc), operands, {.time_axis = 1, .reverse = false}, loc);
  return {r[2], r[3]};  // y [batch, T, H], weights [batch, T, S]
}

}  // namespace weft::nn
