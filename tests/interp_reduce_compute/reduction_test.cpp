// Reductions on the reference interpreter: axes (negative, several, all), keepdims, integer and NaN
// behaviour, zero-size axes, rejected attributes, and symbolic dims bound at run time.
#include <limits>

#include "tests/interp_elementwise/testing.h"

namespace weft {
namespace {

using namespace weft::testing;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

Attrs axes(std::vector<int64_t> a, bool keepdims = false) { return Attrs{{"axes", a}, {"keepdims", keepdims}}; }

// [[1, 2, 3], [4, 5, 6]]
Tensor m23() { return f32({2, 3}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f}); }

TEST(InterpReduce, SumOverEachAxis) {
  expect_tensor<float>(run_op(OpKind::reduce_sum, {m23()}, axes({0})), {3}, {5.f, 7.f, 9.f});
  expect_tensor<float>(run_op(OpKind::reduce_sum, {m23()}, axes({1})), {2}, {6.f, 15.f});
}

TEST(InterpReduce, EmptyAxesReduceEverything) {
  expect_tensor<float>(run_op(OpKind::reduce_sum, {m23()}), {}, {21.f});
  expect_tensor<float>(run_op(OpKind::reduce_max, {m23()}, axes({}, true)), {1, 1}, {6.f});
}

TEST(InterpReduce, NegativeAxesCountFromTheEnd) {
  expect_tensor<float>(run_op(OpKind::reduce_sum, {m23()}, axes({-1})), {2}, {6.f, 15.f});
  expect_tensor<float>(run_op(OpKind::reduce_min, {m23()}, axes({-2})), {3}, {1.f, 2.f, 3.f});
}

TEST(InterpReduce, KeepdimsKeepsReducedAxesAsOnes) {
  expect_tensor<float>(run_op(OpKind::reduce_mean, {m23()}, axes({1}, true)), {2, 1}, {2.f, 5.f});
  expect_tensor<float>(run_op(OpKind::reduce_sum, {m23()}, axes({0}, true)), {1, 3}, {5.f, 7.f, 9.f});
}

TEST(InterpReduce, SeveralNonAdjacentAxes) {
  // x[i][j][k] = 100 i + 10 j + k over [2, 3, 2]; summing axes 0 and 2 leaves j: 4 * 10 j + (0 + 100) * 2 + (0 + 1)
  // * 2.
  std::vector<int64_t> v;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 2; ++k) v.push_back(100 * i + 10 * j + k);
  Tensor x = i64({2, 3, 2}, v);
  expect_tensor<int64_t>(run_op(OpKind::reduce_sum, {x}, axes({0, 2})), {3}, {202, 242, 282});
  expect_tensor<int64_t>(run_op(OpKind::reduce_sum, {x}, axes({2, 0}, true)), {1, 3, 1}, {202, 242, 282});
  expect_tensor<int64_t>(run_op(OpKind::reduce_max, {x}, axes({-1, 0})), {3}, {101, 111, 121});
}

TEST(InterpReduce, MeanMaxMinOfFloats) {
  Tensor x = f32({2, 2}, {1.f, -2.f, 4.f, 0.5f});
  expect_tensor<float>(run_op(OpKind::reduce_mean, {x}, axes({0})), {2}, {2.5f, -0.75f});
  expect_tensor<float>(run_op(OpKind::reduce_max, {x}, axes({1})), {2}, {1.f, 4.f});
  expect_tensor<float>(run_op(OpKind::reduce_min, {x}, axes({1})), {2}, {-2.f, 0.5f});
  expect_tensor<double>(run_op(OpKind::reduce_mean, {f64({4}, {1.0, 2.0, 3.0, 5.0})}), {}, {2.75});
}

TEST(InterpReduce, MaxAndMinPropagateNaN) {
  Tensor x = f32({2, 3}, {1.f, kNaN, 3.f, 4.f, 5.f, 6.f});
  expect_tensor<float>(run_op(OpKind::reduce_max, {x}, axes({1})), {2}, {kNaN, 6.f});
  expect_tensor<float>(run_op(OpKind::reduce_min, {x}, axes({1})), {2}, {kNaN, 4.f});
}

