/** \file
 * Every core op on the LLVM backend against the interpreter: elementwise ops of each dtype with
 * broadcasting, casts, reductions over each axis set, matmul variants, movement ops. Each graph
 * has a symbolic last dim N (bounded) and runs at N = 1, 7, 13, 67, 129: sizes below, at and past
 * the vector width, so that full vectors, the masked tail and both together are exercised by one
 * compiled executable. Ops with generated code must not fall back to the interpreter (all but a
 * window of a symbolic dim, whose bounds check is the interpreter's).
 */
#include <gtest/gtest.h>

#include <functional>

#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

const std::vector<int64_t> kSizes = {1, 7, 13, 67, 129};

struct OpCase {
  std::string name;
  std::function<Graph()> build;
  Tolerance tol = kExact;
  double lo = -2, hi = 2;  // float inputs
  bool compiled = true;    // expect generated code for every node
};

std::ostream& operator<<(std::ostream& os, const OpCase& c) { return os << c.name; }

Dim n() { return sym("N"); }

/// A graph of one op over inputs of the given types.
Graph one_op(const std::string& name, OpKind op, const std::vector<TensorType>& types, const Attrs& attrs = {}) {
  Graph g(name);
  g.declare_symbol("N", 256);
  std::vector<ValueId> xs;
  for (size_t i = 0; i < types.size(); ++i) xs.push_back(g.add_input(fmt::format("x{}", i), types[i]));
  GraphBuilder b(g);
  g.add_output("y", b.emit1(op, xs, attrs));
  return g;
}

TensorType t(DType d, Shape s) { return TensorType{d, std::move(s)}; }

std::vector<OpCase> elementwise_cases() {
  std::vector<OpCase> cases;
  struct Unary {
    OpKind op;
    double lo, hi;
    Tolerance tol;
  };
  const std::vector<Unary> floats = {
      {OpKind::neg, -2, 2, kExact},           {OpKind::abs, -2, 2, kExact},
      {OpKind::exp, -80, 80, kTranscendental}, {OpKind::log, 1e-3, 50, kTranscendental},
      {OpKind::sqrt, 0, 9, kExact},            {OpKind::rsqrt, 1e-3, 9, kExact},
      {OpKind::tanh, -6, 6, kTranscendental},  {OpKind::sigmoid, -20, 20, kTranscendental},
      {OpKind::relu, -2, 2, kExact},           {OpKind::gelu, -6, 6, kTranscendental},
      {OpKind::sin, -4, 4, kExact},            {OpKind::cos, -4, 4, kExact},
  };
  for (DType d : {DType::f32, DType::f64})
    for (const Unary& u : floats) {
      std::string name = fmt::format("{}_{}", op_name(u.op), dtype_name(d));
      cases.push_back({name, [=] { return one_op(name, u.op, {t(d, {Dim(3), n()})}); }, u.tol, u.lo, u.hi});
    }
  cases.push_back({"gelu_tanh_f32",
                   [] {
                     return one_op("gelu_tanh", OpKind::gelu, {t(DType::f32, {Dim(3), n()})},
                                   Attrs{{"approximate", std::string("tanh")}});
                   },
                   kTranscendental, -6, 6});
  for (DType d : {DType::i32, DType::i64})
    for (OpKind op : {OpKind::neg, OpKind::abs, OpKind::relu}) {
      std::string name = fmt::format("{}_{}", op_name(op), dtype_name(d));
      cases.push_back({name, [=] { return one_op(name, op, {t(d, {Dim(3), n()})}); }});
    }
  cases.push_back({"logical_not", [] { return one_op("not", OpKind::logical_not, {t(DType::boolean, {n()})}); }});

  // Binary ops under broadcasting: a row vector, a column, a leading batch, two-sided.
  const std::vector<std::pair<Shape, Shape>> shapes = {{{Dim(3), n()}, {n()}},
                                                       {{Dim(3), n()}, {Dim(3), Dim(1)}},
                                                       {{n()}, {Dim(2), Dim(3), n()}},
                                                       {{Dim(3), Dim(1), n()}, {Dim(1), Dim(4), n()}}};
  const std::vector<OpKind> float_ops = {OpKind::add, OpKind::sub, OpKind::mul, OpKind::div, OpKind::maximum,
                                         OpKind::minimum, OpKind::eq, OpKind::ne, OpKind::lt, OpKind::le,
                                         OpKind::gt, OpKind::ge};
  for (size_t s = 0; s < shapes.size(); ++s)
    for (OpKind op : float_ops) {
      std::string name = fmt::format("{}_f32_broadcast{}", op_name(op), s);
      auto [a, b] = shapes[s];
      cases.push_back({name, [=] { return one_op(name, op, {t(DType::f32, a), t(DType::f32, b)}); }});
    }
  cases.push_back({"pow_f32",
                   [] { return one_op("pow", OpKind::pow, {t(DType::f32, {Dim(3), n()}), t(DType::f32, {n()})}); },
                   kExact, 0.1, 3});
  cases.push_back({"add_f64", [] { return one_op("add", OpKind::add, {t(DType::f64, {Dim(3), n()}), t(DType::f64, {n()})}); }});
  for (DType d : {DType::i32, DType::i64})
    for (OpKind op : {OpKind::add, OpKind::sub, OpKind::mul, OpKind::div, OpKind::maximum, OpKind::minimum,
                      OpKind::lt, OpKind::eq}) {
      std::string name = fmt::format("{}_{}", op_name(op), dtype_name(d));
      cases.push_back({name, [=] { return one_op(name, op, {t(d, {Dim(3), n()}), t(d, {Dim(3), Dim(1)})}); }});
    }
  for (OpKind op : {OpKind::logical_and, OpKind::logical_or}) {
    std::string name(op_name(op));
    cases.push_back({name, [=] {
                       return one_op(name, op, {t(DType::boolean, {Dim(2), n()}), t(DType::boolean, {n()})});
                     }});
  }
  cases.push_back({"select_broadcast", [] {
                     return one_op("select", OpKind::select,
                                   {t(DType::boolean, {Dim(3), n()}), t(DType::f32, {n()}), t(DType::f32, {Dim(3), Dim(1)})});
                   }});
  // Casts, including saturation (|x| up to 3e9 overflows i32) and NaN-free float -> bool.
  const std::vector<std::pair<DType, DType>> casts = {
      {DType::f32, DType::i32}, {DType::f32, DType::i64}, {DType::i32, DType::f32}, {DType::f32, DType::boolean},
      {DType::boolean, DType::f32}, {DType::i64, DType::i32}, {DType::f32, DType::f64}, {DType::f64, DType::f32},
      {DType::i32, DType::boolean}, {DType::boolean, DType::i64}, {DType::i32, DType::i64}};
  for (auto [from, to] : casts) {
    std::string name = fmt::format("cast_{}_to_{}", dtype_name(from), dtype_name(to));
    cases.push_back({name, [=] { return one_op(name, OpKind::cast, {t(from, {Dim(2), n()})}, Attrs{{"dtype", to}}); },
                     kExact, -3e9, 3e9});
  }
  return cases;
}

