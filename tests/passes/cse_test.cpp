/** \file
 * Common-subexpression elimination: duplicates merge (chains in one walk, bodies compared by text),
 * and nodes that differ in any operand, attribute or operand order stay apart.
 */
#include "passes/cse.h"

#include <gtest/gtest.h>

#include "passes/dce.h"
#include "test_graphs.h"

namespace weft {
namespace {

using pass_tests::f32;
using pass_tests::scalar;

TEST(Cse, MergesIdenticalNodesAndRedirectsTheirUses) {
  Graph g("dup");
  ValueId x = g.add_input("x", f32({3}));
  GraphBuilder b(g);
  b.set_scope("first");
  ValueId a = b.unary(OpKind::exp, x);
  b.set_scope("second");
  ValueId c = b.unary(OpKind::exp, x);
  g.add_output("a", a);
  g.add_output("c", c);
  Graph out = cse(g);
  verify(out);
  ASSERT_EQ(out.nodes().size(), 1u);
  EXPECT_EQ(out.nodes()[0].scope, "first");  // the first node is the one kept
  EXPECT_EQ(out.outputs()[0].value, out.outputs()[1].value);
}

TEST(Cse, MergesChainsOfDuplicatesInOneRun) {
  Graph g("chains");
  ValueId x = g.add_input("x", f32({3}));
  GraphBuilder b(g);
  ValueId y1 = b.binary(OpKind::mul, b.unary(OpKind::tanh, x), x);
  ValueId y2 = b.binary(OpKind::mul, b.unary(OpKind::tanh, x), x);
  g.add_output("y", b.binary(OpKind::add, y1, y2));
  Graph out = cse(g);
  verify(out);
  ASSERT_EQ(out.nodes().size(), 3u);  // tanh, mul, add(mul, mul)
  const Node& add = out.nodes()[2];
  EXPECT_EQ(add.operands[0], add.operands[1]);
}

TEST(Cse, KeepsNodesWhoseAttributesDiffer) {
  Graph g("attrs");
  ValueId x = g.add_input("x", f32({3}));
  GraphBuilder b(g);
  g.add_output("exact", b.emit1(OpKind::gelu, {x}));
  g.add_output("tanh", b.emit1(OpKind::gelu, {x}, Attrs{{"approximate", std::string("tanh")}}));
  EXPECT_EQ(cse(g).nodes().size(), 2u);
}

TEST(Cse, KeepsNegativeZeroApartFromZero) {
  Graph g("zeros");
  GraphBuilder b(g);
  g.add_output("pos", scalar(b, 0.0));
  g.add_output("neg", scalar(b, -0.0));
  g.add_output("pos_again", scalar(b, 0.0));
  Graph out = cse(g);
  ASSERT_EQ(out.nodes().size(), 2u);
  EXPECT_EQ(out.outputs()[0].value, out.outputs()[2].value);
  EXPECT_NE(out.outputs()[0].value, out.outputs()[1].value);
}

TEST(Cse, DoesNotReorderCommutativeOperands) {
  Graph g("commute");
  ValueId x = g.add_input("x", f32({3}));
  ValueId y = g.add_input("y", f32({3}));
  GraphBuilder b(g);
  g.add_output("xy", b.binary(OpKind::add, x, y));
  g.add_output("yx", b.binary(OpKind::add, y, x));
  EXPECT_EQ(cse(g).nodes().size(), 2u);
}

TEST(Cse, MergesRngNodesWithTheSameSeedButNotOthers) {
  Graph g("rng");
  GraphBuilder b(g);
  ValueId offset = b.constant(0, DType::i64);
  Attrs seed1{{"seed", int64_t{1}}, {"shape", Shape{4}}};
  Attrs seed2{{"seed", int64_t{2}}, {"shape", Shape{4}}};
  g.add_output("a", b.emit1(OpKind::rng_uniform, {offset}, seed1));
  g.add_output("b", b.emit1(OpKind::rng_uniform, {offset}, seed1));
  g.add_output("c", b.emit1(OpKind::rng_uniform, {offset}, seed2));
  Graph out = cse(g);
  EXPECT_EQ(out.nodes().size(), 3u);  // the offset constant and two draws
  EXPECT_EQ(out.outputs()[0].value, out.outputs()[1].value);
}

std::shared_ptr<const Graph> negate_body(const std::string& name, OpKind op) {
  auto body = std::make_shared<Graph>(name);
  ValueId a = body->add_input("a", f32({2}));
  GraphBuilder b(*body);
  body->add_output("r", b.unary(op, a));
  return body;
}

TEST(Cse, ComparesBodiesByTheirText) {
  Graph g("regions");
  ValueId x = g.add_input("x", f32({2}));
  GraphBuilder b(g);
  // Two separately built but identical regions merge; a different one does not.
  g.add_output("a", b.emit(OpKind::fusion, {x}, {}, negate_body("r", OpKind::neg))[0]);
  g.add_output("b", b.emit(OpKind::fusion, {x}, {}, negate_body("r", OpKind::neg))[0]);
  g.add_output("c", b.emit(OpKind::fusion, {x}, {}, negate_body("r", OpKind::abs))[0]);
  Graph out = cse(g);
  verify(out);
  EXPECT_EQ(out.nodes().size(), 2u);
  EXPECT_EQ(out.outputs()[0].value, out.outputs()[1].value);
}

TEST(Cse, DropsTheDuplicatesItself) {
  Graph g("leftovers");
  ValueId x = g.add_input("x", f32({3}));
  GraphBuilder b(g);
  ValueId e1 = b.unary(OpKind::exp, x);
  ValueId e2 = b.unary(OpKind::exp, x);
  g.add_output("y", b.binary(OpKind::sub, e1, e2));
  Graph out = cse(g);
  verify(out);
  ASSERT_EQ(out.nodes().size(), 2u);  // exp, sub(exp, exp): nothing is left for dce
  EXPECT_EQ(dce(out).nodes().size(), 2u);
}

}  // namespace
}  // namespace weft