TEST(InterpReduce, IntegerSumAndTruncatingMean) {
  Tensor x = i32({2, 3}, {1, 2, 4, -1, -2, -4});
  expect_tensor<int32_t>(run_op(OpKind::reduce_sum, {x}, axes({1})), {2}, {7, -7});
  // 7 / 3 and -7 / 3 truncate toward zero.
  expect_tensor<int32_t>(run_op(OpKind::reduce_mean, {x}, axes({1})), {2}, {2, -2});
  expect_tensor<int32_t>(run_op(OpKind::reduce_min, {x}, axes({0})), {3}, {-1, -2, -4});
}

TEST(InterpReduce, ScalarOperandReducesToItself) {
  expect_tensor<float>(run_op(OpKind::reduce_sum, {f32({}, {2.5f})}), {}, {2.5f});
}

TEST(InterpReduce, SumOverAZeroSizeAxisIsZero) {
  expect_tensor<float>(run_op(OpKind::reduce_sum, {f32({0, 3}, {})}, axes({0})), {3}, {0.f, 0.f, 0.f});
  expect_tensor<int64_t>(run_op(OpKind::reduce_sum, {i64({0}, {})}), {}, {0});
}

TEST(InterpReduce, MeanOverAZeroSizeAxisIsNaN) {
  expect_tensor<float>(run_op(OpKind::reduce_mean, {f32({0, 3}, {})}, axes({0})), {3}, {kNaN, kNaN, kNaN});
  expect_tensor<int32_t>(run_op(OpKind::reduce_mean, {i32({0, 2}, {})}, axes({0})), {2}, {0, 0});
}

TEST(InterpReduce, MaxOverAZeroSizeAxisIsAnError) {
  expect_error(
      [] {
        run_op(OpKind::reduce_max, {f32({0, 3}, {})}, axes({0}));
      },
      {"reduce_max over an empty axis", "f32[0, 3]"});
  expect_error([] { run_op(OpKind::reduce_min, {f32({0, 3}, {})}); }, {"reduce_min over an empty axis"});
}

TEST(InterpReduce, MaxOverANonEmptyAxisOfAnEmptyTensorIsEmpty) {
  // Each of the zero outputs would reduce three elements: nothing is undefined.
  expect_tensor<float>(run_op(OpKind::reduce_max, {f32({0, 3}, {})}, axes({1})), {0}, {});
}

TEST(InterpReduce, RejectsRepeatedAxes) {
  expect_error(
      [] {
        infer(OpKind::reduce_sum, {{DType::f32, {2, 3}}}, axes({1, -1}));
      },
      {"reduce_sum", "axis 1 appears twice", "f32[2, 3]"});
}

TEST(InterpReduce, RejectsOutOfRangeAxes) {
  expect_error(
      [] {
        infer(OpKind::reduce_mean, {{DType::f32, {2, 3}}}, axes({2}));
      },
      {"reduce_mean", "axis 2 is out of range", "rank 2"});
  expect_error([] { infer(OpKind::reduce_mean, {{DType::f32, {2, 3}}}, axes({-3})); }, {"axis -3"});
}

TEST(InterpReduce, RejectsBool) {
  expect_error([] { infer(OpKind::reduce_sum, {{DType::boolean, {4}}}); }, {"reduce_sum", "numeric", "bool[4]"});
}

TEST(InterpReduce, RejectsAnAxisAttributeOfTheWrongKind) {
  expect_error(
      [] {
        infer(OpKind::reduce_sum, {{DType::f32, {4}}}, Attrs{{"axes", int64_t{0}}});
      },
      {"reduce_sum", "axes"});
}

TEST(InterpArgmax, GivesTheFirstIndexOfTheMaximum) {
  Tensor x = f32({2, 4}, {1.f, 7.f, 7.f, 2.f, -3.f, -1.f, -2.f, -1.f});
  expect_tensor<int64_t>(run_op(OpKind::argmax, {x}, Attrs{{"axis", int64_t{1}}}), {2}, {1, 1});
  expect_tensor<int64_t>(run_op(OpKind::argmax, {x}, Attrs{{"axis", int64_t{0}}}), {4}, {0, 0, 0, 0});
}

