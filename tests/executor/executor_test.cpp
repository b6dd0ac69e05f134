/** \file
 * The program executor (runtime/program_executor.h) and the provider chains on it
 * (backends/provider.h): device-resident state, symbol binding as the C runtime does it, the
 * provider chosen per call, and the library's one-way dependencies.
 */
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "backends/interp/interpreter.h"
#include "backends/llvm/llvm_backend.h"
#include "frontend/builder.h"
#include "frontend/nn/basic.h"
#include "frontend/tensor_ops.h"
#include "frontend/train_step.h"
#include "passes/pipeline.h"
#include "runtime/memory.h"
#include "runtime/program_executor.h"

namespace weft {
namespace {

using dsl::Builder;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

/// Host memory posing as a device: what the executor copies between it and the host is counted,
/// and every allocation is filled with a NaN pattern, so a kernel reading memory nobody wrote shows.
class CountingDevice : public MemoryResource {
 public:
  MemorySpace space() const override { return MemorySpace::device; }
  std::string name() const override { return "counting device"; }
  void* allocate(int64_t bytes) override {
    void* p = host_memory().allocate(bytes);
    if (p) std::memset(p, 0xff, static_cast<size_t>(bytes));
    ++allocations;
    return p;
  }
  void deallocate(void* p) override { host_memory().deallocate(p); }
  void copy_from_host(void* dst, const void* src, int64_t bytes) override {
    ++to_device;
    std::memcpy(dst, src, static_cast<size_t>(bytes));
  }
  void copy_to_host(void* dst, const void* src, int64_t bytes) override {
    ++to_host;
    std::memcpy(dst, src, static_cast<size_t>(bytes));
  }
  void copy_within(void* dst, const void* src, int64_t bytes) override {
    std::memmove(dst, src, static_cast<size_t>(bytes));
  }

  int allocations = 0;
  int to_device = 0;
  int to_host = 0;
};

Graph mlp_train_step() {
  Builder b("mlp_loss");
  auto x = b.input("x", "f32[B<=16, 6]");
  auto y = b.input("y", "i64[B]");
  nn::Linear fc1(b, "fc1", 6, 12), fc2(b, "fc2", 12, 3);
  b.output("loss", dsl::cross_entropy(fc2(dsl::tanh(fc1(x))), y));
  return train::make_train_step(b.finish(), {.optimizer = train::AdamOptions{}});
}

std::vector<Tensor> step_inputs(const Signature& sig, int64_t step) {
  std::vector<Tensor> inputs;
  for (const TensorSpec& spec : sig.inputs) {
    if (spec.name == "x") {
      std::vector<float> v(16 * 6);
      for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 37 % 11)) / 5.0f - 1.0f;
      inputs.push_back(Tensor::from<float>({16, 6}, v));
    } else if (spec.name == "y") {
      std::vector<int64_t> v(16);
      for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(i % 3);
      inputs.push_back(Tensor::from<int64_t>({16}, v));
    } else if (spec.name == "lr") {
      inputs.push_back(Tensor::from<float>({}, {0.01f}));
    } else {
      inputs.push_back(Tensor::from<int64_t>({}, {step}));
    }
  }
  return inputs;
}

/// The LLVM chain's kernels for `g`, planned in `space`, run by an executor over `memory`; its
/// state's initial values from `initial` (default: the graph's initializers).
std::unique_ptr<ProgramExecutor> executor_in(const Graph& g, MemorySpace space, MemoryResource* memory,
                                             StateInitializer initial = nullptr) {
  const LoweringOptions lowering = LlvmBackend().lowering_options();
  Graph lowered = lower_graph(g, lowering);
  Program program = plan_program(lowered, {}, PlanOptions{.space = space});
  CompileOptions options;
  ProviderContext context{options, lowered.symbols(), nullptr};
  std::vector<CallKernel> kernels;
  for (const KernelCall& call : program.calls) {
    std::string why;
    std::optional<ProvidedKernel> k = llvm_provider()->kernel_for(call, context, &why);
    if (!k) k = interp_provider()->kernel_for(call, context, &why);
    kernels.push_back(std::move(k->kernel));
  }
  ProgramPlanner no_planner;
  if (!initial)
    return std::make_unique<ProgramExecutor>(signature_of(lowered), std::move(program), no_planner, std::move(kernels),
                                             initial_params(lowered), ExecutorOptions{.memory = memory});
  return std::make_unique<ProgramExecutor>(signature_of(lowered), std::move(program), no_planner, std::move(kernels),
                                           std::move(initial), ExecutorOptions{.memory = memory});
}

