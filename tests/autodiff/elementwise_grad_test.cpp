/** \file
 * Gradient checks of the elementwise ops against central finite differences in float64, with
 * broadcasting in every binary op, plus the conventions at kinks checked by hand (ties of max and
 * min split evenly, abs and relu have derivative 0 at 0) and the ops that carry no gradient.
 */
#include <gtest/gtest.h>

#include <cmath>

#include "tests/autodiff/grad_check.h"

namespace weft::grad_check {
namespace {

BuildFn unary_op(OpKind op, Attrs attrs = {}) {
  return unary_fn([op, attrs](GraphBuilder& b, ValueId x) { return b.emit1(op, {x}, attrs); });
}

BuildFn binary_op(OpKind op) {
  return [op](GraphBuilder& b, const std::vector<ValueId>& x) { return std::vector<ValueId>{b.binary(op, x[0], x[1])}; };
}

TEST(ElementwiseGradient, NegMatchesFiniteDifferences) {
  expect_gradients_match(unary_op(OpKind::neg), {{"x", random_f64({2, 3}, 1)}});
}
TEST(ElementwiseGradient, AbsMatchesFiniteDifferences) {
  expect_gradients_match(unary_op(OpKind::abs), {{"x", away_from_zero({2, 3}, 2)}});
}
TEST(ElementwiseGradient, ExpMatchesFiniteDifferences) {
  expect_gradients_match(unary_op(OpKind::exp), {{"x", random_f64({2, 3}, 3)}});
}
TEST(ElementwiseGradient, LogMatchesFiniteDifferences) {
  expect_gradients_match(unary_op(OpKind::log), {{"x", random_f64({2, 3}, 4, 0.5, 2.0)}});
}
TEST(ElementwiseGradient, SqrtMatchesFiniteDifferences) {
  expect_gradients_match(unary_op(OpKind::sqrt), {{"x", random_f64({2, 3}, 5, 0.5, 2.0)}});
}
TEST(ElementwiseGradient, RsqrtMatchesFiniteDifferences) {
  expect_gradients_match(unary_op(OpKind::rsqrt), {{"x", random_f64({2, 3}, 6, 0.5, 2.0)}});
}
TEST(ElementwiseGradient, TanhMatchesFiniteDifferences) {
  expect_gradients_match(unary_op(OpKind::tanh), {{"x", random_f64({2, 3}, 7, -2, 2)}});
}
TEST(ElementwiseGradient, SigmoidMatchesFiniteDifferences) {
  expect_gradients_match(unary_op(OpKind::sigmoid), {{"x", random_f64({2, 3}, 8, -3, 3)}});
}
TEST(ElementwiseGradient, ReluMatchesFiniteDifferences) {
  expect_gradients_match(unary_op(OpKind::relu), {{"x", away_from_zero({3, 4}, 9)}});
}
TEST(ElementwiseGradient, ExactGeluMatchesFiniteDifferences) {
  expect_gradients_match(unary_op(OpKind::gelu), {{"x", random_f64({3, 4}, 10, -4, 4)}});
}
TEST(ElementwiseGradient, TanhGeluMatchesFiniteDifferences) {
  expect_gradients_match(unary_op(OpKind::gelu, Attrs{{"approximate", std::string("tanh")}}),
                         {{"x", random_f64({3, 4}, 11, -4, 4)}});
}
TEST(ElementwiseGradient, ExactGeluAtZeroIsOneHalf) {
  // d/dx x Phi(x) at 0 = Phi(0) = 1/2, where the rule cannot divide by x.
  Tensor x = f64({1}, {0.0});
  auto g = analytic_gradients(unary_op(OpKind::gelu), {{"x", x}}, 7);
  Tensor w = random_f64({1}, 7);  // the weight the check multiplies the result by
  EXPECT_DOUBLE_EQ(g[0].at(0), 0.5 * w.at(0));
}
TEST(ElementwiseGradient, SinMatchesFiniteDifferences) {
  expect_gradients_match(unary_op(OpKind::sin), {{"x", random_f64({2, 3}, 12, -3, 3)}});
}
TEST(ElementwiseGradient, CosMatchesFiniteDifferences) {
  expect_gradients_match(unary_op(OpKind::cos), {{"x", random_f64({2, 3}, 13, -3, 3)}});
}

// ---- binary ops, each with broadcasting on both sides ----

struct BroadcastCase {
  std::vector<int64_t> a, b;
};
const BroadcastCase kBroadcasts[] = {{{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{2, 1}, {1, 3}}, {{}, {2, 3}}, {{4, 1, 3}, {2, 1}}};

void check_binary(OpKind op, double lo, double hi, bool away = false) {
  uint64_t seed = 100;
  for (const BroadcastCase& c : kBroadcasts) {
    SCOPED_TRACE(testing::PrintToString(c.a) + " with " + testing::PrintToString(c.b));
    Tensor a = away ? away_from_zero(c.a, seed, lo, hi) : random_f64(c.a, seed, lo, hi);
    Tensor b = away ? away_from_zero(c.b, seed + 1, lo, hi) : random_f64(c.b, seed + 1, lo, hi);
    expect_gradients_match(binary_op(op), {{"a", a}, {"b", b}});
    seed += 2;
  }
}

TEST(ElementwiseGradient, AddMatchesFiniteDifferencesWithBroadcasting) { check_binary(OpKind::add, -1, 1); }
TEST(ElementwiseGradient, SubMatchesFiniteDifferencesWithBroadcasting) { check_binary(OpKind::sub, -1, 1); }
TEST(ElementwiseGradient, MulMatchesFiniteDifferencesWithBroadcasting) { check_binary(OpKind::mul, -1, 1); }
TEST(ElementwiseGradient, DivMatchesFiniteDifferencesWithBroadcasting) { check_binary(OpKind::div, 0.5, 2, true); }
TEST(ElementwiseGradient, PowMatchesFiniteDifferencesInBothOperands) { check_binary(OpKind::pow, 0.5, 2); }
TEST(ElementwiseGradient, MaxMatchesFiniteDifferencesWithBroadcasting) { check_binary(OpKind::maximum, -1, 1); }
TEST(ElementwiseGradient, MinMatchesFiniteDifferencesWithBroadcasting) { check_binary(OpKind::minimum, -1, 1); }

TEST(ElementwiseGradient, MaxAndMinSplitTiesEvenly) {
  // max([1, 2], [1, 3]) = [1, 3]: the tie at 0 gives each operand half, element 1 goes to b.
  for (OpKind op : {OpKind::maximum, OpKind::minimum}) {
    BuildFn f = [op](GraphBuilder& b, const std::vector<ValueId>& x) {
      return std::vector<ValueId>{b.reduce(OpKind::reduce_sum, b.binary(op, x[0], x[1]), {}, true)};
    };
    auto g = analytic_gradients(f, {{"a", f64({2}, {1, 2})}, {"b", f64({2}, {1, 3})}}, 7);
    double w = random_f64({1}, 7).at(0);
    bool is_max = op == OpKind::maximum;
    EXPECT_DOUBLE_EQ(g[0].at(0), 0.5 * w);
    EXPECT_DOUBLE_EQ(g[1].at(0), 0.5 * w);
    EXPECT_DOUBLE_EQ(g[0].at(1), is_max ? 0.0 : w);
    EXPECT_DOUBLE_EQ(g[1].at(1), is_max ? w : 0.0);
  }
}

TEST(ElementwiseGradient, AbsAndReluHaveZeroDerivativeAtZero) {
  for (OpKind op : {OpKind::abs, OpKind::relu}) {
    auto g = analytic_gradients(unary_op(op), {{"x", f64({3}, {-2, 0, 2})}}, 7);
    Tensor w = random_f64({3}, 7);
    EXPECT_DOUBLE_EQ(g[0].at(0), op == OpKind::abs ? -w.at(0) : 0.0);
    EXPECT_DOUBLE_EQ(g[0].at(1), 0.0);
    EXPECT_DOUBLE_EQ(g[0].at(2), w.at(2));
  }
}

TEST(ElementwiseGradient, PowAtZeroBaseFollowsPyTorch) {
  // d/da 0^2 = 0, d/db 0^2 = 0 (not 0 * log 0 = NaN), and d/da a^0 = 0.
  BuildFn f = binary_op(OpKind::pow);
  auto g = analytic_gradients(f, {{"a", f64({2}, {0, 3})}, {"b", f64({2}, {2, 0})}}, 7);
  Tensor w = random_f64({2}, 7);
  EXPECT_DOUBLE_EQ(g[0].at(0), 0.0);
  EXPECT_DOUBLE_EQ(g[1].at(0), 0.0);
  EXPECT_DOUBLE_EQ(g[0].at(1), 0.0);
  EXPECT_NEAR(g[1].at(1), w.at(1) * std::log(3.0), 1e-15);  // d/db 3^b at 0 = log 3
}

TEST(ElementwiseGradient, SelectSendsGradientsToBothBranches) {
  Tensor cond = Tensor::from<bool>({2, 3}, {true, false, true, false, false, true});
  BuildFn f = [](GraphBuilder& b, const std::vector<ValueId>& x) {
    return std::vector<ValueId>{b.emit1(OpKind::select, {x[0], x[1], x[2]})};
  };
  expect_gradients_match(f, {{"c", cond, false}, {"a", random_f64({2, 3}, 20)}, {"b", random_f64({3}, 21)}});
  // By hand: a gets w where cond holds, b (broadcast over rows) the sum of w where it does not.
  auto g = analytic_gradients(f, {{"c", cond, false}, {"a", random_f64({2, 3}, 20)}, {"b", random_f64({3}, 21)}}, 7);
  Tensor w = random_f64({2, 3}, 7);
  EXPECT_DOUBLE_EQ(g[0].at(0), w.at(0));
  EXPECT_DOUBLE_EQ(g[0].at(1), 0.0);
  EXPECT_DOUBLE_EQ(g[1].at(0), w.at(3));
  EXPECT_DOUBLE_EQ(g[1].at(1), w.at(1) + w.at(4));
}

TEST(ElementwiseGradient, ComparisonsCarryNoGradient) {
  // y = x * cast(x > 0): the mask is a constant as far as the gradient goes, so dy/dx = mask.
  BuildFn f = unary_fn([](GraphBuilder& b, ValueId x) {
    ValueId positive = b.binary(OpKind::gt, x, b.constant(0.0, DType::f64));
    return b.binary(OpKind::mul, x, b.cast(positive, DType::f64));
  });
  auto g = analytic_gradients(f, {{"x", f64({2}, {-1, 2})}}, 7);
  Tensor w = random_f64({2}, 7);
  EXPECT_DOUBLE_EQ(g[0].at(0), 0.0);
  EXPECT_DOUBLE_EQ(g[0].at(1), w.at(1));
}

}  // namespace
}  // namespace weft::grad_check