std::vector<OpCase> reduction_cases() {
  std::vector<OpCase> cases;
  const std::vector<std::vector<int64_t>> axes_sets = {{-1}, {0}, {1}, {0, 2}, {}};
  for (OpKind op : {OpKind::reduce_sum, OpKind::reduce_mean, OpKind::reduce_max, OpKind::reduce_min})
    for (size_t a = 0; a < axes_sets.size(); ++a)
      for (bool keep : {false, true}) {
        std::string name = fmt::format("{}_axes{}{}", op_name(op), a, keep ? "_keepdims" : "");
        auto axes = axes_sets[a];
        cases.push_back({name, [=] {
                           return one_op(name, op, {t(DType::f32, {Dim(4), Dim(5), n()})},
                                         Attrs{{"axes", axes}, {"keepdims", keep}});
                         },
                         kReduction});
      }
  for (int64_t axis : {0, 1, -1}) {
    std::string name = fmt::format("argmax_axis{}", axis < 0 ? 2 : axis);
    cases.push_back({name, [=] {
                       return one_op(name, OpKind::argmax, {t(DType::f32, {Dim(4), Dim(5), n()})},
                                     Attrs{{"axis", axis}, {"keepdims", false}});
                     }});
  }
  for (DType d : {DType::i32, DType::i64, DType::f64}) {
    std::string name = fmt::format("reduce_sum_{}", dtype_name(d));
    cases.push_back({name, [=] {
                       return one_op(name, OpKind::reduce_sum, {t(d, {Dim(3), n()})},
                                     Attrs{{"axes", std::vector<int64_t>{-1}}, {"keepdims", false}});
                     },
                     kReduction});
  }
  for (int64_t axis : {0, -1}) {
    std::string name = fmt::format("reduce_mean_i32_axis{}", axis < 0 ? 1 : 0);
    cases.push_back({name, [=] {
                       return one_op(name, OpKind::reduce_mean, {t(DType::i32, {Dim(3), n()})},
                                     Attrs{{"axes", std::vector<int64_t>{axis}}, {"keepdims", true}});
                     }});
  }
  cases.push_back({"argmax_i32", [] {
                     return one_op("argmax_i32", OpKind::argmax, {t(DType::i32, {Dim(3), n()})}, Attrs{{"axis", int64_t{1}}});
                   }});
  return cases;
}

