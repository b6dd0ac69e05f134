// The DSL's op functions: each emits its op with the attributes it was given, and the result types
// come from the op table's shape rules (hand-checked shapes below).
#include "frontend/tensor_ops.h"

#include <gtest/gtest.h>

#include <string>

#include "frontend/builder.h"

namespace weft::dsl {
namespace {

const Node& last_node(const Builder& b) { return b.graph().nodes().back(); }

TEST(TensorOps, ReductionsTakeAxesAndKeepdims) {
  Builder b("g");
  Tensor x = b.input("x", "f32[B, T, 8]");
  EXPECT_EQ(sum(x, {1}).type().str(), "f32[B, 8]");
  EXPECT_EQ(last_node(b).attrs.get_ints("axes"), std::vector<int64_t>{1});
  EXPECT_EQ(mean(x, {-1}, true).type().str(), "f32[B, T, 1]");
  EXPECT_TRUE(last_node(b).attrs.get_bool("keepdims"));
  EXPECT_EQ(max(x).type().str(), "f32[]");
  EXPECT_EQ(min(x, {0, 2}).type().str(), "f32[T]");
  EXPECT_EQ(argmax(x, -1).type().str(), "i64[B, T]");
  EXPECT_EQ(op_name(last_node(b).op), "argmax");
}

TEST(TensorOps, MovementOpsKeepSymbolicDims) {
  Builder b("g");
  Tensor x = b.input("x", "f32[B, T, 512]");
  Dim B = Dim::symbol("B"), T = Dim::symbol("T");
  EXPECT_EQ(reshape(x, {B * T, 512}).type().str(), "f32[B*T, 512]");
  EXPECT_EQ(transpose(x, {1, 0, 2}).type().str(), "f32[T, B, 512]");
  EXPECT_EQ(slice(x, 2, 0, 64).type().str(), "f32[B, T, 64]");
  EXPECT_EQ(last_node(b).attrs.get_int("end"), 64);
  EXPECT_EQ(concat({x, x}, -1).type().str(), "f32[B, T, 1024]");
  Tensor bias = b.input("bias", DType::f32, {512});
  EXPECT_EQ(broadcast_to(bias, {B, 512}).type().str(), "f32[B, 512]");
  Tensor table = b.param("table", DType::f32, {100, 16});
  Tensor ids = b.input("ids", "i64[B, T]");
  EXPECT_EQ(gather(table, ids).type().str(), "f32[B, T, 16]");
  EXPECT_EQ(embedding(table, ids).type().str(), "f32[B, T, 16]");
  Tensor rows = b.input("rows", "f32[B, T, 16]");
  EXPECT_EQ(scatter_add(rows, ids, {100, 16}).type().str(), "f32[100, 16]");
}

TEST(TensorOps, MatMulTransposeOptionsReadBothWays) {
  Builder b("g");
  Tensor x = b.input("x", "f32[B, 784]");
  Tensor w = b.param("w", DType::f32, {256, 784});
  EXPECT_EQ(matmul(x, w, {.transpose_b = true}).type().str(), "f32[B, 256]");
  EXPECT_EQ(matmul(w, x, false, true).type().str(), "f32[256, B]");
  EXPECT_FALSE(last_node(b).attrs.get_bool("transpose_a"));
  EXPECT_TRUE(last_node(b).attrs.get_bool("transpose_b"));
}

TEST(TensorOps, SourcesAndCasts) {
  Builder b("g");
  Tensor c = b.constant({1, 2, 3, 4, 5, 6}, DType::f32, {2, 3});
  EXPECT_EQ(c.type().str(), "f32[2, 3]");
  EXPECT_EQ(cast(c, DType::i32).type().str(), "i32[2, 3]");
  EXPECT_EQ(iota(b, {4, 5}, 1).type().str(), "i64[4, 5]");
  Tensor step = b.input("step", DType::i64, {});
  EXPECT_EQ(rng_uniform(step, {3}, DType::f32, 7).type().str(), "f32[3]");
  EXPECT_EQ(last_node(b).attrs.get_int("seed"), 7);
}

TEST(TensorOps, CompositesTakeTheirOptions) {
  Builder b("g");
  Tensor x = b.input("x", "f32[B, T, 64]");
  EXPECT_EQ(softmax(x).type().str(), "f32[B, T, 64]");
  EXPECT_EQ(last_node(b).attrs.get_int("axis"), -1);
  EXPECT_EQ(log_softmax(x, 1).type().str(), "f32[B, T, 64]");
  Tensor gamma = b.param("gamma", DType::f32, {64}, Initializer{"ones", {}, 0});
  Tensor beta = b.param("beta", DType::f32, {64});
  EXPECT_EQ(layer_norm(x, gamma, beta, {.eps = 1e-6}).type().str(), "f32[B, T, 64]");
  EXPECT_EQ(last_node(b).operands.size(), 3u);
  EXPECT_DOUBLE_EQ(last_node(b).attrs.get_real("eps"), 1e-6);
  EXPECT_EQ(layer_norm(x).type().str(), "f32[B, T, 64]");
  EXPECT_EQ(attention(x, x, x, {}, {.causal = true}).type().str(), "f32[B, T, 64]");
  EXPECT_TRUE(last_node(b).attrs.get_bool("causal"));
  auto [out, weights] = attention_with_weights(x, x, x);
  EXPECT_EQ(weights.type().str(), "f32[B, T, T]");
  EXPECT_EQ(gelu(x, "tanh").type().str(), "f32[B, T, 64]");
  EXPECT_EQ(last_node(b).attrs.get_string("approximate"), "tanh");
}

TEST(TensorOps, LossesAndLookups) {
  Builder b("g");
  Tensor logits = b.input("logits", "f32[N, 10]");
  Tensor targets = b.input("targets", "i64[N]");
  EXPECT_EQ(cross_entropy(logits, targets, {.label_smoothing = 0.1}).type().str(), "f32[]");
  EXPECT_DOUBLE_EQ(last_node(b).attrs.get_real("label_smoothing"), 0.1);
  EXPECT_EQ(one_hot(targets, 10).type().str(), "f32[N, 10]");
  EXPECT_EQ(mse_loss(logits, logits).type().str(), "f32[]");
  EXPECT_EQ(kl_div(logits, logits).type().str(), "f32[]");
  Tensor step = b.input("step", DType::i64, {});
  EXPECT_EQ(dropout(logits, step, {.p = 0.5, .seed = 3}).type().str(), "f32[N, 10]");
}

TEST(TensorOps, ScanRunsABodyBuiltWithAnotherBuilder) {
  // h_t = tanh(x_t + h_{t-1}) over T steps.
  Builder body("cell");
  Tensor h = body.input("h", DType::f32, {Dim::symbol("B"), 8});
  Tensor xt = body.input("x_t", DType::f32, {Dim::symbol("B"), 8});
  Tensor next = tanh(xt + h);
  body.output("h", next);
  body.output("y", next);

  Builder b("rnn");
  Tensor x = b.input("x", "f32[B, T, 8]");
  Tensor h0 = b.input("h0", "f32[B, 8]");
  std::vector<Tensor> r = scan(body.finish(), {.carries = {h0}, .sequences = {x}});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].type().str(), "f32[B, 8]");
  EXPECT_EQ(r[1].type().str(), "f32[B, T, 8]");
  EXPECT_NE(last_node(b).body, nullptr);
}

TEST(TensorOps, ErrorsFromNamedFunctionsCarryTheCallersLine) {
  Builder b("g");
  Tensor x = b.input("x", "f32[B, 8]");
  int line = 0;
  std::string msg;
  try {
    // The call stays on the line __LINE__ records.
    // clang-format off
    line = __LINE__; (void)reshape(x, {3, 5});
    // clang-format on
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("reshape:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tensor_ops_test.cpp:" + std::to_string(line) + ")"), std::string::npos) << msg;
}

}  // namespace
}  // namespace weft::dsl
