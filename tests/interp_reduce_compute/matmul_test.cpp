// matmul on the reference interpreter: values, transposes, batching with broadcast batch dims,
// zero-size dims, symbolic dims, and the errors a user sees.
#include "tests/interp_elementwise/testing.h"

namespace weft {
namespace {

using namespace weft::testing;

// a = [[1, 2, 3], [4, 5, 6]], b = [[7, 8], [9, 10], [11, 12]]: a @ b = [[58, 64], [139, 154]].
Tensor a23() { return f32({2, 3}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f}); }
Tensor b32() { return f32({3, 2}, {7.f, 8.f, 9.f, 10.f, 11.f, 12.f}); }

TEST(InterpMatMul, MultipliesTwoMatrices) {
  expect_tensor<float>(run_op(OpKind::matmul, {a23(), b32()}), {2, 2}, {58.f, 64.f, 139.f, 154.f});
}

TEST(InterpMatMul, MultipliesF64) {
  Tensor a = f64({1, 2}, {0.5, 2.0});
  Tensor b = f64({2, 3}, {2.0, 4.0, 6.0, 1.0, 0.0, -1.0});
  expect_tensor<double>(run_op(OpKind::matmul, {a, b}), {1, 3}, {3.0, 2.0, 1.0});
}

TEST(InterpMatMul, TransposeAUsesTheLastTwoDimsSwapped) {
  // a^T is given as [3, 2] = [[1, 4], [2, 5], [3, 6]].
  Tensor at = f32({3, 2}, {1.f, 4.f, 2.f, 5.f, 3.f, 6.f});
  expect_tensor<float>(run_op(OpKind::matmul, {at, b32()}, Attrs{{"transpose_a", true}}), {2, 2},
                       {58.f, 64.f, 139.f, 154.f});
}

TEST(InterpMatMul, TransposeBUsesTheLastTwoDimsSwapped) {
  // b^T is given as [2, 3] = [[7, 9, 11], [8, 10, 12]].
  Tensor bt = f32({2, 3}, {7.f, 9.f, 11.f, 8.f, 10.f, 12.f});
  expect_tensor<float>(run_op(OpKind::matmul, {a23(), bt}, Attrs{{"transpose_b", true}}), {2, 2},
                       {58.f, 64.f, 139.f, 154.f});
  Tensor at = f32({3, 2}, {1.f, 4.f, 2.f, 5.f, 3.f, 6.f});
  expect_tensor<float>(run_op(OpKind::matmul, {at, bt}, Attrs{{"transpose_a", true}, {"transpose_b", true}}), {2, 2},
                       {58.f, 64.f, 139.f, 154.f});
}

TEST(InterpMatMul, BatchedOperandsMultiplyPerBatch) {
  // Batch 0: identity @ m = m; batch 1: 2 * identity @ m = 2m.
  Tensor a = f32({2, 2, 2}, {1.f, 0.f, 0.f, 1.f, 2.f, 0.f, 0.f, 2.f});
  Tensor b = f32({2, 2, 2}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f});
  expect_tensor<float>(run_op(OpKind::matmul, {a, b}), {2, 2, 2}, {1.f, 2.f, 3.f, 4.f, 10.f, 12.f, 14.f, 16.f});
}

TEST(InterpMatMul, ARankTwoOperandBroadcastsOverTheBatch) {
  // [2, 1, 2] @ [2, 2]: each row vector times m = [[1, 2], [3, 4]].
  Tensor a = f32({2, 1, 2}, {1.f, 0.f, 1.f, 1.f});
  Tensor m = f32({2, 2}, {1.f, 2.f, 3.f, 4.f});
  expect_tensor<float>(run_op(OpKind::matmul, {a, m}), {2, 1, 2}, {1.f, 2.f, 4.f, 6.f});
  expect_tensor<float>(run_op(OpKind::matmul, {m, f32({2, 2, 1}, {1.f, 0.f, 0.f, 1.f})}), {2, 2, 1},
                       {1.f, 3.f, 2.f, 4.f});
}

TEST(InterpMatMul, BatchDimsBroadcastAgainstEachOther) {
  // a: [2, 1, 1, 1] holds scalars 1 and 10; b: [3, 1, 1] holds 1, 2, 3 -> out[i][j] = a_i * b_j.
  Tensor a = f32({2, 1, 1, 1}, {1.f, 10.f});
  Tensor b = f32({3, 1, 1}, {1.f, 2.f, 3.f});
  expect_tensor<float>(run_op(OpKind::matmul, {a, b}), {2, 3, 1, 1}, {1.f, 2.f, 3.f, 10.f, 20.f, 30.f});
}

