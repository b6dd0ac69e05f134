/** \file
 * slice (Python slicing on one axis) and concat on the reference interpreter, over static dims.
 * Symbolic dims are covered in symbolic_dims_test.cpp.
 */
#include <limits>

#include "tests/interp_movement/movement_test_util.h"

namespace weft::movement_test {
namespace {

Attrs slice_attrs(int64_t axis, int64_t start, int64_t end = std::numeric_limits<int64_t>::max(), int64_t step = 1) {
  return Attrs{{"axis", axis}, {"start", start}, {"end", end}, {"step", step}};
}

Tensor slice_of(const Tensor& x, const Attrs& attrs) {
  OneOp op(OpKind::slice, {f32(static_shape(x.shape()))}, attrs);
  Tensor y = op.run({x});
  EXPECT_EQ(static_shape(y.shape()), op.type().shape) << "the kernel disagrees with the shape rule";
  return y;
}

TEST(Slice, TakesAPythonRangeOnOneAxis) {
  Tensor y = slice_of(iota_f32({2, 5}), slice_attrs(1, 1, 4));
  EXPECT_EQ(y.shape(), (Shape64{2, 3}));
  EXPECT_EQ(y.to_vector<float>(), (Floats{1, 2, 3, 6, 7, 8}));
}

TEST(Slice, DefaultsTakeTheWholeAxis) {
  OneOp op(OpKind::slice, {f32({2, 3})}, Attrs{{"axis", int64_t{0}}});
  EXPECT_EQ(op.type(), f32({2, 3}));
  EXPECT_EQ(op.run({iota_f32({2, 3})}).to_vector<float>(), (Floats{0, 1, 2, 3, 4, 5}));
}

TEST(Slice, TakesEveryStepthElement) {
  Tensor y = slice_of(iota_f32({2, 5}), slice_attrs(1, 0, std::numeric_limits<int64_t>::max(), 2));
  EXPECT_EQ(y.shape(), (Shape64{2, 3}));
  EXPECT_EQ(y.to_vector<float>(), (Floats{0, 2, 4, 5, 7, 9}));
}

TEST(Slice, StepPastTheEndTakesOnlyTheStart) {
  EXPECT_EQ(slice_of(iota_f32({5}), slice_attrs(0, 1, 5, 10)).to_vector<float>(), Floats{1});
}

TEST(Slice, NegativeStartAndEndCountFromTheEnd) {
  Tensor y = slice_of(iota_f32({2, 5}), slice_attrs(-1, -3, -1));
  EXPECT_EQ(y.shape(), (Shape64{2, 2}));
  EXPECT_EQ(y.to_vector<float>(), (Floats{2, 3, 7, 8}));
}

TEST(Slice, NegativeAxisCountsFromTheEnd) {
  Tensor y = slice_of(iota_f32({3, 2}), slice_attrs(-2, 2));
  EXPECT_EQ(y.shape(), (Shape64{1, 2}));
  EXPECT_EQ(y.to_vector<float>(), (Floats{4, 5}));
}

TEST(Slice, ClampsOutOfRangeBoundsLikePython) {
  // x[-10:100] is all of x; x[7:] and x[3:1] are empty.
  EXPECT_EQ(slice_of(iota_f32({5}), slice_attrs(0, -10, 100)).to_vector<float>(), (Floats{0, 1, 2, 3, 4}));
  EXPECT_EQ(slice_of(iota_f32({5}), slice_attrs(0, 7)).shape(), Shape64{0});
  EXPECT_EQ(slice_of(iota_f32({5}), slice_attrs(0, 3, 1)).shape(), Shape64{0});
  EXPECT_EQ(slice_of(iota_f32({5}), slice_attrs(0, 0, -100)).shape(), Shape64{0});
}

TEST(Slice, OfAZeroSizeAxisIsEmpty) {
  Tensor y = slice_of(Tensor::zeros(DType::f32, {0, 3}), slice_attrs(0, 1, 4));
  EXPECT_EQ(y.shape(), (Shape64{0, 3}));
}

TEST(Slice, KeepsZeroSizeOtherAxes) {
  Tensor y = slice_of(Tensor::zeros(DType::f32, {4, 0}), slice_attrs(0, 1, 3));
  EXPECT_EQ(y.shape(), (Shape64{2, 0}));
}

TEST(Slice, RejectsAStepBelowOne) {
  expect_error([] { OneOp(OpKind::slice, {f32({4})}, slice_attrs(0, 0, 4, 0)); }, {"slice", "step", "at least 1", "0"});
  expect_error([] { OneOp(OpKind::slice, {f32({4})}, slice_attrs(0, 3, 0, -1)); }, {"step", "-1"});
}

TEST(Slice, RejectsAnAxisOutOfRange) {
  expect_error([] { OneOp(OpKind::slice, {f32({2, 3})}, slice_attrs(2, 0)); }, {"slice", "axis 2", "rank 2"});
}

TEST(Concat, JoinsAlongTheLastAxis) {
  OneOp op(OpKind::concat, {f32({2, 1}), f32({2, 2})}, Attrs{{"axis", int64_t{-1}}});
  EXPECT_EQ(op.type(), f32({2, 3}));
  Tensor y = op.run({Tensor::from<float>({2, 1}, {0, 1}), Tensor::from<float>({2, 2}, {10, 11, 12, 13})});
  EXPECT_EQ(y.to_vector<float>(), (Floats{0, 10, 11, 1, 12, 13}));
}

TEST(Concat, JoinsAlongTheFirstAxis) {
  OneOp op(OpKind::concat, {f32({1, 2}), f32({2, 2})}, Attrs{{"axis", int64_t{0}}});
  EXPECT_EQ(op.type(), f32({3, 2}));
  Tensor y = op.run({Tensor::from<float>({1, 2}, {0, 1}), Tensor::from<float>({2, 2}, {10, 11, 12, 13})});
  EXPECT_EQ(y.to_vector<float>(), (Floats{0, 1, 10, 11, 12, 13}));
}

TEST(Concat, OfThreeOperandsKeepsTheirOrder) {
  OneOp op(OpKind::concat, {i64({1}), i64({2}), i64({1})}, Attrs{{"axis", int64_t{0}}});
  Tensor y = op.run({Tensor::from<int64_t>({1}, {3}), Tensor::from<int64_t>({2}, {1, 4}), Tensor::from<int64_t>({1}, {1})});
  EXPECT_EQ(y.to_vector<int64_t>(), (std::vector<int64_t>{3, 1, 4, 1}));
}

TEST(Concat, OfOneOperandIsACopy) {
  OneOp op(OpKind::concat, {f32({2})}, Attrs{{"axis", int64_t{0}}});
  EXPECT_EQ(op.run({Tensor::from<float>({2}, {1, 2})}).to_vector<float>(), (Floats{1, 2}));
}

TEST(Concat, AcceptsZeroSizeOperands) {
  OneOp op(OpKind::concat, {f32({2, 0}), f32({2, 2})}, Attrs{{"axis", int64_t{1}}});
  EXPECT_EQ(op.type(), f32({2, 2}));
  Tensor y = op.run({Tensor::zeros(DType::f32, {2, 0}), iota_f32({2, 2})});
  EXPECT_EQ(y.to_vector<float>(), (Floats{0, 1, 2, 3}));
}

TEST(Concat, RejectsMismatchedDimsOffTheAxis) {
  expect_error([] { OneOp(OpKind::concat, {f32({2, 3}), f32({3, 3})}, Attrs{{"axis", int64_t{1}}}); },
               {"concat", "except axis 1", "dim 0 differs (2 vs 3)", "f32[2, 3], f32[3, 3]"});
}

TEST(Concat, RejectsMixedDtypes) {
  expect_error([] { OneOp(OpKind::concat, {f32({2}), f64({2})}, Attrs{{"axis", int64_t{0}}}); },
               {"same dtype", "f32[2], f64[2]"});
}

TEST(Concat, RejectsMixedRanks) {
  expect_error([] { OneOp(OpKind::concat, {f32({2}), f32({2, 1})}, Attrs{{"axis", int64_t{0}}}); },
               {"same rank", "f32[2], f32[2, 1]"});
}

TEST(Concat, RejectsZeroOperands) {
  expect_error([] { OneOp(OpKind::concat, {}, Attrs{{"axis", int64_t{0}}}); }, {"concat", "at least 1"});
}

}  // namespace
}  // namespace weft::movement_test
