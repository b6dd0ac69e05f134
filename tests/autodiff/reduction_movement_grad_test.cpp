/** \file
 * Gradient checks of the reductions and data-movement ops against central finite differences in
 * float64, including symbolic dims, plus amax/amin's even split among ties checked by hand.
 */
#include <gtest/gtest.h>

#include <limits>

#include "tests/autodiff/grad_check.h"

namespace weft::grad_check {
namespace {

BuildFn reduce_op(OpKind op, std::vector<int64_t> axes, bool keepdims) {
  return unary_fn([=](GraphBuilder& b, ValueId x) { return b.reduce(op, x, axes, keepdims); });
}

struct ReduceCase {
  std::vector<int64_t> axes;
  bool keepdims;
};
const ReduceCase kReduces[] = {{{}, false}, {{1}, false}, {{0, 2}, true}, {{-1}, true}, {{0, 1, 2}, false}};

void check_reduction(OpKind op) {
  for (const ReduceCase& c : kReduces) {
    SCOPED_TRACE(testing::PrintToString(c.axes) + (c.keepdims ? " keepdims" : ""));
    expect_gradients_match(reduce_op(op, c.axes, c.keepdims), {{"x", random_f64({2, 3, 4}, 30)}});
  }
}

TEST(ReductionGradient, SumMatchesFiniteDifferences) { check_reduction(OpKind::reduce_sum); }
TEST(ReductionGradient, MeanMatchesFiniteDifferences) { check_reduction(OpKind::reduce_mean); }
TEST(ReductionGradient, MaxMatchesFiniteDifferences) { check_reduction(OpKind::reduce_max); }
TEST(ReductionGradient, MinMatchesFiniteDifferences) { check_reduction(OpKind::reduce_min); }

TEST(ReductionGradient, MeanOverASymbolicDimCountsItAtRunTime) {
  Leaf x{"x", random_f64({3, 4}, 31), true, false, Shape{Dim::symbol("B"), Dim(4)}};
  expect_gradients_match(reduce_op(OpKind::reduce_mean, {0}, false), {x});
  expect_gradients_match(reduce_op(OpKind::reduce_mean, {}, false), {x});
}

TEST(ReductionGradient, MaxSplitsTheGradientEvenlyAmongTies) {
  // amax([1, 3, 3, 2]) = 3, attained twice: each gets half (PyTorch's amax).
  auto g = analytic_gradients(reduce_op(OpKind::reduce_max, {}, true), {{"x", f64({4}, {1, 3, 3, 2})}}, 7);
  double w = random_f64({1}, 7).at(0);
  EXPECT_DOUBLE_EQ(g[0].at(0), 0.0);
  EXPECT_DOUBLE_EQ(g[0].at(1), 0.5 * w);
  EXPECT_DOUBLE_EQ(g[0].at(2), 0.5 * w);
  EXPECT_DOUBLE_EQ(g[0].at(3), 0.0);
}

TEST(ReductionGradient, ArgmaxCarriesNoGradient) {
  // y = x * cast(argmax(x)): the index is a constant to the gradient, so dy/dx = argmax = 1.
  BuildFn f = unary_fn([](GraphBuilder& b, ValueId x) {
    ValueId i = b.emit1(OpKind::argmax, {x}, Attrs{{"axis", int64_t{0}}, {"keepdims", true}});
    return b.binary(OpKind::mul, x, b.cast(i, DType::f64));
  });
  auto g = analytic_gradients(f, {{"x", f64({3}, {0.5, 2.0, 1.0})}}, 7);
  Tensor w = random_f64({3}, 7);
  for (int i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(g[0].at(i), w.at(i));
}

// ---- data movement ----

TEST(MovementGradient, ReshapeMatchesFiniteDifferences) {
  expect_gradients_match(unary_fn([](GraphBuilder& b, ValueId x) { return b.reshape(x, Shape{3, 2, 2}); }),
                         {{"x", random_f64({2, 6}, 40)}});
}

TEST(MovementGradient, TransposeMatchesFiniteDifferences) {
  expect_gradients_match(unary_fn([](GraphBuilder& b, ValueId x) { return b.transpose(x, {2, 0, -2}); }),
                         {{"x", random_f64({2, 3, 4}, 41)}});
}

TEST(MovementGradient, BroadcastMatchesFiniteDifferences) {
  expect_gradients_match(unary_fn([](GraphBuilder& b, ValueId x) { return b.broadcast_to(x, Shape{2, 3, 4}); }),
                         {{"x", random_f64({3, 1}, 42)}});
}

BuildFn slice_op(int64_t axis, int64_t start, int64_t end, int64_t step) {
  return unary_fn([=](GraphBuilder& b, ValueId x) {
    return b.emit1(OpKind::slice, {x}, Attrs{{"axis", axis}, {"start", start}, {"end", end}, {"step", step}});
  });
}

TEST(MovementGradient, SliceMatchesFiniteDifferences) {
  constexpr int64_t kEnd = std::numeric_limits<int64_t>::max();
  struct Case {
    int64_t axis, start, end, step;
  } cases[] = {{1, 1, 3, 1}, {1, 0, 2, 1}, {1, 2, kEnd, 1}, {0, -2, kEnd, 1}, {1, 0, kEnd, 2}, {1, 1, 4, 2}, {1, 0, 5, 1}};
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "axis " << c.axis << " [" << c.start << ":" << c.end << ":" << c.step << "]");
    expect_gradients_match(slice_op(c.axis, c.start, c.end, c.step), {{"x", random_f64({3, 5}, 43)}});
  }
}

TEST(MovementGradient, SliceOfASymbolicDimMatchesFiniteDifferences) {
  constexpr int64_t kEnd = std::numeric_limits<int64_t>::max();
  Leaf x{"x", random_f64({2, 5}, 44), true, false, Shape{Dim(2), Dim::symbol("T")}};
  expect_gradients_match(slice_op(1, 1, 3, 1), {x});  // a static window
  expect_gradients_match(slice_op(1, 0, kEnd, 1), {x});  // the whole axis
}

TEST(MovementGradient, ConcatMatchesFiniteDifferences) {
  BuildFn f = [](GraphBuilder& b, const std::vector<ValueId>& x) {
    return std::vector<ValueId>{b.emit1(OpKind::concat, {x[0], x[1], x[2]}, Attrs{{"axis", int64_t{1}}})};
  };
  expect_gradients_match(f, {{"a", random_f64({2, 1}, 45)}, {"b", random_f64({2, 3}, 46)}, {"c", random_f64({2, 2}, 47)}});
}

TEST(MovementGradient, ConcatOfSymbolicDimsMatchesFiniteDifferences) {
  BuildFn f = [](GraphBuilder& b, const std::vector<ValueId>& x) {
    return std::vector<ValueId>{b.emit1(OpKind::concat, {x[0], x[1]}, Attrs{{"axis", int64_t{0}}})};
  };
  Shape s{Dim::symbol("T"), Dim(2)};
  expect_gradients_match(f, {{"a", random_f64({3, 2}, 48), true, false, s}, {"b", random_f64({3, 2}, 49), true, false, s}});
}

TEST(MovementGradient, GatherScattersItsGradientAndAccumulatesRepeatedIndices) {
  BuildFn f = [](GraphBuilder& b, const std::vector<ValueId>& x) {
    return std::vector<ValueId>{b.emit1(OpKind::gather, {x[0], x[1]}, Attrs{{"axis", int64_t{1}}})};
  };
  Tensor idx = i64({2, 2}, {0, 3, 3, -1});  // 3 three times (-1 wraps to 3), 1 and 2 never
  expect_gradients_match(f, {{"x", random_f64({2, 4}, 50)}, {"i", idx, false}});
  auto g = analytic_gradients(f, {{"x", random_f64({2, 4}, 50)}, {"i", idx, false}}, 7);
  Tensor w = random_f64({2, 2, 2}, 7);  // result [2, (2, 2)]: w[r, j, k] multiplies x[r, idx[j, k]]
  EXPECT_DOUBLE_EQ(g[0].at(1), 0.0);
  EXPECT_DOUBLE_EQ(g[0].at(0), w.at(0));
  EXPECT_DOUBLE_EQ(g[0].at(3), w.at(1) + w.at(2) + w.at(3));
}

TEST(MovementGradient, ScatterAddGathersItsGradient) {
  BuildFn f = [](GraphBuilder& b, const std::vector<ValueId>& x) {
    return std::vector<ValueId>{
        b.emit1(OpKind::scatter_add, {x[0], x[1]}, Attrs{{"axis", int64_t{0}}, {"shape", Shape{4, 2}}})};
  };
  expect_gradients_match(f, {{"u", random_f64({3, 2}, 51)}, {"i", i64({3}, {2, 0, 2}), false}});
}

TEST(MovementGradient, EmbeddingMatchesFiniteDifferences) {
  BuildFn f = [](GraphBuilder& b, const std::vector<ValueId>& x) {
    return std::vector<ValueId>{b.emit1(OpKind::embedding, {x[0], x[1]})};
  };
  expect_gradients_match(f, {{"table", random_f64({5, 3}, 52)}, {"ids", i64({2, 3}, {0, 4, 4, 1, 0, 2}), false}});
}

}  // namespace
}  // namespace weft::grad_check
