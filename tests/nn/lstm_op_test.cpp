// The lstm and lstm_backward composites (ir/ops/composite_recurrent.cpp): what nn::LSTM writes, what a
// training graph decomposes into, the text IR, and the errors of a malformed node.
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

Graph lstm_training_graph(int64_t layers, bool lengths) {
  Builder b("lstm_train");
  auto x = b.input("x", "f32[B<=8, T<=16, 3]");
  dsl::Tensor len = lengths ? b.input("lengths", "i64[B]") : dsl::Tensor();
  LSTM lstm(b, "lstm", 3, 5, {.num_layers = layers});
  LstmOutput r = lstm(x, {}, len);
  b.output("loss", dsl::sum(r.output) + dsl::sum(r.c_n));
  return differentiate(b.finish(), "loss");
}

int count(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.op == op;
  return n;
}

TEST(LstmOp, TrainingGraphHasOneForwardAndOneBackwardPerLayer) {
  Graph g = lstm_training_graph(2, false);
  EXPECT_EQ(count(g, OpKind::lstm), 2);
  EXPECT_EQ(count(g, OpKind::lstm_backward), 2);
  EXPECT_EQ(count(g, OpKind::scan), 0);
  for (const Node& n : g.nodes())
    if (n.op == OpKind::lstm) {
      EXPECT_TRUE(n.attrs.get_bool("saved"));  // its save rule ran
    }
}

TEST(LstmOp, DecomposedTrainingGraphRunsEachLayerForwardOnce) {
  // The backward's body recomputes the forward; CSE merges it with the forward's own projection
  // and scan, so a decomposed layer costs what the scan's autodiff cost before the op existed:
  // one forward scan and one reverse scan per layer.
  for (bool lengths : {false, true}) {
    LoweringOptions options;
    options.until = LoweringStage::simplified;
    Graph lowered = lower_graph(lstm_training_graph(2, lengths), options);
    EXPECT_EQ(count(lowered, OpKind::scan), 4) << print_graph(lowered);
    EXPECT_EQ(count(lowered, OpKind::lstm) + count(lowered, OpKind::lstm_backward), 0);
    int forward_matmuls = 0;  // the hoisted projections x · W_ihᵀ, one per layer
    for (const Node& n : lowered.nodes())
      forward_matmuls += n.op == OpKind::matmul && n.attrs.get_bool("transpose_b") &&
                         !n.attrs.get_bool("transpose_a") && lowered.type(n.operands[1]).shape[0] == Dim(20) &&
                         lowered.type(n.results[0]).rank() == 3;
    EXPECT_EQ(forward_matmuls, 2) << print_graph(lowered);
  }
}

/// One LSTM layer written out as the hoisted projection and a scan of the step (what nn::LSTM wrote
/// before the lstm op), its parameters named as nn::LSTM names them.
Graph handwritten_layer(bool lengths) {
  Builder b("handwritten");
  auto x = b.input("x", "f32[3, 4, 2]");
  dsl::Tensor len = lengths ? b.input("lengths", "i64[3]") : dsl::Tensor();
  auto w_ih = b.param("lstm.weight_ih_l0", "f32[12, 2]");
  auto w_hh = b.param("lstm.weight_hh_l0", "f32[12, 3]");
  auto b_ih = b.param("lstm.bias_ih_l0", "f32[12]");
  auto b_hh = b.param("lstm.bias_hh_l0", "f32[12]");
  auto projected = dsl::matmul(x, w_ih, {.transpose_b = true}) + b_ih;
  Builder step("step");
  auto h = step.input("h", "f32[3, 3]"), c = step.input("c", "f32[3, 3]"), x_t = step.input("x_t", "f32[3, 12]");
  auto wh = step.input("weight_hh", "f32[12, 3]"), bh = step.input("bias_hh", "f32[12]");
  auto pre = x_t + (dsl::matmul(h, wh, {.transpose_b = true}) + bh);
  auto gate = [&](int64_t k) { return dsl::slice(pre, -1, 3 * k, 3 * k + 3); };
  auto i = dsl::sigmoid(gate(0)), f = dsl::sigmoid(gate(1)), g = dsl::tanh(gate(2)), o = dsl::sigmoid(gate(3));
  auto c_next = f * c + i * g;
  auto h_next = o * dsl::tanh(c_next);
  step.output("h_next", h_next);
  step.output("c_next", c_next);
  step.output("y", h_next);
  auto zeros = dsl::broadcast_to(b.constant(0.0, DType::f32), {3, 3});
  std::vector<dsl::Tensor> r = dsl::scan(
      step.finish(), {.carries = {zeros, zeros}, .sequences = {projected}, .consts = {w_hh, b_hh}, .lengths = len});
  b.output("loss", dsl::sum(r[2]) + dsl::sum(r[1]));
  b.output("y", r[2]);
  b.output("c_n", r[1]);
  return differentiate(b.finish(), "loss");
}

