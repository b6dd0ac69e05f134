// The builder DSL: graphs it writes, names it gives, and errors that point at the user's own line.
#include "frontend/builder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "frontend/tensor_ops.h"

namespace weft::dsl {
namespace {

std::vector<std::string> op_names(const Graph& g) {
  std::vector<std::string> out;
  for (const Node& n : g.nodes()) out.emplace_back(op_name(n.op));
  return out;
}

std::vector<std::string> scopes(const Graph& g) {
  std::vector<std::string> out;
  for (const Node& n : g.nodes()) out.push_back(n.scope);
  return out;
}

std::vector<std::string> param_names(const Graph& g) {
  std::vector<std::string> out;
  for (const ParamDecl& p : g.params()) out.push_back(p.name);
  return out;
}

/// x @ W^T + b inside scope `name`, as nn.Linear computes it.
Tensor linear(Builder& b, const Tensor& x, const std::string& name, int64_t in, int64_t out) {
  auto s = b.scope(name);
  Tensor w = b.param("weight", DType::f32, {out, in}, Initializer{"kaiming_uniform", {{"a", 2.236}}, b.next_seed()});
  Tensor bias =
      b.param("bias", DType::f32, {out}, Initializer{"uniform", {{"low", -0.1}, {"high", 0.1}}, b.next_seed()});
  return matmul(x, w, {.transpose_b = true}) + bias;
}

/// Runs `f`, which must throw weft::Error, and returns the message.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a weft::Error";
  return "";
}

TEST(Builder, MlpHasExpectedOpsScopesAndParamNames) {
  Builder b("mlp");
  Tensor x = b.input("x", "f32[B<=4096, 784]");
  Tensor h = relu(linear(b, x, "fc1", 784, 256));
  Tensor y = linear(b, h, "fc2", 256, 10);
  b.output("y", y);
  Graph g = b.finish();

  EXPECT_EQ(g.name(), "mlp");
  EXPECT_EQ(op_names(g), (std::vector<std::string>{"matmul", "add", "relu", "matmul", "add"}));
  EXPECT_EQ(scopes(g), (std::vector<std::string>{"fc1", "fc1", "", "fc2", "fc2"}));
  EXPECT_EQ(param_names(g), (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(g.params()[0].init.seed, 1u);
  EXPECT_EQ(g.params()[3].init.seed, 4u);
  EXPECT_TRUE(g.nodes()[0].attrs.get_bool("transpose_b"));
  ASSERT_EQ(g.outputs().size(), 1u);
  EXPECT_EQ(g.type(g.outputs()[0].value).str(), "f32[B, 10]");
  EXPECT_EQ(g.type(g.find_param("fc1.weight")->value).str(), "f32[256, 784]");
  ASSERT_NE(g.find_symbol("B"), nullptr);
  EXPECT_EQ(g.find_symbol("B")->bound, 4096);
}

TEST(Builder, NodesRecordTheCallersFileAndLine) {
  Builder b("g");
  Tensor x = b.input("x", DType::f32, {2, 3});
  // The call stays on the line __LINE__ records.
  // clang-format off
  int line = __LINE__; Tensor y = relu(x) * 2.0;
  // clang-format on
  b.output("y", y);
  const Graph& g = b.graph();
  ASSERT_EQ(g.nodes().size(), 3u);  // relu, constant 2.0, mul
  for (const Node& n : g.nodes()) {
    EXPECT_NE(n.loc.file.find("builder_test.cpp"), std::string::npos) << n.loc.str();
    EXPECT_EQ(n.loc.line, line);
  }
}

TEST(Builder, SourceRootMakesRecordedLocationsRelative) {
  Builder b("g");
  std::string here = __FILE__;
  b.set_source_root(here.substr(0, here.rfind("tests/frontend/")));
  Tensor x = b.input("x", DType::f32, {2});
  // The call stays on the line __LINE__ records.
  // clang-format off
  int line = __LINE__; Tensor y = relu(x);
  // clang-format on
  EXPECT_EQ(b.graph().nodes()[0].loc.str(), "tests/frontend/builder_test.cpp:" + std::to_string(line));
  EXPECT_EQ(y.type().str(), "f32[2]");
}

/// A helper layer in the style of nn/: its nodes and errors point at its caller's line.
Tensor scaled_relu(Builder& b, const Tensor& x, double s, std::source_location loc = std::source_location::current()) {
  auto at = b.at(loc);
  return relu(x) * s;
}

TEST(Builder, LocationGuardMakesALayersNodesPointAtItsCaller) {
  Builder b("g");
  Tensor x = b.input("x", DType::f32, {2});
  // The call stays on the line __LINE__ records.
  // clang-format off
  int line = __LINE__; Tensor y = scaled_relu(b, x, 2.0);
  // clang-format on
  ASSERT_EQ(b.graph().nodes().size(), 3u);
  for (const Node& n : b.graph().nodes()) EXPECT_EQ(n.loc.line, line);
  // The guard ends with the layer.
  // The call stays on the line __LINE__ records.
  // clang-format off
  int after = __LINE__; Tensor z = relu(y);
  // clang-format on
  EXPECT_EQ(b.graph().nodes().back().loc.line, after);
  // Errors inside the layer name the caller's line too.
  Tensor i = b.input("i", DType::i32, {2});
  // The call stays on the line __LINE__ records.
  // clang-format off
  std::string msg = error_of([&] {
    line = __LINE__; (void)scaled_relu(b, i, 0.5);
  });
  // clang-format on
  EXPECT_NE(msg.find("builder_test.cpp:" + std::to_string(line) + ")"), std::string::npos) << msg;
  EXPECT_EQ(z.type().str(), "f32[2]");
}

TEST(Builder, ShapeMismatchInOperatorPlusNamesThisFileLineOpAndBothShapes) {
  Builder b("g");
  Tensor a = b.input("a", DType::f32, {4, 3});
  Tensor c = b.input("c", DType::f32, {5, 2});
  int line = 0;
  // The call stays on the line __LINE__ records.
  // clang-format off
  std::string msg = error_of([&] {
    line = __LINE__; (void)(a + c);
  });
  // clang-format on
  EXPECT_NE(msg.find("add:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32[4, 3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32[5, 2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("builder_test.cpp:" + std::to_string(line) + ")"), std::string::npos) << msg;
}

TEST(Builder, ShapeMismatchInMatMulNamesThisFileLineOpAndBothShapes) {
  Builder b("g");
  Tensor x = b.input("x", "f32[B, 784]");
  Tensor w = b.param("w", DType::f32, {256, 512});
  int line = 0;
  // The call stays on the line __LINE__ records.
  // clang-format off
  std::string msg = error_of([&] {
    line = __LINE__; (void)(matmul(x, w, {.transpose_b = true}));
  });
  // clang-format on
  EXPECT_NE(msg.find("matmul:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32[B, 784]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32[256, 512]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("builder_test.cpp:" + std::to_string(line) + ")"), std::string::npos) << msg;
}

TEST(Builder, DTypeMismatchIsAnErrorNotAPromotion) {
  Builder b("g");
  Tensor x = b.input("x", DType::f32, {2});
  Tensor i = b.input("i", DType::i32, {2});
  std::string msg = error_of([&] { (void)(x * i); });
  EXPECT_NE(msg.find("mul:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32[2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("i32[2]"), std::string::npos) << msg;
}

TEST(Builder, ScalarsBecomeConstantsOfTheTensorsDType) {
  Builder b("g");
  Tensor x = b.input("x", DType::f64, {3});
  Tensor y = 1 - x * 0.5;
  b.output("y", y);
  const Graph& g = b.graph();
  EXPECT_EQ(op_names(g), (std::vector<std::string>{"constant", "mul", "constant", "sub"}));
  const Node& half = g.nodes()[0];
  EXPECT_EQ(half.attrs.get_dtype("dtype"), DType::f64);
  EXPECT_EQ(half.attrs.get_reals("value"), std::vector<double>{0.5});
  EXPECT_TRUE(half.attrs.get_shape("shape").empty());
  // `1 - ...`: the constant is the first operand of sub.
  const Node& sub = g.nodes()[3];
  EXPECT_EQ(sub.operands[0], g.nodes()[2].results[0]);
  EXPECT_EQ(g.nodes()[2].attrs.get_reals("value"), std::vector<double>{1.0});
  EXPECT_EQ(y.type().str(), "f64[3]");
}

TEST(Builder, ScalarNotRepresentableInAnIntegerTensorIsRejected) {
  Builder b("g");
  Tensor i = b.input("i", DType::i32, {3});
  Tensor ok = i + 2;
  EXPECT_EQ(ok.dtype(), DType::i32);
  std::string msg = error_of([&] { (void)(i * 0.5); });
  EXPECT_NE(msg.find("mul:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("i32"), std::string::npos) << msg;
  EXPECT_NE(msg.find("0.5"), std::string::npos) << msg;
}

TEST(Builder, ComparisonsGiveBoolAndLogicalOperatorsTakeBool) {
  Builder b("g");
  Tensor x = b.input("x", DType::f32, {2, 3});
  Tensor m = (x > 0.0) & !(x == 1.0);
  EXPECT_EQ(m.type().str(), "bool[2, 3]");
  Tensor y = select(m, x, 0.0);
  EXPECT_EQ(y.type().str(), "f32[2, 3]");
  EXPECT_EQ((x <= x).dtype(), DType::boolean);
  EXPECT_EQ((-x).type().str(), "f32[2, 3]");
}

TEST(Builder, ScopesNestWithDotsAndRestoreOnExit) {
  Builder b("g");
  Tensor x = b.input("x", DType::f32, {2, 4});
  Tensor w;
  {
    auto s1 = b.scope("encoder");
    auto s2 = b.scope("layers");
    {
      auto s3 = b.scope("0");
      auto s4 = b.scope("self_attn");
      auto s5 = b.scope("q_proj");
      w = b.param("weight", DType::f32, {4, 4});
      (void)matmul(x, w);
      EXPECT_EQ(b.current_scope(), "encoder.layers.0.self_attn.q_proj");
    }
    EXPECT_EQ(b.current_scope(), "encoder.layers");
  }
  EXPECT_EQ(b.current_scope(), "");
  (void)relu(x);
  EXPECT_EQ(b.graph().params()[0].name, "encoder.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(b.graph().nodes()[0].scope, "encoder.layers.0.self_attn.q_proj");
  EXPECT_EQ(b.graph().nodes()[1].scope, "");
}

TEST(Builder, InputTypeStringDeclaresBoundsAndRejectsGarbage) {
  Builder b("g");
  Tensor x = b.input("x", "f32[B<=8, T<=16, 32]");
  EXPECT_EQ(x.type().str(), "f32[B, T, 32]");
  EXPECT_EQ(b.graph().find_symbol("T")->bound, 16);
  Tensor s = b.input("s", "i64[]");
  EXPECT_EQ(s.rank(), 0);
  int line = 0;
  // The call stays on the line __LINE__ records.
  // clang-format off
  std::string msg = error_of([&] {
    line = __LINE__; b.input("y", "f32[B, 3");
  });
  // clang-format on
  EXPECT_NE(msg.find("input 'y'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("builder_test.cpp:" + std::to_string(line)), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { b.input("z", "q32[3]"); }).find("unknown dtype 'q32'"), std::string::npos);
  EXPECT_NE(error_of([&] { b.input("w", "f32[2*B<=4]"); }).find("only a bare symbol"), std::string::npos);
  EXPECT_NE(error_of([&] { b.input("v", "f32[B<=0]"); }).find("bad bound"), std::string::npos);
}

TEST(Builder, ParamsMustBeUniqueStaticAndWellInitialized) {
  Builder b("g");
  b.param("w", DType::f32, {2, 2});
  EXPECT_NE(error_of([&] { b.param("w", DType::f32, {2, 2}); }).find("'w' is already declared"), std::string::npos);
  EXPECT_NE(error_of([&] {
              b.param("v", DType::f32, {Dim::symbol("B"), 2});
            }).find("must be static"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              b.param("k", DType::f32, {4}, Initializer{"kaiming_uniform", {{"a", 1.0}}, 1});
            }).find("rank >= 2"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              b.param("u", DType::f32, {4}, Initializer{"bogus", {}, 1});
            }).find("param 'u'"),
            std::string::npos);
}

TEST(Builder, UpdatesMustTargetAParameterWithItsType) {
  Builder b("step");
  Tensor w = b.param("w", DType::f32, {3});
  Tensor g = b.input("g", DType::f32, {3});
  b.update("w", w - g * 0.1);
  EXPECT_EQ(b.graph().updates().size(), 1u);
  EXPECT_NE(error_of([&] { b.update("nope", g); }).find("'nope' is not one"), std::string::npos);
  Tensor wrong = b.input("h", DType::f32, {4});
  EXPECT_NE(error_of([&] { b.update("w", wrong); }).find("f32[3]"), std::string::npos);
}

TEST(Builder, OperandsFromAnotherBuilderOrEmptyHandlesAreRejected) {
  Builder b1("one");
  Builder b2("two");
  Tensor x = b1.input("x", DType::f32, {2});
  Tensor y = b2.input("y", DType::f32, {2});
  EXPECT_NE(error_of([&] { (void)(x + y); }).find("another Builder"), std::string::npos);
  Tensor empty;
  EXPECT_NE(error_of([&] { (void)(relu(empty)); }).find("empty Tensor"), std::string::npos);
}

TEST(Builder, FinishRequiresAnOutput) {
  Builder b("g");
  b.input("x", DType::f32, {2});
  EXPECT_NE(error_of([&] { b.finish(); }).find("has no outputs"), std::string::npos);
}

TEST(Builder, OutputNamesAreUnique) {
  Builder b("g");
  Tensor x = b.input("x", DType::f32, {2});
  b.output("y", x);
  EXPECT_NE(error_of([&] { b.output("y", relu(x)); }).find("'y' is already an output"), std::string::npos);
}

}  // namespace
}  // namespace weft::dsl
