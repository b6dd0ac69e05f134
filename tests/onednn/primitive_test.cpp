/** \file
 * The oneDNN provider against the interpreter, primitive by primitive, at odd sizes (1, 3, 7, 31,
 * 65), with transposed and batched operands; each test also checks that oneDNN (not the next
 * provider) ran the call, or, for a call it cannot take, that the next one did and why.
 */
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/onednn/testing.h"

namespace weft::onednn_tests {
namespace {

/// `[a, b]` -> "f32[a, b]"
std::string f32(const std::vector<int64_t>& dims) {
  std::string out = "f32[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

std::vector<int64_t> matrix(int64_t rows, int64_t cols, bool transposed, std::vector<int64_t> batch = {}) {
  batch.push_back(transposed ? cols : rows);
  batch.push_back(transposed ? rows : cols);
  return batch;
}

struct MatmulCase {
  int64_t m, k, n;
  bool ta, tb;
};

class OnednnMatmul : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(OnednnMatmul, MatchesTheInterpreterAndRunsOnOnednn) {
  SKIP_WITHOUT_ONEDNN();
  const MatmulCase c = GetParam();
  Graph g = parse_graph(
      fmt::format("weft 1\ngraph mm(a: {}, b: {}) -> (y: f32[{}, {}]) {{\n"
                  "  %0 = matmul(a, b, transpose_a={}, transpose_b={}) : f32[{}, {}]\n  return %0\n}}\n",
                  f32(matrix(c.m, c.k, c.ta)), f32(matrix(c.k, c.n, c.tb)), c.m, c.n, c.ta, c.tb, c.m, c.n));
  auto exe = expect_same_outputs(g, {{}}, {1e-5, 1e-4});
  EXPECT_EQ(providers(*exe), "onednn:matmul");
}

INSTANTIATE_TEST_SUITE_P(OddSizes, OnednnMatmul,
                         ::testing::Values(MatmulCase{1, 1, 1, false, false}, MatmulCase{3, 7, 5, false, true},
                                           MatmulCase{31, 65, 7, true, false}, MatmulCase{65, 31, 33, true, true},
                                           MatmulCase{1, 65, 31, false, true}, MatmulCase{7, 3, 1, false, false}));

TEST(OnednnPrimitives, BatchedMatmulBroadcastsBatchDimsAndTransposes) {
  SKIP_WITHOUT_ONEDNN();
  // [2, 3, 7, 5] x [3, 31, 5]^T: the second operand's batch broadcasts over the first's leading 2.
  Graph g = parse_graph(
      "weft 1\ngraph bmm(a: f32[2, 3, 7, 5], b: f32[3, 31, 5], c: f32[B<=8, 5, 3], d: f32[B, 7, 5]) -> "
      "(y: f32[2, 3, 7, 31], z: f32[B, 3, 7]) {\n"
      "  %0 = matmul(a, b, transpose_b=true) : f32[2, 3, 7, 31]\n"
      "  %1 = matmul(c, d, transpose_a=true, transpose_b=true) : f32[B, 3, 7]\n"
      "  return %0, %1\n}\n");
  auto exe = expect_same_outputs(g, {{{"B", 1}}, {{"B", 3}}, {{"B", 8}}}, {1e-5, 1e-4});
  EXPECT_EQ(providers(*exe), "onednn:matmul onednn:matmul");
}

TEST(OnednnPrimitives, MatmulEpilogueBecomesBiasAndPostOps) {
  SKIP_WITHOUT_ONEDNN();
  // Linear + bias, GELU, a scale by a constant and a residual add: one primitive.
  Graph g = parse_graph(
      "weft 1\ngraph ffn(x: f32[B<=16, 31], w: f32[65, 31], bias: f32[65], r: f32[B, 65]) -> (y: f32[B, 65]) {\n"
      "  %0 = matmul(x, w, transpose_b=true) : f32[B, 65]\n"
      "  %1 = add(%0, bias) : f32[B, 65]\n"
      "  %2 = gelu(%1) : f32[B, 65]\n"
      "  %3 = constant(value=[0.5], dtype=f32, shape=[]) : f32[]\n"
      "  %4 = mul(%2, %3) : f32[B, 65]\n"
      "  %5 = add(r, %4) : f32[B, 65]\n"
      "  %6 = tanh(%5) : f32[B, 65]\n"
      "  return %6\n}\n");
  auto exe = expect_same_outputs(g, {{{"B", 1}}, {{"B", 7}}, {{"B", 16}}}, {1e-5, 1e-5});
  ASSERT_EQ(exe->stats().nodes.size(), 1u) << exe->stats().report();
  EXPECT_EQ(exe->stats().nodes[0].provider, "onednn") << exe->stats().report();
  EXPECT_EQ(exe->stats().nodes[0].reason, "matmul + bias + gelu_erf + mul(scalar) + add(tensor) + tanh");
}

TEST(OnednnPrimitives, EveryUnaryOpWithAnEltwiseAlgorithm) {
  SKIP_WITHOUT_ONEDNN();
  for (std::string op : {"relu", "tanh", "sigmoid", "gelu", "exp", "log", "sqrt", "abs", "neg", "rsqrt"}) {
    const bool positive = op == "log" || op == "sqrt" || op == "rsqrt";
    Graph g = parse_graph(
        fmt::format("weft 1\ngraph {0}_alone(x: f32[7, 31]) -> (y: f32[7, 31]) {{\n  %0 = {0}(x) : f32[7, 31]\n"
                    "  return %0\n}}\n",
                    op));
    // oneDNN's exp, log and tanh are within about 50 ULP of libm's.
    auto exe = expect_same_outputs(g, {{}}, {1e-5, 1e-5}, positive ? 0.1 : -3, 3);
    EXPECT_EQ(providers(*exe), "onednn:loop") << op;
  }
  Graph square = parse_graph(
      "weft 1\ngraph sq(x: f32[7, 31], w: f32[31, 31]) -> (y: f32[7, 31], z: f32[7, 31]) {\n"
      "  %0 = mul(x, x) : f32[7, 31]\n  %1 = matmul(x, w) : f32[7, 31]\n  %2 = mul(%1, %1) : f32[7, 31]\n"
      "  return %0, %2\n}\n");
  auto squared = expect_same_outputs(square, {{}}, {1e-5, 1e-5});
  EXPECT_EQ(providers(*squared), "onednn:loop onednn:matmul");
  EXPECT_EQ(squared->stats().nodes[1].reason, "matmul + square");
  Graph tanh_gelu = parse_graph(
      "weft 1\ngraph g(x: f32[3, 65]) -> (y: f32[3, 65]) {\n  %0 = gelu(x, approximate=\"tanh\") : f32[3, 65]\n"
      "  return %0\n}\n");
  EXPECT_EQ(providers(*expect_same_outputs(tanh_gelu, {{}}, {1e-5, 1e-5})), "onednn:loop");
}

TEST(OnednnPrimitives, BinaryOpsBroadcastTheirSecondOperandAndSwapCommutativeOnes) {
  SKIP_WITHOUT_ONEDNN();
  for (std::string op : {"add", "sub", "mul", "div", "max", "min"}) {
    Graph g = parse_graph(fmt::format(
        "weft 1\ngraph {0}_b(x: f32[B<=65, 31], row: f32[31], col: f32[B, 1]) -> (y: f32[B, 31], z: f32[B, 31]) "
        "{{\n  %0 = {0}(x, row) : f32[B, 31]\n  %1 = {0}(x, col) : f32[B, 31]\n  return %0, %1\n}}\n",
        op));
    // div: divisors kept away from 0.
    auto exe = expect_same_outputs(g, {{{"B", 1}}, {{"B", 65}}}, {1e-6, 1e-6}, op == "div" ? 0.5 : -2, 2);
    EXPECT_EQ(providers(*exe), "onednn:loop onednn:loop") << op;
  }
  // row + x: the broadcast operand first; add commutes, so oneDNN broadcasts it as its second.
  Graph swapped = parse_graph(
      "weft 1\ngraph swapped(x: f32[7, 3, 31], row: f32[31]) -> (y: f32[7, 3, 31]) {\n"
      "  %0 = add(row, x) : f32[7, 3, 31]\n  %1 = relu(%0) : f32[7, 3, 31]\n  return %1\n}\n");
  auto exe = expect_same_outputs(swapped, {{}}, {1e-6, 1e-6});
  EXPECT_EQ(providers(*exe), "onednn:loop");
  EXPECT_EQ(exe->stats().nodes[0].reason, "binary add + relu");
}

TEST(OnednnPrimitives, Reductions) {
  SKIP_WITHOUT_ONEDNN();
  struct Case {
    const char* op;
    const char* axes;
    bool keepdims;
    const char* out;
  };
  for (Case c : {Case{"reduce_sum", "[1]", false, "f32[3, 5]"}, Case{"reduce_mean", "[0, 2]", true, "f32[1, 7, 1]"},
                 Case{"reduce_max", "[-1]", false, "f32[3, 7]"}, Case{"reduce_min", "[0]", true, "f32[1, 7, 5]"},
                 Case{"reduce_sum", "[0, 1, 2]", false, "f32[]"}}) {
    Graph g = parse_graph(
        fmt::format("weft 1\ngraph r(x: f32[3, 7, 5]) -> (y: {3}) {{\n  %0 = {0}(x, axes={1}, keepdims={2}) : {3}\n"
                    "  return %0\n}}\n",
                    c.op, c.axes, c.keepdims, c.out));
    auto exe = expect_same_outputs(g, {{}}, {1e-5, 1e-5});
    EXPECT_EQ(providers(*exe), "onednn:reduction") << c.op << " " << c.axes;
  }
}

TEST(OnednnPrimitives, SoftmaxLogSoftmaxAndLayerNorm) {
  SKIP_WITHOUT_ONEDNN();
  struct Case {
    const char* op;
    const char* described;
  };
  // One composite per graph: two of them on the same input would share a reduction (CSE) and
  // fuse into one region with two results, which no single primitive computes.
  for (Case c :
       {Case{"softmax(x)", "softmax"}, Case{"softmax(x, axis=1)", "softmax"}, Case{"softmax(x, axis=0)", "softmax"},
        Case{"log_softmax(x, axis=-1)", "logsoftmax"}, Case{"log_softmax(x, axis=1)", "logsoftmax"},
        Case{"layer_norm(x, w, b, eps=0.001)", "layer_normalization"},
        Case{"layer_norm(x, axis=2)", "layer_normalization"}}) {
    Graph g = parse_graph(
        fmt::format("weft 1\ngraph composite(x: f32[B<=31, 3, 65], w: f32[65], b: f32[65]) -> (y: f32[B, 3, 65]) {{\n"
                    "  %0 = {} : f32[B, 3, 65]\n  return %0\n}}\n",
                    c.op));
    auto exe = expect_same_outputs(g, {{{"B", 1}}, {{"B", 31}}}, {1e-5, 1e-5});
    ASSERT_EQ(exe->stats().nodes.size(), 1u) << exe->stats().report();
    EXPECT_EQ(exe->stats().nodes[0].provider, "onednn") << c.op << "\n" << exe->stats().report();
    EXPECT_EQ(exe->stats().nodes[0].reason, c.described) << c.op;
  }
}

TEST(OnednnPrimitives, ALayerNormWithAResidualAddFusedAfterItIsLeftToTheNextProvider) {
  SKIP_WITHOUT_ONEDNN();
  Graph g = parse_graph(
      "weft 1\ngraph ln_add(x: f32[7, 31]) -> (y: f32[7, 31]) {\n  %0 = layer_norm(x) : f32[7, 31]\n"
      "  %1 = add(%0, x) : f32[7, 31]\n  return %1\n}\n");
  auto exe = expect_same_outputs(g, {{}}, {1e-5, 1e-5});
  ASSERT_EQ(exe->stats().nodes.size(), 1u) << exe->stats().report();
  EXPECT_NE(exe->stats().nodes[0].provider, "onednn") << exe->stats().report();
  EXPECT_NE(exe->stats().nodes[0].reason.find("not one reduction, softmax, log_softmax or layer_norm alone"),
            std::string::npos)
      << exe->stats().report();
}

TEST(OnednnPrimitives, LayerNormWithoutScaleAndShift) {
  SKIP_WITHOUT_ONEDNN();
  Graph g = parse_graph(
      "weft 1\ngraph ln(x: f32[7, 31]) -> (y: f32[7, 31]) {\n  %0 = layer_norm(x) : f32[7, 31]\n  return %0\n}\n");
  auto exe = expect_same_outputs(g, {{}}, {1e-5, 1e-5});
  EXPECT_EQ(providers(*exe), "onednn:reduction");
}

TEST(OnednnPrimitives, TransposesAndReshapesAroundThemAreReorders) {
  SKIP_WITHOUT_ONEDNN();
  // Splitting heads, merging them back (the transpose keeps the innermost axis: fused with the
  // reshapes), and a transpose that moves the innermost axis (a call of its own).
  Graph g = parse_graph(
      "weft 1\ngraph heads(x: f32[B<=7, 31, 12], y: f32[B, 3, 31, 4], z: f32[B, 5, 7]) -> (split: f32[B, 3, 31, 4], "
      "merged: f32[B, 31, 12], moved: f32[7, B, 5]) {\n"
      "  %0 = reshape(x, shape=[B, 31, 3, 4]) : f32[B, 31, 3, 4]\n"
      "  %1 = transpose(%0, perm=[0, 2, 1, 3]) : f32[B, 3, 31, 4]\n"
      "  %2 = transpose(y, perm=[0, 2, 1, 3]) : f32[B, 31, 3, 4]\n"
      "  %3 = reshape(%2, shape=[B, 31, 12]) : f32[B, 31, 12]\n"
      "  %4 = transpose(z, perm=[2, 0, 1]) : f32[7, B, 5]\n"
      "  return %1, %3, %4\n}\n");
  auto exe = expect_same_outputs(g, {{{"B", 1}}, {{"B", 7}}}, {0, 0});
  EXPECT_EQ(providers(*exe), "onednn:loop onednn:loop onednn:transpose") << exe->stats().report();
  for (const NodeStats& n : exe->stats().nodes) EXPECT_EQ(n.reason, "reorder");
}

TEST(OnednnPrimitives, ALayerNormWhoseEpsWasMergedWithAnotherLayersIsStillRecognised) {
  SKIP_WITHOUT_ONEDNN();
  // CSE merges the two layers' equal eps constants: the second region reads the first's, which
  // sits at the front of its body.
  Graph g = parse_graph(
      "weft 1\ngraph two_norms(x: f32[5, 31], w: f32[31, 31]) -> (y: f32[5, 31]) {\n"
      "  %0 = layer_norm(x) : f32[5, 31]\n  %1 = matmul(%0, w) : f32[5, 31]\n"
      "  %2 = layer_norm(%1) : f32[5, 31]\n  return %2\n}\n");
  auto exe = expect_same_outputs(g, {{}}, {1e-5, 1e-4});
  EXPECT_EQ(providers(*exe), "onednn:reduction onednn:matmul onednn:reduction") << exe->stats().report();
}

TEST(OnednnPrimitives, ACallOnednnCannotTakeRunsOnTheNextProviderWithTheReason) {
  SKIP_WITHOUT_ONEDNN();
  Graph g = parse_graph(
      "weft 1\ngraph s(x: f32[7, 3], i: f64[3, 3]) -> (y: f32[7, 3], z: f64[3, 3]) {\n"
      "  %0 = sin(x) : f32[7, 3]\n  %1 = matmul(i, i) : f64[3, 3]\n  return %0, %1\n}\n");
  auto exe = compile_onednn(g);
  ASSERT_EQ(exe->stats().nodes.size(), 2u);
  EXPECT_NE(exe->stats().nodes[0].provider, "onednn");
  EXPECT_NE(exe->stats().nodes[0].reason.find("sin has no oneDNN eltwise or binary primitive"), std::string::npos)
      << exe->stats().report();
  EXPECT_NE(exe->stats().nodes[1].reason.find("f64[3, 3] operand (oneDNN runs f32 only here)"), std::string::npos)
      << exe->stats().report();
  EXPECT_NE(exe->stats().report().find(" (oneDNN: sin has no oneDNN eltwise"), std::string::npos)
      << exe->stats().report();
  std::vector<Tensor> inputs = {Tensor::from<float>({7, 3}, std::vector<float>(21, 0.5f)),
                                Tensor::from<double>({3, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1})};
  std::vector<Tensor> out = exe->run(inputs);
  EXPECT_FLOAT_EQ(out[0].data<float>()[20], std::sin(0.5f));
  EXPECT_EQ(out[1].data<double>()[4], 1.0);
}

TEST(OnednnPrimitives, TheNanTrapNamesTheOpInsideAPrimitiveThatMadeTheFirstNaN) {
  SKIP_WITHOUT_ONEDNN();
  // The product and its epilogue are one primitive: the trap re-runs the region on the
  // interpreter to name the op (the sqrt, with its scope and line), not just the region.
  Graph g = parse_graph(
      "weft 1\ngraph trap(x: f32[3, 5], w: f32[5, 4]) -> (y: f32[3, 4]) {\n"
      "  %0 = matmul(x, w) : f32[3, 4]  scope=\"proj\"\n"
      "  %1 = sqrt(%0) : f32[3, 4]  scope=\"proj\" loc=\"model.cpp:12\"\n"
      "  return %1\n}\n",
      "trap.weft");
  auto exe = compile_onednn(g, {.nan_trap = true});
  EXPECT_EQ(exe->stats().nodes[0].reason, "matmul + sqrt");
  std::vector<Tensor> positive = {Tensor::from<float>({3, 5}, std::vector<float>(15, 1.0f)),
                                  Tensor::from<float>({5, 4}, std::vector<float>(20, 0.5f))};
  EXPECT_NO_THROW(exe->run(positive));
  std::vector<Tensor> negative = {positive[0], Tensor::from<float>({5, 4}, std::vector<float>(20, -0.5f))};
  try {
    exe->run(negative);
    ADD_FAILURE() << "no NaN/Inf trap";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("NaN/Inf trap: sqrt produced"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'proj'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.cpp:12"), std::string::npos) << msg;
  }
}

TEST(OnednnPrimitives, AnEmptyBatchRunsWithoutOnednnAndGivesAnEmptyResult) {
  SKIP_WITHOUT_ONEDNN();
  Graph g = parse_graph(
      "weft 1\ngraph e(x: f32[B<=8, 5], w: f32[5, 3]) -> (y: f32[B, 3], s: f32[3]) {\n"
      "  %0 = matmul(x, w) : f32[B, 3]\n  %1 = reduce_sum(%0, axes=[0]) : f32[3]\n  return %0, %1\n}\n");
  auto exe = expect_same_outputs(g, {{{"B", 0}}, {{"B", 2}}}, {1e-5, 1e-5});
  EXPECT_EQ(providers(*exe), "onednn:matmul onednn:reduction");
}

}  // namespace
}  // namespace weft::onednn_tests
