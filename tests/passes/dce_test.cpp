/** \file
 * Dead-code elimination: removes what reaches no output or update, keeps the signature, and cleans
 * bodies.
 */
#include "passes/dce.h"

#include <gtest/gtest.h>

#include "test_graphs.h"

namespace weft {
namespace {

using pass_tests::f32;
using pass_tests::small_graph;

std::vector<OpKind> ops_of(const Graph& g) {
  std::vector<OpKind> ops;
  for (const Node& n : g.nodes()) ops.push_back(n.op);
  return ops;
}

TEST(Dce, KeepsAGraphWithoutDeadNodes) {
  Graph out = dce(small_graph());
  verify(out);
  EXPECT_EQ(ops_of(out), (std::vector<OpKind>{OpKind::add, OpKind::relu}));
}

TEST(Dce, RemovesADeadChainCompletely) {
  Graph g("dead");
  ValueId x = g.add_input("x", f32({3}));
  GraphBuilder b(g);
  ValueId e = b.unary(OpKind::exp, x);
  ValueId l = b.unary(OpKind::log, e);  // exp -> log reaches nothing
  (void)l;
  ValueId y = b.unary(OpKind::neg, x);
  g.add_output("y", y);
  Graph out = dce(g);
  verify(out);
  EXPECT_EQ(ops_of(out), (std::vector<OpKind>{OpKind::neg}));
  EXPECT_EQ(out.num_values(), 2u);  // x and the neg, renumbered densely
  EXPECT_EQ(out.outputs()[0].value, 1);
}

TEST(Dce, KeepsNodesThatOnlyReachAStateUpdate) {
  Graph g = small_graph();
  GraphBuilder b(g);
  ValueId w = g.params()[0].value;
  ValueId next = b.binary(OpKind::mul, w, w);
  g.add_update("w", next);
  Graph out = dce(g);
  verify(out);
  EXPECT_EQ(ops_of(out), (std::vector<OpKind>{OpKind::add, OpKind::relu, OpKind::mul}));
  ASSERT_EQ(out.updates().size(), 1u);
  EXPECT_EQ(out.producer(out.updates()[0].value)->op, OpKind::mul);
}

TEST(Dce, KeepsUnusedInputsAndParameters) {
  Graph g("unused");
  ValueId x = g.add_input("x", f32({3}));
  g.add_input("unused_input", f32({5}));
  g.add_param("unused_param", f32({2}));
  g.add_output("y", x);
  Graph out = dce(g);
  EXPECT_EQ(out.inputs().size(), 2u);
  EXPECT_EQ(out.params().size(), 1u);
  EXPECT_TRUE(out.nodes().empty());
}

TEST(Dce, CleansBodiesAgainstTheirOwnOutputs) {
  auto body = std::make_shared<Graph>("region");
  ValueId a = body->add_input("a", f32({2}));
  GraphBuilder bb(*body);
  bb.unary(OpKind::exp, a);  // dead inside the region
  body->add_output("r", bb.unary(OpKind::neg, a));
  Graph g("outer");
  ValueId x = g.add_input("x", f32({2}));
  GraphBuilder b(g);
  ValueId y = b.emit(OpKind::fusion, {x}, {}, body)[0];
  g.add_output("y", y);
  Graph out = dce(g);
  verify(out);
  ASSERT_EQ(out.nodes().size(), 1u);
  EXPECT_EQ(ops_of(*out.nodes()[0].body), (std::vector<OpKind>{OpKind::neg}));
}

}  // namespace
}  // namespace weft
