/** \file
 * Gradient checks of every layer of frontend/nn against central finite differences in float64 on
 * the interpreter, with respect to every parameter and every float input.
 *
 * The layers are written for f32 (PyTorch's default); each test builds one with the DSL, then
 * turns the graph into f64 (`to_f64`: every f32 value, parameter and dtype attribute, bodies
 * included) so that finite differences are accurate to 1e-6. Parameters take their initializers'
 * values, materialized in f64.
 */
#include <gtest/gtest.h>

#include <memory>

#include "backends/interp/interpreter.h"
#include "frontend/nn/nn.h"
#include "passes/autodiff.h"
#include "passes/verify.h"
#include "tests/autodiff/grad_check.h"

namespace weft::grad_check {
namespace {

DType widened(DType t) { return t == DType::f32 ? DType::f64 : t; }

/// `g` with f32 replaced by f64 everywhere: inputs, parameters, dtype attributes, bodies.
Graph to_f64(const Graph& g) {
  Graph out(g.name());
  for (const SymbolDecl& s : g.symbols()) out.declare_symbol(s.name, s.bound);
  std::vector<ValueId> map(g.num_values(), kNoValue);
  auto widen = [](TensorType t) {
    t.dtype = widened(t.dtype);
    return t;
  };
  for (const InputDecl& in : g.inputs()) map[in.value] = out.add_input(in.name, widen(g.type(in.value)));
  for (const ParamDecl& p : g.params()) map[p.value] = out.add_param(p.name, widen(g.type(p.value)), p.init);
  GraphBuilder b(out);
  for (const Node& node : g.nodes()) {
    Attrs attrs;
    for (const auto& [name, value] : node.attrs.items()) {
      const DType* t = std::get_if<DType>(&value);
      attrs.set(name, t ? AttrValue{widened(*t)} : value);
    }
    std::vector<ValueId> operands;
    for (ValueId v : node.operands) operands.push_back(map[v]);
    std::shared_ptr<const Graph> body = node.body ? std::make_shared<const Graph>(to_f64(*node.body)) : nullptr;
    b.set_scope(node.scope);
    b.set_loc(node.loc);
    std::vector<ValueId> results = b.emit(node.op, operands, attrs, body);
    for (size_t r = 0; r < results.size(); ++r) map[node.results[r]] = results[r];
  }
  for (const OutputDecl& o : g.outputs()) out.add_output(o.name, map[o.value]);
  return out;
}

/// Values for the graph's inputs, f32 ones given as f64 (the graph is widened).
struct LayerCase {
  Graph graph;                // as the DSL built it (f32)
  std::vector<Tensor> inputs; // in graph input order
};

double loss_of(const Graph& g, const std::vector<Tensor>& inputs, const std::vector<Tensor>& params) {
  return interpret(g, inputs, params)[0].at(0);
}

/// Checks the gradients of sum_o sum(output_o * w_o) with respect to every float input and parameter.
void expect_layer_gradients_match(const LayerCase& c, double tol = 1e-6) {
  Graph g = to_f64(c.graph);
  std::vector<Tensor> params = initial_params(g);
  std::vector<Tensor> outs = interpret(g, c.inputs, params);
  // The loss graph: the layer's graph with weight inputs w<i> and the single output "loss".
  Graph lg = g;
  std::vector<ValueId> ys;
  for (const OutputDecl& o : g.outputs()) ys.push_back(o.value);
  std::vector<Tensor> inputs = c.inputs;
  GraphBuilder b(lg);
  ValueId loss = kNoValue;
  for (size_t i = 0; i < ys.size(); ++i) {
    ValueId w = lg.add_input("w" + std::to_string(i), lg.type(ys[i]));
    inputs.push_back(random_f64(outs[i].shape(), 500 + i));
    ValueId term = b.reduce(OpKind::reduce_sum, b.binary(OpKind::mul, ys[i], w), {}, false);
    loss = loss == kNoValue ? term : b.binary(OpKind::add, loss, term);
  }
  lg.mutable_outputs() = {OutputDecl{"loss", loss}};

  std::vector<std::string> wrt;
  std::vector<Tensor*> leaves;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (c.inputs[i].dtype() == DType::f64) {
      wrt.push_back(g.inputs()[i].name);
      leaves.push_back(&inputs[i]);
    }
  for (size_t p = 0; p < params.size(); ++p) {
    wrt.push_back(g.params()[p].name);
    leaves.push_back(&params[p]);
  }
  Graph d = differentiate(lg, "loss", wrt);
  verify(d);
  std::vector<Tensor> analytic = interpret(d, inputs, params);
  analytic.erase(analytic.begin());

  std::vector<Tensor> numeric;
  const double h = 1e-6;
  for (Tensor* leaf : leaves) {
    Tensor original = *leaf;
    Tensor grad = Tensor::zeros(DType::f64, original.shape());
    for (int64_t i = 0; i < grad.numel(); ++i) {
      *leaf = original.clone();
      double x0 = leaf->data<double>()[i];
      leaf->data<double>()[i] = x0 + h;
      double plus = loss_of(lg, inputs, params);
      leaf->data<double>()[i] = x0 - h;
      double minus = loss_of(lg, inputs, params);
      grad.data<double>()[i] = (plus - minus) / (2 * h);
    }
    *leaf = original;
    numeric.push_back(grad);
  }
  ASSERT_EQ(analytic.size(), numeric.size());
  for (size_t k = 0; k < wrt.size(); ++k)
    expect_all_near({analytic[k]}, {numeric[k]}, tol, "layer '" + c.graph.name() + "', d loss / d " + wrt[k]);
}

Tensor bools(std::vector<int64_t> shape, std::vector<bool> values) { return Tensor::from<bool>(std::move(shape), values); }

TEST(LayerGradient, LinearMatchesFiniteDifferences) {
  Builder b("linear");
  nn::Linear fc(b, "fc", 3, 2);
  b.output("y", fc(b.input("x", DType::f32, Shape{2, 2, 3})));
  expect_layer_gradients_match({b.finish(), {random_f64({2, 2, 3}, 1)}});
}

TEST(LayerGradient, LayerNormMatchesFiniteDifferences) {
  Builder b("layer_norm");
  nn::LayerNorm ln(b, "ln", 4);
  b.output("y", ln(b.input("x", DType::f32, Shape{3, 4})));
  expect_layer_gradients_match({b.finish(), {random_f64({3, 4}, 2)}});
}

TEST(LayerGradient, FeedForwardMatchesFiniteDifferences) {
  for (nn::Activation a : {nn::Activation::relu, nn::Activation::gelu, nn::Activation::tanh}) {
    SCOPED_TRACE(std::string(nn::activation_name(a)));
    Builder b("feed_forward");
    nn::FeedForward ff(b, "ff", 4, 6, nn::FeedForwardOptions{a});
    b.output("y", ff(b.input("x", DType::f32, Shape{2, 4})));
    expect_layer_gradients_match({b.finish(), {random_f64({2, 4}, 3)}});
  }
}

TEST(LayerGradient, EmbeddingAndPositionalEncodingMatchFiniteDifferences) {
  Builder b("embedding");
  nn::Embedding emb(b, "emb", 5, 4, nn::EmbeddingOptions{true});
  nn::PositionalEncoding pe(b, "pe", 4);
  b.output("y", pe(emb(b.input("ids", DType::i64, Shape{2, 3}))));
  expect_layer_gradients_match({b.finish(), {i64({2, 3}, {0, 4, 4, 1, 0, 2})}});
}

TEST(LayerGradient, RnnAndLstmCellsMatchFiniteDifferences) {
  Builder b("cells");
  nn::RNNCell rnn(b, "rnn", 3, 2);
  nn::LSTMCell lstm(b, "lstm", 3, 2);
  dsl::Tensor x = b.input("x", DType::f32, Shape{2, 3});
  dsl::Tensor h = b.input("h", DType::f32, Shape{2, 2});
  dsl::Tensor c = b.input("c", DType::f32, Shape{2, 2});
  b.output("h_rnn", rnn(x, h));
  nn::LstmState s = lstm(x, {h, c});
  b.output("h_lstm", s.h);
  b.output("c_lstm", s.c);
  expect_layer_gradients_match({b.finish(), {random_f64({2, 3}, 4), random_f64({2, 2}, 5), random_f64({2, 2}, 6)}});
}

TEST(LayerGradient, TwoLayerRnnWithLengthsMatchesFiniteDifferences) {
  Builder b("rnn");
  nn::RNN rnn(b, "rnn", 3, 2, nn::RecurrentOptions{2});
  // Inputs are declared one statement each: the order of a call's arguments is unspecified.
  dsl::Tensor x = b.input("x", DType::f32, Shape{3, 4, 3});
  dsl::Tensor h0 = b.input("h0", DType::f32, Shape{2, 3, 2});
  dsl::Tensor lengths = b.input("lengths", DType::i64, Shape{3});
  nn::RnnOutput r = rnn(x, h0, lengths);
  b.output("output", r.output);
  b.output("h_n", r.h_n);
  expect_layer_gradients_match(
      {b.finish(), {random_f64({3, 4, 3}, 7), random_f64({2, 3, 2}, 8), i64({3}, {4, 1, 3})}});
}

TEST(LayerGradient, TwoLayerLstmWithLengthsMatchesFiniteDifferences) {
  Builder b("lstm");
  nn::LSTM lstm(b, "lstm", 3, 2, nn::RecurrentOptions{2});
  dsl::Tensor x = b.input("x", DType::f32, Shape{3, 4, 3});
  dsl::Tensor h0 = b.input("h0", DType::f32, Shape{2, 3, 2});
  dsl::Tensor c0 = b.input("c0", DType::f32, Shape{2, 3, 2});
  dsl::Tensor lengths = b.input("lengths", DType::i64, Shape{3});
  nn::LstmOutput r = lstm(x, {h0, c0}, lengths);
  b.output("output", r.output);
  b.output("h_n", r.h_n);
  b.output("c_n", r.c_n);
  expect_layer_gradients_match({b.finish(),
                                {random_f64({3, 4, 3}, 9), random_f64({2, 3, 2}, 10), random_f64({2, 3, 2}, 11),
                                 i64({3}, {2, 4, 1})}});
}

TEST(LayerGradient, GruCellMatchesFiniteDifferences) {
  Builder b("gru_cell");
  nn::GRUCell gru(b, "gru", 3, 2);
  dsl::Tensor x = b.input("x", DType::f32, Shape{2, 3});
  dsl::Tensor h = b.input("h", DType::f32, Shape{2, 2});
  b.output("h_gru", gru(x, h));
  expect_layer_gradients_match({b.finish(), {random_f64({2, 3}, 12), random_f64({2, 2}, 13)}});
}

TEST(LayerGradient, TwoLayerGruWithLengthsMatchesFiniteDifferences) {
  Builder b("gru");
  nn::GRU gru(b, "gru", 3, 2, nn::RecurrentOptions{2});
  dsl::Tensor x = b.input("x", DType::f32, Shape{3, 4, 3});
  dsl::Tensor h0 = b.input("h0", DType::f32, Shape{2, 3, 2});
  dsl::Tensor lengths = b.input("lengths", DType::i64, Shape{3});
  nn::RnnOutput r = gru(x, h0, lengths);
  b.output("output", r.output);
  b.output("h_n", r.h_n);
  expect_layer_gradients_match(
      {b.finish(), {random_f64({3, 4, 3}, 14), random_f64({2, 3, 2}, 15), i64({3}, {3, 4, 1})}});
}

TEST(LayerGradient, MultiHeadAttentionWithMasksMatchesFiniteDifferences) {
  Builder b("mha");
  nn::MultiHeadAttention mha(b, "mha", 4, 2);
  dsl::Tensor q = b.input("q", DType::f32, Shape{2, 3, 4});
  dsl::Tensor kv = b.input("kv", DType::f32, Shape{2, 3, 4});
  dsl::Tensor padding = b.input("padding", DType::boolean, Shape{2, 3});
  nn::MultiHeadAttention::Result r = mha.with_weights(q, kv, kv, nn::AttentionMasks{{}, padding, true});
  b.output("y", r.output);
  b.output("weights", r.weights);
  expect_layer_gradients_match({b.finish(),
                                {random_f64({2, 3, 4}, 12), random_f64({2, 3, 4}, 13),
                                 bools({2, 3}, {false, false, true, false, false, false})}});
}

TEST(LayerGradient, AdditiveAndMultiplicativeAttentionMatchFiniteDifferences) {
  Builder b("rnn_attention");
  nn::AdditiveAttention additive(b, "additive", 2, 3, 4);
  nn::MultiplicativeAttention general(b, "general", nn::ScoreKind::general, 2, 3);
  nn::MultiplicativeAttention scaled(b, "scaled", nn::ScoreKind::scaled_dot, 3, 3);
  dsl::Tensor q = b.input("q", DType::f32, Shape{2, 2});
  dsl::Tensor q3 = b.input("q3", DType::f32, Shape{2, 2, 3});
  dsl::Tensor keys = b.input("keys", DType::f32, Shape{2, 4, 3});
  dsl::Tensor values = b.input("values", DType::f32, Shape{2, 4, 2});
  dsl::Tensor padding = b.input("padding", DType::boolean, Shape{2, 4});
  nn::AttentionResult a = additive(q, keys, values, padding);
  nn::AttentionResult m = general(q, keys, values, padding);
  nn::AttentionResult s = scaled(q3, keys, values);
  b.output("a", a.context);
  b.output("a_w", a.weights);
  b.output("m", m.context);
  b.output("s", s.context);
  expect_layer_gradients_match({b.finish(),
                                {random_f64({2, 2}, 14), random_f64({2, 2, 3}, 15), random_f64({2, 4, 3}, 16),
                                 random_f64({2, 4, 2}, 17),
                                 bools({2, 4}, {false, false, false, true, false, false, false, false})}});
}

nn::TransformerLayerOptions small_layer(bool norm_first) {
  nn::TransformerLayerOptions o;
  o.d_model = 4;
  o.nhead = 2;
  o.dim_feedforward = 6;
  o.dropout = 0.0;
  o.activation = nn::Activation::gelu;
  o.norm_first = norm_first;
  return o;
}

TEST(LayerGradient, TransformerEncoderLayerMatchesFiniteDifferences) {
  for (bool norm_first : {false, true}) {
    SCOPED_TRACE(norm_first ? "pre-norm" : "post-norm");
    Builder b("encoder_layer");
    nn::TransformerEncoderLayer layer(b, "layer", small_layer(norm_first));
    b.output("y", layer(b.input("src", DType::f32, Shape{2, 3, 4})));
    expect_layer_gradients_match({b.finish(), {random_f64({2, 3, 4}, 18)}});
  }
}

TEST(LayerGradient, TransformerDecoderLayerMatchesFiniteDifferences) {
  Builder b("decoder_layer");
  nn::TransformerDecoderLayer layer(b, "layer", small_layer(false));
  dsl::Tensor tgt = b.input("tgt", DType::f32, Shape{2, 3, 4});
  dsl::Tensor memory = b.input("memory", DType::f32, Shape{2, 2, 4});
  nn::DecoderMasks masks;
  masks.self.causal = true;
  b.output("y", layer(tgt, memory, masks));
  expect_layer_gradients_match({b.finish(), {random_f64({2, 3, 4}, 19), random_f64({2, 2, 4}, 20)}});
}

TEST(LayerGradient, DropoutInTrainingMatchesFiniteDifferencesWithItsFixedMask) {
  Builder b("dropout");
  nn::Dropout drop(b, 0.3);
  dsl::Tensor x = b.input("x", DType::f32, Shape{4, 5});
  dsl::Tensor step = b.input("step", DType::i64, Shape{});
  b.output("y", drop(x, step));
  expect_layer_gradients_match({b.finish(), {random_f64({4, 5}, 21), i64({}, {3})}});
}

TEST(LayerGradient, TransformerMatchesFiniteDifferences) {
  Builder b("transformer");
  nn::TransformerOptions o;
  o.layer = small_layer(false);
  o.num_encoder_layers = 1;
  o.num_decoder_layers = 1;
  nn::Transformer model(b, "model", o);
  dsl::Tensor src = b.input("src", DType::f32, Shape{1, 3, 4});
  dsl::Tensor tgt = b.input("tgt", DType::f32, Shape{1, 2, 4});
  nn::TransformerMasks masks;
  masks.causal_tgt = true;
  b.output("y", model(src, tgt, masks));
  expect_layer_gradients_match({b.finish(), {random_f64({1, 3, 4}, 22), random_f64({1, 2, 4}, 23)}});
}

}  // namespace
}  // namespace weft::grad_check