TEST(InterpMatMul, EmptyInnerDimGivesZeros) {
  expect_tensor<float>(run_op(OpKind::matmul, {f32({2, 0}, {}), f32({0, 3}, {})}), {2, 3},
                       {0.f, 0.f, 0.f, 0.f, 0.f, 0.f});
}

TEST(InterpMatMul, EmptyOuterDimGivesAnEmptyResult) {
  expect_tensor<float>(run_op(OpKind::matmul, {f32({0, 3}, {}), b32()}), {0, 2}, {});
  expect_tensor<float>(run_op(OpKind::matmul, {f32({0, 2, 3}, {}), b32()}), {0, 2, 2}, {});
}

TEST(InterpMatMul, RejectsMismatchedInnerDims) {
  expect_error(
      [] {
        infer(OpKind::matmul, {{DType::f32, {4, 3}}, {DType::f32, {5, 2}}});
      },
      {"matmul: inner dimensions must agree (a's last dim K with b's second-to-last), but got f32[4, 3] and "
       "f32[5, 2]"});
}

TEST(InterpMatMul, MismatchMessageNamesTheTransposedDims) {
  expect_error(
      [] {
        infer(OpKind::matmul, {{DType::f32, {4, 3}}, {DType::f32, {2, 5}}}, Attrs{{"transpose_b", true}});
      },
      {"b's last", "transpose_b=true", "f32[4, 3]", "f32[2, 5]"});
}

TEST(InterpMatMul, RejectsAVectorOperand) {
  expect_error(
      [] {
        infer(OpKind::matmul, {{DType::f32, {3}}, {DType::f32, {3, 2}}});
      },
      {"rank >= 2", "reshape a vector to [1, K]", "f32[3]"});
  expect_error(
      [] {
        infer(OpKind::matmul, {{DType::f32, {2, 3}}, {DType::f32, {3}}});
      },
      {"rank >= 2", "[K, 1]", "f32[3]"});
}

TEST(InterpMatMul, RejectsMixedDtypes) {
  expect_error(
      [] {
        infer(OpKind::matmul, {{DType::f32, {2, 3}}, {DType::f64, {3, 2}}});
      },
      {"matmul", "same dtype", "f32[2, 3]", "f64[3, 2]"});
}

TEST(InterpMatMul, RejectsIntegers) {
  expect_error(
      [] {
        infer(OpKind::matmul, {{DType::i32, {2, 3}}, {DType::i32, {3, 2}}});
      },
      {"matmul", "floating-point", "i32[2, 3]"});
}

TEST(InterpMatMul, RejectsIncompatibleBatchDims) {
  expect_error(
      [] {
        infer(OpKind::matmul, {{DType::f32, {2, 4, 3}}, {DType::f32, {5, 3, 2}}});
      },
      {"matmul", "batch dims", "f32[2, 4, 3]", "f32[5, 3, 2]"});
}

TEST(InterpMatMul, FusionKindIsMatMul) { EXPECT_EQ(op_def(OpKind::matmul).fusion, FusionKind::matmul); }

TEST(InterpMatMulSymbolic, ProjectsEveryTimeStep) {
  // x: f32[B, T, 2] @ w: f32[2, 3] -> f32[B, T, 3], one graph run at T = 3 and T = 7.
  Graph g("proj");
  ValueId x = g.add_input("x", {DType::f32, symbolic({sym("B"), sym("T"), 2})});
  ValueId w = g.add_input("w", {DType::f32, symbolic({2, 3})});
  GraphBuilder b(g);
  ValueId y = b.binary(OpKind::matmul, x, w);
  g.add_output("y", y);
  EXPECT_EQ(g.type(y).str(), "f32[B, T, 3]");
  // w = [[1, 0, 1], [0, 1, 1]]: y = (x0, x1, x0 + x1).
  Tensor wt = f32({2, 3}, {1.f, 0.f, 1.f, 0.f, 1.f, 1.f});
  std::vector<float> x3 = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f};
  expect_tensor<float>(interpret(g, std::vector<Tensor>{f32({1, 3, 2}, x3), wt}, {})[0], {1, 3, 3},
                       {1.f, 2.f, 3.f, 3.f, 4.f, 7.f, 5.f, 6.f, 11.f});
  std::vector<float> x7(2 * 7 * 2, 1.f);
  std::vector<float> want7(2 * 7 * 3, 1.f);
  for (size_t i = 2; i < want7.size(); i += 3) want7[i] = 2.f;
  expect_tensor<float>(interpret(g, std::vector<Tensor>{f32({2, 7, 2}, x7), wt}, {})[0], {2, 7, 3}, want7);
}

}  // namespace
}  // namespace weft
