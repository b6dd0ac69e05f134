// Malformed text IR: each case must throw weft::Error naming the file, line and column, with a
// message that says what was expected or which rule was broken.
#include <gtest/gtest.h>

#include "ir/text.h"

namespace weft {
namespace {

struct BadInput {
  const char* name;
  std::string text;
  const char* position;  // "line:col"
  const char* message;   // a substring of the message
};

// A small valid prologue: x: f32[2, 3], i: i64[2, 3], w: a parameter.
const std::string kHead = "weft 1\ngraph g(x: f32[2, 3], i: i64[2, 3]) -> (y: f32[2, 3]) {\n";

std::vector<BadInput> bad_inputs() {
  return {
      {"Empty", "", "1:1", "the header 'weft 1' but found the end of the input"},
      {"MissingHeader", "graph g() -> () {\n  return\n}\n", "1:1", "the header 'weft 1' but found 'graph'"},
      {"UnknownVersion", "weft 2\ngraph g() -> () {\n  return\n}\n", "1:6",
       "unsupported text-IR version 2: this build of Weft reads version 1"},
      {"VersionNotANumber", "weft one\n", "1:6", "a version number after 'weft' but found 'one'"},
      {"UnknownOp", kHead + "  %0 = ad(x, x) : f32[2, 3]\n  return %0\n}\n", "3:8",
       "unknown op 'ad' (did you mean: abs, add"},
      {"UndefinedValue", kHead + "  %0 = add(x, z) : f32[2, 3]\n  return %0\n}\n", "3:15",
       "'z' is not an input or parameter of graph 'g' defined before this use"},
      {"UndefinedResult", kHead + "  %0 = add(x, %1) : f32[2, 3]\n  return %0\n}\n", "3:15",
       "'%1' is not defined before this use"},
      {"DeclaredTypeDisagreesWithShapeRule", kHead + "  %0 = add(x, x) : f32[2, 4]\n  return %0\n}\n", "3:20",
       "add: result 0 is declared f32[2, 4], but the op's shape rule gives f32[2, 3]"},
      {"ShapeRuleRejectsOperands", kHead + "  %0 = add(x, i) : f32[2, 3]\n  return %0\n}\n", "3:8",
       "add: operands must have the same dtype"},
      {"WrongOperandCount", kHead + "  %0 = relu(x, x) : f32[2, 3]\n  return %0\n}\n", "3:8",
       "relu: takes 1 operand(s), but got 2"},
      {"UnterminatedString", kHead + "  %0 = relu(x) : f32[2, 3]  scope=\"abc\n  return %0\n}\n", "3:35",
       "a closing '\"' but found the end of the line (unterminated string)"},
      {"BadEscape", kHead + "  %0 = relu(x) : f32[2, 3]  scope=\"a\\qb\"\n  return %0\n}\n", "3:37", "unknown escape"},
      {"NegativeDim", "weft 1\ngraph g(x: f32[2, -3]) -> () {\n  return\n}\n", "2:19",
       "a dim must not be negative, but got -3"},
      {"MissingDim", "weft 1\ngraph g(x: f32[2, ]) -> () {\n  return\n}\n", "2:19",
       "a dim (a number or a symbol such as B) but found ']'"},
      {"HugeDim", "weft 1\ngraph g(x: f32[281474976710657]) -> () {\n  return\n}\n", "2:16",
       "a dim must be at most 2^48"},
      {"DimOverflowsInt64", "weft 1\ngraph g(x: f32[99999999999999999999]) -> () {\n  return\n}\n", "2:16",
       "out of the range of a 64-bit integer"},
      {"TooManyElements", "weft 1\ngraph g(x: f32[65536, 65536, 65536, 2]) -> () {\n  return\n}\n", "2:12",
       "a shape may hold at most 2^48"},
      {"UnknownDType", "weft 1\ngraph g(x: f33[2]) -> () {\n  return\n}\n", "2:12",
       "a dtype (f32, f64, f16, bf16, i32, i64 or bool) but found 'f33'"},
      {"DuplicateInput", "weft 1\ngraph g(x: f32[2], x: f32[2]) -> () {\n  return\n}\n", "2:20",
       "input 'x' is declared twice"},
      {"ParamRedefinesInput", kHead + "  param x: f32[2] init=zeros\n  return x\n}\n", "3:9",
       "'x' is already defined (at line 2, column 9)"},
      {"ResultRedefined", kHead + "  %0 = relu(x) : f32[2, 3]\n  %0 = relu(x) : f32[2, 3]\n  return %0\n}\n", "4:3",
       "'%0' is already defined (at line 3, column 3)"},
      {"TrailingGarbage", kHead + "  return x\n}\ngarbage\n", "5:1",
       "the end of the input after the graph's closing '}' but found 'garbage'"},
      {"UnexpectedCharacter", kHead + "  return $x\n}\n", "3:10", "unexpected character '$'"},
      {"UnknownAttribute", kHead + "  %0 = add(x, x, alpha=1) : f32[2, 3]\n  return %0\n}\n", "3:18",
       "add: unknown attribute 'alpha' (it takes: no attributes)"},
      {"AttributeOfWrongKind", kHead + "  %0 = gelu(x, approximate=1) : f32[2, 3]\n  return %0\n}\n", "3:28",
       "a quoted string but found number 1"},
      {"AttributeGivenTwice",
       kHead + "  %0 = gelu(x, approximate=\"tanh\", approximate=\"none\") : f32[2, 3]\n  return %0\n}\n", "3:36",
       "attribute 'approximate' is given twice"},
      {"MissingRequiredAttribute", kHead + "  %0 = reshape(x) : f32[6]\n  return x\n}\n", "3:8",
       "reshape: missing required attribute 'shape'"},
      {"OperandAfterAttribute", kHead + "  %0 = matmul(x, transpose_b=true, x) : f32[2, 2]\n  return x\n}\n", "3:36",
       "operands come before attributes"},
      {"ReturnCountDisagrees", kHead + "  return x, x\n}\n", "3:3",
       "'return' must give one value per output of the signature (1), but gives 2"},
      {"OutputTypeDisagrees", kHead + "  return i\n}\n", "3:10",
       "output 'y' is declared f32[2, 3], but 'i' has type i64[2, 3]"},
      {"MissingReturn", kHead + "}\n", "3:1",
       "a statement ('param', '%name = op(...)', 'update' or 'return') but found '}'"},
      {"BoundOnResultType", kHead + "  %0 = relu(x) : f32[2<=4, 3]\n  return %0\n}\n", "3:23",
       "a bound (<=) may be declared only in the type of an input or a parameter"},
      {"BoundGivenTwice", "weft 1\ngraph g(x: f32[B<=4], y: f32[B<=8]) -> () {\n  return\n}\n", "2:30",
       "symbol 'B' already has a bound (given at line 2, column 16)"},
      {"BoundOnProduct", "weft 1\ngraph g(x: f32[2*B<=4]) -> () {\n  return\n}\n", "2:19",
       "a bound (<=) applies to a single symbol such as B<=4096, not to '2*B'"},
      {"SymbolAfterStatements", kHead + "  param w: f32[2] init=zeros\n  symbol T\n  return x\n}\n", "4:3",
       "'symbol' lines must come first in a graph's body"},
      {"UpdateOfNonParameter", kHead + "  update x = x\n  return x\n}\n", "3:10",
       "'update' names a parameter, but 'x' is not a parameter of graph 'g'"},
      {"UpdateOfWrongType", kHead + "  param w: f32[3] init=zeros\n  update w = x\n  return x\n}\n", "4:14",
       "an update must have its parameter's type: 'w' is f32[3], but 'x' is f32[2, 3]"},
      {"UnknownInitializer", kHead + "  param w: f32[3] init=fancy(seed=1)\n  return x\n}\n", "3:24",
       "unknown initializer kind 'fancy'"},
      {"NegativeSeed", kHead + "  param w: f32[3] init=uniform(low=0.0, high=1.0, seed=-1)\n  return x\n}\n", "3:56",
       "a seed (a non-negative integer) but found number -1"},
      {"BodyOnOpWithoutBody",
       kHead + "  %0 = relu(x) : f32[2, 3]\n    graph b() -> () {\n      return\n    }\n  return %0\n}\n", "3:8",
       "relu: takes no body graph"},
      {"MissingBody", kHead + "  %0 = fusion(x) : f32[2, 3]\n  return %0\n}\n", "3:8", "fusion: needs a body graph"},
      {"BadLocation", kHead + "  %0 = relu(x) : f32[2, 3]  loc=\"nowhere\"\n  return %0\n}\n", "3:33",
       "a location such as \"model.cpp:14\" or \"model.cpp:14:3\" but found string \"nowhere\""},
      {"ResultCountDisagreesWithTypes", kHead + "  %0, %1 = relu(x) : f32[2, 3]\n  return %0\n}\n", "3:12",
       "the node defines 2 result name(s) but gives 1 result type(s)"},
      {"ResultCountDisagreesWithOp", kHead + "  %0, %1 = relu(x) : f32[2, 3], f32[2, 3]\n  return %0\n}\n", "3:12",
       "relu gives 1 result(s), but the node defines 2"},
      {"RealOutOfRange", kHead + "  %0 = constant(value=[1e999], dtype=f32, shape=[]) : f32[]\n  return x\n}\n", "3:24",
       "the number 1e999 is out of the range of a 64-bit float"},
      {"NameStartingWithDigit", kHead + "  return 1x\n}\n", "3:10", "a name cannot start with a digit"},
  };
}

void PrintTo(const BadInput& bad, std::ostream* os) { *os << bad.name; }

class ParseErrors : public ::testing::TestWithParam<BadInput> {};

TEST_P(ParseErrors, ThrowsWeftErrorNamingLineColumnAndRule) {
  const BadInput& bad = GetParam();
  try {
    parse_graph(bad.text, "bad.weft");
    ADD_FAILURE() << "parsed without error:\n" << bad.text;
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_EQ(what.rfind(std::string("bad.weft:") + bad.position + ": ", 0), 0u) << what;
    EXPECT_NE(what.find(bad.message), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ParseErrors, ::testing::ValuesIn(bad_inputs()),
                         [](const ::testing::TestParamInfo<BadInput>& info) { return std::string(info.param.name); });

std::string nested_fusions(int depth) {
  std::string text = "weft 1\n";
  for (int i = 0; i <= depth; ++i) {
    text += "graph g(x: f32[1]) -> (y: f32[1]) {\n";
    if (i < depth) text += "%0 = fusion(x) : f32[1]\n";
  }
  for (int i = 0; i <= depth; ++i) text += i == 0 ? "return x\n}\n" : "return %0\n}\n";
  return text;
}

TEST(ParseLimits, AcceptsSubGraphsNested64Deep) { EXPECT_NO_THROW(parse_graph(nested_fusions(64))); }

TEST(ParseLimits, RejectsSubGraphsNestedDeeperThan64) {
  try {
    parse_graph(nested_fusions(65));
    ADD_FAILURE() << "parsed 65 levels";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("<input>:132:1: sub-graphs may nest at most 64 levels deep"),
              std::string::npos)
        << e.what();
  }
}

TEST(ParseLimits, DeepNestingOfBracketsIsAnErrorNotAStackOverflow) {
  std::string text = kHead + "  %0 = reshape(x, shape=" + std::string(100000, '[') + ") : f32[6]\n";
  EXPECT_THROW(parse_graph(text), Error);
}

TEST(ReadGraphFile, NamesTheMissingFile) {
  try {
    read_graph_file("/nonexistent/model.weft");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read '/nonexistent/model.weft'"), std::string::npos) << e.what();
  }
}

TEST(ParseGraph, AcceptsCommentsAndFreeLayout) {
  Graph g = parse_graph(
      "# a comment\nweft 1 graph g(x: f32[2]) -> (y: f32[2]) {  # signature\n"
      "%r = neg(x) : f32[2] return %r }");
  ASSERT_EQ(g.nodes().size(), 1u);
  EXPECT_EQ(g.nodes()[0].op, OpKind::neg);
  EXPECT_EQ(print_graph(g), "weft 1\ngraph g(x: f32[2]) -> (y: f32[2]) {\n  %0 = neg(x) : f32[2]\n  return %0\n}\n");
}

TEST(ParseGraph, FillsDefaultAttributesAndCoercesIntegersToReals) {
  Graph g = parse_graph(
      "weft 1\ngraph g(x: f32[2, 3]) -> (y: f32[2, 3]) {\n"
      "  %0 = layer_norm(x, eps=1) : f32[2, 3]\n  return %0\n}\n");
  const Attrs& attrs = g.nodes()[0].attrs;
  EXPECT_EQ(attrs.get_real("eps"), 1.0);
  EXPECT_EQ(attrs.get_int("axis"), -1);
}

}  // namespace
}  // namespace weft
