// select, and elementwise graphs over symbolic dims: one graph built once, run at several sizes.
#include "tests/interp_elementwise/testing.h"

namespace weft {
namespace {

using namespace weft::testing;

TEST(InterpSelect, PicksFromABranchPerElement) {
  Tensor c = boolean({4}, {true, false, false, true});
  Tensor a = i64({4}, {1, 2, 3, 4});
  Tensor b = i64({4}, {-1, -2, -3, -4});
  expect_tensor<int64_t>(run_op(OpKind::select, {c, a, b}), {4}, {1, -2, -3, 4});
}

TEST(InterpSelect, BroadcastsAllThreeOperands) {
  // cond [3, 1], a [1, 4], b scalar -> [3, 4].
  Tensor c = boolean({3, 1}, {true, false, true});
  Tensor a = f32({1, 4}, {1.f, 2.f, 3.f, 4.f});
  Tensor b = f32({}, {0.f});
  expect_tensor<float>(run_op(OpKind::select, {c, a, b}), {3, 4},
                       {1.f, 2.f, 3.f, 4.f, 0.f, 0.f, 0.f, 0.f, 1.f, 2.f, 3.f, 4.f});
}

TEST(InterpSelect, ScalarConditionChoosesAWholeBranch) {
  Tensor a = f64({2}, {1.0, 2.0});
  Tensor b = f64({2}, {3.0, 4.0});
  expect_tensor<double>(run_op(OpKind::select, {boolean({}, {false}), a, b}), {2}, {3.0, 4.0});
}

TEST(InterpSelect, WorksOnBoolBranches) {
  Tensor c = boolean({2}, {true, false});
  expect_tensor<bool>(run_op(OpKind::select, {c, boolean({2}, {false, false}), boolean({2}, {true, true})}), {2},
                      {false, true});
}

TEST(InterpSelect, RejectsANonBoolCondition) {
  expect_error(
      [] {
        infer(OpKind::select, {{DType::f32, {2}}, {DType::f32, {2}}, {DType::f32, {2}}});
      },
      {"select", "condition", "bool", "f32[2]"});
}

TEST(InterpSelect, RejectsBranchesOfDifferentDtypes) {
  expect_error(
      [] {
        infer(OpKind::select, {{DType::boolean, {2}}, {DType::f32, {2}}, {DType::f64, {2}}});
      },
      {"select", "f32[2]", "f64[2]"});
}

TEST(InterpSelect, ZeroSizeCondition) {
  Tensor c = boolean({0, 2}, {});
  expect_tensor<float>(run_op(OpKind::select, {c, f32({2}, {1.f, 2.f}), f32({}, {0.f})}), {0, 2}, {});
}

// x: f32[B, T], bias: f32[T] -> y = relu(x) + bias, m = x > bias (per row), built once.
struct SymbolicGraph {
  Graph g{"symbolic"};
  SymbolicGraph() {
    g.declare_symbol("B");
    g.declare_symbol("T");
    ValueId x = g.add_input("x", {DType::f32, symbolic({sym("B"), sym("T")})});
    ValueId bias = g.add_input("bias", {DType::f32, symbolic({sym("T")})});
    GraphBuilder b(g);
    ValueId y = b.binary(OpKind::add, b.unary(OpKind::relu, x), bias);
    ValueId m = b.binary(OpKind::gt, x, bias);
    g.add_output("y", y);
    g.add_output("m", m);
  }
};

TEST(InterpSymbolic, ElementwiseShapesKeepSymbolicDims) {
  SymbolicGraph s;
  EXPECT_EQ(s.g.type(s.g.outputs()[0].value).str(), "f32[B, T]");
  EXPECT_EQ(s.g.type(s.g.outputs()[1].value).str(), "bool[B, T]");
}

TEST(InterpSymbolic, OneGraphRunsWithDifferentSequenceLengths) {
  SymbolicGraph s;
  {
    std::vector<Tensor> in = {f32({2, 3}, {-1.f, 2.f, -3.f, 4.f, -5.f, 6.f}), f32({3}, {0.5f, 1.f, 1.5f})};
    std::vector<Tensor> out = interpret(s.g, in, {});
    expect_tensor<float>(out[0], {2, 3}, {0.5f, 3.f, 1.5f, 4.5f, 1.f, 7.5f});
    expect_tensor<bool>(out[1], {2, 3}, {false, true, false, true, false, true});
  }
  {
    std::vector<Tensor> in = {f32({1, 7}, {1.f, -1.f, 2.f, -2.f, 3.f, -3.f, 0.f}),
                              f32({7}, {1.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f})};
    std::vector<Tensor> out = interpret(s.g, in, {});
    expect_tensor<float>(out[0], {1, 7}, {2.f, 1.f, 3.f, 1.f, 4.f, 1.f, 1.f});
    expect_tensor<bool>(out[1], {1, 7}, {false, false, true, false, true, false, false});
  }
}

TEST(InterpSymbolic, BroadcastingDistinctSymbolsIsRejected) {
  // B and T are different symbols: nothing says they are equal, so [B] + [T] is an error at build time.
  expect_error(
      [] {
        infer(OpKind::add, {{DType::f32, symbolic({sym("B")})}, {DType::f32, symbolic({sym("T")})}});
      },
      {"add", "f32[B]", "f32[T]"});
}

TEST(InterpSymbolic, SymbolicDimBroadcastsAgainstOne) {
  EXPECT_EQ(infer(OpKind::mul, {{DType::f32, symbolic({sym("B"), 1})}, {DType::f32, symbolic({1, sym("T")})}}).str(),
            "f32[B, T]");
}

}  // namespace
}  // namespace weft
