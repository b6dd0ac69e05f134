/** \file
 * The verifier: a well-formed graph passes, and each numbered invariant, broken once by hand, is
 * reported with its number, the facts and the node's location.
 */
#include "passes/verify.h"

#include <gtest/gtest.h>

#include "test_graphs.h"

namespace weft {
namespace {

using pass_tests::error_of;
using pass_tests::f32;
using pass_tests::small_graph;
using pass_tests::sym;

std::string verify_error(const Graph& g) {
  return error_of([&] { verify(g); });
}

TEST(Verify, AcceptsAWellFormedGraph) { EXPECT_NO_THROW(verify(small_graph())); }

TEST(Verify, StatesTwelveInvariants) {
  ASSERT_EQ(num_invariants(), 12);
  EXPECT_EQ(invariant_statement(10), "parameters have static shapes");
}

TEST(Verify, Invariant1RejectsAnOperandOutOfRange) {
  Graph g = small_graph();
  g.mutable_nodes()[1].operands[0] = 99;
  std::string m = verify_error(g);
  EXPECT_CONTAINS(m, "invariant 1 ");
  EXPECT_CONTAINS(m, "node 1 (relu -> %3) has operand %99, but the graph has 4 values");
  EXPECT_CONTAINS(m, "(at model.cpp:13)");
}

TEST(Verify, Invariant1RejectsAnOutputOutOfRange) {
  Graph g = small_graph();
  g.mutable_outputs()[0].value = 7;
  EXPECT_CONTAINS(verify_error(g), "invariant 1 (every value id used is in range): output 'y' is %7");
}

TEST(Verify, Invariant2RejectsAValueDefinedTwice) {
  Graph g = small_graph();
  g.mutable_nodes()[1].results[0] = g.nodes()[0].results[0];
  std::string m = verify_error(g);
  EXPECT_CONTAINS(m, "invariant 2 ");
  EXPECT_CONTAINS(m, "%2 is defined a second time, by result 0 of node 1 (relu -> %2)");
}

TEST(Verify, Invariant3RejectsAUseBeforeTheDefinition) {
  Graph g("order");
  ValueId x = g.add_input("x", f32({3}));
  GraphBuilder b(g);
  ValueId early = b.unary(OpKind::relu, x);
  ValueId late = b.unary(OpKind::neg, x);
  g.add_output("y", early);
  g.mutable_nodes()[0].operands[0] = late;  // relu now reads neg's result, which comes after it
  std::string m = verify_error(g);
  EXPECT_CONTAINS(m, "invariant 3 (nodes are in topological order");
  EXPECT_CONTAINS(m, "node 0 (relu -> %1) uses %2, which is defined by node 1");
}

TEST(Verify, Invariant4RejectsAWrongOperandCount) {
  Graph g("count");
  ValueId x = g.add_input("x", f32({3}));
  g.add_node(OpKind::add, {x}, {}, {f32({3})}, "", SourceLoc{"m.weft", 4, 3});
  std::string m = verify_error(g);
  EXPECT_CONTAINS(m, "invariant 4 ");
  EXPECT_CONTAINS(m, "node 0 (add -> %1) has 1 operand(s), but add takes 2 (at m.weft:4:3)");
}

TEST(Verify, Invariant5RejectsABodyOnAnOpWithout) {
  Graph g("body");
  ValueId x = g.add_input("x", f32({3}));
  g.add_node(OpKind::relu, {x}, {}, {f32({3})}, "", {}, std::make_shared<const Graph>("stray"));
  EXPECT_CONTAINS(verify_error(g),
                  "invariant 5 (a node has a body exactly when its op takes one, and the body "
                  "verifies): node 0 (relu -> %1) has a body, but relu takes none");
}

TEST(Verify, Invariant5RejectsABrokenBody) {
  auto body = std::make_shared<Graph>("region");
  ValueId bx = body->add_input("a", f32({3}));
  body->add_node(OpKind::relu, {bx}, {}, {f32({4})});  // wrong type inside the body
  body->add_output("r", body->nodes()[0].results[0]);
  Graph g("outer");
  ValueId x = g.add_input("x", f32({3}));
  g.add_node(OpKind::fusion, {x}, Attrs{{"kind", std::string("loop")}}, {f32({4})}, "", {}, body);
  g.add_output("y", g.nodes()[0].results[0]);
  std::string m = verify_error(g);
  EXPECT_CONTAINS(m, "invariant 5 ");
  EXPECT_CONTAINS(m, "the body of node 0 (fusion -> %1): graph 'region' breaks invariant 7");
}

TEST(Verify, Invariant6RejectsAMissingAttribute) {
  Graph g("attrs");
  ValueId x = g.add_input("x", f32({3}));
  g.add_node(OpKind::gelu, {x}, {}, {f32({3})});
  EXPECT_CONTAINS(verify_error(g),
                  "invariant 6 (attributes are normalized: exactly the op's declared "
                  "attributes, each of its declared kind): node 0 (gelu -> %1) lacks the "
                  "attribute 'approximate' (its default is \"none\")");
}

TEST(Verify, Invariant6RejectsAnUnknownAttribute) {
  Graph g("attrs");
  ValueId x = g.add_input("x", f32({3}));
  g.add_node(OpKind::relu, {x}, Attrs{{"alpha", 0.5}}, {f32({3})});
  EXPECT_CONTAINS(verify_error(g),
                  "invariant 6 (attributes are normalized: exactly the op's declared "
                  "attributes, each of its declared kind): node 0 (relu -> %1): relu: unknown "
                  "attribute 'alpha'");
}

TEST(Verify, Invariant7RejectsAResultTypeTheRuleDoesNotGive) {
  Graph g = small_graph();
  g.set_type(g.nodes()[0].results[0], f32({sym("B"), 5}));
  std::string m = verify_error(g);
  EXPECT_CONTAINS(m, "invariant 7 (result types are what the op's shape rule gives)");
  EXPECT_CONTAINS(m,
                  "node 0 (add -> %2) records %2 as f32[B, 5], but the shape rule gives f32[B, 4] (at "
                  "model.cpp:12)");
}

TEST(Verify, Invariant7ReportsTheShapeRulesOwnComplaint) {
  Graph g("dtypes");
  ValueId a = g.add_input("a", f32({3}));
  ValueId b = g.add_input("b", TensorType{DType::f64, {3}});
  g.add_node(OpKind::add, {a, b}, {}, {f32({3})});
  std::string m = verify_error(g);
  EXPECT_CONTAINS(m, "invariant 7 ");
  EXPECT_CONTAINS(m, "add: operands must have the same dtype");
}

TEST(Verify, Invariant8RejectsAnInputAndParameterWithTheSameName) {
  Graph g("names");
  g.add_input("x", f32({3}));
  g.add_param("x", f32({3}));
  EXPECT_CONTAINS(verify_error(g),
                  "invariant 8 (inputs, parameters and outputs have non-empty, unique names): "
                  "the name 'x' is declared twice (the second as parameter)");
}

TEST(Verify, Invariant8RejectsAnEmptyOutputName) {
  Graph g = small_graph();
  g.mutable_outputs()[0].name = "";
  EXPECT_CONTAINS(verify_error(g),
                  "invariant 8 (inputs, parameters and outputs have non-empty, unique names): "
                  "an output has an empty name");
}

TEST(Verify, Invariant9RejectsAnUndeclaredSymbol) {
  Graph g = small_graph();
  g.set_type(g.nodes()[1].results[0], f32({sym("T"), 4}));
  EXPECT_CONTAINS(verify_error(g),
                  "invariant 9 (symbols are declared once, with positive bounds, before any "
                  "shape uses them): %3's type uses the symbol 'T' in [T, 4], but the graph "
                  "declares no such symbol");
}

TEST(Verify, Invariant10RejectsASymbolicParameter) {
  Graph g("params");
  g.add_param("table", f32({sym("V"), 8}));
  EXPECT_CONTAINS(verify_error(g),
                  "invariant 10 (parameters have static shapes): parameter 'table' has the "
                  "type f32[V, 8]");
}

TEST(Verify, Invariant11RejectsAnUpdateOfNoParameter) {
  Graph g = small_graph();
  g.add_update("momentum", g.outputs()[0].value);
  EXPECT_CONTAINS(verify_error(g),
                  "invariant 11 (state updates name distinct existing parameters and have "
                  "their types): an update names 'momentum', which is not a parameter");
}

TEST(Verify, Invariant11RejectsAnUpdateOfAnotherType) {
  Graph g = small_graph();
  g.add_update("w", g.outputs()[0].value);
  EXPECT_CONTAINS(verify_error(g),
                  "invariant 11 (state updates name distinct existing parameters and have "
                  "their types): parameter 'w' is f32[4], but its update %3 is f32[B, 4]");
}

}  // namespace
}  // namespace weft
