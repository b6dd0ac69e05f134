// hoist_scan_invariants: the same values and gradients with the invariant work moved out of the loop,
// and none of it left in the bodies of a train step built from the naive form.
#include "passes/hoist_scan_invariants.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "backends/backend.h"
#include "frontend/nn/nn.h"
#include "frontend/train_step.h"
#include "ir/text.h"
#include "passes/autodiff.h"
#include "test_graphs.h"

namespace weft::pass_tests {
namespace {

// Bahdanau-style attention as drawn: the body projects the keys at every step; a scalar loss.
constexpr const char* kNaive = R"(weft 1
graph attend(h0: f32[B<=8, 4], xs: f32[B, T<=16, 4], keys: f32[B, S<=10, 4]) -> (loss: f32[], ys: f32[B, T, 4]) {
  param wa: f32[4, 4] init=normal(mean=0.0, std=0.5, seed=1)
  param ua: f32[4, 4] init=normal(mean=0.0, std=0.5, seed=2)
  %0, %1 = scan(h0, xs, keys, wa, ua, num_carry=1, num_seq=1) : f32[B, 4], f32[B, T, 4]
    graph step(h: f32[B, 4], x: f32[B, 4], k: f32[B, S, 4], w: f32[4, 4], u: f32[4, 4]) -> (h_next: f32[B, 4], y: f32[B, 4]) {
      %0 = matmul(k, u) : f32[B, S, 4]
      %1 = matmul(h, w) : f32[B, 4]
      %2 = reshape(%1, shape=[B, 1, 4]) : f32[B, 1, 4]
      %3 = add(%0, %2) : f32[B, S, 4]
      %4 = tanh(%3) : f32[B, S, 4]
      %5 = reduce_mean(%4, axes=[1]) : f32[B, 4]
      %6 = add(%5, x) : f32[B, 4]
      return %6, %6
    }
  %2 = mul(%1, %1) : f32[B, T, 4]
  %3 = reduce_sum(%2) : f32[]
  return %3, %1
}
)";

std::map<std::string, Tensor> run(const Graph& g) {
  auto exe = make_backend("interp")->compile(g);
  return exe->run_named(
      {{"h0", random_tensor({2, 4}, 1)}, {"xs", random_tensor({2, 5, 4}, 2)}, {"keys", random_tensor({2, 3, 4}, 3)}});
}

void expect_same(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, value] : a) {
    std::vector<float> x = value.to_vector<float>(), y = b.at(name).to_vector<float>();
    ASSERT_EQ(x.size(), y.size()) << name;
    for (size_t i = 0; i < x.size(); ++i)
      EXPECT_NEAR(x[i], y[i], 1e-5 * (1 + std::abs(y[i]))) << name << "[" << i << "]";
  }
}

/// Matmuls in scan bodies whose operands are all const inputs of the body.
int invariant_matmuls(const Graph& g) {
  int count = 0;
  for (const Node& node : g.nodes()) {
    if (node.op != OpKind::scan || !node.body) continue;
    const Graph& body = *node.body;
    size_t first_const = static_cast<size_t>(node.attrs.get_int("num_carry") + node.attrs.get_int("num_seq"));
    std::set<ValueId> consts;
    for (size_t i = first_const; i < body.inputs().size(); ++i) consts.insert(body.inputs()[i].value);
    for (const Node& n : body.nodes())
      if (n.op == OpKind::matmul && consts.count(n.operands[0]) && consts.count(n.operands[1])) ++count;
    count += invariant_matmuls(body);
  }
  return count;
}

TEST(HoistScanInvariants, SameOutputs) {
  Graph naive = parse_graph(kNaive);
  Graph hoisted = hoist_scan_invariants(naive);
  EXPECT_EQ(invariant_matmuls(naive), 1);
  EXPECT_EQ(invariant_matmuls(hoisted), 0);
  expect_same(run(naive), run(hoisted));
}

TEST(HoistScanInvariants, SameGradients) {
  Graph naive = parse_graph(kNaive);
  expect_same(run(differentiate(naive, "loss")), run(differentiate(hoist_scan_invariants(naive), "loss")));
}

TEST(HoistScanInvariants, TrainStepOfTheNaiveFormProjectsTheKeysOnce) {
  Graph step = train::make_train_step(parse_graph(kNaive), {.optimizer = train::SgdOptions{}});
  EXPECT_EQ(invariant_matmuls(step), 0);
  int matmuls_outside = 0;
  for (const Node& node : step.nodes()) matmuls_outside += node.op == OpKind::matmul;
  EXPECT_GE(matmuls_outside, 1);  // keys · ua, once
}

TEST(HoistScanInvariants, BahdanauDecoderWrittenAsTheStepTrainsWithTheKeysProjectedOnce) {
  Builder b("bahdanau");
  auto src = b.input("src", "i64[B<=4, S<=6]");
  auto tgt_in = b.input("tgt_in", "i64[B, T<=6]");
  auto tgt_out = b.input("tgt_out", "i64[B, T]");
  nn::Seq2SeqAttention model(b, "model",
                             {.src_vocab = 7,
                              .tgt_vocab = 7,
                              .embed_dim = 4,
                              .hidden_size = 5,
                              .attention = nn::AttentionKind::additive,
                              .style = nn::AttentionStyle::bahdanau});
  b.output("loss", dsl::cross_entropy(model(src, tgt_in).logits, tgt_out));
  Graph forward = b.finish();
  EXPECT_EQ(invariant_matmuls(forward), 1);  // key_proj(keys), inside the step as written
  EXPECT_EQ(invariant_matmuls(train::make_train_step(forward)), 0);
}

TEST(HoistScanInvariants, LeavesAScanWithoutInvariantWorkAlone) {
  Graph g = parse_graph(R"(weft 1
graph rnn(h0: f32[B<=4, 4], xs: f32[B, T<=8, 4]) -> (h: f32[B, 4], hs: f32[B, T, 4]) {
  param w: f32[4, 4] init=ones
  %0, %1 = scan(h0, xs, w, num_carry=1, num_seq=1) : f32[B, 4], f32[B, T, 4]
    graph step(h: f32[B, 4], x: f32[B, 4], w: f32[4, 4]) -> (h_next: f32[B, 4], y: f32[B, 4]) {
      %0 = transpose(w, perm=[1, 0]) : f32[4, 4]
      %1 = matmul(h, %0) : f32[B, 4]
      %2 = add(%1, x) : f32[B, 4]
      return %2, %2
    }
  return %0, %1
}
)");
  EXPECT_EQ(print_graph(hoist_scan_invariants(g)), print_graph(g));
}

}  // namespace
}  // namespace weft::pass_tests
