// Unary elementwise ops on the reference interpreter: values, dtypes, special values, zero-size tensors.
#include <limits>

#include "tests/interp_elementwise/testing.h"

namespace weft {
namespace {

using namespace weft::testing;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST(InterpUnary, NegNegatesFloatsIncludingZero) {
  Tensor y = run_op(OpKind::neg, {f32({4}, {1.5f, -2.f, 0.f, kInf})});
  expect_tensor<float>(y, {4}, {-1.5f, 2.f, -0.f, -kInf});
  EXPECT_TRUE(std::signbit(y.to_vector<float>()[2])) << "neg(0.0) is -0.0";
}

TEST(InterpUnary, NegOfIntegersWrapsAtTheMinimum) {
  int32_t min = std::numeric_limits<int32_t>::min();
  expect_tensor<int32_t>(run_op(OpKind::neg, {i32({3}, {5, -7, min})}), {3}, {-5, 7, min});
}

TEST(InterpUnary, AbsOfFloatsAndIntegers) {
  expect_tensor<float>(run_op(OpKind::abs, {f32({3}, {-2.5f, 0.f, 3.f})}), {3}, {2.5f, 0.f, 3.f});
  expect_tensor<int64_t>(run_op(OpKind::abs, {i64({3}, {-9, 0, 4})}), {3}, {9, 0, 4});
  expect_tensor<double>(run_op(OpKind::abs, {f64({2}, {-0.25, 8.0})}), {2}, {0.25, 8.0});
}

TEST(InterpUnary, ExpAndLogOfKnownPoints) {
  expect_near<float>(run_op(OpKind::exp, {f32({3}, {0.f, 1.f, -1.f})}), {3}, {1.0, 2.718281828, 0.367879441}, 1e-6);
  expect_tensor<float>(run_op(OpKind::exp, {f32({2}, {-kInf, 1000.f})}), {2}, {0.f, kInf});
  expect_near<float>(run_op(OpKind::log, {f32({3}, {1.f, 0.5f, 8.f})}), {3}, {0.0, -0.693147181, 2.079441542}, 1e-6);
  expect_tensor<float>(run_op(OpKind::log, {f32({2}, {0.f, -1.f})}), {2}, {-kInf, kNaN});
}

TEST(InterpUnary, SqrtAndRsqrt) {
  expect_tensor<float>(run_op(OpKind::sqrt, {f32({3}, {4.f, 0.25f, 0.f})}), {3}, {2.f, 0.5f, 0.f});
  expect_tensor<float>(run_op(OpKind::sqrt, {f32({1}, {-1.f})}), {1}, {kNaN});
  expect_tensor<float>(run_op(OpKind::rsqrt, {f32({3}, {4.f, 0.25f, 0.f})}), {3}, {0.5f, 2.f, kInf});
  expect_tensor<double>(run_op(OpKind::rsqrt, {f64({1}, {16.0})}), {1}, {0.25});
}

TEST(InterpUnary, TanhAndSigmoid) {
  expect_near<float>(run_op(OpKind::tanh, {f32({3}, {0.f, 1.f, -20.f})}), {3}, {0.0, 0.761594156, -1.0}, 1e-6);
  // sigmoid(-100) = 3.7e-44 is a float denormal: it must not become NaN through exp overflow.
  expect_near<float>(run_op(OpKind::sigmoid, {f32({4}, {0.f, 2.f, -100.f, 100.f})}), {4}, {0.5, 0.880797078, 0.0, 1.0},
                     1e-6);
}

TEST(InterpUnary, ReluClampsNegativesAndKeepsNaN) {
  expect_tensor<float>(run_op(OpKind::relu, {f32({4}, {-1.f, 0.f, 2.5f, kNaN})}), {4}, {0.f, 0.f, 2.5f, kNaN});
  expect_tensor<int32_t>(run_op(OpKind::relu, {i32({3}, {-4, 0, 4})}), {3}, {0, 0, 4});
}

TEST(InterpUnary, GeluIsTheExactErfFormByDefault) {
  // 0.5 x (1 + erf(x / sqrt 2)) = x Phi(x); Phi(1) = 0.841344746, Phi(2) = 0.977249868.
  expect_near<float>(run_op(OpKind::gelu, {f32({4}, {-1.f, 0.f, 1.f, 2.f})}), {4},
                     {-0.158655254, 0.0, 0.841344746, 1.954499736}, 1e-6);
  expect_near<double>(run_op(OpKind::gelu, {f64({1}, {1.0})}), {1}, {0.8413447460685429}, 1e-15);
}

TEST(InterpUnary, GeluTanhApproximationDiffersFromExact) {
  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): at 1 it is 0.841192, 1.5e-4 below the exact 0.841345.
  Attrs tanh_form{{"approximate", std::string("tanh")}};
  expect_near<float>(run_op(OpKind::gelu, {f32({4}, {-1.f, 0.f, 1.f, 2.f})}, tanh_form), {4},
                     {-0.158808009, 0.0, 0.841191991, 1.954597694}, 1e-6);
}

TEST(InterpUnary, GeluRejectsAnUnknownApproximation) {
  expect_error(
      [] {
        infer(OpKind::gelu, {{DType::f32, {2}}}, {{"approximate", std::string("fast")}});
      },
      {"gelu", "approximate", "\"fast\""});
}

TEST(InterpUnary, SinAndCos) {
  expect_near<float>(run_op(OpKind::sin, {f32({3}, {0.f, 1.f, 1.5707963f})}), {3}, {0.0, 0.841470985, 1.0}, 1e-6);
  expect_near<float>(run_op(OpKind::cos, {f32({3}, {0.f, 1.f, 3.14159265f})}), {3}, {1.0, 0.540302306, -1.0}, 1e-6);
}

TEST(InterpUnary, LogicalNotFlipsBools) {
  expect_tensor<bool>(run_op(OpKind::logical_not, {boolean({3}, {true, false, true})}), {3}, {false, true, false});
}

TEST(InterpUnary, FloatOnlyOpsRejectIntegers) {
  for (OpKind op : {OpKind::exp, OpKind::log, OpKind::sqrt, OpKind::rsqrt, OpKind::tanh, OpKind::sigmoid, OpKind::gelu,
                    OpKind::sin, OpKind::cos})
    expect_error([op] { infer(op, {{DType::i32, {2, 3}}}); }, {"floating-point", "i32[2, 3]"});
}

TEST(InterpUnary, NumericOpsRejectBool) {
  for (OpKind op : {OpKind::neg, OpKind::abs, OpKind::relu})
    expect_error([op] { infer(op, {{DType::boolean, {4}}}); }, {"numeric", "bool[4]"});
}

TEST(InterpUnary, LogicalNotRejectsNumbers) {
  expect_error([] { infer(OpKind::logical_not, {{DType::f32, {4}}}); }, {"logical_not", "bool", "f32[4]"});
}

TEST(InterpUnary, ZeroSizeTensorsKeepTheirShape) {
  expect_tensor<float>(run_op(OpKind::exp, {f32({0, 3}, {})}), {0, 3}, {});
  expect_tensor<int64_t>(run_op(OpKind::neg, {i64({2, 0}, {})}), {2, 0}, {});
}

TEST(InterpUnary, ScalarsAreRankZeroTensors) {
  expect_tensor<double>(run_op(OpKind::sqrt, {f64({}, {9.0})}), {}, {3.0});
}

}  // namespace
}  // namespace weft
