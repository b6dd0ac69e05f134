/** \file
 * The LLVM backend as a `Backend`: registration, the compile cache, state and updates, the NaN
 * trap, user errors, the fallback report, and whole models built with the DSL (an MLP's forward
 * pass and its Adam train step) giving the interpreter's results.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backends/llvm/region_codegen.h"
#include "frontend/builder.h"
#include "frontend/nn/basic.h"
#include "frontend/tensor_ops.h"
#include "frontend/train_step.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

using dsl::Builder;

TEST(LlvmBackend, MakeBackendKnowsLlvm) {
  std::vector<std::string> names = backend_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "llvm"), names.end());
  EXPECT_EQ(make_backend("llvm")->name(), "llvm");
  register_backend("llvm", make_llvm_backend);  // a second registration of a name replaces the first
  names = backend_names();
  EXPECT_EQ(std::count(names.begin(), names.end(), "llvm"), 1);
  EXPECT_EQ(make_backend("llvm")->name(), "llvm");
}

Graph small_model(const std::string& name) {
  Builder b(name);
  auto x = b.input("x", "f32[B<=32, 37]");
  auto w = b.input("w", "f32[37, 11]");
  b.output("y", dsl::softmax(dsl::tanh(dsl::matmul(x, w)) * 0.5 + 1.0));
  return b.finish();
}

TEST(LlvmBackend, CompilingTheSameGraphTwiceReusesItsCode) {
  Graph g = small_model("cached");
  auto first = LlvmBackend().compile_llvm(g);
  llvm_backend::RegionCacheStats before = llvm_backend::region_cache_stats();
  auto second = LlvmBackend().compile_llvm(g);
  llvm_backend::RegionCacheStats after = llvm_backend::region_cache_stats();
  EXPECT_EQ(second->stats().compiled, first->stats().compiled);
  EXPECT_EQ(second->stats().cache_hits, second->stats().compiled);
  EXPECT_EQ(second->stats().codegen_seconds, 0.0);
  EXPECT_EQ(after.compiled, before.compiled);
  EXPECT_EQ(after.hits, before.hits + second->stats().compiled);
  // A graph with the same regions under another name and other scopes shares them too.
  auto renamed = LlvmBackend().compile_llvm(small_model("renamed"));
  EXPECT_EQ(renamed->stats().cache_hits, renamed->stats().compiled);
  std::vector<Tensor> inputs = random_inputs(g, {{"B", 5}}, 3);
  expect_close(first->run(inputs)[0], second->run(inputs)[0], {0, 0}, "cached code");
}

TEST(LlvmBackend, EqualLayersShareTheirCode) {
  Builder b("two_layers");
  auto x = b.input("x", "f32[B<=32, 23]");
  nn::Linear fc1(b, "fc1", 23, 23), fc2(b, "fc2", 23, 23);
  b.output("y", dsl::tanh(fc2(dsl::tanh(fc1(x)))));
  auto exe = LlvmBackend().compile_llvm(b.finish());
  EXPECT_EQ(exe->stats().compiled, 2) << exe->stats().report();
  EXPECT_GE(exe->stats().cache_hits, 1) << exe->stats().report();
}

TEST(LlvmBackend, StatsReportNamesWhatRunsOnTheInterpreter) {
  Builder b("f64_matmul");
  auto x = b.input("x", "f64[B<=8, 4]");
  auto w = b.input("w", "f64[4, 3]");
  b.output("y", dsl::softmax(dsl::matmul(x, w)));
  auto exe = LlvmBackend().compile_llvm(b.finish());
  EXPECT_EQ(exe->stats().fallback, 1);
  EXPECT_EQ(exe->stats().compiled, 1);
  std::string report = exe->stats().report();
  EXPECT_NE(report.find("interpreter: the generated GEMM is f32 only"), std::string::npos) << report;
  EXPECT_NE(report.find("reduction"), std::string::npos) << report;
}

TEST(LlvmBackend, StateUpdatesApplyAfterEachRun) {
  Builder b("counter");
  auto x = b.input("x", "f32[3]");
  auto w = b.param("w", DType::f32, {3}, Initializer{"ones", {}, 0});
  b.output("y", w * x);
  b.update("w", w + x);
  auto exe = LlvmBackend().compile(b.finish());
  Tensor x1 = Tensor::from<float>({3}, {1, 2, 3});
  EXPECT_EQ(exe->run({&x1, 1})[0].to_vector<float>(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(exe->state("w").to_vector<float>(), (std::vector<float>{2, 3, 4}));
  EXPECT_EQ(exe->run({&x1, 1})[0].to_vector<float>(), (std::vector<float>{2, 6, 12}));
  exe->set_state("w", Tensor::from<float>({3}, {0, 0, 1}));
  EXPECT_EQ(exe->run({&x1, 1})[0].to_vector<float>(), (std::vector<float>{0, 0, 3}));
  EXPECT_THROW(exe->set_state("w", Tensor::from<float>({2}, {0, 0})), Error);
  EXPECT_THROW(exe->state("nope"), Error);
}

TEST(LlvmBackend, SwappedParametersStaySwapped) {
  Builder b("swap");
  auto x = b.input("x", "f32[2]");
  auto p = b.param("p", DType::f32, {2}, Initializer{"ones", {}, 0});
  auto q = b.param("q", DType::f32, {2}, Initializer{"zeros", {}, 0});
  b.output("y", p + x);
  b.update("p", q);
  b.update("q", p);
  auto exe = LlvmBackend().compile(b.finish());
  Tensor x1 = Tensor::from<float>({2}, {0, 0});
  exe->run({&x1, 1});
  EXPECT_EQ(exe->state("p").to_vector<float>(), (std::vector<float>{0, 0}));
  EXPECT_EQ(exe->state("q").to_vector<float>(), (std::vector<float>{1, 1}));
}

TEST(LlvmBackend, WrongInputsAreUserErrors) {
  auto exe = LlvmBackend().compile(small_model("checked"));
  Tensor wrong_dtype = Tensor::zeros(DType::f64, {2, 37});
  Tensor w = Tensor::zeros(DType::f32, {37, 11});
  std::vector<Tensor> ins = {wrong_dtype, w};
  EXPECT_THROW(exe->run(ins), Error);
  ins = {Tensor::zeros(DType::f32, {33, 37}), w};  // B <= 32
  EXPECT_THROW(exe->run(ins), Error);
  ins = {Tensor::zeros(DType::f32, {2, 37})};
  EXPECT_THROW(exe->run(ins), Error);
}

TEST(LlvmBackend, NanTrapNamesTheRegionAndTheUsersLine) {
  Builder b("nan");
  auto x = b.input("x", "f32[4]");
  b.output("y", dsl::log(x));
  Graph g = b.finish();
  auto exe = LlvmBackend().compile(g, {.nan_trap = true});
  Tensor ok = Tensor::from<float>({4}, {1, 2, 3, 4});
  EXPECT_NO_THROW(exe->run({&ok, 1}));
  Tensor bad = Tensor::from<float>({4}, {1, -2, 3, 4});
  try {
    exe->run({&bad, 1});
    FAIL() << "expected the NaN trap";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("NaN/Inf trap"), std::string::npos) << what;
    EXPECT_NE(what.find("backend_test.cpp"), std::string::npos) << what;
  }
}

// The trap inside a fused region: not "a fused region produced ..." but the op that produced the
// first non-finite value, and the line that called it, as the interpreter reports it.
TEST(LlvmBackend, NanTrapInAFusedRegionNamesTheFirstOpThatProducedItAndItsLine) {
  Builder b("nan");
  auto x = b.input("x", "f32[64]");
  auto doubled = x * 2.0;
  const int line = __LINE__ + 1;
  auto logged = dsl::log(doubled);
  b.output("y", dsl::exp(logged) + 1.0);
  auto exe = LlvmBackend().compile_llvm(b.finish(), {.nan_trap = true});
  bool log_in_a_region = false;
  for (const Node& n : exe->compiled_graph().nodes()) {
    ASSERT_NE(n.op, OpKind::log) << "log should be inside a fused region";
    if (n.op == OpKind::fusion)
      for (const Node& inner : n.body->nodes()) log_in_a_region |= inner.op == OpKind::log;
  }
  ASSERT_TRUE(log_in_a_region);
  std::vector<float> values(64, 1.0f);
  values[17] = -1.0f;
  Tensor bad = Tensor::from<float>({64}, values);
  try {
    exe->run({&bad, 1});
    FAIL() << "expected the NaN trap";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_EQ(what.rfind("NaN/Inf trap: log produced a non-finite value in result 0 (f32[64])", 0), 0u) << what;
    EXPECT_NE(what.find(fmt::format("backend_test.cpp:{}", line)), std::string::npos) << what;
  }
}

/// A two-layer MLP (Linear, ReLU, Linear, log_softmax) built with the DSL and its layers.
Graph mlp() {
  Builder b("mlp");
  auto x = b.input("x", "f32[B<=64, 20]");
  nn::Linear fc1(b, "fc1", 20, 32), fc2(b, "fc2", 32, 5);
  b.output("logp", dsl::log_softmax(fc2(dsl::relu(fc1(x)))));
  return b.finish();
}

TEST(LlvmBackend, MlpBuiltWithTheDslGivesTheInterpretersOutputs) {
  Graph g = mlp();
  EXPECT_EQ(fallbacks(g), "");
  for (int64_t batch : {1, 7, 64}) {
    std::vector<Tensor> inputs = random_inputs(g, {{"B", batch}}, 11);
    expect_same_outputs(g, inputs, kMatmul, fmt::format("mlp at B={}", batch));
  }
}

TEST(LlvmBackend, MlpTrainStepsGiveTheInterpretersLossesAndParameters) {
  Builder b("mlp_loss");
  auto x = b.input("x", "f32[16, 6]");
  auto y = b.input("y", "i64[16]");
  nn::Linear fc1(b, "fc1", 6, 12), fc2(b, "fc2", 12, 3);
  b.output("loss", dsl::cross_entropy(fc2(dsl::tanh(fc1(x))), y));
  Graph step = train::make_train_step(b.finish(), {.optimizer = train::AdamOptions{}});
  auto interp = InterpBackend().compile(step);
  auto llvm = LlvmBackend().compile(step);
  std::vector<Tensor> data = random_inputs(b.graph(), {}, 5, -2, 2, 3);
  for (int64_t s = 1; s <= 3; ++s) {
    std::vector<Tensor> inputs;
    for (const TensorSpec& spec : interp->signature().inputs) {
      if (spec.name == "x") inputs.push_back(data[0]);
      else if (spec.name == "y") inputs.push_back(data[1]);
      else if (spec.name == "lr") inputs.push_back(Tensor::from<float>({}, {0.01f}));
      else inputs.push_back(Tensor::from<int64_t>({}, {s}));
    }
    std::vector<Tensor> want = interp->run(inputs), got = llvm->run(inputs);
    for (size_t k = 0; k < want.size(); ++k) expect_close(want[k], got[k], kMatmul, fmt::format("step {} output {}", s, k));
  }
  for (const TensorSpec& spec : interp->signature().state)
    expect_close(interp->state(spec.name), llvm->state(spec.name), {1e-4, 1e-5}, "state " + spec.name);
}

}  // namespace
}  // namespace weft::llvm_tests