Graph layer_op(bool lengths) {
  Builder b("op");
  auto x = b.input("x", "f32[3, 4, 2]");
  dsl::Tensor len = lengths ? b.input("lengths", "i64[3]") : dsl::Tensor();
  LSTM lstm(b, "lstm", 2, 3);
  LstmOutput r = lstm(x, {}, len);
  b.output("loss", dsl::sum(r.output) + dsl::sum(r.c_n));
  b.output("y", r.output);
  b.output("c_n", dsl::reshape(r.c_n, {3, 3}));
  return differentiate(b.finish(), "loss");
}

TEST(LstmOp, LlvmComputesTheLayerBitForBitAsTheScanWrittenOut) {
  // Decomposed (and its gradient merged with the forward by CSE), the op is the graph nn::LSTM
  // wrote before: the LLVM backend gives the same bits, forward and gradients.
  for (bool lengths : {false, true}) {
    Graph mine = layer_op(lengths), theirs = handwritten_layer(lengths);
    testing::expect_same_bits_on_llvm(mine, theirs, lengths);
  }
}

TEST(LstmOp, TextIrRoundTripsWithTheBackwardsBody) {
  Graph g = lstm_training_graph(1, true);
  std::string text = print_graph(g);
  EXPECT_NE(text.find("lstm_backward("), std::string::npos);
  EXPECT_EQ(print_graph(parse_graph(text)), text);
}

TEST(LstmOp, MalformedNodesAreErrorsNamingTheOperand) {
  Graph g("bad");
  auto in = [&](const char* name, Shape s, DType t = DType::f32) { return g.add_input(name, TensorType{t, s}); };
  ValueId x = in("x", {2, 3, 4}), w_ih = in("w_ih", {20, 4}), w_hh = in("w_hh", {20, 5}), b = in("b", {20});
  ValueId h0 = in("h0", {3, 5}), c0 = in("c0", {2, 5}), odd = in("odd", {18, 4});
  ValueId lengths = in("lengths", {2}, DType::f32);
  GraphBuilder builder(g);
  EXPECT_EQ(error_of([&] {
              builder.emit(OpKind::lstm, {x, w_ih, w_hh, b, b, h0, c0});
            }),
            "lstm: h0 must be f32[2, 5], but got f32[3, 5]");
  EXPECT_EQ(error_of([&] {
              builder.emit(OpKind::lstm, {x, odd, w_hh, b, b, c0, c0});
            }),
            "lstm: weight_ih must be [4·hidden, input_size] with a static hidden size, but got f32[18, 4]");
  EXPECT_EQ(error_of([&] {
              builder.emit(OpKind::lstm, {x, w_ih, w_hh, c0, c0});
            }),
            "lstm: with bias=true and has_lengths=false takes 7 operands (x, weight_ih, weight_hh, bias_ih, bias_hh, "
            "h0, c0), but got 5");
  EXPECT_EQ(error_of([&] {
              builder.emit(OpKind::lstm, {x, w_ih, w_hh, b, b, c0, c0, lengths}, Attrs{{"has_lengths", true}});
            }),
            "lstm: lengths must be an integer [batch] vector ([2]), but got f32[2]");
}

}  // namespace
}  // namespace weft::nn
