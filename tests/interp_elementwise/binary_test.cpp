// Binary elementwise ops on the reference interpreter: arithmetic, comparisons, logic, NumPy
// broadcasting, strict dtypes, integer edge cases and zero-size tensors.
#include <limits>

#include "tests/interp_elementwise/testing.h"

namespace weft {
namespace {

using namespace weft::testing;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(InterpBinary, AddSubMulDivOfFloats) {
  Tensor a = f32({4}, {1.f, -2.f, 3.5f, 10.f});
  Tensor b = f32({4}, {4.f, 0.5f, -1.f, 4.f});
  expect_tensor<float>(run_op(OpKind::add, {a, b}), {4}, {5.f, -1.5f, 2.5f, 14.f});
  expect_tensor<float>(run_op(OpKind::sub, {a, b}), {4}, {-3.f, -2.5f, 4.5f, 6.f});
  expect_tensor<float>(run_op(OpKind::mul, {a, b}), {4}, {4.f, -1.f, -3.5f, 40.f});
  expect_tensor<float>(run_op(OpKind::div, {a, b}), {4}, {0.25f, -4.f, -3.5f, 2.5f});
}

TEST(InterpBinary, FloatDivisionByZeroFollowsIEEE) {
  expect_tensor<float>(run_op(OpKind::div, {f32({3}, {1.f, -1.f, 0.f}), f32({3}, {0.f, 0.f, 0.f})}), {3},
                       {kInf, -kInf, kNaN});
}

TEST(InterpBinary, ArithmeticOnF64AndI64) {
  expect_tensor<double>(run_op(OpKind::mul, {f64({2}, {0.1, 3.0}), f64({2}, {10.0, -2.0})}), {2}, {1.0, -6.0});
  expect_tensor<int64_t>(run_op(OpKind::sub, {i64({2}, {5, -3}), i64({2}, {7, -3})}), {2}, {-2, 0});
}

TEST(InterpBinary, IntegerDivisionTruncatesTowardZero) {
  expect_tensor<int32_t>(run_op(OpKind::div, {i32({4}, {7, -7, 7, -7}), i32({4}, {2, 2, -2, -2})}), {4},
                         {3, -3, -3, 3});
}

TEST(InterpBinary, IntegerDivisionByZeroGivesZero) {
  expect_tensor<int32_t>(run_op(OpKind::div, {i32({2}, {5, 0}), i32({2}, {0, 0})}), {2}, {0, 0});
  expect_tensor<int64_t>(run_op(OpKind::div, {i64({1}, {-9}), i64({1}, {0})}), {1}, {0});
}

TEST(InterpBinary, IntegerOverflowWraps) {
  int32_t max = std::numeric_limits<int32_t>::max();
  int32_t min = std::numeric_limits<int32_t>::min();
  expect_tensor<int32_t>(run_op(OpKind::add, {i32({1}, {max}), i32({1}, {1})}), {1}, {min});
  expect_tensor<int32_t>(run_op(OpKind::mul, {i32({1}, {65536}), i32({1}, {65536})}), {1}, {0});
  expect_tensor<int32_t>(run_op(OpKind::div, {i32({1}, {min}), i32({1}, {-1})}), {1}, {min});
}

TEST(InterpBinary, PowOfFloats) {
  expect_tensor<float>(run_op(OpKind::pow, {f32({4}, {2.f, 4.f, 9.f, 0.f}), f32({4}, {3.f, 0.5f, 0.f, 0.f})}), {4},
                       {8.f, 2.f, 1.f, 1.f});
  expect_tensor<float>(run_op(OpKind::pow, {f32({1}, {-8.f}), f32({1}, {0.5f})}), {1}, {kNaN});
}

TEST(InterpBinary, PowRejectsIntegers) {
  expect_error([] { infer(OpKind::pow, {{DType::i64, {2}}, {DType::i64, {2}}}); }, {"pow", "floating-point"});
}

TEST(InterpBinary, MaxAndMinPropagateNaN) {
  Tensor a = f32({4}, {1.f, 5.f, kNaN, 2.f});
  Tensor b = f32({4}, {3.f, -5.f, 0.f, kNaN});
  expect_tensor<float>(run_op(OpKind::maximum, {a, b}), {4}, {3.f, 5.f, kNaN, kNaN});
  expect_tensor<float>(run_op(OpKind::minimum, {a, b}), {4}, {1.f, -5.f, kNaN, kNaN});
  expect_tensor<int32_t>(run_op(OpKind::maximum, {i32({2}, {-1, 7}), i32({2}, {3, 2})}), {2}, {3, 7});
}

TEST(InterpBinary, ComparisonsGiveBool) {
  Tensor a = f32({3}, {1.f, 2.f, 3.f});
  Tensor b = f32({3}, {2.f, 2.f, 2.f});
  expect_tensor<bool>(run_op(OpKind::eq, {a, b}), {3}, {false, true, false});
  expect_tensor<bool>(run_op(OpKind::ne, {a, b}), {3}, {true, false, true});
  expect_tensor<bool>(run_op(OpKind::lt, {a, b}), {3}, {true, false, false});
  expect_tensor<bool>(run_op(OpKind::le, {a, b}), {3}, {true, true, false});
  expect_tensor<bool>(run_op(OpKind::gt, {a, b}), {3}, {false, false, true});
  expect_tensor<bool>(run_op(OpKind::ge, {a, b}), {3}, {false, true, true});
  expect_tensor<bool>(run_op(OpKind::lt, {i64({2}, {-1, 4}), i64({2}, {0, 4})}), {2}, {true, false});
}

TEST(InterpBinary, ComparisonsWithNaNAreFalseExceptNe) {
  Tensor a = f32({1}, {kNaN});
  for (OpKind op : {OpKind::eq, OpKind::lt, OpKind::le, OpKind::gt, OpKind::ge})
    expect_tensor<bool>(run_op(op, {a, a}), {1}, {false});
  expect_tensor<bool>(run_op(OpKind::ne, {a, a}), {1}, {true});
}

TEST(InterpBinary, LogicalAndOr) {
  Tensor a = boolean({4}, {false, false, true, true});
  Tensor b = boolean({4}, {false, true, false, true});
  expect_tensor<bool>(run_op(OpKind::logical_and, {a, b}), {4}, {false, false, false, true});
  expect_tensor<bool>(run_op(OpKind::logical_or, {a, b}), {4}, {false, true, true, true});
}

TEST(InterpBinary, ColumnPlusRowBroadcastsToAMatrix) {
  // [3, 1] + [1, 4] -> [3, 4]: out[i][j] = a[i] + b[j].
  Tensor a = f32({3, 1}, {0.f, 10.f, 20.f});
  Tensor b = f32({1, 4}, {1.f, 2.f, 3.f, 4.f});
  expect_tensor<float>(run_op(OpKind::add, {a, b}), {3, 4},
                       {1.f, 2.f, 3.f, 4.f, 11.f, 12.f, 13.f, 14.f, 21.f, 22.f, 23.f, 24.f});
}

TEST(InterpBinary, ScalarBroadcastsAgainstATensorOnEitherSide) {
  Tensor s = f32({}, {10.f});
  Tensor x = f32({2, 2}, {1.f, 2.f, 3.f, 4.f});
  expect_tensor<float>(run_op(OpKind::sub, {x, s}), {2, 2}, {-9.f, -8.f, -7.f, -6.f});
  expect_tensor<float>(run_op(OpKind::sub, {s, x}), {2, 2}, {9.f, 8.f, 7.f, 6.f});
  expect_tensor<float>(run_op(OpKind::add, {s, s}), {}, {20.f});
}

TEST(InterpBinary, LowerRankOperandAlignsFromTheRight) {
  // [2, 3] * [3]: the vector multiplies each row.
  Tensor x = i32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor v = i32({3}, {1, 0, -1});
  expect_tensor<int32_t>(run_op(OpKind::mul, {x, v}), {2, 3}, {1, 0, -3, 4, 0, -6});
  expect_tensor<int32_t>(run_op(OpKind::mul, {v, x}), {2, 3}, {1, 0, -3, 4, 0, -6});
}

TEST(InterpBinary, BroadcastingAcrossThreeRanks) {
  // [2, 1, 2] + [3, 1] -> [2, 3, 2]
  Tensor a = f32({2, 1, 2}, {0.f, 1.f, 100.f, 101.f});
  Tensor b = f32({3, 1}, {10.f, 20.f, 30.f});
  expect_tensor<float>(run_op(OpKind::add, {a, b}), {2, 3, 2},
                       {10.f, 11.f, 20.f, 21.f, 30.f, 31.f, 110.f, 111.f, 120.f, 121.f, 130.f, 131.f});
}

TEST(InterpBinary, AddRejectsMixedDtypesNamingBothTypes) {
  expect_error(
      [] {
        infer(OpKind::add, {{DType::f32, {2, 3}}, {DType::i32, {2, 3}}});
      },
      {"add", "same dtype", "f32[2, 3]", "i32[2, 3]"});
}

TEST(InterpBinary, AddRejectsIncompatibleShapesNamingBothTypes) {
  expect_error(
      [] {
        infer(OpKind::add, {{DType::f32, {2, 3}}, {DType::f32, {4}}});
      },
      {"add", "broadcast", "f32[2, 3]", "f32[4]"});
}

TEST(InterpBinary, ArithmeticRejectsBool) {
  expect_error([] { infer(OpKind::add, {{DType::boolean, {2}}, {DType::boolean, {2}}}); }, {"add", "numeric"});
  expect_error([] { infer(OpKind::lt, {{DType::boolean, {2}}, {DType::boolean, {2}}}); }, {"lt", "numeric"});
}

TEST(InterpBinary, LogicalOpsRejectNumbers) {
  expect_error(
      [] {
        infer(OpKind::logical_and, {{DType::i32, {2}}, {DType::i32, {2}}});
      },
      {"logical_and", "bool", "i32[2]"});
}

TEST(InterpBinary, ZeroSizeDimBroadcastsAgainstOne) {
  // [0, 3] + [1, 3] -> [0, 3]; [0, 3] + [3] -> [0, 3]; [2, 1] + [1, 0] -> [2, 0].
  expect_tensor<float>(run_op(OpKind::add, {f32({0, 3}, {}), f32({1, 3}, {1.f, 2.f, 3.f})}), {0, 3}, {});
  expect_tensor<float>(run_op(OpKind::mul, {f32({0, 3}, {}), f32({3}, {1.f, 2.f, 3.f})}), {0, 3}, {});
  expect_tensor<bool>(run_op(OpKind::eq, {i64({2, 1}, {1, 2}), i64({1, 0}, {})}), {2, 0}, {});
}

TEST(InterpBinary, ZeroSizeDimDoesNotBroadcastAgainstANonOne) {
  expect_error([] { infer(OpKind::add, {{DType::f32, {0, 3}}, {DType::f32, {2, 3}}}); }, {"f32[0, 3]", "f32[2, 3]"});
}

}  // namespace
}  // namespace weft