Graph matmul_graph(const std::string& name, Shape a, Shape b, bool ta, bool tb) {
  return one_op(name, OpKind::matmul, {t(DType::f32, std::move(a)), t(DType::f32, std::move(b))},
                Attrs{{"transpose_a", ta}, {"transpose_b", tb}});
}

std::vector<OpCase> matmul_cases() {
  std::vector<OpCase> cases;
  auto add = [&](const std::string& name, Shape a, Shape b, bool ta, bool tb) {
    cases.push_back({name, [=] { return matmul_graph(name, a, b, ta, tb); }, kMatmul});
  };
  add("matmul_nn", {Dim(5), n()}, {n(), Dim(7)}, false, false);
  add("matmul_nt", {Dim(5), n()}, {Dim(19), n()}, false, true);
  add("matmul_tn", {n(), Dim(5)}, {n(), Dim(7)}, true, false);
  add("matmul_tt", {n(), Dim(5)}, {Dim(7), n()}, true, true);
  add("matmul_n_wide", {Dim(3), Dim(9)}, {Dim(9), n()}, false, false);
  add("matmul_batched", {Dim(2), Dim(5), n()}, {Dim(2), n(), Dim(7)}, false, false);
  add("matmul_batched_tb", {Dim(2), Dim(3), Dim(5), n()}, {Dim(2), Dim(3), Dim(6), n()}, false, true);
  add("matmul_folded_batch", {Dim(2), Dim(3), n()}, {n(), Dim(6)}, false, false);
  add("matmul_broadcast_a", {Dim(1), Dim(5), n()}, {Dim(3), n(), Dim(4)}, false, false);
  add("matmul_broadcast_b_ta", {Dim(3), n(), Dim(5)}, {n(), Dim(4)}, true, false);
  return cases;
}

