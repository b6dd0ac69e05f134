// The source ops on the reference interpreter: constant, iota and rng_uniform, including shapes
// with symbolic dims that are bound only when the graph runs.
#include "tests/interp_elementwise/testing.h"

namespace weft {
namespace {

using namespace weft::testing;

Attrs constant_attrs(std::vector<double> value, DType dtype, Shape shape) {
  return Attrs{{"value", std::move(value)}, {"dtype", dtype}, {"shape", std::move(shape)}};
}

TEST(InterpConstant, SplatFillsTheShape) {
  expect_tensor<float>(run_op(OpKind::constant, {}, constant_attrs({1.5}, DType::f32, {2, 2})), {2, 2},
                       {1.5f, 1.5f, 1.5f, 1.5f});
  expect_tensor<int32_t>(run_op(OpKind::constant, {}, constant_attrs({-3}, DType::i32, {})), {}, {-3});
}

TEST(InterpConstant, FullValueListIsRowMajor) {
  expect_tensor<int64_t>(run_op(OpKind::constant, {}, constant_attrs({1, 2, 3, 4, 5, 6}, DType::i64, {2, 3})), {2, 3},
                         {1, 2, 3, 4, 5, 6});
  expect_tensor<bool>(run_op(OpKind::constant, {}, constant_attrs({1, 0}, DType::boolean, {2})), {2}, {true, false});
  expect_tensor<double>(run_op(OpKind::constant, {}, constant_attrs({0.1, -2.5}, DType::f64, {2})), {2}, {0.1, -2.5});
}

TEST(InterpConstant, F32ValuesRoundToFloat) {
  expect_tensor<float>(run_op(OpKind::constant, {}, constant_attrs({0.1}, DType::f32, {1})), {1}, {0.1f});
}

TEST(InterpConstant, LargeI64ValuesAreExact) {
  // 2^53 is the largest power of two below which every integer is an exact double.
  expect_tensor<int64_t>(run_op(OpKind::constant, {}, constant_attrs({9007199254740992.0}, DType::i64, {})), {},
                         {int64_t{1} << 53});
}

TEST(InterpConstant, ZeroSizeShape) {
  expect_tensor<float>(run_op(OpKind::constant, {}, constant_attrs({7}, DType::f32, {0, 3})), {0, 3}, {});
}

TEST(InterpConstant, RejectsAWrongNumberOfValues) {
  expect_error(
      [] {
        infer(OpKind::constant, {}, constant_attrs({1, 2, 3, 4}, DType::f32, {2, 3}));
      },
      {"constant", "1 element (a splat) or 6", "f32[2, 3]", "got 4"});
  expect_error([] { infer(OpKind::constant, {}, constant_attrs({}, DType::f32, {2})); },
               {"constant", "at least one element"});
}

TEST(InterpConstant, RejectsNonIntegerValuesForIntegerDtypes) {
  expect_error([] { infer(OpKind::constant, {}, constant_attrs({1.5}, DType::i32, {})); }, {"i32", "integer", "1.5"});
  expect_error([] { infer(OpKind::constant, {}, constant_attrs({3e9}, DType::i32, {})); }, {"i32", "range"});
  expect_error([] { infer(OpKind::constant, {}, constant_attrs({2}, DType::boolean, {})); }, {"bool", "0 or 1"});
}

TEST(InterpConstant, RejectsANegativeDim) {
  expect_error(
      [] {
        infer(OpKind::constant, {}, constant_attrs({1}, DType::f32, {2, -1}));
      },
      {"constant", "non-negative", "[2, -1]"});
}

TEST(InterpConstant, SymbolicShapeMustBeASplat) {
  expect_error(
      [] {
        infer(OpKind::constant, {}, constant_attrs({1, 2}, DType::f32, symbolic({sym("T")})));
      },
      {"constant", "symbolic", "splat", "f32[T]"});
}

TEST(InterpConstant, IsASourceWithoutGradient) {
  EXPECT_EQ(op_def(OpKind::constant).fusion, FusionKind::source);
  EXPECT_FALSE(op_def(OpKind::constant).differentiable);
}

TEST(InterpIota, CountsAlongTheAxis) {
  Attrs last{{"shape", Shape{2, 3}}, {"axis", int64_t{1}}};
  expect_tensor<int64_t>(run_op(OpKind::iota, {}, last), {2, 3}, {0, 1, 2, 0, 1, 2});
  Attrs first{{"shape", Shape{2, 3}}, {"axis", int64_t{0}}};
  expect_tensor<int64_t>(run_op(OpKind::iota, {}, first), {2, 3}, {0, 0, 0, 1, 1, 1});
}

TEST(InterpIota, NegativeAxisAndOtherDtypes) {
  Attrs a{{"shape", Shape{2, 2, 2}}, {"axis", int64_t{-2}}, {"dtype", DType::f32}};
  expect_tensor<float>(run_op(OpKind::iota, {}, a), {2, 2, 2}, {0.f, 0.f, 1.f, 1.f, 0.f, 0.f, 1.f, 1.f});
  Attrs b{{"shape", Shape{3}}, {"axis", int64_t{0}}, {"dtype", DType::i32}};
  expect_tensor<int32_t>(run_op(OpKind::iota, {}, b), {3}, {0, 1, 2});
}

TEST(InterpIota, RejectsBadAxisAndBool) {
  expect_error(
      [] {
        infer(OpKind::iota, {}, Attrs{{"shape", Shape{2, 3}}, {"axis", int64_t{2}}});
      },
      {"iota", "axis 2 is out of range"});
  expect_error([] { infer(OpKind::iota, {}, Attrs{{"shape", Shape{}}, {"axis", int64_t{0}}}); }, {"iota", "rank 0"});
  expect_error(
      [] {
        infer(OpKind::iota, {}, Attrs{{"shape", Shape{3}}, {"axis", int64_t{0}}, {"dtype", DType::boolean}});
      },
      {"iota", "numeric", "bool[3]"});
}

TEST(InterpSourcesSymbolic, ShapesAreBoundWhenTheGraphRuns) {
  // Built once: x: f32[B, T]; positions = iota([T], 0); ones = constant(1, [B, T]); y = x + ones.
  Graph g("positions");
  g.declare_symbol("B");
  g.declare_symbol("T");
  ValueId x = g.add_input("x", {DType::f32, symbolic({sym("B"), sym("T")})});
  GraphBuilder b(g);
  ValueId pos = b.emit1(OpKind::iota, {}, Attrs{{"shape", symbolic({sym("T")})}, {"axis", int64_t{0}}});
  ValueId ones = b.emit1(OpKind::constant, {}, constant_attrs({1}, DType::f32, symbolic({sym("B"), sym("T")})));
  g.add_output("pos", pos);
  g.add_output("y", b.binary(OpKind::add, x, ones));
  EXPECT_EQ(g.type(pos).str(), "i64[T]");

  std::vector<Tensor> r3 = interpret(g, std::vector<Tensor>{f32({1, 3}, {0.f, 1.f, 2.f})}, {});
  expect_tensor<int64_t>(r3[0], {3}, {0, 1, 2});
  expect_tensor<float>(r3[1], {1, 3}, {1.f, 2.f, 3.f});
  std::vector<Tensor> r7 = interpret(g, std::vector<Tensor>{f32({2, 7}, std::vector<float>(14, 0.f))}, {});
  expect_tensor<int64_t>(r7[0], {7}, {0, 1, 2, 3, 4, 5, 6});
  expect_tensor<float>(r7[1], {2, 7}, std::vector<float>(14, 1.f));
}

TEST(InterpSourcesSymbolic, UnboundSymbolIsAnError) {
  Graph g("unbound");
  GraphBuilder b(g);
  g.add_output("pos", b.emit1(OpKind::iota, {}, Attrs{{"shape", symbolic({sym("T")})}, {"axis", int64_t{0}}}));
  expect_error([&] { interpret(g, {}, {}); }, {"'T'", "no value"});
}

// rng_uniform: counter (j, offset) with key = seed makes f32 elements 4j..4j+3 (a word each) and f64
// elements 2j, 2j+1 (two words each). Expected words are Random123's published known-answer vector for
// counter 0, key 0 (6627e8d5 e169c58d bc57ac4c 9b00dbd8), and, for the other cases, an independent
// Python implementation checked against that vector.
Tensor rng(int64_t seed, std::vector<int64_t> shape, int64_t offset, DType dtype = DType::f32) {
  Graph g("rng");
  ValueId off = g.add_input("offset", {DType::i64, {}});
  GraphBuilder b(g);
  g.add_output("u", b.emit1(OpKind::rng_uniform, {off},
                            Attrs{{"seed", seed}, {"shape", static_shape(shape)}, {"dtype", dtype}}));
  return interpret(g, std::vector<Tensor>{i64({}, {offset})}, {})[0];
}

TEST(InterpRngUniform, MatchesThePhiloxKnownAnswer) {
  // f32 element e takes the top 24 bits of word e; f64 element e the top 53 bits of words 2e, 2e+1.
  expect_tensor<float>(rng(0, {4}, 0), {4},
                       {0x6627e8 * 0x1p-24f, 0xe169c5 * 0x1p-24f, 0xbc57ac * 0x1p-24f, 0x9b00db * 0x1p-24f});
  expect_tensor<double>(rng(0, {2}, 0, DType::f64), {2},
                        {static_cast<double>(0xcc4fd1abc2d38) * 0x1p-53,
                         static_cast<double>((uint64_t{0xbc57ac4c} << 32 | 0x9b00dbd8) >> 11) * 0x1p-53});
}

TEST(InterpRngUniform, CounterIsTheFlatIndexAndTheOffset) {
  // seed 42, offset 5: counter 0's words are 7b835adf 68b79cb4 7b2228a5 df5aef1c, counter 1's first
  // is 98712bb9 — elements 0..4, whatever the shape.
  const std::vector<float> want = {0x7b835a * 0x1p-24f, 0x68b79c * 0x1p-24f, 0x7b2228 * 0x1p-24f,
                                   0xdf5aef * 0x1p-24f, 0x98712b * 0x1p-24f};
  expect_tensor<float>(rng(42, {5}, 5), {5}, want);
  expect_tensor<float>(rng(42, {1, 5}, 5), {1, 5}, want);
}

TEST(InterpRngUniform, DeterministicAndFreshPerOffset) {
  std::vector<float> a = rng(7, {64}, 0).to_vector<float>();
  EXPECT_EQ(a, rng(7, {64}, 0).to_vector<float>());
  EXPECT_NE(a, rng(7, {64}, 1).to_vector<float>());
  EXPECT_NE(a, rng(8, {64}, 0).to_vector<float>());
  for (float v : a) {
    EXPECT_GE(v, 0.f);
    EXPECT_LT(v, 1.f);
  }
}

TEST(InterpRngUniform, RejectsAnOffsetThatIsNotAnI64Scalar) {
  Attrs attrs{{"seed", int64_t{1}}, {"shape", Shape{2}}};
  expect_error(
      [&] {
        infer(OpKind::rng_uniform, {{DType::i64, {1}}}, attrs);
      },
      {"rng_uniform", "i64 scalar", "i64[1]"});
  expect_error([&] { infer(OpKind::rng_uniform, {{DType::i32, {}}}, attrs); }, {"i32[]"});
  expect_error([&] { infer(OpKind::rng_uniform, {}, attrs); }, {"rng_uniform", "operand"});
}

TEST(InterpRngUniform, RejectsIntegerDtypes) {
  Attrs attrs{{"seed", int64_t{1}}, {"shape", Shape{2}}, {"dtype", DType::i32}};
  expect_error([&] { infer(OpKind::rng_uniform, {{DType::i64, {}}}, attrs); }, {"rng_uniform", "f32 or f64"});
}

TEST(InterpRngUniform, SymbolicShapeIsBoundAtRunTime) {
  Graph g("noise");
  ValueId x = g.add_input("x", {DType::f32, symbolic({sym("T")})});
  ValueId off = g.add_input("offset", {DType::i64, {}});
  GraphBuilder b(g);
  ValueId u = b.emit1(OpKind::rng_uniform, {off}, Attrs{{"seed", int64_t{42}}, {"shape", symbolic({sym("T")})}});
  g.add_output("y", b.binary(OpKind::add, x, u));
  std::vector<Tensor> r = interpret(g, std::vector<Tensor>{f32({3}, {1.f, 1.f, 1.f}), i64({}, {5})}, {});
  expect_tensor<float>(r[0], {3}, {1.f + 0x7b835a * 0x1p-24f, 1.f + 0x68b79c * 0x1p-24f, 1.f + 0x7b2228 * 0x1p-24f});
  EXPECT_EQ(interpret(g, std::vector<Tensor>{f32({7}, std::vector<float>(7, 0.f)), i64({}, {5})}, {})[0].shape(),
            std::vector<int64_t>{7});
}

TEST(InterpRngUniform, IsANonDifferentiableSource) {
  EXPECT_EQ(op_def(OpKind::rng_uniform).fusion, FusionKind::source);
  EXPECT_FALSE(op_def(OpKind::rng_uniform).differentiable);
  EXPECT_FALSE(op_def(OpKind::iota).differentiable);
}

}  // namespace
}  // namespace weft
