// RNN and LSTM cells and sequence layers: PyTorch's names and gate order, hand-checked steps, the
// sequence layers as one scan per layer (never unrolled), lengths, and shape errors.
#include <gtest/gtest.h>

#include <cmath>

#include "passes/decompose.h"
#include "tests/nn/nn_testing.h"

namespace weft::nn {
namespace {

using testing::error_of;
using testing::f32;
using testing::here;
using testing::run;
using testing::values;

std::vector<float> wave(size_t n, float phase = 0) {
  std::vector<float> v;
  for (size_t i = 0; i < n; ++i) v.push_back(std::sin(0.9f * static_cast<float>(i) + phase));
  return v;
}

TEST(RNNCell, ComputesTanhOfBothProjections) {
  Builder b("g");
  auto x = b.input("x", "f32[1, 1]");
  auto h = b.input("h", "f32[1, 1]");
  RNNCell cell(b, "cell", 1, 1);
  b.output("h_next", cell(x, h));
  std::vector<std::string> names;
  for (const ParamDecl& p : b.graph().params()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"cell.weight_ih", "cell.weight_hh", "cell.bias_ih", "cell.bias_hh"}));
  auto out = run(b, {{"x", f32({1, 1}, {0.3f})}, {"h", f32({1, 1}, {0.4f})}},
                 {{"cell.weight_ih", f32({1, 1}, {2})},
                  {"cell.weight_hh", f32({1, 1}, {0.5})},
                  {"cell.bias_ih", f32({1}, {0.1f})},
                  {"cell.bias_hh", f32({1}, {-0.1f})}});
  EXPECT_NEAR(values(out.at("h_next"))[0], std::tanh(2 * 0.3 + 0.5 * 0.4), 1e-6);
}

/// An LSTM cell (I = 1, H = 2) with zero weights, whose gate pre-activations are `gate_bias` (i, f, g, o).
std::vector<float> lstm_cell_with_gate_bias(const std::vector<float>& gate_bias) {
  Builder b("g");
  auto x = b.input("x", "f32[1, 1]");
  auto h = b.input("h", "f32[1, 2]");
  auto c = b.input("c", "f32[1, 2]");
  LSTMCell cell(b, "cell", 1, 2);
  LstmState next = cell(x, {h, c});
  b.output("h_next", next.h);
  b.output("c_next", next.c);
  auto out = run(b, {{"x", f32({1, 1}, {5})}, {"h", f32({1, 2}, {7, 7})}, {"c", f32({1, 2}, {1, -2})}},
                 {{"cell.weight_ih", weft::Tensor::zeros(DType::f32, {8, 1})},
                  {"cell.weight_hh", weft::Tensor::zeros(DType::f32, {8, 2})},
                  {"cell.bias_ih", f32({8}, gate_bias)},
                  {"cell.bias_hh", weft::Tensor::zeros(DType::f32, {8})}});
  std::vector<float> r = values(out.at("h_next"));
  for (float v : values(out.at("c_next"))) r.push_back(v);
  return r;  // h0, h1, c0, c1
}

TEST(LSTMCell, GatesAreInTorchOrderInputForgetCellOutput) {
  // All gates 0: i = f = o = 1/2, g = 0, so c' = c/2 and h' = tanh(c')/2.
  std::vector<float> r = lstm_cell_with_gate_bias(std::vector<float>(8, 0));
  EXPECT_NEAR(r[2], 0.5, 1e-6);
  EXPECT_NEAR(r[3], -1.0, 1e-6);
  EXPECT_NEAR(r[0], 0.5 * std::tanh(0.5), 1e-6);
  EXPECT_NEAR(r[1], 0.5 * std::tanh(-1.0), 1e-6);
  // Only the third block (g) set to 1: c' = c/2 + tanh(1)/2.
  r = lstm_cell_with_gate_bias({0, 0, 0, 0, 1, 1, 0, 0});
  EXPECT_NEAR(r[2], 0.5 + 0.5 * std::tanh(1.0), 1e-6);
  // Forget gate (second block) wide open, input gate (first) shut: c' = c.
  r = lstm_cell_with_gate_bias({-100, -100, 100, 100, 1, 1, 0, 0});
  EXPECT_NEAR(r[2], 1.0, 1e-6);
  EXPECT_NEAR(r[3], -2.0, 1e-6);
}