std::vector<OpCase> movement_cases() {
  std::vector<OpCase> cases;
  auto unary = [&](const std::string& name, OpKind op, Shape in, Attrs attrs, bool compiled = true) {
    cases.push_back({name, [=] { return one_op(name, op, {t(DType::f32, in)}, attrs); }, kExact, -2, 2, compiled});
  };
  unary("reshape_merge", OpKind::reshape, {Dim(2), Dim(3), n()}, Attrs{{"shape", Shape{Dim(6), n()}}});
  unary("reshape_split", OpKind::reshape, {Dim(6), n()}, Attrs{{"shape", Shape{Dim(2), Dim(3), n()}}});
  unary("reshape_flatten", OpKind::reshape, {Dim(3), n()}, Attrs{{"shape", Shape{Dim(3) * n()}}});
  unary("transpose_inner", OpKind::transpose, {Dim(3), n()}, Attrs{{"perm", std::vector<int64_t>{1, 0}}});
  unary("transpose_keep_inner", OpKind::transpose, {Dim(2), Dim(3), n()},
        Attrs{{"perm", std::vector<int64_t>{1, 0, 2}}});
  unary("transpose_3d", OpKind::transpose, {Dim(2), Dim(3), n()}, Attrs{{"perm", std::vector<int64_t>{2, 0, 1}}});
  unary("broadcast_rows", OpKind::broadcast, {n()}, Attrs{{"shape", Shape{Dim(3), n()}}});
  cases.push_back({"broadcast_column", [] {
                     Graph g("broadcast_column");
                     g.declare_symbol("N", 256);
                     ValueId x = g.add_input("x", f32({Dim(3), Dim(1)}));
                     ValueId y = g.add_input("y", f32({n()}));
                     GraphBuilder b(g);
                     g.add_output("z", b.binary(OpKind::sub, b.broadcast_to(x, {Dim(3), n()}), y));
                     return g;
                   }});
  unary("slice", OpKind::slice, {n(), Dim(5)},
        Attrs{{"axis", int64_t{1}}, {"start", int64_t{1}}, {"end", int64_t{4}}, {"step", int64_t{2}}});
  unary("slice_from_the_end", OpKind::slice, {Dim(2), n(), Dim(9)}, Attrs{{"axis", int64_t{-1}}, {"start", int64_t{-4}}});
  unary("slice_step3", OpKind::slice, {Dim(9), n()},
        Attrs{{"axis", int64_t{0}}, {"start", int64_t{0}}, {"end", int64_t{7}}, {"step", int64_t{3}}});
  unary("slice_symbolic_whole_axis", OpKind::slice, {n(), Dim(3)}, Attrs{{"axis", int64_t{0}}});
  // A static window of a symbolic dim: the interpreter checks at run time that N reaches its end.
  unary("slice_symbolic_window", OpKind::slice, {n(), Dim(3)},
        Attrs{{"axis", int64_t{0}}, {"start", int64_t{0}}, {"end", int64_t{1}}}, false);
  cases.push_back({"concat_rows",
                   [] { return one_op("concat", OpKind::concat, {t(DType::f32, {Dim(2), n()}), t(DType::f32, {Dim(3), n()})},
                                      Attrs{{"axis", int64_t{0}}}); }});
  cases.push_back({"concat_symbolic_columns", [] {
                     return one_op("concat_columns", OpKind::concat,
                                   {t(DType::f32, {Dim(2), n()}), t(DType::f32, {Dim(2), n()})},
                                   Attrs{{"axis", int64_t{1}}});
                   }});
  cases.push_back({"concat_i64_middle_axis", [] {
                     return one_op("concat_i64", OpKind::concat, {t(DType::i64, {Dim(2), Dim(1), n()}), t(DType::i64, {Dim(2), Dim(4), n()})},
                                   Attrs{{"axis", int64_t{1}}});
                   }});
  // A loop region through a transpose and a reshape merging the axes it swapped (no strided view
  // of x has the merged axis): [2, 3, N] -> [3, 2, N] -> [6, N], then exp and a bias.
  cases.push_back({"reshape_transpose_chain", [] {
                     Graph g("chain");
                     g.declare_symbol("N", 256);
                     ValueId x = g.add_input("x", f32({Dim(2), Dim(3), n()}));
                     ValueId bias = g.add_input("bias", f32({n()}));
                     GraphBuilder b(g);
                     ValueId y = b.transpose(x, {1, 0, 2});
                     y = b.reshape(y, {Dim(6), n()});
                     g.add_output("y", b.binary(OpKind::add, b.unary(OpKind::exp, y), bias));
                     return g;
                   },
                   kTranscendental});
  cases.push_back({"attention_head_merge", [] {
                     // [B, H, T, D] -> [B, T, H, D] -> [B, T, H·D], as multi-head attention merges heads.
                     Graph g("heads");
                     g.declare_symbol("N", 256);
                     ValueId x = g.add_input("x", f32({Dim(2), Dim(3), n(), Dim(4)}));
                     GraphBuilder b(g);
                     ValueId y = b.reshape(b.transpose(x, {0, 2, 1, 3}), {Dim(2), n(), Dim(12)});
                     g.add_output("y", b.unary(OpKind::tanh, y));
                     return g;
                   },
                   kTranscendental});
  return cases;
}

class LlvmOpTest : public ::testing::TestWithParam<OpCase> {};

TEST_P(LlvmOpTest, MatchesInterpreterAtEverySize) {
  const OpCase& c = GetParam();
  Graph g = c.build();
  auto interp = InterpBackend().compile(g);
  auto llvm = LlvmBackend().compile_llvm(g);
  if (c.compiled) {
    EXPECT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
  }
  for (int64_t size : kSizes) {
    std::vector<Tensor> inputs = random_inputs(g, {{"N", size}}, 1000 + static_cast<uint64_t>(size), c.lo, c.hi);
    std::vector<Tensor> want = interp->run(inputs);
    std::vector<Tensor> got = llvm->run(inputs);
    ASSERT_EQ(want.size(), got.size());
    for (size_t k = 0; k < want.size(); ++k) expect_close(want[k], got[k], c.tol, fmt::format("{} at N={}", c.name, size));
  }
}

std::string case_name(const ::testing::TestParamInfo<OpCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Elementwise, LlvmOpTest, ::testing::ValuesIn(elementwise_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Reduction, LlvmOpTest, ::testing::ValuesIn(reduction_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Matmul, LlvmOpTest, ::testing::ValuesIn(matmul_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Movement, LlvmOpTest, ::testing::ValuesIn(movement_cases()), case_name);

}  // namespace
}  // namespace weft::llvm_tests
