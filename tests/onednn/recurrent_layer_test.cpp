/** \file
 * The recurrent layers on oneDNN's RNN primitives (backends/onednn/rnn_layer.h) against the
 * interpreter: nn::LSTM on the LSTM primitive, nn::RNN on the vanilla RNN primitive (tanh) and
 * nn::GRU on the LBR GRU primitive — outputs, final states and the gradients of every input and
 * parameter, at odd sizes (batch 1 and 3, hidden 7 and 31, 1 and 5 steps, 1 and 2 layers, with and
 * without biases), with full and ragged lengths, on "onednn" and "auto". Each case checks where the
 * layer ran: on the primitives with full lengths; ragged lengths run the layer's decomposition (the
 * primitive has no lengths) and must give the interpreter's values all the same. The GRU's gate
 * order and four biases are mapped between PyTorch's layout and oneDNN's: a wrong mapping shows as a
 * wrong value here.
 */
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "frontend/nn/nn.h"
#include "passes/autodiff.h"
#include "tests/onednn/testing.h"

namespace weft::onednn_tests {
namespace {

enum class Cell { lstm, rnn, gru };

struct LayerCase {
  Cell cell;
  int64_t batch, length, input, hidden, layers;
  bool ragged = false;
  bool bias = true;
};

const char* op_of(const LayerCase& c) { return c.cell == Cell::lstm ? "lstm" : c.cell == Cell::gru ? "gru" : "rnn"; }

std::string name_of(const LayerCase& c) {
  return fmt::format("{}_b{}_t{}_i{}_h{}_l{}{}{}", op_of(c), c.batch, c.length, c.input, c.hidden,
                     c.layers, c.ragged ? "_ragged" : "", c.bias ? "" : "_nobias");
}

/// The layer, a loss reading every result (weighted by inputs, so that each gets its own
/// gradient), and the gradients of x, h0 (and the LSTM's c0) and every parameter.
Graph training_graph(const LayerCase& c) {
  dsl::Builder b("layer_case");
  const bool lstm = c.cell == Cell::lstm;
  auto x = b.input("x", DType::f32, {c.batch, c.length, c.input});
  auto h0 = b.input("h0", DType::f32, {c.layers, c.batch, c.hidden});
  dsl::Tensor c0 = lstm ? b.input("c0", DType::f32, {c.layers, c.batch, c.hidden}) : dsl::Tensor();
  auto wy = b.input("wy", DType::f32, {c.batch, c.length, c.hidden});
  auto wh = b.input("wh", DType::f32, {c.layers, c.batch, c.hidden});
  dsl::Tensor wc = lstm ? b.input("wc", DType::f32, {c.layers, c.batch, c.hidden}) : dsl::Tensor();
  dsl::Tensor lengths;
  if (c.ragged) lengths = b.input("lengths", DType::i64, {c.batch});
  const nn::RecurrentOptions options{.num_layers = c.layers, .bias = c.bias};
  dsl::Tensor y, h_n, c_n;
  if (lstm) {
    nn::LstmOutput r = nn::LSTM(b, "lstm", c.input, c.hidden, options)(x, {h0, c0}, lengths);
    y = r.output, h_n = r.h_n, c_n = r.c_n;
  } else {
    nn::RnnOutput r = c.cell == Cell::gru ? nn::GRU(b, "gru", c.input, c.hidden, options)(x, h0, lengths)
                                          : nn::RNN(b, "rnn", c.input, c.hidden, options)(x, h0, lengths);
    y = r.output, h_n = r.h_n;
  }
  auto loss = dsl::sum(y * wy) + dsl::sum(h_n * wh);
  if (lstm) loss = loss + dsl::sum(c_n * wc);
  b.output("loss", loss);
  b.output("y", y);
  b.output("h_n", h_n);
  if (lstm) b.output("c_n", c_n);
  Graph g = b.finish();
  std::vector<std::string> wrt{"x", "h0"};
  if (lstm) wrt.push_back("c0");
  for (const ParamDecl& p : g.params()) wrt.push_back(p.name);
  return differentiate(g, "loss", wrt);
}

std::vector<Tensor> inputs_for(const Graph& g, const LayerCase& c, uint64_t seed) {
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

/// Perturbs every parameter of both executables the same way (a parameter update).
void update_parameters(const Graph& g, CompiledExecutable& a, Executable& b) {
  for (const ParamDecl& p : g.params()) {
    Tensor w = a.state(p.name);
    for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = 0.5f * w.data<float>()[i] + 0.01f;
    a.set_state(p.name, w);
    b.set_state(p.name, w);
  }
}

class OnednnRecurrentLayer : public ::testing::TestWithParam<LayerCase> {};

TEST_P(OnednnRecurrentLayer, ForwardAndGradientsMatchTheInterpreter) {
  SKIP_WITHOUT_ONEDNN();
  const LayerCase& c = GetParam();
  const std::string op = op_of(c), backward = op + "_backward";
  Graph g = training_graph(c);
  std::vector<Tensor> inputs = inputs_for(g, c, 11);
  auto interp = make_backend("interp")->compile(g);
  std::vector<Tensor> want = interp->run(inputs);
  for (const char* backend_name : {"onednn", "auto"}) {
    auto backend = make_backend(backend_name);
    auto exe = dynamic_cast<const ProviderChain&>(*backend).compile_chain(g);
    const std::string where = providers(*exe);
    // Every layer's forward and backward is one call of the oneDNN provider's (which runs ragged
    // lengths through the decomposition). "auto" timed each layer's training pair whole against
    // decomposed and kept the layers its report's lowering notes say it kept.
    int layers = 0, backwards = 0;
    for (const NodeStats& n : exe->stats().nodes) {
      layers += n.op == op;
      backwards += n.op == backward;
      if (std::string(backend_name) == "onednn" && (n.op == op || n.op == backward)) {
        EXPECT_EQ(n.provider, "onednn") << exe->stats().report();
      }
    }
    int kept = static_cast<int>(c.layers);
    if (std::string(backend_name) == "auto") {
      const std::vector<std::string>& notes = exe->stats().lowering_notes;
      ASSERT_EQ(notes.size(), static_cast<size_t>(c.layers)) << exe->stats().report();
      EXPECT_NE(exe->stats().report().find("\n  lowering: " + notes[0] + "\n"), std::string::npos)
          << exe->stats().report();
      kept = 0;
      for (const std::string& note : notes) {
        const bool whole = note.find(": kept whole for oneDNN's primitives: onednn ") != std::string::npos;
        EXPECT_TRUE(whole || note.find(": decomposed: onednn ") != std::string::npos) << note;
        EXPECT_EQ(note.rfind(op + " ", 0), 0u) << note;
        kept += whole;
      }
    }
    EXPECT_EQ(layers, kept) << where;
    EXPECT_EQ(backwards, kept) << where;
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

/// The same sizes for each cell.
std::vector<LayerCase> layer_cases() {
  std::vector<LayerCase> cases;
  for (Cell cell : {Cell::lstm, Cell::rnn, Cell::gru})
    for (LayerCase c : {LayerCase{cell, 1, 1, 3, 7, 1}, LayerCase{cell, 3, 5, 4, 7, 2}, LayerCase{cell, 1, 5, 7, 31, 1},
                        LayerCase{cell, 3, 1, 2, 31, 2}, LayerCase{cell, 3, 5, 4, 7, 1, false, false},
                        LayerCase{cell, 3, 5, 4, 7, 2, true}, LayerCase{cell, 1, 5, 3, 31, 1, true}})
      cases.push_back(c);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Sizes, OnednnRecurrentLayer, ::testing::ValuesIn(layer_cases()),
                         [](const ::testing::TestParamInfo<LayerCase>& info) { return name_of(info.param); });

TEST(OnednnRecurrentLayer, NewWeightsAreReorderedAgain) {
  SKIP_WITHOUT_ONEDNN();
  for (const LayerCase& c : {LayerCase{Cell::lstm, 3, 5, 4, 7, 2}, LayerCase{Cell::lstm, 1, 5, 7, 31, 1},
                             LayerCase{Cell::rnn, 3, 5, 4, 7, 2}, LayerCase{Cell::gru, 3, 5, 4, 7, 2},
                             LayerCase{Cell::gru, 1, 5, 7, 31, 1}}) {
    Graph g = training_graph(c);
    std::vector<Tensor> inputs = inputs_for(g, c, 5);
    auto interp = make_backend("interp")->compile(g);
    auto exe = compile_onednn(g);
    exe->run(inputs);
    // A parameter update between runs: the primitives must see the new weights.
    update_parameters(g, *exe, *interp);
    std::vector<Tensor> want = interp->run(inputs);
    std::vector<Tensor> got = exe->run(inputs);
    for (size_t k = 0; k < want.size(); ++k)
      expect_close(want[k], got[k], Tolerance{1e-4, 1e-4}, name_of(c) + " after an update: " + g.outputs()[k].name);
  }
}

TEST(OnednnRecurrentLayer, InferenceRunsTheForwardPrimitiveAlone) {
  SKIP_WITHOUT_ONEDNN();
  for (Cell cell : {Cell::lstm, Cell::rnn, Cell::gru}) {
    const LayerCase c{cell, 0, 0, 5, 9, 2};
    dsl::Builder b("layer_inference");
    auto x = b.input("x", "f32[B<=4, T<=6, 5]");
    const nn::RecurrentOptions options{.num_layers = 2};
    if (cell == Cell::lstm) {
      nn::LstmOutput r = nn::LSTM(b, "lstm", 5, 9, options)(x);
      b.output("y", r.output);
      b.output("h_n", r.h_n);
    } else {
      nn::RnnOutput r = cell == Cell::gru ? nn::GRU(b, "gru", 5, 9, options)(x) : nn::RNN(b, "rnn", 5, 9, options)(x);
      b.output("y", r.output);
      b.output("h_n", r.h_n);
    }
    Graph g = b.finish();
    auto exe = expect_same_outputs(g, {{{"B", 3}, {"T", 6}}, {{"B", 1}, {"T", 2}}, {{"B", 2}, {"T", 0}}},
                                   Tolerance{1e-4, 1e-4});
    EXPECT_EQ(providers(*exe).find("llvm:scan"), std::string::npos) << providers(*exe);
    EXPECT_NE(providers(*exe).find(std::string("onednn:") + op_of(c)), std::string::npos) << providers(*exe);
  }
}

}  // namespace
}  // namespace weft::onednn_tests
