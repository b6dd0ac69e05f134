// What a run says when its inputs are wrong: the graph, the input, and (for a misspelled name) both
// the missing and the unknown one — the same text on the interpreter and on the LLVM backend.
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "frontend/builder.h"
#include "frontend/tensor_ops.h"

namespace weft {
namespace {

Graph two_inputs() {
  Builder b("scale");
  dsl::Tensor x = b.input("x", "f32[B<=256, 4]");
  dsl::Tensor s = b.input("s", "f32[B]");
  b.output("y", x * dsl::reshape(s, {b.symbol("B"), 1}));
  return b.finish();
}

std::string run_error(const std::string& backend, const std::map<std::string, Tensor>& inputs) {
  auto exe = make_backend(backend)->compile(two_inputs());
  try {
    exe->run_named(inputs);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

class RunErrors : public ::testing::TestWithParam<std::string> {};

TEST_P(RunErrors, AWrongShapeNamesTheGraphAndTheInput) {
  EXPECT_EQ(run_error(GetParam(), {{"x", Tensor::zeros(DType::f32, {2, 3})}, {"s", Tensor::zeros(DType::f32, {2})}}),
            "input 'x' of graph 'scale' must be f32[B, 4], but got f32[2, 3] (dim 1 should be 4)");
  EXPECT_EQ(run_error(GetParam(), {{"x", Tensor::zeros(DType::f64, {2, 4})}, {"s", Tensor::zeros(DType::f32, {2})}}),
            "input 'x' of graph 'scale' must be f32[B, 4], but got f64[2, 4]");
}

TEST_P(RunErrors, ABoundTooSmallNamesTheInputThatBoundTheSymbol) {
  EXPECT_EQ(
      run_error(GetParam(), {{"x", Tensor::zeros(DType::f32, {1000, 4})}, {"s", Tensor::zeros(DType::f32, {1000})}}),
      "symbolic dim B = 1000 exceeds its declared bound B <= 256 (input 'x' of graph 'scale' is f32[1000, 4], "
      "declared f32[B, 4])");
}

TEST_P(RunErrors, DisagreeingInputsNameBoth) {
  EXPECT_EQ(run_error(GetParam(), {{"x", Tensor::zeros(DType::f32, {2, 4})}, {"s", Tensor::zeros(DType::f32, {3})}}),
            "input 's' of graph 'scale' has B = 3 at dim 0, but input 'x' bound B = 2 (f32[B] vs f32[3])");
}

TEST_P(RunErrors, AMisspelledInputNamesTheMissingAndTheUnknownOne) {
  EXPECT_EQ(
      run_error(GetParam(), {{"x", Tensor::zeros(DType::f32, {2, 4})}, {"scale", Tensor::zeros(DType::f32, {2})}}),
      "graph 'scale': missing input 's' (f32[B]); unknown input 'scale' (its inputs: x, s)");
  EXPECT_EQ(run_error(GetParam(), {}),
            "graph 'scale': missing inputs 'x' (f32[B, 4]), 's' (f32[B]) (its inputs: x, s)");
}

INSTANTIATE_TEST_SUITE_P(Backends, RunErrors, ::testing::Values("interp", "llvm"));

}  // namespace
}  // namespace weft
