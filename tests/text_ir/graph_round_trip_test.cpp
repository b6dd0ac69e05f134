// Graphs built in C++ survive print -> parse: the parsed graph is structurally equal to the original
// (every field, see graph_compare.h), prints the same text, and computes bit-identical results.
#include <gtest/gtest.h>

#include "ir/graph_builder.h"
#include "ir/init.h"
#include "ir/text.h"
#include "tests/text_ir/graph_compare.h"
#include "tests/text_ir/test_util.h"

namespace weft {
namespace {

TensorType f32(Shape shape) { return TensorType{DType::f32, std::move(shape)}; }
Dim sym(const std::string& name) { return Dim::symbol(name); }

/// The three round-trip properties, with the interpreter check only where the graph can run.
void expect_round_trip(const Graph& g, bool run = true) {
  std::string text = print_graph(g);
  Graph parsed = parse_graph(text, "round_trip.weft");
  EXPECT_EQ(testing::graph_difference(g, parsed), "") << text;
  EXPECT_EQ(print_graph(parsed), text);
  if (run) {
    EXPECT_EQ(testing::results_difference(testing::run_interpreter(g), testing::run_interpreter(parsed)), "");
  }
}

Graph mlp() {
  Graph g("mlp");
  ValueId x = g.add_input("x", f32({sym("B"), 6}));
  g.declare_symbol("B", 128);
  GraphBuilder b(g);
  ValueId h = x;
  for (int layer = 0; layer < 2; ++layer) {
    std::string scope = "layers." + std::to_string(layer);
    ValueId w = g.add_param(scope + ".weight", f32({6, 6}), linear_weight_init(2 * layer + 1));
    ValueId bias = g.add_param(scope + ".bias", f32({6}), linear_bias_init(6, 2 * layer + 2));
    b.set_scope(scope);
    b.set_loc(SourceLoc{"model.cpp", 20 + layer, 5});
    h = b.binary(OpKind::add, b.emit1(OpKind::matmul, {h, w}, Attrs{{"transpose_b", true}}), bias);
    b.set_loc(SourceLoc{"model.cpp", 30 + layer, 0});
    h = b.emit1(OpKind::gelu, {h}, Attrs{{"approximate", std::string("tanh")}});
  }
  g.add_output("y", h);
  return g;
}

TEST(GraphRoundTrip, MlpWithInterleavedParamsAndNodes) { expect_round_trip(mlp()); }

TEST(GraphRoundTrip, EveryAttributeKind) {
  Graph g("attrs");
  ValueId x = g.add_input("x", f32({sym("B"), sym("T"), 4}));
  ValueId ids = g.add_input("ids", TensorType{DType::i64, {sym("B"), sym("T")}});
  GraphBuilder b(g);
  g.add_output("bool", b.emit1(OpKind::matmul, {x, x}, Attrs{{"transpose_b", true}}));
  g.add_output("int", b.emit1(OpKind::argmax, {x}, Attrs{{"axis", int64_t{-1}}, {"keepdims", true}}));
  g.add_output("real", b.emit1(OpKind::layer_norm, {x}, Attrs{{"eps", 0.001}}));
  g.add_output("string", b.emit1(OpKind::gelu, {x}, Attrs{{"approximate", std::string("tanh")}}));
  g.add_output("ints", b.emit1(OpKind::reduce_max, {x}, Attrs{{"axes", std::vector<int64_t>{0, 2}}}));
  g.add_output(
      "reals",
      b.emit1(OpKind::constant, {},
              Attrs{{"value", std::vector<double>{0.1, -2.5}}, {"dtype", DType::f64}, {"shape", Shape{2, 1}}}));
  g.add_output("dtype", b.cast(ids, DType::f32));
  g.add_output("shape", b.reshape(x, Shape{sym("B") * sym("T"), 2, 2}));
  expect_round_trip(g);
}

TEST(GraphRoundTrip, SymbolsInAnyOrderWithBoundsAnywhere) {
  Graph g("symbols");
  g.declare_symbol("UNUSED", 7);
  g.declare_symbol("T");
  ValueId x = g.add_input("x", f32({sym("B"), Dim(3) * sym("T")}));
  ValueId y = g.add_input("y", f32({sym("B") * sym("T")}));
  g.declare_symbol("T", 50);
  g.declare_symbol("B", 9);
  g.declare_symbol("LATE");
  GraphBuilder b(g);
  g.add_output("x2", b.unary(OpKind::neg, x));
  g.add_output("y", y);
  expect_round_trip(g, /*run=*/false);
}

TEST(GraphRoundTrip, SymbolicParameterWithBound) {
  Graph g("vocab");
  ValueId p = g.add_param("table", f32({sym("V"), 3}), Initializer{"normal", {{"mean", 0.0}, {"std", 1.0}}, 5});
  g.declare_symbol("V", 32000);
  g.add_output("t", p);
  expect_round_trip(g, /*run=*/false);
}

TEST(GraphRoundTrip, ScanWithBodyAndTrainingUpdates) {
  Graph body("cell");
  ValueId h = body.add_input("h", f32({sym("B"), 3}));
  ValueId xt = body.add_input("x", f32({sym("B"), 3}));
  ValueId u = body.add_input("u", f32({3, 3}));
  GraphBuilder bb(body);
  bb.set_scope("rnn.cell");
  bb.set_loc(SourceLoc{"rnn.cpp", 8, 2});
  ValueId next = bb.unary(OpKind::tanh, bb.binary(OpKind::add, xt, bb.emit1(OpKind::matmul, {h, u})));
  body.add_output("h_next", next);
  body.add_output("y", next);

  Graph g("rnn");
  ValueId h0 = g.add_input("h0", f32({sym("B"), 3}));
  ValueId xs = g.add_input("xs", f32({sym("B"), sym("T"), 3}));
  g.declare_symbol("T", 100);
  ValueId w = g.add_param("u", f32({3, 3}), Initializer{"xavier_normal", {{"gain", 1.5}}, 9});
  GraphBuilder b(g);
  b.set_scope("rnn");
  b.set_loc(SourceLoc{"rnn.cpp", 30, 0});
  std::vector<ValueId> r = b.emit(OpKind::scan, {h0, xs, w}, Attrs{{"num_carry", int64_t{1}}, {"num_seq", int64_t{1}}},
                                  std::make_shared<const Graph>(body));
  b.set_scope("sgd");
  ValueId decayed = b.binary(OpKind::mul, w, b.constant(0.5, DType::f32));
  g.add_update("u", decayed);
  g.add_output("h_last", r[0]);
  g.add_output("hs", r[1]);
  expect_round_trip(g);
}

TEST(GraphRoundTrip, NestedFusionRegions) {
  Graph inner("inner");
  ValueId t = inner.add_input("t", f32({4}));
  GraphBuilder ib(inner);
  inner.add_output("u", ib.unary(OpKind::sigmoid, t));
  Graph outer("outer");
  ValueId a = outer.add_input("a", f32({4}));
  GraphBuilder ob(outer);
  ValueId e = ob.unary(OpKind::exp, a);
  std::vector<ValueId> f =
      ob.emit(OpKind::fusion, {e}, Attrs{{"kind", std::string("inner")}}, std::make_shared<const Graph>(inner));
  outer.add_output("o", f[0]);
  outer.add_output("e", e);
  Graph g("g");
  ValueId x = g.add_input("x", f32({4}));
  GraphBuilder b(g);
  std::vector<ValueId> r = b.emit(OpKind::fusion, {x}, Attrs{}, std::make_shared<const Graph>(outer));
  g.add_output("y", r[0]);
  g.add_output("z", r[1]);
  expect_round_trip(g);
}

TEST(GraphRoundTrip, UnusualSourceLocationsAndScopes) {
  Graph g("locs");
  ValueId x = g.add_input("x", f32({2}));
  GraphBuilder b(g);
  ValueId v = x;
  for (const SourceLoc& loc : {SourceLoc{"a.cpp:5", 9, 0}, SourceLoc{"a.cpp:5", 9, 2}, SourceLoc{"C:\\m.cpp", 1, 0},
                               SourceLoc{"", 4, 0}, SourceLoc{"x:", 3, 0}, SourceLoc{"quote\".cpp", 0, 0}}) {
    b.set_loc(loc);
    b.set_scope("scope with \"quotes\" and \\ and \n newline");
    v = b.unary(OpKind::neg, v);
  }
  g.add_output("y", v);
  expect_round_trip(g);
}

TEST(GraphRoundTrip, InitializersWithPositionalArgumentsAndLargeSeeds) {
  Graph g("inits");
  ValueId p = g.add_param("p", f32({2, 2}), Initializer{"uniform", {{"", -0.25}, {"", 0.75}}, 18446744073709551615ull});
  ValueId q = g.add_param("q", f32({2, 2}), Initializer{"constant", {{"value", 1e-300}}, 0});
  GraphBuilder b(g);
  g.add_output("s", b.binary(OpKind::add, p, q));
  expect_round_trip(g);
}

TEST(GraphDifference, NoticesEveryFieldAPrinterCouldDrop) {
  Graph g = mlp();
  ASSERT_EQ(testing::graph_difference(g, g), "");
  auto changed = [&](auto edit) {
    Graph copy = g;
    edit(copy);
    return !testing::graph_difference(g, copy).empty();
  };
  EXPECT_TRUE(changed([](Graph& c) { c.mutable_nodes()[0].scope = ""; }));
  EXPECT_TRUE(changed([](Graph& c) { c.mutable_nodes()[0].loc.column = 0; }));
  EXPECT_TRUE(changed([](Graph& c) { c.mutable_nodes()[1].loc = SourceLoc{}; }));
  EXPECT_TRUE(changed([](Graph& c) { c.mutable_params()[1].init.seed = 99; }));
  EXPECT_TRUE(changed([](Graph& c) { c.mutable_params()[1].init.args.clear(); }));
  EXPECT_TRUE(changed([](Graph& c) { c.mutable_nodes()[0].attrs.set("transpose_b", false); }));
  EXPECT_TRUE(changed([](Graph& c) { c.declare_symbol("B", 64); }));
  EXPECT_TRUE(changed([](Graph& c) { c.mutable_outputs()[0].name = "z"; }));
  EXPECT_TRUE(changed([](Graph& c) { c.add_update("layers.0.bias", c.params()[1].value); }));
  EXPECT_TRUE(changed([](Graph& c) { c.mutable_nodes()[0].body = std::make_shared<const Graph>("b"); }));
}

}  // namespace
}  // namespace weft
