// The printer's canonical form, checked against text written out by hand.
#include <gtest/gtest.h>

#include <filesystem>

#include "ir/graph_builder.h"
#include "ir/init.h"
#include "ir/text.h"
#include "tests/text_ir/graph_compare.h"
#include "tests/text_ir/test_util.h"

namespace weft {
namespace {

TensorType f32(Shape shape) { return TensorType{DType::f32, std::move(shape)}; }
Dim sym(const std::string& name) { return Dim::symbol(name); }

TEST(TextPrinter, PrintsAnMlpWithScopesLocationsAndInitializers) {
  Graph g("mlp");
  g.declare_symbol("B", 4096);
  ValueId x = g.add_input("x", f32({sym("B"), 3}));
  ValueId w = g.add_param("fc.weight", f32({2, 3}), linear_weight_init(1));
  ValueId bias = g.add_param("fc.bias", f32({2}), Initializer{"uniform", {{"low", -0.5}, {"high", 0.5}}, 2});
  GraphBuilder b(g);
  b.set_scope("fc");
  b.set_loc(SourceLoc{"mlp.cpp", 14, 0});
  ValueId m = b.emit1(OpKind::matmul, {x, w}, Attrs{{"transpose_b", true}});
  ValueId a = b.binary(OpKind::add, m, bias);
  b.set_scope("");
  b.set_loc(SourceLoc{"mlp.cpp", 15, 3});
  ValueId r = b.unary(OpKind::relu, a);
  g.add_output("y", r);

  EXPECT_EQ(print_graph(g),
            "weft 1\n"
            "graph mlp(x: f32[B<=4096, 3]) -> (y: f32[B, 2]) {\n"
            "  param fc.weight: f32[2, 3] init=kaiming_uniform(a=2.23606797749979, seed=1)\n"
            "  param fc.bias: f32[2] init=uniform(low=-0.5, high=0.5, seed=2)\n"
            "  %0 = matmul(x, fc.weight, transpose_b=true) : f32[B, 2]  scope=\"fc\" loc=\"mlp.cpp:14\"\n"
            "  %1 = add(%0, fc.bias) : f32[B, 2]  scope=\"fc\" loc=\"mlp.cpp:14\"\n"
            "  %2 = relu(%1) : f32[B, 2]  loc=\"mlp.cpp:15:3\"\n"
            "  return %2\n"
            "}\n");
}

TEST(TextPrinter, LeavesOutAttributesEqualToTheirDefault) {
  Graph g("g");
  ValueId x = g.add_input("x", f32({2, 2}));
  GraphBuilder b(g);
  // normalize_attrs fills transpose_a=false and transpose_b=false; only the non-default one prints.
  ValueId m = b.emit1(OpKind::matmul, {x, x}, Attrs{{"transpose_a", true}, {"transpose_b", false}});
  ValueId s = b.emit1(OpKind::slice, {m}, Attrs{{"axis", int64_t{1}}, {"start", int64_t{0}}, {"end", int64_t{1}}});
  g.add_output("y", s);
  std::string text = print_graph(g);
  EXPECT_NE(text.find("matmul(x, x, transpose_a=true) : f32[2, 2]\n"), std::string::npos) << text;
  EXPECT_NE(text.find("slice(%0, axis=1, end=1) : f32[2, 1]\n"), std::string::npos) << text;
}

TEST(TextPrinter, NumbersResultsInOrderOfDefinitionWhateverTheValueIds) {
  // A parameter added between nodes takes a value id between theirs; the printed numbers stay dense.
  Graph g("g");
  ValueId x = g.add_input("x", f32({2}));
  GraphBuilder b(g);
  ValueId n = b.unary(OpKind::neg, x);                                 // value 1
  ValueId w = g.add_param("w", f32({2}), Initializer{"ones", {}, 0});  // value 2
  ValueId s = b.binary(OpKind::add, n, w);                             // value 3
  g.add_output("y", s);
  EXPECT_EQ(print_graph(g),
            "weft 1\n"
            "graph g(x: f32[2]) -> (y: f32[2]) {\n"
            "  param w: f32[2] init=ones\n"
            "  %0 = neg(x) : f32[2]\n"
            "  %1 = add(%0, w) : f32[2]\n"
            "  return %1\n"
            "}\n");
}

TEST(TextPrinter, PrintsRealsWithTheShortestDigitsThatRoundTrip) {
  Graph g("g");
  GraphBuilder b(g);
  ValueId c = b.emit1(
      OpKind::constant, {},
      Attrs{{"value", std::vector<double>{0.1, 1e-07, 3.0, -0.0, 1e300}}, {"dtype", DType::f64}, {"shape", Shape{5}}});
  g.add_output("c", c);
  std::string text = print_graph(g);
  EXPECT_NE(text.find("constant(value=[0.1, 1e-07, 3.0, -0.0, 1e+300], dtype=f64, shape=[5]) : f64[5]"),
            std::string::npos)
      << text;
}

TEST(TextPrinter, WritesSymbolLinesOnlyWhereTheSignatureCannotCarryTheBound) {
  // S is used by no input: it needs a line. B's bound sits inline at its first plain use.
  Graph g("g");
  g.declare_symbol("S", 8);
  ValueId x = g.add_input("x", f32({sym("B"), Dim(2) * sym("T")}));
  g.declare_symbol("B", 16);
  g.add_output("y", x);
  EXPECT_EQ(print_graph(g),
            "weft 1\n"
            "graph g(x: f32[B<=16, 2*T]) -> (y: f32[B, 2*T]) {\n"
            "  symbol S<=8\n"
            "  return x\n"
            "}\n");
  Graph reordered("g");
  reordered.declare_symbol("T");
  ValueId z = reordered.add_input("x", f32({sym("B"), sym("T")}));
  reordered.add_output("y", z);
  EXPECT_EQ(print_graph(reordered),
            "weft 1\n"
            "graph g(x: f32[B, T]) -> (y: f32[B, T]) {\n"
            "  symbol T\n"
            "  return x\n"
            "}\n");
  // A bound on a symbol used only inside products (2*T) cannot be inline; the symbols declared before
  // it then need lines too, to keep the order.
  Graph compound("g");
  ValueId c = compound.add_input("x", f32({sym("B"), Dim(2) * sym("T")}));
  compound.declare_symbol("T", 64);
  compound.add_output("y", c);
  EXPECT_EQ(print_graph(compound),
            "weft 1\n"
            "graph g(x: f32[B, 2*T]) -> (y: f32[B, 2*T]) {\n"
            "  symbol B\n"
            "  symbol T<=64\n"
            "  return x\n"
            "}\n");
}

TEST(TextPrinter, WritesABoundInlineOnAParameterWhenNoInputUsesTheSymbol) {
  Graph g("g");
  g.add_param("p", f32({sym("V"), 2}), Initializer{"zeros", {}, 0});
  g.declare_symbol("V", 100);
  EXPECT_EQ(print_graph(g),
            "weft 1\n"
            "graph g() -> () {\n"
            "  param p: f32[V<=100, 2] init=zeros\n"
            "  return\n"
            "}\n");
}

TEST(TextPrinter, PrintsASubGraphNestedUnderItsNode) {
  Graph body("region");
  ValueId a = body.add_input("a", f32({4}));
  GraphBuilder bb(body);
  body.add_output("out", bb.unary(OpKind::relu, a));

  Graph g("g");
  ValueId x = g.add_input("x", f32({4}));
  GraphBuilder b(g);
  b.set_scope("block");
  std::vector<ValueId> r = b.emit(OpKind::fusion, {x}, Attrs{}, std::make_shared<const Graph>(body));
  g.add_output("y", r[0]);
  EXPECT_EQ(print_graph(g),
            "weft 1\n"
            "graph g(x: f32[4]) -> (y: f32[4]) {\n"
            "  %0 = fusion(x) : f32[4]  scope=\"block\"\n"
            "    graph region(a: f32[4]) -> (out: f32[4]) {\n"
            "      %0 = relu(a) : f32[4]\n"
            "      return %0\n"
            "    }\n"
            "  return %0\n"
            "}\n");
}

TEST(TextPrinter, QuotesNamesThatAreNotIdentifiers) {
  Graph g("my graph");
  ValueId x = g.add_input("%0", f32({1}));
  ValueId y = g.add_input("layers.0.w", f32({1}));
  GraphBuilder b(g);
  g.add_output("out 1", b.binary(OpKind::add, x, y));
  EXPECT_EQ(print_graph(g),
            "weft 1\n"
            "graph \"my graph\"(\"%0\": f32[1], layers.0.w: f32[1]) -> (\"out 1\": f32[1]) {\n"
            "  %0 = add(\"%0\", layers.0.w) : f32[1]\n"
            "  return %0\n"
            "}\n");
}

TEST(TextPrinter, WriteGraphFileIsReadBackAndLeavesNoTemporaryFile) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(WEFT_BINARY_DIR) / "text_ir_write_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  Graph g("g");
  ValueId x = g.add_input("x", f32({2}));
  GraphBuilder b(g);
  g.add_output("y", b.unary(OpKind::exp, x));
  std::string path = (dir / "g.weft").string();
  write_graph_file(path, g);
  write_graph_file(path, g);  // overwriting works too
  EXPECT_EQ(testing::graph_difference(read_graph_file(path), g), "");
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);
  EXPECT_THROW(write_graph_file((dir / "missing_dir" / "g.weft").string(), g), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace weft
