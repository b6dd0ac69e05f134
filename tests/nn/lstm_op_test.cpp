// The lstm and lstm_backward composites (ir/ops/composite_lstm.cpp): what nn::LSTM writes, what a
// training graph decomposes into, the text IR, and the errors of a malformed node.
#include <gtest/gtest.h>

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
