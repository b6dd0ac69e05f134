// The rnn and gru composites and their backwards (ir/ops/composite_recurrent.cpp): what nn::RNN
// and nn::GRU write, what a training graph decomposes into, the LLVM backend's bits against the
// scan nn::RNN wrote before the op, the GRU layer against its cell stepped by hand, the text IR,
// and the errors of a malformed node.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "ir/graph_builder.h"
#include "ir/text.h"
#include "passes/autodiff.h"
#include "passes/pipeline.h"
#include "tests/nn/nn_testing.h"

namespace weft::nn {
namespace {

using testing::error_of;
using testing::f32;
using testing::values;

int count(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.op == op;
  return n;
}

Graph training_graph(bool gru, int64_t layers, bool lengths) {
  Builder b(gru ? "gru_train" : "rnn_train");
  auto x = b.input("x", "f32[B<=8, T<=16, 3]");
  dsl::Tensor len = lengths ? b.input("lengths", "i64[B]") : dsl::Tensor();
  RnnOutput r = gru ? GRU(b, "gru", 3, 5, {.num_layers = layers})(x, {}, len)
                    : RNN(b, "rnn", 3, 5, {.num_layers = layers})(x, {}, len);
  b.output("loss", dsl::sum(r.output) + dsl::sum(r.h_n));
  return differentiate(b.finish(), "loss");
}

TEST(RnnGruOp, TrainingGraphHasOneForwardAndOneBackwardPerLayer) {
  for (bool gru : {false, true}) {
    Graph g = training_graph(gru, 2, false);
    EXPECT_EQ(count(g, gru ? OpKind::gru : OpKind::rnn), 2);
    EXPECT_EQ(count(g, gru ? OpKind::gru_backward : OpKind::rnn_backward), 2);
    EXPECT_EQ(count(g, OpKind::scan), 0);
    for (const Node& n : g.nodes())
      if (n.op == OpKind::rnn || n.op == OpKind::gru) {
        EXPECT_TRUE(n.attrs.get_bool("saved"));  // its save rule ran
      }
  }
}

TEST(RnnGruOp, DecomposedTrainingGraphRunsEachLayerForwardOnce) {
  // CSE merges the backward body's recomputed forward with the forward's own projection and scan:
  // one forward scan and one reverse scan per layer, one hoisted projection x · W_ihᵀ per layer.
  for (bool gru : {false, true})
    for (bool lengths : {false, true}) {
      LoweringOptions options;
      options.until = LoweringStage::simplified;
      Graph lowered = lower_graph(training_graph(gru, 2, lengths), options);
      EXPECT_EQ(count(lowered, OpKind::scan), 4) << print_graph(lowered);
      int forward_matmuls = 0;
      for (const Node& n : lowered.nodes())
        forward_matmuls +=
            n.op == OpKind::matmul && n.attrs.get_bool("transpose_b") && !n.attrs.get_bool("transpose_a") &&
            lowered.type(n.operands[1]).shape[0] == Dim(gru ? 15 : 5) && lowered.type(n.results[0]).rank() == 3;
      EXPECT_EQ(forward_matmuls, 2) << print_graph(lowered);
    }
}

/// One RNN layer written out as nn::RNN wrote it before the rnn op: the hoisted projection and a
/// scan of the step, its parameters named as nn::RNN names them.
Graph handwritten_rnn(bool lengths) {
  Builder b("handwritten");
  auto x = b.input("x", "f32[3, 4, 2]");
  dsl::Tensor len = lengths ? b.input("lengths", "i64[3]") : dsl::Tensor();
  auto w_ih = b.param("rnn.weight_ih_l0", "f32[3, 2]");
  auto w_hh = b.param("rnn.weight_hh_l0", "f32[3, 3]");
  auto b_ih = b.param("rnn.bias_ih_l0", "f32[3]");
  auto b_hh = b.param("rnn.bias_hh_l0", "f32[3]");
  auto projected = dsl::matmul(x, w_ih, {.transpose_b = true}) + b_ih;
  Builder step("step");
  auto h = step.input("h", "f32[3, 3]"), x_t = step.input("x_t", "f32[3, 3]");
  auto wh = step.input("weight_hh", "f32[3, 3]"), bh = step.input("bias_hh", "f32[3]");
  auto h_next = dsl::tanh(x_t + (dsl::matmul(h, wh, {.transpose_b = true}) + bh));
  step.output("h_next", h_next);
  step.output("y", h_next);
  auto zeros = dsl::broadcast_to(b.constant(0.0, DType::f32), {3, 3});
  std::vector<dsl::Tensor> r =
      dsl::scan(step.finish(), {.carries = {zeros}, .sequences = {projected}, .consts = {w_hh, b_hh}, .lengths = len});
  b.output("loss", dsl::sum(r[1]) + dsl::sum(r[0]));
  b.output("y", r[1]);
  b.output("h_n", r[0]);
  return differentiate(b.finish(), "loss");
}

Graph rnn_layer_op(bool lengths) {
  Builder b("op");
  auto x = b.input("x", "f32[3, 4, 2]");
  dsl::Tensor len = lengths ? b.input("lengths", "i64[3]") : dsl::Tensor();
  RNN rnn(b, "rnn", 2, 3);
  RnnOutput r = rnn(x, {}, len);
  auto h_n = dsl::reshape(r.h_n, {3, 3});
  b.output("loss", dsl::sum(r.output) + dsl::sum(h_n));
  b.output("y", r.output);
  b.output("h_n", h_n);
  return differentiate(b.finish(), "loss");
}

TEST(RnnGruOp, LlvmComputesTheRnnBitForBitAsTheScanWrittenOut) {
  // Decomposed (and its gradient merged with the forward by CSE), the op is the graph nn::RNN
  // wrote before: the LLVM backend gives the same bits, forward and gradients.
  for (bool lengths : {false, true}) {
    Graph mine = rnn_layer_op(lengths), theirs = handwritten_rnn(lengths);
    testing::expect_same_bits_on_llvm(mine, theirs, lengths);
  }
}

TEST(RnnGruOp, GruSequenceEqualsItsCellSteppedByHand) {
  // The layer (a gru node, decomposed into its scan on the interpreter) against GRUCell with the
  // same weights applied step by step; with lengths, row 1 stops after 2 steps.
  for (bool lengths : {false, true}) {
    Builder b("g");
    auto x = b.input("x", "f32[2, 3, 3]");
    auto h0 = b.input("h0", "f32[1, 2, 4]");
    dsl::Tensor len = lengths ? b.input("lengths", "i64[2]") : dsl::Tensor();
    GRU gru(b, "gru", 3, 4);
    RnnOutput seq = gru(x, h0, len);
    GRUCell cell(b, "cell", 3, 4);
    dsl::Tensor h = dsl::reshape(h0, {2, 4});
    std::vector<dsl::Tensor> ys;
    for (int t = 0; t < 3; ++t) {
      dsl::Tensor next = cell(dsl::reshape(dsl::slice(x, 1, t, t + 1), {2, 3}), h);
      if (lengths && t == 2) {  // row 1 has run its 2 steps: it keeps its state and outputs zeros
        dsl::Tensor row0 = dsl::slice(next, 0, 0, 1);
        next = dsl::concat({row0, dsl::slice(h, 0, 1, 2)}, 0);
        ys.push_back(dsl::reshape(dsl::concat({row0, dsl::slice(h, 0, 1, 2) * 0.0}, 0), {2, 1, 4}));
      } else {
        ys.push_back(dsl::reshape(next, {2, 1, 4}));
      }
      h = next;
    }
    b.output("seq_y", seq.output);
    b.output("seq_h", seq.h_n);
    b.output("step_y", dsl::concat(ys, 1));
    b.output("step_h", dsl::reshape(h, {1, 2, 4}));
    Graph g = b.finish();
    auto exe = make_backend("interp")->compile(g);
    for (const char* w : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}) {
      weft::Tensor v = exe->state(fmt::format("gru.{}_l0", w));
      for (int64_t k = 0; k < v.numel(); ++k) v.data<float>()[k] = 0.4f * std::sin(static_cast<float>(3 * k + 1));
      exe->set_state(fmt::format("gru.{}_l0", w), v);
      exe->set_state(fmt::format("cell.{}", w), v);
    }
    std::vector<float> xs(18), hs(8);
    for (size_t k = 0; k < xs.size(); ++k) xs[k] = std::cos(0.7f * static_cast<float>(k));
    for (size_t k = 0; k < hs.size(); ++k) hs[k] = 0.5f * std::sin(static_cast<float>(k));
    std::map<std::string, weft::Tensor> in{{"x", f32({2, 3, 3}, xs)}, {"h0", f32({1, 2, 4}, hs)}};
    if (lengths) in.emplace("lengths", weft::Tensor::from<int64_t>({2}, {3, 2}));
    auto out = exe->run_named(in);
    for (const char* what : {"y", "h"}) {
      auto a = values(out.at(std::string("seq_") + what)), s = values(out.at(std::string("step_") + what));
      ASSERT_EQ(a.size(), s.size());
      for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], s[i], 1e-6) << what << i << " lengths " << lengths;
    }
  }
}

