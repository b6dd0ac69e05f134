/** \file
 * gather, scatter_add and rng_uniform as generated code (backends/llvm/index_codegen.cpp) against
 * the interpreter: several shapes (symbolic dims, vector tails, empty index tensors, sizes large
 * enough to split across threads), every data and index dtype, every axis, negative indices. The
 * results must be equal, not close: gather copies, scatter_add adds each element's updates in the
 * interpreter's order, rng_uniform is the same Philox bits. Also: an embedding and its gradient
 * train without the interpreter, an out-of-range index is the interpreter's error, and the kernels
 * themselves stay in bounds when handed a bad index.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <set>

#include "backends/llvm/region_codegen.h"
#include "frontend/builder.h"
#include "frontend/nn/basic.h"
#include "frontend/nn/embedding.h"
#include "frontend/tensor_ops.h"
#include "frontend/train_step.h"
#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "passes/plan_memory.h"
#include "runtime/call_checks.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

constexpr Tolerance kEqual{0, 0};

TensorType t(DType d, Shape s) { return TensorType{d, std::move(s)}; }
Dim N() { return sym("N"); }
Dim M() { return sym("M"); }

/// A graph of one op over inputs of `types`, its symbols declared with `bounds`. A symbol only the
/// attributes use (scatter_add's `shape`) gets an input of its own, f32[S], so that a run binds it.
Graph one_op(const std::string& name, OpKind op, const std::vector<TensorType>& types, const Attrs& attrs,
             const SymbolBindings& bounds = {}) {
  std::set<std::string> in_types, in_attrs;
  auto use = [](std::set<std::string>& used, const Shape& s) {
    for (const Dim& d : s)
      for (const std::string& x : d.symbols()) used.insert(x);
  };
  for (const TensorType& type : types) use(in_types, type.shape);
  for (const auto& [key, value] : attrs.items())
    if (const Shape* s = std::get_if<Shape>(&value)) use(in_attrs, *s);
  Graph g(name);
  for (const auto& [symbol, bound] : bounds) g.declare_symbol(symbol, bound);
  std::vector<ValueId> xs;
  for (size_t i = 0; i < types.size(); ++i) xs.push_back(g.add_input(fmt::format("x{}", i), types[i]));
  GraphBuilder b(g);
  g.add_output("y", b.emit1(op, xs, attrs));
  for (const std::string& s : in_attrs)
    if (!in_types.count(s))
      g.add_output("carrier_" + s, b.unary(OpKind::neg, g.add_input("carrier_" + s, t(DType::f32, {sym(s)}))));
  return g;
}

struct IndexCase {
  std::string name;
  std::function<Graph(const SymbolBindings& bounds)> build;
  std::vector<SymbolBindings> sizes;
  /// n, the size of the indexed axis, at the given sizes: indices are drawn from [-n, n).
  std::function<int64_t(const SymbolBindings&)> bound;
};

std::ostream& operator<<(std::ostream& os, const IndexCase& c) { return os << c.name; }

/// Random inputs, input 1 (the indices) uniform in [-n, n): negative ones wrap, as numpy.take's.
std::vector<Tensor> inputs_with_indices(const Graph& g, const SymbolBindings& dims, int64_t n, uint64_t seed) {
  std::vector<Tensor> inputs = random_inputs(g, dims, seed);
  Tensor& idx = inputs[1];
  std::mt19937_64 rng(seed * 31 + 7);
  std::uniform_int_distribution<int64_t> pick(-n, n - 1);
  for (int64_t i = 0; i < idx.numel(); ++i) {
    if (idx.dtype() == DType::i32)
      idx.data<int32_t>()[i] = static_cast<int32_t>(pick(rng));
    else
      idx.data<int64_t>()[i] = pick(rng);
  }
  return inputs;
}

int64_t of(const SymbolBindings& dims, const char* name) { return dims.at(name); }

/// Sizes around the vector width (1, 7, 13, 67), an empty index tensor (M = 0), and repeats.
const std::vector<SymbolBindings> kSmall = {{{"N", 1}, {"M", 1}},  {{"N", 7}, {"M", 13}}, {{"N", 13}, {"M", 67}},
                                            {{"N", 67}, {"M", 5}}, {{"N", 5}, {"M", 0}},  {{"N", 3}, {"M", 3}}};

std::vector<IndexCase> gather_cases() {
  std::vector<IndexCase> cases;
  auto n_of = [](const SymbolBindings& d) { return of(d, "N"); };
  auto gather = [](const std::string& name, DType data, DType index, Shape x, Shape idx, int64_t axis) {
    return [=](const SymbolBindings& bounds) {
      return one_op(name, OpKind::gather, {t(data, x), t(index, idx)}, Attrs{{"axis", axis}}, bounds);
    };
  };
  for (DType data : {DType::f32, DType::f64, DType::i32, DType::i64, DType::boolean})
    for (DType index : {DType::i32, DType::i64}) {
      std::string name = fmt::format("rows_{}_{}", dtype_name(data), dtype_name(index));
      cases.push_back({name, gather(name, data, index, {N(), Dim(6)}, {M()}, 0), kSmall, n_of});
    }
  // Rows of a symbolic width (vector tails) picked by a 2-d index tensor: [10, N] -> [2, M, N].
  cases.push_back({"table_by_2d_ids",
                   gather("table_by_2d_ids", DType::f32, DType::i32, {Dim(10), N()}, {Dim(2), M()}, 0), kSmall,
                   [](const SymbolBindings&) { return int64_t{10}; }});
  cases.push_back({"middle_axis_f64",
                   gather("middle_axis_f64", DType::f64, DType::i64, {Dim(3), N(), Dim(5)}, {M()}, 1), kSmall, n_of});
  // The last axis: rows of one element.
  cases.push_back(
      {"last_axis_i32", gather("last_axis_i32", DType::i32, DType::i64, {Dim(4), N()}, {M()}, -1), kSmall, n_of});
  cases.push_back({"scalar_index",
                   gather("scalar_index", DType::f32, DType::i64, {Dim(5), N()}, {}, 1),
                   {{{"N", 1}}, {{"N", 9}}},
                   n_of});
  // Large enough to split across threads: many rows; few rows of many columns.
  cases.push_back({"many_rows",
                   gather("many_rows", DType::f32, DType::i64, {N(), Dim(64)}, {M()}, 0),
                   {{{"N", 1000}, {"M", 4096}}, {{"N", 3}, {"M", 4099}}},
                   n_of});
  cases.push_back({"long_rows",
                   gather("long_rows", DType::f32, DType::i32, {Dim(4), N()}, {M()}, 0),
                   {{{"N", 100003}, {"M", 3}}, {{"N", 40000}, {"M", 1}}},
                   [](const SymbolBindings&) { return int64_t{4}; }});
  return cases;
}

std::vector<IndexCase> scatter_add_cases() {
  std::vector<IndexCase> cases;
  auto n_of = [](const SymbolBindings& d) { return of(d, "N"); };
  auto scatter = [](const std::string& name, DType data, DType index, Shape updates, Shape idx, Shape shape,
                    int64_t axis) {
    return [=](const SymbolBindings& bounds) {
      return one_op(name, OpKind::scatter_add, {t(data, updates), t(index, idx)},
                    Attrs{{"axis", axis}, {"shape", shape}}, bounds);
    };
  };
  // M updates into N rows: with M > N most rows receive several, in order.
  for (DType data : {DType::f32, DType::f64, DType::i32, DType::i64})
    for (DType index : {DType::i32, DType::i64}) {
      std::string name = fmt::format("rows_{}_{}", dtype_name(data), dtype_name(index));
      cases.push_back({name, scatter(name, data, index, {M(), Dim(6)}, {M()}, {N(), Dim(6)}, 0), kSmall, n_of});
    }
  cases.push_back(
      {"embedding_grad",
       scatter("embedding_grad", DType::f32, DType::i64, {Dim(2), M(), N()}, {Dim(2), M()}, {Dim(10), N()}, 0), kSmall,
       [](const SymbolBindings&) { return int64_t{10}; }});
  cases.push_back(
      {"middle_axis",
       scatter("middle_axis", DType::f32, DType::i32, {Dim(3), M(), Dim(5)}, {M()}, {Dim(3), N(), Dim(5)}, 1), kSmall,
       n_of});
  cases.push_back({"last_axis_i64",
                   scatter("last_axis_i64", DType::i64, DType::i64, {Dim(4), M()}, {M()}, {Dim(4), N()}, -1), kSmall,
                   n_of});
  cases.push_back({"scalar_index",
                   scatter("scalar_index", DType::f64, DType::i64, {Dim(5)}, {}, {N(), Dim(5)}, 0),
                   {{{"N", 1}}, {{"N", 9}}},
                   n_of});
  // Large: columns split across tasks, each task adding every update row into its own columns.
  cases.push_back({"wide_rows",
                   scatter("wide_rows", DType::f32, DType::i64, {M(), Dim(300)}, {M()}, {N(), Dim(300)}, 0),
                   {{{"N", 100}, {"M", 2048}}, {{"N", 7}, {"M", 301}}},
                   n_of});
  cases.push_back({"many_outer",
                   scatter("many_outer", DType::f32, DType::i32, {N(), M()}, {M()}, {N(), Dim(8)}, 1),
                   {{{"N", 5000}, {"M", 33}}},
                   [](const SymbolBindings&) { return int64_t{8}; }});
  return cases;
}

class LlvmIndexOpTest : public ::testing::TestWithParam<IndexCase> {};

TEST_P(LlvmIndexOpTest, GeneratedCodeGivesTheInterpretersValues) {
  const IndexCase& c = GetParam();
  SymbolBindings bounds;  // the largest size of each symbol, so that the arena stays small
  for (const SymbolBindings& dims : c.sizes)
    for (const auto& [name, v] : dims) bounds[name] = std::max({bounds[name], v, int64_t{1}});
  Graph g = c.build(bounds);
  auto interp = InterpBackend().compile(g);
  auto llvm = LlvmBackend().compile_llvm(g);
  EXPECT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
  uint64_t seed = 17;
  for (const SymbolBindings& dims : c.sizes) {
    std::vector<Tensor> inputs = inputs_with_indices(g, dims, c.bound(dims), seed++);
    std::vector<Tensor> want = interp->run(inputs);
    std::vector<Tensor> got = llvm->run(inputs);
    ASSERT_EQ(want.size(), got.size());
    std::string at;
    for (const auto& [name, v] : dims) at += fmt::format(" {}={}", name, v);
    for (size_t k = 0; k < want.size(); ++k) expect_close(want[k], got[k], kEqual, c.name + at);
  }
}

std::string case_name(const ::testing::TestParamInfo<IndexCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Gather, LlvmIndexOpTest, ::testing::ValuesIn(gather_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(ScatterAdd, LlvmIndexOpTest, ::testing::ValuesIn(scatter_add_cases()), case_name);

// ---- rng_uniform

/// rng_uniform of `shape` (with N bound by the second input, x) and x + 1 beside it.
Graph rng_graph(DType dtype, Shape shape, int64_t seed) {
  Graph g("rng");
  g.declare_symbol("N", int64_t{1} << 16);
  ValueId offset = g.add_input("offset", t(DType::i64, {}));
  ValueId x = g.add_input("x", t(DType::f32, {N()}));
  GraphBuilder b(g);
  g.add_output("u", b.emit1(OpKind::rng_uniform, {offset},
                            Attrs{{"seed", seed}, {"shape", std::move(shape)}, {"dtype", dtype}}));
  g.add_output("x1", b.unary(OpKind::neg, x));
  return g;
}

std::vector<Tensor> rng_inputs(int64_t offset, int64_t n) {
  return {Tensor::from<int64_t>({}, {offset}), Tensor::zeros(DType::f32, {n})};
}

TEST(LlvmIndexOps, RngUniformIsBitIdenticalToTheInterpreter) {
  for (DType dtype : {DType::f32, DType::f64})
    for (int64_t seed : {int64_t{0}, int64_t{3}, int64_t{0x123456789}}) {
      Graph g = rng_graph(dtype, {N(), Dim(7)}, seed);
      auto interp = InterpBackend().compile(g);
      auto llvm = LlvmBackend().compile_llvm(g);
      EXPECT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
      // Tails (1, 7, 13 rows of 7), empty, large enough for the thread pool; offsets past 32 bits.
      for (int64_t n : {1, 7, 13, 0, 40000})
        for (int64_t offset : {int64_t{0}, int64_t{5}, (int64_t{1} << 40) + 3}) {
          std::vector<Tensor> inputs = rng_inputs(offset, n);
          expect_close(interp->run(inputs)[0], llvm->run(inputs)[0], kEqual,
                       fmt::format("{} seed {} N={} offset {}", dtype_name(dtype), seed, n, offset));
        }
    }
}

TEST(LlvmIndexOps, RngUniformMatchesThePhiloxKnownAnswer) {
  // Random123's known answer: Philox4x32-10 of counter 0, key 0 is 0x6627e8d5 0xe169c58d 0xbc57ac4c
  // 0x9b00dbd8; f32 elements 0 and 1 of seed 0 at offset 0 take the top 24 bits of words 0 and 1,
  // f64 elements 0 and 1 the top 53 bits of words 0, 1 and of words 2, 3.
  auto f32 = LlvmBackend().compile(rng_graph(DType::f32, {N()}, 0));
  Tensor u = f32->run(rng_inputs(0, 3))[0];
  EXPECT_EQ(u.data<float>()[0], 6694888.0f / 16777216.0f);
  EXPECT_EQ(u.data<float>()[1], 14772677.0f / 16777216.0f);
  auto f64 = LlvmBackend().compile(rng_graph(DType::f64, {N()}, 0));
  Tensor d = f64->run(rng_inputs(0, 3))[0];
  EXPECT_EQ(d.data<double>()[0], 3594291074837816.0 / 9007199254740992.0);
  EXPECT_EQ(d.data<double>()[1], static_cast<double>((uint64_t{0xbc57ac4c} << 32 | 0x9b00dbd8) >> 11) * 0x1p-53);
}

TEST(LlvmIndexOps, DropoutRunsWithoutTheInterpreter) {
  dsl::Builder b("dropout");
  auto x = b.input("x", "f32[B<=64, 33]");
  auto offset = b.input("offset", "i64[]");
  b.output("y", dsl::dropout(x, offset, {.p = 0.25, .seed = 9}));
  Graph g = b.finish();
  EXPECT_EQ(fallbacks(g), "");
  for (int64_t batch : {1, 5, 64}) {
    std::vector<Tensor> inputs = random_inputs(g, {{"B", batch}}, 3);
    inputs[1] = Tensor::from<int64_t>({}, {batch});
    expect_same_outputs(g, inputs, kEqual, fmt::format("dropout at B={}", batch));
  }
}

// ---- a model

TEST(LlvmIndexOps, EmbeddingAndItsGradientTrainWithoutTheInterpreter) {
  dsl::Builder b("embedding_model");
  auto ids = b.input("ids", "i64[B<=8, T<=12]");
  nn::Embedding emb(b, "emb", 50, 16);
  nn::Linear fc(b, "fc", 16, 4);
  auto y = fc(dsl::tanh(emb(ids)));
  b.output("loss", dsl::mean(y * y));
  Graph step = train::make_train_step(b.finish(), {.optimizer = train::SgdOptions{}});
  auto interp = InterpBackend().compile(step);
  auto llvm = LlvmBackend().compile_llvm(step);
  EXPECT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
  std::set<std::string> compiled;
  for (const NodeStats& n : llvm->stats().nodes)
    if (n.compiled) compiled.insert(n.op);
  EXPECT_TRUE(compiled.count("gather") && compiled.count("scatter_add")) << llvm->stats().report();

  for (int64_t s = 1; s <= 3; ++s) {
    SymbolBindings dims{{"B", 2 + s}, {"T", 3 * s}};
    std::vector<Tensor> inputs;
    for (const TensorSpec& spec : interp->signature().inputs) {
      if (spec.name == "ids") {
        Tensor ids_value = Tensor::zeros(DType::i64, {dims["B"], dims["T"]});
        std::mt19937_64 rng(40 + s);
        for (int64_t i = 0; i < ids_value.numel(); ++i) ids_value.data<int64_t>()[i] = static_cast<int64_t>(rng() % 50);
        inputs.push_back(ids_value);
      } else if (spec.name == "lr") {
        inputs.push_back(Tensor::from<float>({}, {0.5f}));
      } else {
        inputs.push_back(Tensor::from<int64_t>({}, {s}));
      }
    }
    std::vector<Tensor> want = interp->run(inputs), got = llvm->run(inputs);
    for (size_t k = 0; k < want.size(); ++k)
      expect_close(want[k], got[k], kMatmul, fmt::format("step {} output {}", s, k));
  }
  for (const TensorSpec& spec : interp->signature().state)
    expect_close(interp->state(spec.name), llvm->state(spec.name), {1e-4, 1e-5}, "state " + spec.name);
}

// ---- index errors

/// What `exe` throws on `inputs`, or "" when it runs.
std::string error_of(Executable& exe, const std::vector<Tensor>& inputs) {
  try {
    exe.run(inputs);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LlvmIndexOps, AGatherIndexOutOfRangeIsTheInterpretersError) {
  dsl::Builder b("bad_ids");
  auto table = b.input("table", "f32[5, 3]");
  auto ids = b.input("ids", "i64[4]");
  b.output("y", dsl::exp(dsl::gather(table, ids)));
  Graph g = b.finish();
  auto llvm = LlvmBackend().compile_llvm(g);
  ASSERT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
  auto interp = InterpBackend().compile(g);
  std::vector<Tensor> inputs = {Tensor::zeros(DType::f32, {5, 3}), Tensor::from<int64_t>({4}, {0, -5, 7, 4})};
  std::string what = error_of(*llvm, inputs);
  EXPECT_NE(what.find("gather: index 7 (at flat position 2 of the indices) is out of range for axis 0 of size 5 "
                      "(valid: -5 to 4)"),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("index_op_test.cpp"), std::string::npos) << what;
  EXPECT_EQ(what, error_of(*interp, inputs));
  inputs[1] = Tensor::from<int64_t>({4}, {0, -5, -6, 4});
  EXPECT_NE(error_of(*llvm, inputs).find("index -6 (at flat position 2"), std::string::npos);
  inputs[1] = Tensor::from<int64_t>({4}, {0, -5, -1, 4});
  EXPECT_EQ(error_of(*llvm, inputs), "");
}

TEST(LlvmIndexOps, AScatterAddIndexOutOfRangeIsTheInterpretersError) {
  dsl::Builder b("bad_scatter");
  auto updates = b.input("updates", "f32[2, 3]");  // shape[:1] + ids.shape + shape[2:]
  auto ids = b.input("ids", "i32[3]");
  b.output("y", dsl::scatter_add(updates, ids, {Dim(2), Dim(4)}, 1));
  Graph g = b.finish();
  auto llvm = LlvmBackend().compile_llvm(g);
  ASSERT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
  auto interp = InterpBackend().compile(g);
  std::vector<Tensor> inputs = {Tensor::zeros(DType::f32, {2, 3}), Tensor::from<int32_t>({3}, {3, -4, -5})};
  std::string what = error_of(*llvm, inputs);
  EXPECT_NE(what.find("scatter_add: index -5 (at flat position 2 of the indices) is out of range for axis 1 of size "
                      "4 (valid: -4 to 3)"),
            std::string::npos)
      << what;
  EXPECT_EQ(what, error_of(*interp, inputs));
}

TEST(LlvmIndexOps, PlanningAttachesTheIndexCheckOfItsContract) {
  Graph g("index_calls");
  ValueId x = g.add_input("x", t(DType::f32, {Dim(4), Dim(6)}));
  ValueId ids = g.add_input("ids", t(DType::i32, {Dim(3)}));
  ValueId upd = g.add_input("upd", t(DType::f32, {Dim(4), Dim(3)}));
  GraphBuilder b(g);
  g.add_output("gathered", b.emit1(OpKind::gather, {x, ids}, Attrs{{"axis", int64_t{-1}}}));
  g.add_output("scattered",
               b.emit1(OpKind::scatter_add, {upd, ids}, Attrs{{"axis", int64_t{1}}, {"shape", Shape{Dim(4), Dim(6)}}}));
  g.add_output("sum", b.binary(OpKind::add, x, x));
  Program p = plan_memory(g);
  ASSERT_EQ(p.calls.size(), 3u);
  ASSERT_TRUE(p.calls[0].index_check);
  EXPECT_EQ(p.calls[0].index_check->indices, 1);
  EXPECT_EQ(p.calls[0].index_check->bounded, 0);  // x
  EXPECT_EQ(p.calls[0].index_check->axis, 1);     // -1 normalized
  ASSERT_TRUE(p.calls[1].index_check);
  EXPECT_EQ(p.calls[1].index_check->bounded, 2);  // the result, shaped by the `shape` attribute
  EXPECT_EQ(p.calls[1].index_check->axis, 1);
  EXPECT_FALSE(p.calls[2].index_check);

  const int32_t values[] = {0, 5, -6};
  EXPECT_FALSE(check_indices("gather", values, DType::i32, 3, 0, 6));  // [-6, 6)
  std::optional<std::string> why = check_indices("gather", values, DType::i32, 3, 0, 5);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why,
            "gather: index 5 (at flat position 1 of the indices) is out of range for axis 0 of size 5 "
            "(valid: -5 to 4)");
  EXPECT_FALSE(check_indices("gather", values, DType::i32, 0, 0, 0));  // no indices, nothing to check
  EXPECT_TRUE(check_indices("gather", values, DType::i32, 1, 0, 0));   // an empty axis takes none
}

// ---- the kernels stay in bounds without the check

/// A one-node region body of `op` over inputs of `types`.
Graph body_of(OpKind op, const std::vector<TensorType>& types, const Attrs& attrs) {
  return one_op(std::string(op_name(op)), op, types, attrs);
}

TEST(LlvmIndexOps, GeneratedGatherWritesZerosForAnIndexOutOfRange) {
  Graph body =
      body_of(OpKind::gather, {t(DType::f32, {Dim(4), Dim(3)}), t(DType::i64, {Dim(3)})}, Attrs{{"axis", int64_t{0}}});
  llvm_backend::RegionCompileResult code = llvm_backend::compile_region(body, "gather");
  ASSERT_TRUE(code.code) << code.unsupported;
  std::vector<float> x = {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32};
  std::vector<int64_t> idx = {1, 9, -1};
  std::vector<float> out(9, 7.0f);
  void* buffers[] = {x.data(), idx.data(), out.data()};
  code.code->function(buffers, nullptr);
  EXPECT_EQ(out, (std::vector<float>{10, 11, 12, 0, 0, 0, 30, 31, 32}));
}

TEST(LlvmIndexOps, GeneratedScatterAddDropsAnUpdateOutOfRange) {
  Graph body = body_of(OpKind::scatter_add, {t(DType::f32, {Dim(3), Dim(2)}), t(DType::i32, {Dim(3)})},
                       Attrs{{"axis", int64_t{0}}, {"shape", Shape{Dim(4), Dim(2)}}});
  llvm_backend::RegionCompileResult code = llvm_backend::compile_region(body, "scatter_add");
  ASSERT_TRUE(code.code) << code.unsupported;
  std::vector<float> updates = {1, 2, 3, 4, 5, 6};
  std::vector<int32_t> idx = {0, 5, -1};
  std::vector<float> out(8, 7.0f);
  void* buffers[] = {updates.data(), idx.data(), out.data()};
  code.code->function(buffers, nullptr);
  EXPECT_EQ(out, (std::vector<float>{1, 2, 0, 0, 0, 0, 5, 6}));
}

TEST(LlvmIndexOps, ScatterAddOfHalfFloatsSaysWhyItFallsBack) {
  Graph body = body_of(OpKind::scatter_add, {t(DType::f16, {Dim(3), Dim(2)}), t(DType::i32, {Dim(3)})},
                       Attrs{{"axis", int64_t{0}}, {"shape", Shape{Dim(4), Dim(2)}}});
  llvm_backend::RegionCompileResult code = llvm_backend::compile_region(body, "scatter_add");
  EXPECT_FALSE(code.code);
  EXPECT_NE(code.unsupported.find("scatter_add of f16[3, 2] has no generated code"), std::string::npos)
      << code.unsupported;
}

}  // namespace
}  // namespace weft::llvm_tests