TEST(InterpArgmax, NegativeAxisAndKeepdims) {
  Tensor x = i32({2, 3}, {3, 9, 1, 8, 0, 8});
  expect_tensor<int64_t>(run_op(OpKind::argmax, {x}, Attrs{{"axis", int64_t{-1}}, {"keepdims", true}}), {2, 1}, {1, 0});
}

TEST(InterpArgmax, CountsNaNAsTheMaximum) {
  Tensor x = f32({4}, {1.f, kNaN, 5.f, kNaN});
  expect_tensor<int64_t>(run_op(OpKind::argmax, {x}, Attrs{{"axis", int64_t{0}}}), {}, {1});
}

TEST(InterpArgmax, ResultIsI64AndNotDifferentiable) {
  EXPECT_EQ(infer(OpKind::argmax, {{DType::f64, {3, 5}}}, Attrs{{"axis", int64_t{0}}}).str(), "i64[5]");
  EXPECT_FALSE(op_def(OpKind::argmax).differentiable);
  EXPECT_TRUE(op_def(OpKind::reduce_max).differentiable);
}

TEST(InterpArgmax, RequiresAnAxis) {
  expect_error([] { infer(OpKind::argmax, {{DType::f32, {3}}}); }, {"argmax", "missing required attribute 'axis'"});
}

TEST(InterpArgmax, OverAZeroSizeAxisIsAnError) {
  expect_error(
      [] {
        run_op(OpKind::argmax, {f32({2, 0}, {})}, Attrs{{"axis", int64_t{1}}});
      },
      {"argmax over an empty axis", "f32[2, 0]"});
}

TEST(InterpReduce, FusionKindIsReduction) {
  for (OpKind op : {OpKind::reduce_sum, OpKind::reduce_mean, OpKind::reduce_max, OpKind::reduce_min, OpKind::argmax})
    EXPECT_EQ(op_def(op).fusion, FusionKind::reduction) << op_name(op);
}

TEST(InterpReduceSymbolic, MeanOverTKeepsB) {
  // One graph, x: f32[B, T]; reduce_mean over T gives f32[B]; reduce_max with keepdims gives f32[B, 1].
  Graph g("symbolic");
  g.declare_symbol("B");
  g.declare_symbol("T");
  ValueId x = g.add_input("x", {DType::f32, symbolic({sym("B"), sym("T")})});
  GraphBuilder b(g);
  ValueId mean = b.reduce(OpKind::reduce_mean, x, {-1}, false);
  ValueId max = b.reduce(OpKind::reduce_max, x, {1}, true);
  ValueId arg = b.emit1(OpKind::argmax, {x}, Attrs{{"axis", int64_t{1}}});
  g.add_output("mean", mean);
  g.add_output("max", max);
  g.add_output("arg", arg);
  EXPECT_EQ(g.type(mean).str(), "f32[B]");
  EXPECT_EQ(g.type(max).str(), "f32[B, 1]");
  EXPECT_EQ(g.type(arg).str(), "i64[B]");

  std::vector<Tensor> t3 = interpret(g, std::vector<Tensor>{f32({2, 3}, {1.f, 2.f, 6.f, 0.f, -3.f, 0.f})}, {});
  expect_tensor<float>(t3[0], {2}, {3.f, -1.f});
  expect_tensor<float>(t3[1], {2, 1}, {6.f, 0.f});
  expect_tensor<int64_t>(t3[2], {2}, {2, 0});

  std::vector<Tensor> t7 = interpret(g, std::vector<Tensor>{f32({1, 7}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f})}, {});
  expect_tensor<float>(t7[0], {1}, {4.f});
  expect_tensor<float>(t7[1], {1, 1}, {7.f});
  expect_tensor<int64_t>(t7[2], {1}, {6});
}

}  // namespace
}  // namespace weft
