// cast on the reference interpreter: float -> int truncates and saturates (NaN -> 0), integers
// narrow by wrapping, anything -> bool is "nonzero", bool -> number is 0 or 1.
#include <limits>

#include "tests/interp_elementwise/testing.h"

namespace weft {
namespace {

using namespace weft::testing;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

Tensor cast_to(const Tensor& x, DType dtype) { return run_op(OpKind::cast, {x}, Attrs{{"dtype", dtype}}); }

TEST(InterpCast, FloatToIntTruncatesTowardZero) {
  expect_tensor<int32_t>(cast_to(f32({5}, {3.7f, -3.7f, 0.5f, -0.5f, 2.f}), DType::i32), {5}, {3, -3, 0, 0, 2});
}

TEST(InterpCast, FloatToIntSaturatesAndMapsNaNToZero) {
  constexpr int32_t max32 = std::numeric_limits<int32_t>::max();
  constexpr int32_t min32 = std::numeric_limits<int32_t>::min();
  expect_tensor<int32_t>(cast_to(f32({5}, {1e10f, -1e10f, kInf, -kInf, kNaN}), DType::i32), {5},
                         {max32, min32, max32, min32, 0});
  // 2^31 itself is one past the maximum; -2^31 is exactly the minimum.
  expect_tensor<int32_t>(cast_to(f64({2}, {2147483648.0, -2147483648.0}), DType::i32), {2}, {max32, min32});
  constexpr int64_t max64 = std::numeric_limits<int64_t>::max();
  constexpr int64_t min64 = std::numeric_limits<int64_t>::min();
  expect_tensor<int64_t>(cast_to(f64({4}, {1e19, -1e19, 9007199254740993.0, kNaN}), DType::i64), {4},
                         {max64, min64, 9007199254740992, 0});
}

TEST(InterpCast, IntToFloatRoundsToNearest) {
  // 2^24 + 1 is not a float: it rounds to even, 2^24.
  expect_tensor<float>(cast_to(i32({3}, {-7, 0, 16777217}), DType::f32), {3}, {-7.f, 0.f, 16777216.f});
  expect_tensor<double>(cast_to(i64({1}, {int64_t{1} << 40}), DType::f64), {1}, {1099511627776.0});
}

TEST(InterpCast, IntegerNarrowingWraps) {
  expect_tensor<int32_t>(cast_to(i64({3}, {(int64_t{1} << 32) + 5, -1, int64_t{1} << 31}), DType::i32), {3},
                         {5, -1, std::numeric_limits<int32_t>::min()});
  expect_tensor<int64_t>(cast_to(i32({1}, {-42}), DType::i64), {1}, {-42});
}

TEST(InterpCast, NonzeroBecomesTrue) {
  expect_tensor<bool>(cast_to(f32({5}, {0.f, -0.f, 0.5f, -2.f, kNaN}), DType::boolean), {5},
                      {false, false, true, true, true});
  expect_tensor<bool>(cast_to(i64({2}, {0, -3}), DType::boolean), {2}, {false, true});
}

TEST(InterpCast, BoolBecomesZeroOrOne) {
  Tensor b = boolean({2}, {true, false});
  expect_tensor<float>(cast_to(b, DType::f32), {2}, {1.f, 0.f});
  expect_tensor<int64_t>(cast_to(b, DType::i64), {2}, {1, 0});
  expect_tensor<bool>(cast_to(b, DType::boolean), {2}, {true, false});
}

TEST(InterpCast, BetweenFloatWidths) {
  expect_tensor<double>(cast_to(f32({2}, {0.1f, -kInf}), DType::f64), {2}, {static_cast<double>(0.1f), -kInf});
  expect_tensor<float>(cast_to(f64({2}, {0.1, 1e300}), DType::f32), {2}, {0.1f, kInf});
}

TEST(InterpCast, KeepsShapeIncludingSymbolicAndZeroSize) {
  EXPECT_EQ(infer(OpKind::cast, {{DType::f32, symbolic({sym("B"), 3})}}, Attrs{{"dtype", DType::i64}}).str(),
            "i64[B, 3]");
  expect_tensor<int32_t>(cast_to(f32({0, 3}, {}), DType::i32), {0, 3}, {});
}

TEST(InterpCast, RequiresADtype) {
  expect_error([] { infer(OpKind::cast, {{DType::f32, {2}}}); }, {"cast", "missing required attribute 'dtype'"});
}

TEST(InterpCast, IsElementwise) { EXPECT_EQ(op_def(OpKind::cast).fusion, FusionKind::elementwise); }

}  // namespace
}  // namespace weft