TEST(RnnGruOp, GruParamsArePerLayerWithTorchNamesShapesAndInit) {
  Builder b("g");
  GRU gru(b, "gru", 3, 4, {.num_layers = 2});
  const std::vector<ParamDecl>& params = b.graph().params();
  ASSERT_EQ(params.size(), 8u);
  EXPECT_EQ(params[0].name, "gru.weight_ih_l0");
  EXPECT_EQ(b.graph().type(params[0].value).str(), "f32[12, 3]");
  EXPECT_EQ(params[5].name, "gru.weight_hh_l1");
  EXPECT_EQ(b.graph().type(params[5].value).str(), "f32[12, 4]");
  EXPECT_EQ(params[7].name, "gru.bias_hh_l1");
  EXPECT_EQ(params[0].init.kind, "uniform");
  EXPECT_NEAR(params[0].init.args.at(1).second, 0.5, 1e-12);  // 1/sqrt(4)
}

TEST(RnnGruOp, TextIrRoundTripsWithTheBackwardsBody) {
  for (bool gru : {false, true}) {
    Graph g = training_graph(gru, 1, true);
    std::string text = print_graph(g);
    EXPECT_NE(text.find(gru ? "gru_backward(" : "rnn_backward("), std::string::npos);
    EXPECT_EQ(print_graph(parse_graph(text)), text);
  }
}