TEST(LSTM, ParamsArePerLayerWithTorchNamesAndInit) {
  Builder b("g");
  LSTM lstm(b, "encoder", 3, 4, {.num_layers = 2});
  const Graph& g = b.graph();
  ASSERT_EQ(g.params().size(), 8u);
  EXPECT_EQ(g.params()[0].name, "encoder.weight_ih_l0");
  EXPECT_EQ(g.type(g.params()[0].value).str(), "f32[16, 3]");
  EXPECT_EQ(g.params()[4].name, "encoder.weight_ih_l1");
  EXPECT_EQ(g.type(g.params()[4].value).str(), "f32[16, 4]");
  EXPECT_EQ(g.params()[7].name, "encoder.bias_hh_l1");
  EXPECT_EQ(g.params()[0].init.kind, "uniform");
  EXPECT_NEAR(g.params()[0].init.args.at(1).second, 0.5, 1e-12);  // 1/sqrt(4)
}

TEST(LSTM, RunsOneScanPerLayerWhateverTheLength) {
  auto count = [](const char* type) {
    Builder b("g");
    auto x = b.input("x", type);
    LSTM lstm(b, "lstm", 3, 4, {.num_layers = 2});
    b.output("y", lstm(x).output);
    int layers = 0, scans = 0;
    for (const Node& n : b.graph().nodes()) layers += n.op == OpKind::lstm;
    for (const Node& n : decompose(b.graph()).nodes()) scans += n.op == OpKind::scan;
    EXPECT_EQ(layers, 2);  // one lstm node per layer, which decomposes into one scan
    return std::pair<int, size_t>(scans, b.graph().nodes().size());
  };
  auto [scans, nodes] = count("f32[2, 3, 3]");
  EXPECT_EQ(scans, 2);
  EXPECT_EQ(count("f32[2, 50, 3]").second, nodes);
  EXPECT_EQ(count("f32[B, T, 3]").second, nodes);
}

TEST(LSTM, TheStepBodyKeepsTheBatchBoundAndTheLayerScope) {
  Builder b("g");
  auto x = b.input("x", "f32[B<=8, T, 3]");
  LSTM lstm(b, "lstm", 3, 4);
  b.output("y", lstm(x).output);
  int scans = 0;
  const Graph decomposed = decompose(b.graph());
  for (const Node& n : decomposed.nodes()) {
    if (n.op != OpKind::scan) continue;
    ++scans;
    ASSERT_NE(n.body->find_symbol("B"), nullptr);
    EXPECT_EQ(n.body->find_symbol("B")->bound, 8);
    EXPECT_EQ(n.body->nodes()[0].scope, "lstm");
    EXPECT_EQ(n.scope, "lstm");
  }
  EXPECT_EQ(scans, 1);
}

TEST(LSTM, SequenceEqualsSteppingEveryLayer) {
  Builder b("g");
  auto x = b.input("x", "f32[2, 3, 3]");
  auto h0 = b.input("h0", "f32[2, 2, 4]");
  auto c0 = b.input("c0", "f32[2, 2, 4]");
  LSTM lstm(b, "lstm", 3, 4, {.num_layers = 2});
  LstmOutput seq = lstm(x, {h0, c0});
  LstmState state{h0, c0};
  std::vector<dsl::Tensor> tops;
  for (int t = 0; t < 3; ++t) {
    dsl::Tensor x_t = dsl::reshape(dsl::slice(x, 1, t, t + 1), {2, 3});
    state = lstm.step(x_t, state);
    tops.push_back(dsl::reshape(dsl::slice(state.h, 0, 1, 2), {2, 1, 4}));
  }
  b.output("seq_output", seq.output);
  b.output("seq_h", seq.h_n);
  b.output("seq_c", seq.c_n);
  b.output("step_output", dsl::concat(tops, 1));
  b.output("step_h", state.h);
  b.output("step_c", state.c);
  auto out = run(
      b, {{"x", f32({2, 3, 3}, wave(18))}, {"h0", f32({2, 2, 4}, wave(16, 1))}, {"c0", f32({2, 2, 4}, wave(16, 2))}});
  for (const char* what : {"output", "h", "c"}) {
    auto a = values(out.at(std::string("seq_") + what)), s = values(out.at(std::string("step_") + what));
    ASSERT_EQ(a.size(), s.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], s[i], 1e-6) << what << i;
  }
}

