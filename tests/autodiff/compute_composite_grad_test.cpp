/** \file
 * Gradient checks of matmul, cast and the composite ops against central finite differences in
 * float64, and of each direct composite rule (softmax, log_softmax, layer_norm, attention,
 * cross_entropy) against the gradient autodiff derives from the op's decomposition.
 */
#include <gtest/gtest.h>

#include "ir/ops.h"
#include "passes/autodiff.h"
#include "tests/autodiff/grad_check.h"

namespace weft::grad_check {
namespace {

// ---- matmul and cast ----

TEST(ComputeGradient, MatmulMatchesFiniteDifferencesForEveryTransposeAndBroadcastBatch) {
  struct Case {
    std::vector<int64_t> a, b;
    bool ta, tb;
  } cases[] = {
      {{2, 3}, {3, 4}, false, false},       {{3, 2}, {3, 4}, true, false},       {{2, 3}, {4, 3}, false, true},
      {{3, 2}, {4, 3}, true, true},         {{2, 2, 3}, {3, 4}, false, false},   {{3, 2}, {2, 4, 3}, true, true},
      {{2, 1, 2, 3}, {3, 3, 2}, false, false}, {{1, 3, 2}, {2, 4, 3}, true, true},
      // A weight under a batched input: its gradient folds the batch into the rows.
      {{2, 2, 3}, {4, 3}, false, true},     {{2, 3, 1, 3}, {3, 4}, false, false}, {{2, 3, 2}, {4, 3}, true, true},
  };
  uint64_t seed = 60;
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << testing::PrintToString(c.a) << (c.ta ? "^T" : "") << " @ "
                                    << testing::PrintToString(c.b) << (c.tb ? "^T" : ""));
    BuildFn f = [c](GraphBuilder& b, const std::vector<ValueId>& x) {
      return std::vector<ValueId>{
          b.emit1(OpKind::matmul, {x[0], x[1]}, Attrs{{"transpose_a", c.ta}, {"transpose_b", c.tb}})};
    };
    expect_gradients_match(f, {{"a", random_f64(c.a, seed)}, {"b", random_f64(c.b, seed + 1)}});
    seed += 2;
  }
}