TEST(Executor, ADeviceProgramKeepsItsStateOnTheDeviceAndCopiesOnlyInputsAndOutputs) {
  Graph step = mlp_train_step();
  CountingDevice device;
  auto on_device = executor_in(step, MemorySpace::device, &device);
  auto on_host = executor_in(step, MemorySpace::host, nullptr);
  // The initial parameters and optimizer slots go to the device when first needed: the first run.
  EXPECT_EQ(device.to_device, 0);
  for (int64_t s = 1; s <= 3; ++s) {
    std::vector<Tensor> inputs = step_inputs(on_host->signature(), s);
    const int before_in = device.to_device, before_out = device.to_host;
    std::vector<Tensor> got = on_device->run(inputs);
    std::vector<Tensor> want = on_host->run(inputs);
    const int state_copies = s == 1 ? static_cast<int>(step.params().size()) : 0;
    EXPECT_EQ(device.to_device - before_in, static_cast<int>(inputs.size()) + state_copies) << "step " << s;
    EXPECT_EQ(device.to_host - before_out, static_cast<int>(got.size())) << "step " << s;
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < got.size(); ++k) {
      ASSERT_EQ(got[k].nbytes(), want[k].nbytes());
      EXPECT_EQ(std::memcmp(got[k].raw(), want[k].raw(), got[k].nbytes()), 0) << "step " << s << " output " << k;
    }
  }
  // Reading the state copies it out, once per tensor; it is the host run's, bit for bit.
  for (const TensorSpec& spec : on_host->signature().state) {
    Tensor a = on_device->state(spec.name), b = on_host->state(spec.name);
    EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << spec.name;
  }
}

TEST(Executor, StateGetsItsInitialValueWhenFirstNeededAndNeverWhenReplacedFirst) {
  Graph step = mlp_train_step();
  const std::vector<Tensor> initial = initial_params(lower_graph(step, LlvmBackend().lowering_options()));
  std::vector<int> asked(initial.size(), 0);
  auto exe = executor_in(step, MemorySpace::host, nullptr, [&](size_t i) {
    ++asked.at(i);
    return initial[i];
  });
  auto reference = executor_in(step, MemorySpace::host, nullptr);
  const Signature& sig = exe->signature();
  auto index_of = [&](const std::string& name) {
    for (size_t i = 0; i < sig.state.size(); ++i)
      if (sig.state[i].name == name) return i;
    ADD_FAILURE() << "no state " << name;
    return size_t{0};
  };
  EXPECT_EQ(std::count(asked.begin(), asked.end(), 0), static_cast<long>(asked.size())) << "asked at construction";

  // Replaced before anything needed it: its initializer is never asked.
  Tensor w = Tensor::from<float>({12, 6}, std::vector<float>(72, 0.25f));
  exe->set_state("fc1.weight", w);
  reference->set_state("fc1.weight", w);
  // Read: asked once, and it is the initial value.
  Tensor bias = exe->state("fc1.bias");
  EXPECT_EQ(asked[index_of("fc1.bias")], 1);
  EXPECT_EQ(std::memcmp(bias.raw(), initial[index_of("fc1.bias")].raw(), bias.nbytes()), 0);
  EXPECT_EQ(std::count(asked.begin(), asked.end(), 1), 1);

  // The first run needs every other state; later runs ask for nothing. The results are those of
  // an executor given every initial value up front.
  for (int64_t s = 1; s <= 2; ++s) {
    std::vector<Tensor> inputs = step_inputs(sig, s);
    std::vector<Tensor> got = exe->run(inputs), want = reference->run(inputs);
    for (size_t k = 0; k < got.size(); ++k)
      EXPECT_EQ(std::memcmp(got[k].raw(), want[k].raw(), got[k].nbytes()), 0) << "step " << s << " output " << k;
  }
  for (size_t i = 0; i < asked.size(); ++i)
    EXPECT_EQ(asked[i], sig.state[i].name == "fc1.weight" ? 0 : 1) << sig.state[i].name;
  for (const TensorSpec& spec : sig.state) {
    Tensor a = exe->state(spec.name), b = reference->state(spec.name);
    EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << spec.name;
  }
}

TEST(Executor, ABadInitializerIsStillAnErrorOfCompileNotOfTheFirstRun) {
  Builder b("bad_init");
  auto x = b.input("x", "f32[4]");
  auto counts = b.param("counts", DType::i64, Shape{4}, Initializer{"normal", {{"mean", 0}, {"std", 1}}, 3});
  b.output("y", x + dsl::cast(counts, DType::f32));
  Graph g = b.finish();
  for (const char* backend : {"interp", "llvm"})
    EXPECT_NE(error_of([&] {
                make_backend(backend)->compile(g);
              }).find("initializer normal needs a float parameter (f32 or f64), but the parameter is i64"),
              std::string::npos)
        << backend;
}

