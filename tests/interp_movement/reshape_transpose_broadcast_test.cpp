/** \file
 * reshape, transpose and broadcast on the reference interpreter: values, zero-size dims, other
 * dtypes, and the errors their shape rules raise.
 */
#include "tests/interp_movement/movement_test_util.h"

namespace weft::movement_test {
namespace {

using Ints = std::vector<int64_t>;

TEST(Reshape, KeepsRowMajorOrderUnderTheNewShape) {
  OneOp op(OpKind::reshape, {f32({2, 3})}, Attrs{{"shape", Shape{3, 2}}});
  EXPECT_EQ(op.type(), f32({3, 2}));
  Tensor y = op.run({iota_f32({2, 3})});
  EXPECT_EQ(y.shape(), (Shape64{3, 2}));
  EXPECT_EQ(y.to_vector<float>(), (Floats{0, 1, 2, 3, 4, 5}));
}

TEST(Reshape, ToAndFromAScalar) {
  OneOp op(OpKind::reshape, {f32({1, 1})}, Attrs{{"shape", Shape{}}});
  Tensor y = op.run({Tensor::from<float>({1, 1}, {7})});
  EXPECT_EQ(y.shape(), Shape64{});
  EXPECT_EQ(y.to_vector<float>(), Floats{7});
}

TEST(Reshape, OfZeroSizeTensorKeepsZeroElements) {
  OneOp op(OpKind::reshape, {f32({0, 3})}, Attrs{{"shape", Shape{3, 0, 5}}});
  Tensor y = op.run({Tensor::zeros(DType::f32, {0, 3})});
  EXPECT_EQ(y.shape(), (Shape64{3, 0, 5}));
  EXPECT_EQ(y.numel(), 0);
}

TEST(Reshape, ResultDoesNotShareStorageWithItsOperand) {
  OneOp op(OpKind::reshape, {f32({2, 2})}, Attrs{{"shape", Shape{4}}});
  Tensor x = Tensor::from<float>({2, 2}, {1, 2, 3, 4});
  Tensor y = op.run({x});
  y.data<float>()[0] = 100;
  EXPECT_EQ(x.to_vector<float>(), (Floats{1, 2, 3, 4}));
}

TEST(Reshape, RejectsElementCountMismatchNamingBothShapes) {
  expect_error([] { OneOp(OpKind::reshape, {f32({2, 3})}, Attrs{{"shape", Shape{4, 2}}}); },
               {"reshape", "element count", "f32[2, 3]", "[4, 2]", "6", "8"});
}

TEST(Reshape, RejectsSymbolicElementCountMismatchNamingBothShapes) {
  expect_error([] { OneOp(OpKind::reshape, {f32({B, T})}, Attrs{{"shape", Shape{B, 4}}}); },
               {"f32[B, T]", "[B, 4]", "B*T", "4*B"});
}

TEST(Reshape, RejectsNegativeTargetDims) {
  expect_error([] { OneOp(OpKind::reshape, {f32({2, 3})}, Attrs{{"shape", Shape{-1, -6}}}); },
               {"non-negative", "[-1, -6]"});
}

TEST(Transpose, SwapsTheAxesOfAMatrix) {
  OneOp op(OpKind::transpose, {f32({2, 3})}, Attrs{{"perm", Ints{1, 0}}});
  EXPECT_EQ(op.type(), f32({3, 2}));
  Tensor y = op.run({iota_f32({2, 3})});
  EXPECT_EQ(y.shape(), (Shape64{3, 2}));
  EXPECT_EQ(y.to_vector<float>(), (Floats{0, 3, 1, 4, 2, 5}));
}

TEST(Transpose, NormalizesNegativePermEntries) {
  // perm [-1, 0, 1] is [2, 0, 1]: y[k][i][j] = x[i][j][k] = 12i + 4j + k.
  OneOp op(OpKind::transpose, {f32({2, 3, 4})}, Attrs{{"perm", Ints{-1, 0, 1}}});
  EXPECT_EQ(op.type(), f32({4, 2, 3}));
  Tensor y = op.run({iota_f32({2, 3, 4})});
  EXPECT_EQ(y.to_vector<float>(), (Floats{0, 4, 8, 12, 16, 20,  //
                                          1, 5, 9, 13, 17, 21,  //
                                          2, 6, 10, 14, 18, 22,  //
                                          3, 7, 11, 15, 19, 23}));
}

TEST(Transpose, IdentityPermIsACopy) {
  OneOp op(OpKind::transpose, {f32({2, 2})}, Attrs{{"perm", Ints{0, 1}}});
  EXPECT_EQ(op.run({iota_f32({2, 2})}).to_vector<float>(), (Floats{0, 1, 2, 3}));
}

TEST(Transpose, MovesIntegerElementsToo) {
  OneOp op(OpKind::transpose, {i32({2, 2})}, Attrs{{"perm", Ints{1, 0}}});
  Tensor y = op.run({Tensor::from<int32_t>({2, 2}, {1, 2, 3, 4})});
  EXPECT_EQ(y.to_vector<int32_t>(), (std::vector<int32_t>{1, 3, 2, 4}));
}

TEST(Transpose, OfZeroSizeDimsGivesZeroSizeResult) {
  OneOp op(OpKind::transpose, {f32({0, 3})}, Attrs{{"perm", Ints{1, 0}}});
  Tensor y = op.run({Tensor::zeros(DType::f32, {0, 3})});
  EXPECT_EQ(y.shape(), (Shape64{3, 0}));
}

TEST(Transpose, RejectsARepeatedAxis) {
  expect_error([] { OneOp(OpKind::transpose, {f32({2, 3})}, Attrs{{"perm", Ints{0, 0}}}); },
               {"transpose", "permutation", "[0, 0]", "f32[2, 3]", "appears twice"});
}

TEST(Transpose, RejectsAPermOfTheWrongLength) {
  expect_error([] { OneOp(OpKind::transpose, {f32({2, 3})}, Attrs{{"perm", Ints{1, 0, 2}}}); },
               {"permutation", "3 entries", "rank 2"});
}

TEST(Transpose, RejectsAnOutOfRangeEntry) {
  expect_error([] { OneOp(OpKind::transpose, {f32({2, 3})}, Attrs{{"perm", Ints{0, 2}}}); }, {"entry 2", "out of range"});
  expect_error([] { OneOp(OpKind::transpose, {f32({2, 3})}, Attrs{{"perm", Ints{-3, 0}}}); }, {"entry -3"});
}

TEST(Broadcast, RepeatsAlongANewLeadingAxis) {
  OneOp op(OpKind::broadcast, {f32({3})}, Attrs{{"shape", Shape{2, 3}}});
  EXPECT_EQ(op.type(), f32({2, 3}));
  Tensor y = op.run({Tensor::from<float>({3}, {1, 2, 3})});
  EXPECT_EQ(y.to_vector<float>(), (Floats{1, 2, 3, 1, 2, 3}));
}

TEST(Broadcast, StretchesSizeOneDims) {
  OneOp op(OpKind::broadcast, {f32({2, 1})}, Attrs{{"shape", Shape{2, 3}}});
  Tensor y = op.run({Tensor::from<float>({2, 1}, {1, 2})});
  EXPECT_EQ(y.to_vector<float>(), (Floats{1, 1, 1, 2, 2, 2}));
}

TEST(Broadcast, OfAScalarFillsTheTarget) {
  OneOp op(OpKind::broadcast, {f32({})}, Attrs{{"shape", Shape{2, 2}}});
  Tensor y = op.run({Tensor::from<float>({}, {5})});
  EXPECT_EQ(y.to_vector<float>(), (Floats{5, 5, 5, 5}));
}

TEST(Broadcast, MovesBoolElementsToo) {
  OneOp op(OpKind::broadcast, {TensorType{DType::boolean, {2}}}, Attrs{{"shape", Shape{2, 2}}});
  Tensor y = op.run({Tensor::from<bool>({2}, {true, false})});
  EXPECT_EQ(y.to_vector<bool>(), (std::vector<bool>{true, false, true, false}));
}

TEST(Broadcast, ToAZeroSizeDimGivesZeroElements) {
  OneOp op(OpKind::broadcast, {f32({1, 3})}, Attrs{{"shape", Shape{0, 3}}});
  Tensor y = op.run({iota_f32({1, 3})});
  EXPECT_EQ(y.shape(), (Shape64{0, 3}));
}

TEST(Broadcast, RejectsIncompatibleDims) {
  expect_error([] { OneOp(OpKind::broadcast, {f32({2, 3})}, Attrs{{"shape", Shape{2, 4}}}); },
               {"broadcast", "equal the target's or be 1", "f32[2, 3]", "[2, 4]", "dim 3 vs 4"});
}

TEST(Broadcast, RejectsATargetOfLowerRank) {
  expect_error([] { OneOp(OpKind::broadcast, {f32({2, 3})}, Attrs{{"shape", Shape{3}}}); },
               {"at least the operand's rank", "f32[2, 3]", "[3]"});
}

}  // namespace
}  // namespace weft::movement_test