TEST(RnnGruOp, MalformedNodesAreErrorsNamingTheOperand) {
  Graph g("bad");
  auto in = [&](const char* name, Shape s, DType t = DType::f32) { return g.add_input(name, TensorType{t, s}); };
  ValueId x = in("x", {2, 3, 4}), w_ih = in("w_ih", {15, 4}), w_hh = in("w_hh", {15, 5}), b = in("b", {15});
  ValueId h0 = in("h0", {3, 5}), good_h0 = in("good_h0", {2, 5}), odd = in("odd", {16, 4});
  GraphBuilder builder(g);
  EXPECT_EQ(error_of([&] {
              builder.emit(OpKind::gru, {x, w_ih, w_hh, b, b, h0});
            }),
            "gru: h0 must be f32[2, 5], but got f32[3, 5]");
  EXPECT_EQ(error_of([&] {
              builder.emit(OpKind::gru, {x, odd, w_hh, b, b, good_h0});
            }),
            "gru: weight_ih must be [3·hidden, input_size] with a static hidden size, but got f32[16, 4]");
  EXPECT_EQ(error_of([&] {
              builder.emit(OpKind::rnn, {x, w_ih, w_hh, good_h0});
            }),
            "rnn: with bias=true and has_lengths=false takes 6 operands (x, weight_ih, weight_hh, bias_ih, bias_hh, "
            "h0), but got 4");
  EXPECT_EQ(error_of([&] {
              builder.emit(OpKind::rnn, {x, w_ih, w_hh, good_h0}, Attrs{{"bias", false}});
            }),
            "rnn: weight_hh must be f32[15, 15], but got f32[15, 5]");
}

}  // namespace
}  // namespace weft::nn