TEST(Executor, TheInterpreterAndTheJitBindSymbolsAsTheCRuntimeDoes) {
  // x: B rows of 2*T; y: B*T. B and then T come from x (T = dim / 2), y is checked against B*T.
  Builder b("binding");
  auto x = b.input("x", "f32[B<=4, 2*T]");
  auto y = b.input("y", "f32[B*T]");
  (void)y;
  b.output("s", dsl::sum(x * 2.0f));
  Graph g = b.finish();
  g.declare_symbol("T", 8);
  for (const char* backend : {"interp", "llvm"}) {
    auto exe = make_backend(backend)->compile(g);
    auto run = [&](std::vector<int64_t> xs, std::vector<int64_t> ys) {
      return error_of([&] {
        std::vector<Tensor> in{Tensor::zeros(DType::f32, xs), Tensor::zeros(DType::f32, ys)};
        exe->run(in);
      });
    };
    EXPECT_EQ(run({3, 10}, {15}), "(no error)") << backend;  // B = 3, T = 5
    EXPECT_EQ(run({3, 9}, {15}),
              "input 'x' of graph 'binding' must be f32[B, 2*T], but got f32[3, 9]: dim 1 (9) is not a multiple of 2")
        << backend;
    EXPECT_EQ(run({3, 10}, {14}), "input 'y' of graph 'binding' must be f32[B*T], but got f32[14] (dim 0 should be 15)")
        << backend;
    EXPECT_EQ(run({5, 10}, {25}),
              "symbolic dim B = 5 exceeds its declared bound B <= 4 (input 'x' of graph 'binding' is f32[5, 10], "
              "declared f32[B, 2*T])")
        << backend;
    EXPECT_EQ(run({2, 18}, {18}),
              "symbolic dim T = 9 exceeds its declared bound T <= 8 (input 'x' of graph 'binding' is f32[2, 18], "
              "declared f32[B, 2*T])")
        << backend;
  }
}

TEST(Executor, EachCallIsRunByTheFirstProviderThatTakesIt) {
  // An f64 matmul has no generated code: the interpreter, after the LLVM provider declined.
  Builder b("mixed");
  auto x = b.input("x", "f32[4, 8]");
  auto w = b.input("w", "f64[8, 3]");
  auto x64 = b.input("x64", "f64[4, 8]");
  b.output("y", dsl::exp(x) * 2.0f);
  b.output("z", dsl::matmul(x64, w));
  Graph g = b.finish();
  auto exe = LlvmBackend().compile_llvm(g);
  const CompileStats& s = exe->stats();
  ASSERT_EQ(s.nodes.size(), 2u) << s.report();
  std::map<std::string, std::string> provider;
  for (const NodeStats& n : s.nodes) provider[n.op] = n.provider;
  EXPECT_EQ(provider["loop"], "llvm") << s.report();
  EXPECT_EQ(provider["matmul"], "interp") << s.report();
  EXPECT_EQ(s.compiled, 1);
  EXPECT_EQ(s.fallback, 1);
  EXPECT_NE(s.report().find("interpreter: "), std::string::npos) << s.report();
  // The interpreter backend is its one provider, on the same executor.
  auto interp = InterpBackend().compile_chain(g);
  for (const NodeStats& n : interp->stats().nodes) EXPECT_EQ(n.provider, "interp");
}

TEST(Executor, AProfileTimesEveryCallAndCountsItsFlopsAndBytes) {
  Builder b("profiled");
  auto x = b.input("x", "f32[B<=8, 8]");
  auto w = b.input("w", "f32[8, 3]");
  b.output("y", dsl::matmul(x, w));
  Graph g = b.finish();
  std::vector<Tensor> inputs{Tensor::zeros(DType::f32, {4, 8}), Tensor::zeros(DType::f32, {8, 3})};
  auto quiet = LlvmBackend().compile_llvm(g);
  quiet->run(inputs);
  EXPECT_TRUE(quiet->profile().empty());
  EXPECT_EQ(quiet->profile_report(), "no profile: compile with CompileOptions::profile (weft-run --profile)\n");

  auto exe = LlvmBackend().compile_llvm(g, {.profile = true});
  for (int i = 0; i < 3; ++i) exe->run(inputs);
  ASSERT_EQ(exe->profile().size(), 1u);
  const CallProfile& p = exe->profile()[0];
  EXPECT_EQ(p.calls, 3);
  EXPECT_GT(p.seconds, 0.0);
  EXPECT_EQ(p.flops, 3 * 2.0 * 4 * 3 * 8);                // 2·M·N·K per run
  EXPECT_EQ(p.bytes, 3 * 4.0 * (4 * 8 + 8 * 3 + 4 * 3));  // x, w and y once per run
  const std::string report = exe->profile_report();
  EXPECT_NE(report.find("matmul"), std::string::npos) << report;
  EXPECT_NE(report.find("llvm"), std::string::npos) << report;
  EXPECT_NE(report.find("total "), std::string::npos) << report;
  exe->reset_profile();
  EXPECT_EQ(exe->profile()[0].calls, 0);
}

}  // namespace
}  // namespace weft
