/** \file
 * Reductions over an axis of size 0 on the LLVM backend agree with the interpreter
 * (backends/interp/reduction_kernels.cpp): reduce_max, reduce_min and argmax throw weft::Error
 * with the interpreter's message when they have output elements, and give empty results when they
 * have none; reduce_sum gives 0 and reduce_mean NaN (integers 0). The sizes are symbolic, bound to
 * 0 at run time, so one executable also runs the non-empty case.
 */
#include <gtest/gtest.h>

#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "ir/graph_builder.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

/// One reduction of x: TYPE[R, N] over `axes` (argmax: over axes[0]).
Graph reduction(OpKind op, DType dtype, std::vector<int64_t> axes) {
  Graph g(std::string(op_name(op)));
  g.declare_symbol("R", 64);
  g.declare_symbol("N", 64);
  ValueId x = g.add_input("x", TensorType{dtype, {sym("R"), sym("N")}});
  GraphBuilder b(g);
  Attrs attrs;
  if (op == OpKind::argmax) {
    attrs.set("axis", axes[0]);
  } else {
    attrs.set("axes", axes);
  }
  attrs.set("keepdims", false);
  g.add_output("y", b.emit1(op, {x}, attrs));
  return g;
}

Tensor empty_input(DType dtype, int64_t rows, int64_t cols) { return Tensor::zeros(dtype, {rows, cols}); }

/// The message of the weft::Error that running `exe` on `inputs` throws; fails when none.
std::string error_of(Executable& exe, const std::vector<Tensor>& inputs) {
  try {
    exe.run(inputs);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected weft::Error";
  return "";
}

struct EmptyCase {
  OpKind op;
  DType dtype;
  const char* message;  // the interpreter's, for x of shape [3, 0] reduced over axis 1
};

TEST(LlvmEmptyAxis, MaxMinArgmaxThrowTheInterpretersError) {
  const std::vector<EmptyCase> cases = {
      {OpKind::reduce_max, DType::f32,
       "reduce_max over an empty axis: axis 1 of f32[3, 0] has size 0, and the maximum of no elements is undefined"},
      {OpKind::reduce_min, DType::f32,
       "reduce_min over an empty axis: axis 1 of f32[3, 0] has size 0, and the minimum of no elements is undefined"},
      {OpKind::reduce_max, DType::i32,
       "reduce_max over an empty axis: axis 1 of i32[3, 0] has size 0, and the maximum of no elements is undefined"},
      {OpKind::argmax, DType::f32,
       "argmax over an empty axis: axis 1 of f32[3, 0] has size 0, so there is no maximum to index"},
      {OpKind::argmax, DType::i64,
       "argmax over an empty axis: axis 1 of i64[3, 0] has size 0, so there is no maximum to index"},
  };
  for (const EmptyCase& c : cases) {
    SCOPED_TRACE(std::string(op_name(c.op)) + " " + std::string(dtype_name(c.dtype)));
    Graph g = reduction(c.op, c.dtype, {1});
    auto llvm = LlvmBackend().compile_llvm(g);
    EXPECT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
    auto interp = InterpBackend().compile(g);
    std::vector<Tensor> inputs = {empty_input(c.dtype, 3, 0)};
    EXPECT_EQ(error_of(*interp, inputs), c.message);  // the oracle, so that the message above is its own
    EXPECT_EQ(error_of(*llvm, inputs), c.message);
    // The same executable still runs non-empty rows.
    expect_same_outputs(g, random_inputs(g, {{"R", 3}, {"N", 5}}, 1), kExact);
  }
}

TEST(LlvmEmptyAxis, NoRowsMeansNoErrorAndAnEmptyResult) {
  for (OpKind op : {OpKind::reduce_max, OpKind::reduce_min, OpKind::argmax}) {
    SCOPED_TRACE(op_name(op));
    Graph g = reduction(op, DType::f32, {1});
    std::vector<Tensor> inputs = {empty_input(DType::f32, 0, 0)};
    std::vector<Tensor> want = InterpBackend().compile(g)->run(inputs);
    std::vector<Tensor> got = LlvmBackend().compile(g)->run(inputs);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].type_str(), want[0].type_str());
    EXPECT_EQ(got[0].numel(), 0);
  }
}

TEST(LlvmEmptyAxis, ReducingBothAxesNamesTheFirstEmptyOne) {
  Graph g = reduction(OpKind::reduce_max, DType::f32, {0, 1});
  std::vector<Tensor> inputs = {empty_input(DType::f32, 4, 0)};
  const std::string want =
      "reduce_max over an empty axis: axis 1 of f32[4, 0] has size 0, and the maximum of no elements is undefined";
  EXPECT_EQ(error_of(*InterpBackend().compile(g), inputs), want);
  EXPECT_EQ(error_of(*LlvmBackend().compile(g), inputs), want);
}

TEST(LlvmEmptyAxis, SumIsZeroAndMeanIsNaNLikeTheInterpreter) {
  for (OpKind op : {OpKind::reduce_sum, OpKind::reduce_mean}) {
    for (DType dtype : {DType::f32, DType::i64}) {
      SCOPED_TRACE(std::string(op_name(op)) + " " + std::string(dtype_name(dtype)));
      Graph g = reduction(op, dtype, {1});
      std::vector<Tensor> inputs = {empty_input(dtype, 3, 0)};
      std::vector<Tensor> got = LlvmBackend().compile(g)->run(inputs);
      ASSERT_EQ(got[0].type_str(), std::string(dtype_name(dtype)) + "[3]");
      for (int64_t i = 0; i < 3; ++i) {
        if (op == OpKind::reduce_mean && dtype == DType::f32)
          EXPECT_TRUE(std::isnan(got[0].at(i)));
        else
          EXPECT_EQ(got[0].at(i), 0.0);
      }
      expect_same_outputs(g, inputs, kExact);
    }
  }
}

TEST(LlvmEmptyAxis, SoftmaxOverAnEmptyAxisFailsInItsMaximumAsOnTheInterpreter) {
  // The interpreter runs softmax through its decomposition, whose reduce_max fails; fused, the
  // maximum reaches no output, and the backend must fail all the same, with the same words.
  dsl::Builder b("softmax");
  auto x = b.input("x", "f32[R<=64, N<=64]");
  b.output("y", dsl::softmax(x));
  Graph g = b.finish();
  auto llvm = LlvmBackend().compile_llvm(g);
  EXPECT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
  std::vector<Tensor> inputs = {empty_input(DType::f32, 2, 0)};
  std::string want = error_of(*InterpBackend().compile(g), inputs);
  EXPECT_NE(want.find("reduce_max over an empty axis: axis 1 of f32[2, 0] has size 0"), std::string::npos) << want;
  EXPECT_EQ(error_of(*llvm, inputs), want);
  EXPECT_NE(want.find("empty_axis_test.cpp"), std::string::npos) << "the error names the user's line: " << want;
}

TEST(LlvmEmptyAxis, AMaximumFusedIntoAnEmptyResultStillFails) {
  // x - max(x) over [R, 0] has no elements, but the interpreter evaluates max(x) and fails.
  dsl::Builder b("centered");
  auto x = b.input("x", "f32[R<=64, N<=64]");
  b.output("y", x - dsl::max(x, {-1}, true));
  Graph g = b.finish();
  std::vector<Tensor> inputs = {empty_input(DType::f32, 5, 0)};
  std::string want = error_of(*InterpBackend().compile(g), inputs);
  EXPECT_EQ(error_of(*LlvmBackend().compile(g), inputs), want);
}

}  // namespace
}  // namespace weft::llvm_tests
