/** \file
 * The graph rewriter: copying, dropping and replacing nodes while values are remapped.
 */
#include "passes/rewrite.h"

#include <gtest/gtest.h>

#include "ir/text.h"
#include "test_graphs.h"

namespace weft {
namespace {

using pass_tests::f32;
using pass_tests::small_graph;

TEST(GraphRewriter, CopyingEveryNodeReproducesTheGraph) {
  Graph g = small_graph();
  g.add_update("w", g.params()[0].value);
  GraphRewriter rw(g);
  for (const Node& n : g.nodes()) rw.copy(n);
  Graph out = std::move(rw).finish();
  verify(out);
  EXPECT_EQ(print_graph(out), print_graph(g));
}

TEST(GraphRewriter, ReplacingAValueRedirectsItsUsesAndOutputs) {
  Graph g = small_graph();  // y = relu(x + w)
  GraphRewriter rw(g);
  const Node& add = g.nodes()[0];
  // Replace x + w by x - w, built directly in the new graph.
  int32_t sub = rw.graph().add_node(OpKind::sub, rw.map(add.operands), {}, {g.type(add.results[0])});
  rw.replace(add.results[0], rw.graph().nodes()[sub].results[0]);
  rw.copy(g.nodes()[1]);
  Graph out = std::move(rw).finish();
  verify(out);
  ASSERT_EQ(out.nodes().size(), 2u);
  EXPECT_EQ(out.nodes()[0].op, OpKind::sub);
  EXPECT_EQ(out.nodes()[1].operands[0], out.nodes()[0].results[0]);
}

TEST(GraphRewriter, RenumbersValuesDenselyInDefinitionOrder) {
  Graph g("late_param");
  ValueId x = g.add_input("x", f32({2}));
  GraphBuilder b(g);
  ValueId n = b.unary(OpKind::neg, x);     // %1
  ValueId p = g.add_param("p", f32({2}));  // %2: declared after a node
  g.add_output("y", b.binary(OpKind::add, n, p));
  GraphRewriter rw(g);
  for (const Node& node : g.nodes()) rw.copy(node);
  Graph out = std::move(rw).finish();
  verify(out);
  EXPECT_EQ(out.params()[0].value, 1);  // inputs, then parameters, then node results
  EXPECT_EQ(out.nodes()[0].results[0], 2);
}

TEST(GraphRewriter, UsingADroppedValueIsAnInternalError) {
  Graph g = small_graph();
  std::vector<bool> keep{false, true};  // relu kept without the add it reads
  EXPECT_THROW(keep_nodes(g, keep), InternalError);
}

}  // namespace
}  // namespace weft
