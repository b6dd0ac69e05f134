// outer_products: a matmul whose inner dimension is 1 becomes a broadcast mul, with the same values
// bit for bit; products with another inner dimension (a symbolic one included) are left alone.
#include "passes/outer_products.h"

#include <gtest/gtest.h>

#include <random>

#include "backends/backend.h"
#include "ir/text.h"
#include "passes/autodiff.h"
#include "passes/verify.h"
#include "test_graphs.h"

namespace weft::pass_tests {
namespace {

std::map<std::string, Tensor> run(const Graph& g, const std::map<std::string, Tensor>& inputs) {
  return make_backend("interp")->compile(g)->run_named(inputs);
}

void expect_identical(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, value] : a) {
    ASSERT_EQ(value.shape(), b.at(name).shape()) << name;
    std::vector<float> x = value.to_vector<float>(), y = b.at(name).to_vector<float>();
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], y[i]) << name << "[" << i << "]";
  }
}

/// The matmuls of `g` and of its bodies, and the muls.
int count(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node& node : g.nodes()) {
    if (node.op == op) ++n;
    if (node.body) n += count(*node.body, op);
  }
  return n;
}

TEST(OuterProducts, EveryTransposeAndBatchBroadcastGivesTheSameValues) {
  Graph g = parse_graph(R"(weft 1
graph outer(c: f32[B<=8, 5, 1], r: f32[1, 7], ct: f32[B, 1, 5], rt: f32[B, 7, 1], q: f32[4, 1]) -> (nn: f32[B, 5, 7], tn: f32[B, 5, 7], nt: f32[B, 5, 7], tt: f32[B, 5, 7], one: f32[4, 4]) {
  %0 = matmul(c, r) : f32[B, 5, 7]
  %1 = matmul(ct, r, transpose_a=true) : f32[B, 5, 7]
  %2 = matmul(c, rt, transpose_b=true) : f32[B, 5, 7]
  %3 = matmul(ct, rt, transpose_a=true, transpose_b=true) : f32[B, 5, 7]
  %4 = matmul(q, q, transpose_b=true) : f32[4, 4]
  return %0, %1, %2, %3, %4
}
)");
  Graph out = outer_products(g);
  verify(out);
  EXPECT_EQ(count(g, OpKind::matmul), 5);
  EXPECT_EQ(count(out, OpKind::matmul), 0);
  EXPECT_EQ(count(out, OpKind::mul), 5);
  for (int64_t batch : {1, 3}) {
    std::map<std::string, Tensor> in = {{"c", random_tensor({batch, 5, 1}, 1)},
                                        {"r", random_tensor({1, 7}, 2)},
                                        {"ct", random_tensor({batch, 1, 5}, 3)},
                                        {"rt", random_tensor({batch, 7, 1}, 4)},
                                        {"q", random_tensor({4, 1}, 5)}};
    expect_identical(run(g, in), run(out, in));
  }
}

TEST(OuterProducts, LeavesOtherInnerDimensionsAlone) {
  // K = 2, and a symbolic K that may be 1 at run time but is not 1 whatever the symbols are.
  const std::string text = R"(weft 1
graph inner(a: f32[3, 2], b: f32[2, 4], x: f32[3, K<=4], y: f32[K, 4]) -> (ab: f32[3, 4], xy: f32[3, 4]) {
  %0 = matmul(a, b) : f32[3, 4]
  %1 = matmul(x, y) : f32[3, 4]
  return %0, %1
}
)";
  Graph g = parse_graph(text);
  EXPECT_EQ(print_graph(outer_products(g)), print_graph(g));
}

TEST(OuterProducts, RewritesScanBodies) {
  Graph g = parse_graph(R"(weft 1
graph steps(h0: f32[3, 4], xs: f32[3, T<=8, 1]) -> (h: f32[3, 4]) {
  param w: f32[1, 4] init=normal(mean=0.0, std=0.5, seed=1)
  %0 = scan(h0, xs, w, num_carry=1, num_seq=1) : f32[3, 4]
    graph step(h: f32[3, 4], x: f32[3, 1], w: f32[1, 4]) -> (h_next: f32[3, 4]) {
      %0 = matmul(x, w) : f32[3, 4]
      %1 = add(h, %0) : f32[3, 4]
      %2 = tanh(%1) : f32[3, 4]
      return %2
    }
  return %0
}
)");
  Graph out = outer_products(g);
  verify(out);
  EXPECT_EQ(count(out, OpKind::matmul), 0);
  std::map<std::string, Tensor> in = {{"h0", random_tensor({3, 4}, 1)}, {"xs", random_tensor({3, 5, 1}, 2)}};
  expect_identical(run(g, in), run(out, in));
}

TEST(OuterProducts, TheAdditiveScoresGradientLosesItsOuterProduct) {
  // tanh(x)·vᵀ with v a [1, A] weight (a Linear to one unit): the input gradient is dscore·v, K = 1.
  Graph g = parse_graph(R"(weft 1
graph score(x: f32[B<=8, 6]) -> (loss: f32[]) {
  param v: f32[1, 6] init=normal(mean=0.0, std=0.5, seed=1)
  %0 = tanh(x) : f32[B, 6]
  %1 = matmul(%0, v, transpose_b=true) : f32[B, 1]
  %2 = mul(%1, %1) : f32[B, 1]
  %3 = reduce_sum(%2) : f32[]
  return %3
}
)");
  Graph grads = differentiate(g, "loss", {"x", "v"});
  ASSERT_EQ(count(grads, OpKind::matmul), 3);
  Graph out = outer_products(grads);
  verify(out);
  // The forward product (K = 6) and v's gradient (K = B) stay; x's gradient dscore[B, 1]·v[1, 6] goes.
  EXPECT_EQ(count(out, OpKind::matmul), 2);
  std::map<std::string, Tensor> in = {{"x", random_tensor({5, 6}, 3)}};
  expect_identical(run(grads, in), run(out, in));
}

}  // namespace
}  // namespace weft::pass_tests
