/** \file
 * The LSTM layer on oneDNN's RNN primitives (backends/onednn/rnn_layer.h) against the interpreter:
 * nn::LSTM's outputs, final states and the gradients of every input and parameter, at odd sizes
 * (batch 1 and 3, hidden 7 and 31, 1 and 5 steps, 1 and 2 layers, with and without biases), with
 * full and ragged lengths, on "onednn" and "auto". Each case checks where the layer ran: on the
 * primitives with full lengths; ragged lengths run the layer's decomposition (the primitive has no
 * lengths) and must give the interpreter's values all the same.
 */
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "frontend/nn/nn.h"
#include "passes/autodiff.h"
#include "tests/onednn/testing.h"

namespace weft::onednn_tests {
namespace {

struct LstmCase {
  int64_t batch, length, input, hidden, layers;
  bool ragged = false;
  bool bias = true;
};

std::string name_of(const LstmCase& c) {
  return fmt::format("b{}_t{}_i{}_h{}_l{}{}{}", c.batch, c.length, c.input, c.hidden, c.layers,
                     c.ragged ? "_ragged" : "", c.bias ? "" : "_nobias");
}

/// The layer, a loss reading every result (weighted by inputs, so that each gets its own
/// gradient), and the gradients of x, h0, c0 and every parameter.
Graph training_graph(const LstmCase& c) {
  dsl::Builder b("lstm_case");
  auto x = b.input("x", DType::f32, {c.batch, c.length, c.input});
  auto h0 = b.input("h0", DType::f32, {c.layers, c.batch, c.hidden});
  auto c0 = b.input("c0", DType::f32, {c.layers, c.batch, c.hidden});
  auto wy = b.input("wy", DType::f32, {c.batch, c.length, c.hidden});
  auto wh = b.input("wh", DType::f32, {c.layers, c.batch, c.hidden});
  auto wc = b.input("wc", DType::f32, {c.layers, c.batch, c.hidden});
  dsl::Tensor lengths;
  if (c.ragged) lengths = b.input("lengths", DType::i64, {c.batch});
  nn::LSTM lstm(b, "lstm", c.input, c.hidden, {.num_layers = c.layers, .bias = c.bias});
  nn::LstmOutput r = lstm(x, {h0, c0}, lengths);
  auto loss = dsl::sum(r.output * wy) + dsl::sum(r.h_n * wh) + dsl::sum(r.c_n * wc);
  b.output("loss", loss);
  b.output("y", r.output);
  b.output("h_n", r.h_n);
  b.output("c_n", r.c_n);
  Graph g = b.finish();
  std::vector<std::string> wrt{"x", "h0", "c0"};
  for (const ParamDecl& p : g.params()) wrt.push_back(p.name);
  return differentiate(g, "loss", wrt);
}

std::vector<Tensor> inputs_for(const Graph& g, const LstmCase& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Tensor> out;
  for (const InputDecl& in : g.inputs()) {
    const TensorType& t = g.type(in.value);
    Tensor v = Tensor::zeros(t.dtype, evaluate_shape(t.shape, {}));
    if (t.dtype == DType::i64) {
      // Ragged: the first row full, the others shorter, one of them empty when there are three.
      for (int64_t b = 0; b < c.batch; ++b) v.data<int64_t>()[b] = b == 0 ? c.length : (c.length * (2 - b)) / 3;
    } else {
      for (int64_t i = 0; i < v.numel(); ++i) v.data<float>()[i] = std::uniform_real_distribution<float>(-1, 1)(rng);
    }
    out.push_back(v);
  }
  return out;
}

class OnednnLstm : public ::testing::TestWithParam<LstmCase> {};

TEST_P(OnednnLstm, ForwardAndGradientsMatchTheInterpreter) {
  SKIP_WITHOUT_ONEDNN();
  const LstmCase& c = GetParam();
  Graph g = training_graph(c);
  std::vector<Tensor> inputs = inputs_for(g, c, 11);
  std::vector<Tensor> want = make_backend("interp")->compile(g)->run(inputs);
  for (const char* backend_name : {"onednn", "auto"}) {
    auto backend = make_backend(backend_name);
    auto exe = dynamic_cast<const ProviderChain&>(*backend).compile_chain(g);
    const std::string where = providers(*exe);
    // Every layer's forward and backward is one call of the oneDNN provider's (which runs ragged
    // lengths through the decomposition); "auto" may have found the decomposition faster.
    int layers = 0, backwards = 0;
    for (const NodeStats& n : exe->stats().nodes) {
      layers += n.op == "lstm";
      backwards += n.op == "lstm_backward";
      if (std::string(backend_name) == "onednn" && (n.op == "lstm" || n.op == "lstm_backward")) {
        EXPECT_EQ(n.provider, "onednn") << exe->stats().report();
      }
    }
    EXPECT_EQ(layers, c.layers) << where;
    EXPECT_EQ(backwards, c.layers) << where;
    // Twice: the second run finds the weights already reordered and a workspace of its own forward.
    for (int run = 0; run < 2; ++run) {
      std::vector<Tensor> got = exe->run(inputs);
      ASSERT_EQ(got.size(), want.size());
      for (size_t k = 0; k < want.size(); ++k)
        expect_close(want[k], got[k], Tolerance{1e-4, 1e-4},
                     fmt::format("{} run {} output {} ({})", backend_name, run, g.outputs()[k].name, where));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, OnednnLstm,
                         ::testing::Values(LstmCase{1, 1, 3, 7, 1}, LstmCase{3, 5, 4, 7, 2}, LstmCase{1, 5, 7, 31, 1},
                                           LstmCase{3, 1, 2, 31, 2}, LstmCase{3, 5, 4, 7, 1, false, false},
                                           LstmCase{3, 5, 4, 7, 2, true}, LstmCase{1, 5, 3, 31, 1, true}),
                         [](const ::testing::TestParamInfo<LstmCase>& info) { return name_of(info.param); });

TEST(OnednnLstm, NewWeightsAreReorderedAgain) {
  SKIP_WITHOUT_ONEDNN();
  for (const LstmCase& c : {LstmCase{3, 5, 4, 7, 2}, LstmCase{1, 5, 7, 31, 1}}) {
    Graph g = training_graph(c);
    std::vector<Tensor> inputs = inputs_for(g, c, 5);
    auto interp = make_backend("interp")->compile(g);
    auto exe = compile_onednn(g);
    exe->run(inputs);
    // A parameter update between runs: the primitives must see the new weights.
    for (const ParamDecl& p : g.params()) {
      Tensor w = exe->state(p.name);
      for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = 0.5f * w.data<float>()[i] + 0.01f;
      exe->set_state(p.name, w);
      interp->set_state(p.name, w);
    }
    std::vector<Tensor> want = interp->run(inputs);
    std::vector<Tensor> got = exe->run(inputs);
    for (size_t k = 0; k < want.size(); ++k)
      expect_close(want[k], got[k], Tolerance{1e-4, 1e-4}, name_of(c) + " after an update: " + g.outputs()[k].name);
  }
}

TEST(OnednnLstm, InferenceRunsTheForwardPrimitiveAlone) {
  SKIP_WITHOUT_ONEDNN();
  dsl::Builder b("lstm_inference");
  auto x = b.input("x", "f32[B<=4, T<=6, 5]");
  nn::LSTM lstm(b, "lstm", 5, 9, {.num_layers = 2});
  b.output("y", lstm(x).output);
  Graph g = b.finish();
  auto exe =
      expect_same_outputs(g, {{{"B", 3}, {"T", 6}}, {{"B", 1}, {"T", 2}}, {{"B", 2}, {"T", 0}}}, Tolerance{1e-4, 1e-4});
  EXPECT_EQ(providers(*exe).find("llvm:scan"), std::string::npos) << providers(*exe);
  EXPECT_NE(providers(*exe).find("onednn:lstm"), std::string::npos) << providers(*exe);
}

}  // namespace
}  // namespace weft::onednn_tests
