/** \file
 * Shape inference: types are recomputed from the op table and propagate downstream; attributes get
 * their defaults; a rule violation names the node and its location; a valid graph is unchanged.
 */
#include "passes/infer_shapes.h"

#include <gtest/gtest.h>

#include "ir/text.h"
#include "test_graphs.h"

namespace weft {
namespace {

using pass_tests::error_of;
using pass_tests::f32;
using pass_tests::small_graph;
using pass_tests::sym;

TEST(InferShapes, LeavesAValidGraphUnchanged) {
  Graph g = small_graph();
  EXPECT_EQ(print_graph(infer_shapes(g)), print_graph(g));
}

TEST(InferShapes, PropagatesAnEditedInputTypeDownstream) {
  Graph g = small_graph();
  g.declare_symbol("N");
  g.set_type(g.inputs()[0].value, f32({sym("N"), 1}));  // [N, 1] + [4] broadcasts to [N, 4]
  Graph out = infer_shapes(g);
  verify(out);
  EXPECT_EQ(out.type(out.nodes()[0].results[0]), f32({sym("N"), 4}));
  EXPECT_EQ(out.type(out.nodes()[1].results[0]), f32({sym("N"), 4}));
  EXPECT_EQ(out.type(out.outputs()[0].value), f32({sym("N"), 4}));
}

TEST(InferShapes, FillsDefaultAttributes) {
  Graph g("defaults");
  ValueId x = g.add_input("x", f32({3}));
  g.add_node(OpKind::gelu, {x}, {}, {f32({3})});
  g.add_output("y", g.nodes()[0].results[0]);
  Graph out = infer_shapes(g);
  EXPECT_EQ(out.nodes()[0].attrs.get_string("approximate"), "none");
  EXPECT_NO_THROW(verify(out));
}

TEST(InferShapes, RejectsABrokenRuleNamingTheNodeAndItsLocation) {
  Graph g = small_graph();
  g.set_type(g.inputs()[0].value, f32({sym("B"), 3}));  // [B, 3] + [4] cannot broadcast
  std::string m = error_of([&] { infer_shapes(g); });
  EXPECT_CONTAINS(m, "infer-shapes: node 0 (add): add: shapes must be broadcast-compatible");
  EXPECT_CONTAINS(m, "f32[B, 3] and f32[4]");
  EXPECT_CONTAINS(m, "(at model.cpp:12)");
}

TEST(InferShapes, RecomputesTypesInsideBodies) {
  auto body = std::make_shared<Graph>("region");
  ValueId a = body->add_input("a", f32({2}));
  body->add_node(OpKind::neg, {a}, {}, {f32({7})});  // stale: neg keeps its operand's type
  body->add_output("r", body->nodes()[0].results[0]);
  Graph g("outer");
  ValueId x = g.add_input("x", f32({2}));
  g.add_node(OpKind::fusion, {x}, Attrs{{"kind", std::string("loop")}}, {f32({7})}, "", {}, body);
  g.add_output("y", g.nodes()[0].results[0]);
  Graph out = infer_shapes(g);
  EXPECT_NO_THROW(verify(out));
  EXPECT_EQ(out.type(out.outputs()[0].value), f32({2}));
}

}  // namespace
}  // namespace weft
