/** \file
 * Constant folding with the interpreter as evaluator: folded values checked by hand, the folded
 * graph computing the same outputs, and each reason a node is left alone.
 */
#include "passes/fold_constants.h"

#include <gtest/gtest.h>

#include "backends/interp/constant_evaluator.h"
#include "backends/interp/interpreter.h"
#include "passes/dce.h"
#include "test_graphs.h"

namespace weft {
namespace {

using pass_tests::f32;
using pass_tests::scalar;
using pass_tests::sym;

Graph fold(const Graph& g, FoldOptions options = {}) {
  Graph out = fold_constants(g, interpreter_constant_evaluator(), options);
  verify(out);
  return out;
}

ValueId vector_constant(GraphBuilder& b, std::vector<double> values, DType dtype = DType::f32) {
  Shape shape{static_cast<int64_t>(values.size())};
  return b.emit1(OpKind::constant, {}, Attrs{{"value", std::move(values)}, {"dtype", dtype}, {"shape", shape}});
}

/// The `value` attribute of the constant producing `v`; fails the test if it is not a constant.
std::vector<double> constant_value(const Graph& g, ValueId v) {
  const Node* n = g.producer(v);
  EXPECT_TRUE(n && n->op == OpKind::constant);
  return n && n->op == OpKind::constant ? n->attrs.get_reals("value") : std::vector<double>{};
}

TEST(FoldConstants, FoldsAChainOfScalarArithmetic) {
  Graph g("chain");
  GraphBuilder b(g);
  ValueId sum = b.binary(OpKind::add, scalar(b, 2), scalar(b, 3));
  g.add_output("y", b.binary(OpKind::mul, sum, scalar(b, 4)));  // (2 + 3) * 4
  Graph out = dce(fold(g));
  ASSERT_EQ(out.nodes().size(), 1u);
  EXPECT_EQ(constant_value(out, out.outputs()[0].value), std::vector<double>{20.0});
  EXPECT_EQ(out.type(out.outputs()[0].value), f32({}));
}

TEST(FoldConstants, FoldsVectorsWithBroadcasting) {
  Graph g("vectors");
  GraphBuilder b(g);
  ValueId v = b.unary(OpKind::abs, vector_constant(b, {1, -2, 3}));
  g.add_output("y", b.binary(OpKind::add, v, scalar(b, 0.5)));  // |[1, -2, 3]| + 0.5
  Graph out = fold(g);
  EXPECT_EQ(constant_value(out, out.outputs()[0].value), (std::vector<double>{1.5, 2.5, 3.5}));
  EXPECT_EQ(out.type(out.outputs()[0].value), f32({3}));
}

TEST(FoldConstants, WritesEqualValuesAsASplat) {
  Graph g("splat");
  GraphBuilder b(g);
  g.add_output("y", b.unary(OpKind::neg, vector_constant(b, {2, 2, 2})));
  Graph out = fold(g);
  EXPECT_EQ(constant_value(out, out.outputs()[0].value), std::vector<double>{-2.0});
  EXPECT_EQ(out.type(out.outputs()[0].value), f32({3}));
}

TEST(FoldConstants, FoldsIntegersWithTheirOwnArithmetic) {
  Graph g("ints");
  GraphBuilder b(g);
  ValueId seven = b.constant(7, DType::i64);
  ValueId two = b.constant(2, DType::i64);
  g.add_output("q", b.binary(OpKind::div, seven, two));  // integer division truncates: 3
  g.add_output("lt", b.binary(OpKind::lt, two, seven));  // true: 1
  Graph out = fold(g);
  EXPECT_EQ(constant_value(out, out.outputs()[0].value), std::vector<double>{3.0});
  EXPECT_EQ(out.type(out.outputs()[0].value), (TensorType{DType::i64, {}}));
  EXPECT_EQ(constant_value(out, out.outputs()[1].value), std::vector<double>{1.0});
  EXPECT_EQ(out.type(out.outputs()[1].value), (TensorType{DType::boolean, {}}));
}

TEST(FoldConstants, KeepsTheScopeAndLocationOfTheFoldedNode) {
  Graph g("where");
  GraphBuilder b(g);
  ValueId c = scalar(b, 1);
  b.set_scope("decoder.proj");
  b.set_loc(SourceLoc{"model.cpp", 40, 0});
  g.add_output("y", b.unary(OpKind::exp, c));
  Graph out = fold(g);
  const Node* n = out.producer(out.outputs()[0].value);
  EXPECT_EQ(n->scope, "decoder.proj");
  EXPECT_EQ(n->loc, (SourceLoc{"model.cpp", 40, 0}));
}

TEST(FoldConstants, FoldedGraphComputesTheSameOutputs) {
  Graph g("mixed");
  ValueId x = g.add_input("x", f32({3}));
  GraphBuilder b(g);
  ValueId k = b.binary(OpKind::add, scalar(b, 2), scalar(b, 3));
  g.add_output("y", b.binary(OpKind::mul, x, k));  // x * (2 + 3)
  Graph out = dce(fold(g));
  ASSERT_EQ(out.nodes().size(), 2u);  // constant 5, mul
  EXPECT_EQ(out.nodes()[1].op, OpKind::mul);
  std::vector<Tensor> in{Tensor::from<float>({3}, {1, 2, 3})};
  EXPECT_EQ(interpret(out, in, {})[0].to_vector<float>(), (std::vector<float>{5, 10, 15}));
  EXPECT_EQ(interpret(g, in, {})[0].to_vector<float>(), (std::vector<float>{5, 10, 15}));
}

TEST(FoldConstants, LeavesNodesWithANonConstantOperand) {
  Graph g("input");
  ValueId x = g.add_input("x", f32({}));
  GraphBuilder b(g);
  g.add_output("y", b.binary(OpKind::add, x, scalar(b, 1)));
  Graph out = fold(g);
  EXPECT_EQ(out.producer(out.outputs()[0].value)->op, OpKind::add);
}

TEST(FoldConstants, NeverFoldsRngOps) {
  Graph g("rng");
  GraphBuilder b(g);
  ValueId offset = b.constant(0, DType::i64);
  g.add_output("u", b.emit1(OpKind::rng_uniform, {offset}, Attrs{{"seed", int64_t{1}}, {"shape", Shape{2}}}));
  Graph out = fold(g);
  EXPECT_EQ(out.producer(out.outputs()[0].value)->op, OpKind::rng_uniform);
}

TEST(FoldConstants, LeavesResultsAboveTheSizeLimit) {
  Graph g("big");
  GraphBuilder b(g);
  g.add_output("y", b.unary(OpKind::neg, vector_constant(b, {1, 2, 3})));
  Graph out = fold(g, FoldOptions{.max_elements = 2});
  EXPECT_EQ(out.producer(out.outputs()[0].value)->op, OpKind::neg);
}

TEST(FoldConstants, LeavesSymbolicResults) {
  Graph g("symbolic");
  g.declare_symbol("B", 8);
  GraphBuilder b(g);
  ValueId c = b.emit1(OpKind::constant, {},
                      Attrs{{"value", std::vector<double>{1}}, {"dtype", DType::f32}, {"shape", Shape{sym("B")}}});
  g.add_output("y", b.unary(OpKind::neg, c));
  Graph out = fold(g);
  EXPECT_EQ(out.producer(out.outputs()[0].value)->op, OpKind::neg);
}

TEST(FoldConstants, HandsTheEvaluatorTheOperandConstantsAndTheNode) {
  Graph g("probe");
  GraphBuilder b(g);
  ValueId c = scalar(b, 3);
  g.add_output("y", b.binary(OpKind::mul, c, c));
  std::vector<Graph> seen;
  auto spy = [&seen](const Graph& mini) -> std::optional<std::vector<std::vector<double>>> {
    seen.push_back(mini);
    return std::nullopt;  // declines: the node stays
  };
  Graph out = fold_constants(g, spy);
  ASSERT_EQ(seen.size(), 1u);
  const Graph& mini = seen[0];
  EXPECT_NO_THROW(verify(mini));
  ASSERT_EQ(mini.nodes().size(), 2u);  // one copy of the shared constant, then mul
  EXPECT_EQ(mini.nodes()[0].op, OpKind::constant);
  EXPECT_EQ(mini.nodes()[1].operands, (std::vector<ValueId>{0, 0}));
  ASSERT_EQ(mini.outputs().size(), 1u);
  EXPECT_EQ(out.producer(out.outputs()[0].value)->op, OpKind::mul);
}

TEST(FoldConstants, LeavesANodeWhoseEvaluationFails) {
  Graph g("fails");
  GraphBuilder b(g);
  g.add_output("y", b.unary(OpKind::exp, scalar(b, 1)));
  auto failing = [](const Graph&) -> std::optional<std::vector<std::vector<double>>> {
    throw Error("no kernel for this");
  };
  Graph out = fold_constants(g, failing);
  EXPECT_EQ(out.producer(out.outputs()[0].value)->op, OpKind::exp);
}

}  // namespace
}  // namespace weft