TEST(RNN, LengthsZeroOutputsPastTheEndAndKeepTheLastValidState) {
  Builder b("g");
  auto x = b.input("x", "f32[2, 4, 2]");
  auto lengths = b.input("lengths", "i64[2]");
  RNN rnn(b, "rnn", 2, 3);
  RnnOutput r = rnn(x, {}, lengths);
  b.output("output", r.output);
  b.output("h_n", r.h_n);
  EXPECT_EQ(b.graph().params()[0].name, "rnn.weight_ih_l0");
  auto out = run(b, {{"x", f32({2, 4, 2}, wave(16))}, {"lengths", weft::Tensor::from<int64_t>({2}, {4, 2})}});
  auto y = values(out.at("output")), h = values(out.at("h_n"));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(h[i], y[3 * 3 + i]);            // sequence 0: its step 3
    EXPECT_EQ(h[3 + i], y[(4 + 1) * 3 + i]);  // sequence 1: its step 1
    EXPECT_EQ(y[(4 + 2) * 3 + i], 0.0f);
    EXPECT_EQ(y[(4 + 3) * 3 + i], 0.0f);
    EXPECT_NE(y[(4 + 1) * 3 + i], 0.0f);
  }
}

TEST(LSTM, ShapeErrorsNameTheCallersLine) {
  Builder b("g");
  auto x = b.input("x", "f32[2, 5, 6]");
  auto good = b.input("good", "f32[2, 5, 4]");
  auto h0 = b.input("h0", "f32[1, 2, 8]");
  auto lengths = b.input("lengths", "f32[2]");
  LSTM lstm(b, "lstm", 4, 8, {.num_layers = 2});
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, lstm(x); });
  EXPECT_NE(msg.find("LSTM 'lstm': the input must be f32[batch, length, 4], but got f32[2, 5, 6]"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
  msg = error_of([&] { lstm(good, {h0, h0}); });
  EXPECT_NE(msg.find("h0 must be f32[2, 2, 8], but got f32[1, 2, 8]"), std::string::npos) << msg;
  msg = error_of([&] { lstm(good, {}, lengths); });
  EXPECT_NE(msg.find("lengths must have an integer dtype"), std::string::npos) << msg;
}

TEST(RNN, ShapeErrorNamesTheCallersLine) {
  Builder b("g");
  auto x = b.input("x", "f32[B, T, 2]");
  auto h0 = b.input("h0", "f32[B, 3]");
  RNN rnn(b, "rnn", 2, 3);
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, rnn(x, h0); });
  EXPECT_NE(msg.find("RNN 'rnn': h0 must be f32[1, B, 3], but got f32[B, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

TEST(LSTMCell, ShapeErrorNamesTheCallersLine) {
  Builder b("g");
  auto x = b.input("x", "f32[2, 3]");
  auto h = b.input("h", "f32[2, 5]");
  LSTMCell cell(b, "cell", 3, 4);
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, cell(x, {h, h}); });
  EXPECT_NE(msg.find("LSTMCell 'cell': h must be f32[2, 4], but got f32[2, 5]"), std::string::npos) << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

TEST(RNNCell, ShapeErrorNamesTheCallersLine) {
  Builder b("g");
  auto x = b.input("x", "f32[2, 3, 1]");
  RNNCell cell(b, "cell", 3, 4);
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, cell(x, x); });
  EXPECT_NE(msg.find("RNNCell 'cell': x must be f32[batch, 3], but got f32[2, 3, 1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

}  // namespace
}  // namespace weft::nn