TEST(ComputeGradient, CastBetweenFloatsPassesTheGradientBack) {
  // f64 -> f32 -> f64: the gradient is the weight, rounded to f32 on the way back.
  BuildFn f = unary_fn([](GraphBuilder& b, ValueId x) { return b.cast(b.cast(x, DType::f32), DType::f64); });
  auto g = analytic_gradients(f, {{"x", random_f64({3}, 70)}}, 7);
  Tensor w = random_f64({3}, 7);
  for (int i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(g[0].at(i), static_cast<double>(static_cast<float>(w.at(i))));
}

// ---- composites ----

BuildFn composite_op(OpKind op, Attrs attrs = {}) {
  return [op, attrs](GraphBuilder& b, const std::vector<ValueId>& x) { return b.emit(op, x, attrs); };
}

/// The same function written as the op's decomposition, which autodiff differentiates op by op.
BuildFn decomposed_op(OpKind op, Attrs attrs = {}) {
  return [op, attrs](GraphBuilder& b, const std::vector<ValueId>& x) {
    return op_def(op).decompose(b, x, normalize_attrs(op_def(op), attrs));
  };
}

/// Finite differences for the op, and its direct rule against its decomposition's gradient.
void check_composite(OpKind op, Attrs attrs, const std::vector<Leaf>& leaves) {
  expect_gradients_match(composite_op(op, attrs), leaves);
  if (op_def(op).gradient)
    expect_all_near(analytic_gradients(composite_op(op, attrs), leaves),
                    analytic_gradients(decomposed_op(op, attrs), leaves), 1e-12, "direct rule vs decomposition");
}

TEST(CompositeGradient, SoftmaxMatchesFiniteDifferencesAndItsDecomposition) {
  check_composite(OpKind::softmax, {}, {{"x", random_f64({2, 3, 4}, 80, -2, 2)}});
  check_composite(OpKind::softmax, Attrs{{"axis", int64_t{1}}}, {{"x", random_f64({2, 3, 4}, 81, -2, 2)}});
}

TEST(CompositeGradient, LogSoftmaxMatchesFiniteDifferencesAndItsDecomposition) {
  check_composite(OpKind::log_softmax, {}, {{"x", random_f64({2, 5}, 82, -2, 2)}});
  check_composite(OpKind::log_softmax, Attrs{{"axis", int64_t{0}}}, {{"x", random_f64({3, 2}, 83, -2, 2)}});
}

TEST(CompositeGradient, LayerNormMatchesFiniteDifferencesAndItsDecomposition) {
  check_composite(OpKind::layer_norm, {}, {{"x", random_f64({3, 4}, 84, -2, 2)}});
  check_composite(OpKind::layer_norm, {},
                  {{"x", random_f64({3, 4}, 85, -2, 2)}, {"gamma", random_f64({4}, 86)}, {"beta", random_f64({4}, 87)}});
  check_composite(OpKind::layer_norm, Attrs{{"axis", int64_t{1}}},
                  {{"x", random_f64({2, 2, 3}, 88, -2, 2)}, {"gamma", random_f64({2, 3}, 89)}});
  check_composite(OpKind::layer_norm, Attrs{{"axis", int64_t{0}}, {"eps", 0.1}},
                  {{"x", random_f64({2, 3}, 90, -2, 2)}, {"gamma", random_f64({2, 3}, 91)}, {"beta", random_f64({2, 3}, 92)}});
}

std::vector<Leaf> qkv(uint64_t seed, std::vector<int64_t> batch = {2}) {
  auto shape = [&](int64_t t, int64_t d) {
    std::vector<int64_t> s = batch;
    s.push_back(t);
    s.push_back(d);
    return s;
  };
  return {{"q", random_f64(shape(3, 4), seed)}, {"k", random_f64(shape(5, 4), seed + 1)},
          {"v", random_f64(shape(5, 2), seed + 2)}};
}

TEST(CompositeGradient, AttentionMatchesFiniteDifferencesAndItsDecomposition) {
  check_composite(OpKind::attention, {}, qkv(100));
  check_composite(OpKind::attention, Attrs{{"scale", 0.3}}, qkv(103, {2, 2}));
  check_composite(OpKind::attention, Attrs{{"causal", true}}, qkv(106));
  check_composite(OpKind::attention, Attrs{{"with_weights", true}}, qkv(109));
}

TEST(CompositeGradient, MaskedAttentionMatchesFiniteDifferencesAndItsDecomposition) {
  std::vector<Leaf> bool_masked = qkv(112);
  bool_masked.push_back({"mask", Tensor::from<bool>({1, 5}, {false, true, false, false, true}), false});
  check_composite(OpKind::attention, {}, bool_masked);
  std::vector<Leaf> additive = qkv(115);
  additive.push_back({"mask", random_f64({3, 5}, 118)});  // an additive mask is differentiable
  check_composite(OpKind::attention, Attrs{{"with_weights", true}}, additive);
}

TEST(CompositeGradient, CrossEntropyMatchesFiniteDifferencesAndItsDecomposition) {
  Tensor targets = i64({4}, {2, 0, -100, 4});  // one ignored
  for (const char* reduction : {"mean", "sum", "none"}) {
    for (double smoothing : {0.0, 0.1}) {
      SCOPED_TRACE(testing::Message() << reduction << " label_smoothing=" << smoothing);
      Attrs attrs{{"reduction", std::string(reduction)}, {"label_smoothing", smoothing}};
      check_composite(OpKind::cross_entropy, attrs, {{"logits", random_f64({4, 5}, 120, -2, 2)}, {"t", targets, false}});
    }
  }
  check_composite(OpKind::cross_entropy, {},
                  {{"logits", random_f64({2, 3, 4}, 121, -2, 2)}, {"t", i64({2, 3}, {0, 1, 2, 3, 3, 0}), false}});
}

/// Nodes the reverse pass adds: the differentiated graph's nodes minus the forward graph's.
size_t backward_nodes(const BuildFn& f, const std::vector<Leaf>& leaves, const std::vector<TensorType>& result_types) {
  Graph g = loss_graph(f, leaves, result_types);
  std::vector<std::string> wrt;
  for (const Leaf& leaf : leaves)
    if (leaf.differentiate) wrt.push_back(leaf.name);
  return differentiate(g, "loss", wrt).nodes().size() - g.nodes().size();
}

TEST(CompositeGradient, DirectRulesEmitFewerNodesThanDifferentiatingTheDecomposition) {
  // At the time of writing: softmax 8 vs 25, log_softmax 8 vs 23, layer_norm 23 vs 31, attention 19
  // vs 29, cross_entropy 19 vs 39 (the direct rules' counts include composite softmax/one_hot nodes).
  struct Case {
    OpKind op;
    Attrs attrs;
    std::vector<Leaf> leaves;
    std::vector<TensorType> results;
  };
  TensorType x34{DType::f64, {3, 4}};
  std::vector<Leaf> attention_leaves = qkv(160);
  Case cases[] = {
      {OpKind::softmax, {}, {{"x", random_f64({3, 4}, 161)}}, {x34}},
      {OpKind::log_softmax, {}, {{"x", random_f64({3, 4}, 162)}}, {x34}},
      {OpKind::layer_norm, {}, {{"x", random_f64({3, 4}, 163)}, {"g", random_f64({4}, 164)}, {"b", random_f64({4}, 165)}}, {x34}},
      {OpKind::attention, {}, attention_leaves, {TensorType{DType::f64, {2, 3, 2}}}},
      {OpKind::cross_entropy, {{"label_smoothing", 0.1}}, {{"x", random_f64({3, 4}, 166)}, {"t", i64({3}, {0, 1, 3}), false}},
       {TensorType{DType::f64, {}}}},
  };
  for (const Case& c : cases) {
    size_t direct = backward_nodes(composite_op(c.op, c.attrs), c.leaves, c.results);
    size_t derived = backward_nodes(decomposed_op(c.op, c.attrs), c.leaves, c.results);
    EXPECT_LT(direct, derived) << op_name(c.op);
  }
}

TEST(CompositeGradient, KlDivMatchesFiniteDifferences) {
  Tensor target = random_f64({3, 4}, 130, 0.1, 1.0);
  target.data<double>()[5] = 0.0;  // a zero target contributes nothing (and is a kink in the target)
  for (const char* reduction : {"batchmean", "sum", "mean", "none"}) {
    SCOPED_TRACE(reduction);
    check_composite(OpKind::kl_div, Attrs{{"reduction", std::string(reduction)}},
                    {{"x", random_f64({3, 4}, 131, -2, 0)}, {"y", target, false}});
  }
  check_composite(OpKind::kl_div, {}, {{"x", random_f64({3, 4}, 134, -2, 0)}, {"y", random_f64({3, 4}, 135, 0.1, 1.0)}});
  check_composite(OpKind::kl_div, Attrs{{"log_target", true}},
                  {{"x", random_f64({3, 4}, 132, -2, 0)}, {"y", random_f64({3, 4}, 133, -2, 0)}});
}

TEST(CompositeGradient, MseLossMatchesFiniteDifferences) {
  for (const char* reduction : {"mean", "sum", "none"}) {
    SCOPED_TRACE(reduction);
    check_composite(OpKind::mse_loss, Attrs{{"reduction", std::string(reduction)}},
                    {{"x", random_f64({3, 4}, 140)}, {"y", random_f64({3, 4}, 141)}});
  }
}

TEST(CompositeGradient, DropoutMatchesFiniteDifferencesWithItsFixedMask) {
  check_composite(OpKind::dropout, Attrs{{"p", 0.4}, {"seed", int64_t{3}}},
                  {{"x", random_f64({4, 5}, 150)}, {"offset", i64({}, {7}), false}});
}

TEST(CompositeGradient, DropoutScalesKeptElementsAndZeroesDropped) {
  // d dropout(x) / dx is 1/(1-p) where kept and 0 where dropped; the mask is the forward's.
  BuildFn f = composite_op(OpKind::dropout, Attrs{{"p", 0.5}, {"seed", int64_t{9}}});
  std::vector<Leaf> leaves{{"x", random_f64({64}, 151, 0.5, 1.0)}, {"offset", i64({}, {0}), false}};
  auto g = analytic_gradients(f, leaves, 7);
  Tensor w = random_f64({64}, 7);
  int kept = 0;
  for (int64_t i = 0; i < 64; ++i) {
    double gi = g[0].at(i);
    EXPECT_TRUE(gi == 0.0 || std::abs(gi - 2.0 * w.at(i)) < 1e-15) << i;
    kept += gi != 0.0;
  }
  EXPECT_GT(kept, 16);
  EXPECT_LT(kept, 48);
}

}  // namespace
}  // namespace weft::grad_check
