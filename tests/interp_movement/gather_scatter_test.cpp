/** \file
 * gather (numpy.take along an axis) and scatter_add (its adjoint) on the reference interpreter,
 * including the adjoint identity <gather(x), y> == <x, scatter_add(y)> on random data.
 */
#include <random>

#include "tests/interp_movement/movement_test_util.h"

namespace weft::movement_test {
namespace {

Attrs axis_attr(int64_t axis) { return Attrs{{"axis", axis}}; }

Attrs scatter_attrs(int64_t axis, Shape shape) { return Attrs{{"axis", axis}, {"shape", std::move(shape)}}; }

TEST(Gather, AlongAxisZeroTakesRows) {
  OneOp op(OpKind::gather, {f32({3, 2}), i64({2})}, axis_attr(0));
  EXPECT_EQ(op.type(), f32({2, 2}));
  Tensor y = op.run({iota_f32({3, 2}), Tensor::from<int64_t>({2}, {2, 0})});
  EXPECT_EQ(y.to_vector<float>(), (Floats{4, 5, 0, 1}));
}

TEST(Gather, ResultShapeIsXBeforeAxisThenIndicesThenXAfterAxis) {
  // numpy.take(x, [[0, 2], [1, 1]], axis=1) for x = [[0, 1, 2], [3, 4, 5]].
  OneOp op(OpKind::gather, {f32({2, 3}), i32({2, 2})}, axis_attr(1));
  EXPECT_EQ(op.type(), f32({2, 2, 2}));
  Tensor y = op.run({iota_f32({2, 3}), Tensor::from<int32_t>({2, 2}, {0, 2, 1, 1})});
  EXPECT_EQ(y.shape(), (Shape64{2, 2, 2}));
  EXPECT_EQ(y.to_vector<float>(), (Floats{0, 2, 1, 1, 3, 5, 4, 4}));
}

TEST(Gather, NegativeAxisCountsFromTheEnd) {
  OneOp op(OpKind::gather, {f32({2, 3}), i32({1})}, axis_attr(-1));
  EXPECT_EQ(op.type(), f32({2, 1}));
  EXPECT_EQ(op.run({iota_f32({2, 3}), Tensor::from<int32_t>({1}, {2})}).to_vector<float>(), (Floats{2, 5}));
}

TEST(Gather, NegativeIndicesWrapLikeNumpy) {
  OneOp op(OpKind::gather, {f32({4}), i64({3})}, axis_attr(0));
  Tensor y = op.run({Tensor::from<float>({4}, {10, 20, 30, 40}), Tensor::from<int64_t>({3}, {-1, -4, 1})});
  EXPECT_EQ(y.to_vector<float>(), (Floats{40, 10, 20}));
}

TEST(Gather, WithAScalarIndexDropsTheAxis) {
  OneOp op(OpKind::gather, {f32({2, 3}), i64({})}, axis_attr(0));
  EXPECT_EQ(op.type(), f32({3}));
  EXPECT_EQ(op.run({iota_f32({2, 3}), Tensor::from<int64_t>({}, {1})}).to_vector<float>(), (Floats{3, 4, 5}));
}

TEST(Gather, RepeatsRowsForRepeatedIndices) {
  OneOp op(OpKind::gather, {i32({2}), i32({4})}, axis_attr(0));
  Tensor y = op.run({Tensor::from<int32_t>({2}, {7, 9}), Tensor::from<int32_t>({4}, {1, 1, 0, 1})});
  EXPECT_EQ(y.to_vector<int32_t>(), (std::vector<int32_t>{9, 9, 7, 9}));
}

TEST(Gather, WithNoIndicesGivesAZeroSizeResult) {
  OneOp op(OpKind::gather, {f32({3, 2}), i64({0})}, axis_attr(0));
  EXPECT_EQ(op.type(), f32({0, 2}));
  EXPECT_EQ(op.run({iota_f32({3, 2}), Tensor::zeros(DType::i64, {0})}).shape(), (Shape64{0, 2}));
}

TEST(Gather, RejectsAnIndexPastTheEndAtRunTime) {
  OneOp op(OpKind::gather, {f32({2, 3}), i64({2})}, axis_attr(1));
  expect_error([&] { op.run({iota_f32({2, 3}), Tensor::from<int64_t>({2}, {0, 3})}); },
               {"gather", "index 3", "axis 1 of size 3", "valid: -3 to 2"});
}

TEST(Gather, RejectsANegativeIndexBeforeTheStartAtRunTime) {
  OneOp op(OpKind::gather, {f32({3}), i32({1})}, axis_attr(0));
  expect_error([&] { op.run({iota_f32({3}), Tensor::from<int32_t>({1}, {-4})}); }, {"index -4", "size 3"});
}

TEST(Gather, RejectsAnyIndexIntoAZeroSizeAxis) {
  OneOp op(OpKind::gather, {f32({0, 2}), i64({1})}, axis_attr(0));
  expect_error([&] { op.run({Tensor::zeros(DType::f32, {0, 2}), Tensor::from<int64_t>({1}, {0})}); },
               {"index 0", "size 0"});
}

TEST(Gather, RejectsFloatIndices) {
  expect_error([] { OneOp(OpKind::gather, {f32({3}), f32({1})}, axis_attr(0)); }, {"indices must be i32 or i64", "f32[1]"});
}

TEST(Gather, RejectsAnAxisOutOfRange) {
  expect_error([] { OneOp(OpKind::gather, {f32({3}), i64({1})}, axis_attr(1)); }, {"gather", "axis 1", "rank 1"});
}

TEST(ScatterAdd, AccumulatesDuplicateIndices) {
  OneOp op(OpKind::scatter_add, {f32({3}), i64({3})}, scatter_attrs(0, {3}));
  EXPECT_EQ(op.type(), f32({3}));
  Tensor y = op.run({Tensor::from<float>({3}, {1, 2, 4}), Tensor::from<int64_t>({3}, {0, 2, 0})});
  EXPECT_EQ(y.to_vector<float>(), (Floats{5, 0, 2}));
}

TEST(ScatterAdd, AlongAxisOneWithNegativeIndices) {
  // out[a][idx[j]] += u[a][j] with idx = [2, -3] (= [2, 0]).
  OneOp op(OpKind::scatter_add, {f32({2, 2}), i32({2})}, scatter_attrs(1, {2, 3}));
  Tensor y = op.run({Tensor::from<float>({2, 2}, {1, 2, 3, 4}), Tensor::from<int32_t>({2}, {2, -3})});
  EXPECT_EQ(y.shape(), (Shape64{2, 3}));
  EXPECT_EQ(y.to_vector<float>(), (Floats{2, 0, 1, 4, 0, 3}));
}

TEST(ScatterAdd, AddsWholeRowsForMatrixIndices) {
  // Embedding-style: indices [2, 2] into 3 rows of width 2.
  OneOp op(OpKind::scatter_add, {f32({2, 2, 2}), i64({2, 2})}, scatter_attrs(0, {3, 2}));
  Tensor y = op.run({iota_f32({2, 2, 2}), Tensor::from<int64_t>({2, 2}, {1, 1, 0, 1})});
  // rows 0,1 of updates (0 1, 2 3) and row 3 (6 7) go to 1; row 2 (4 5) goes to 0.
  EXPECT_EQ(y.to_vector<float>(), (Floats{4, 5, 8, 11, 0, 0}));
}

TEST(ScatterAdd, SumsIntegerUpdates) {
  OneOp op(OpKind::scatter_add, {i32({4}), i32({4})}, scatter_attrs(0, {2}));
  Tensor y = op.run({Tensor::from<int32_t>({4}, {1, 10, 100, 1000}), Tensor::from<int32_t>({4}, {1, 1, 0, 1})});
  EXPECT_EQ(y.to_vector<int32_t>(), (std::vector<int32_t>{100, 1011}));
}

TEST(ScatterAdd, WithNoUpdatesGivesZeros) {
  OneOp op(OpKind::scatter_add, {f32({0, 2}), i64({0})}, scatter_attrs(0, {2, 2}));
  EXPECT_EQ(op.run({Tensor::zeros(DType::f32, {0, 2}), Tensor::zeros(DType::i64, {0})}).to_vector<float>(),
            (Floats{0, 0, 0, 0}));
}

TEST(ScatterAdd, RejectsAnIndexOutOfRangeAtRunTime) {
  OneOp op(OpKind::scatter_add, {f32({2}), i64({2})}, scatter_attrs(0, {3}));
  expect_error([&] { op.run({Tensor::from<float>({2}, {1, 2}), Tensor::from<int64_t>({2}, {1, 5})}); },
               {"scatter_add", "index 5", "size 3"});
}

TEST(ScatterAdd, RejectsUpdatesNotShapedLikeGatherOutput) {
  expect_error([] { OneOp(OpKind::scatter_add, {f32({3, 2}), i64({2})}, scatter_attrs(0, {4, 2})); },
               {"scatter_add", "[2, 2]", "f32[3, 2]"});
}

TEST(ScatterAdd, RejectsBoolUpdates) {
  expect_error([] { OneOp(OpKind::scatter_add, {TensorType{DType::boolean, {2}}, i64({2})}, scatter_attrs(0, {2})); },
               {"numeric dtype"});
}

double dot(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double sum = 0;
  for (int64_t i = 0; i < a.numel(); ++i) sum += a.at(i) * b.at(i);
  return sum;
}

Tensor random_f64(std::mt19937& rng, const Shape64& shape) {
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<double> v(static_cast<size_t>(n));
  for (double& e : v) e = dist(rng);
  return Tensor::from<double>(shape, v);
}

TEST(ScatterAdd, IsTheAdjointOfGatherOnEveryAxis) {
  // <gather(x, idx), y> == <x, scatter_add(y, idx)> for random x, y, with negative and repeated indices.
  const Shape64 x_shape{3, 4, 2};
  const Shape64 idx_shape{2, 3};
  std::mt19937 rng(1234);
  for (int64_t axis : {0, 1, 2, -1}) {
    int a = axis < 0 ? axis + 3 : static_cast<int>(axis);
    int64_t n = x_shape[a];
    std::uniform_int_distribution<int64_t> pick(-n, n - 1);
    std::vector<int64_t> idx(6);
    for (int64_t& i : idx) i = pick(rng);
    Shape64 y_shape(x_shape.begin(), x_shape.begin() + a);
    y_shape.insert(y_shape.end(), idx_shape.begin(), idx_shape.end());
    y_shape.insert(y_shape.end(), x_shape.begin() + a + 1, x_shape.end());

    Graph g("adjoint");
    GraphBuilder b(g);
    ValueId x = g.add_input("x", f64(static_shape(x_shape)));
    ValueId i = g.add_input("idx", i64(static_shape(idx_shape)));
    ValueId y = g.add_input("y", f64(static_shape(y_shape)));
    g.add_output("gx", b.emit1(OpKind::gather, {x, i}, Attrs{{"axis", axis}}));
    g.add_output("sy", b.emit1(OpKind::scatter_add, {y, i},
                               Attrs{{"axis", axis}, {"shape", static_shape(x_shape)}}));

    Tensor xt = random_f64(rng, x_shape);
    Tensor yt = random_f64(rng, y_shape);
    std::vector<Tensor> out = run(g, {xt, Tensor::from<int64_t>(idx_shape, idx), yt});
    EXPECT_NEAR(dot(out[0], yt), dot(xt, out[1]), 1e-12) << "axis " << axis;
    EXPECT_NE(dot(out[0], yt), 0.0);
  }
}

}  // namespace
}  // namespace weft::movement_test
