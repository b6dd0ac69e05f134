/** \file
 * Weft's side of `make bench`'s whole-model comparison (bench/compare.py): a worker that sets one
 * workload up, says how long that took, then times repetitions when asked, so that the driver can
 * interleave it with the peers' workers in rounds without paying the compile time again.
 *
 *   bench_models <workload>      then, on stdin, `run N` (N repetitions) ... `quit`
 *   bench_models --peak-fma      the machine's peak single-precision FMA rate on 2 threads (GFLOP/s)
 *   bench_models <workload> --profile N   one warm-up, N repetitions with the executor's profile on,
 *                                then each compiled program's profile, slowest call first
 *                                (docs/performance.md)
 *   bench_models <workload> --compile-time   sets the workload up and prints where the time went:
 *                                the pipeline, and the LLVM side (IR emission, optimization, code
 *                                generation, the on-disk cache, linking); the passes' own times on
 *                                stderr (docs/performance.md, "Compile time")
 *
 * Replies on stdout, one line each: `ready setup_ms=<ms> flops=<per repetition>` after the setup
 * (graph building and compiling: the JIT, or the C compiler for the .so), then `times <ms> ...` per
 * `run`; `error <message>` and exit status 1 when the workload fails. The workloads (bench/models.h):
 * encoder_layer, encoder_layer_so, transformer_train, greedy_b1, greedy_b8, lstm_attn_tutorial,
 * lstm_attn_hoisted, g2p_train, matmul_<M>x<K>x<N>. LLVM backend, WEFT_NUM_THREADS threads (default 2);
 * a workload named with a backend after '@' (`encoder_layer@onednn`, `lstm_attn_hoisted@auto`)
 * compiles every graph with that backend instead (docs/onednn-backend.md, "Benchmarks").
 */
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "backends/interp/interpreter.h"
#include "backends/llvm/jit.h"
#include "backends/llvm/jit_disk_cache.h"
#include "backends/llvm/region_codegen.h"
#include "backends/provider.h"
#include "bench/bench_common.h"
#include "bench/models.h"
#include "bench/shared_object.h"
#include "examples/g2p/model.h"
#include "frontend/decode.h"
#include "frontend/inference.h"
#include "frontend/train_step.h"
#include "ir/error.h"
#include "passes/hoist_scan_invariants.h"

namespace {

using weft::Graph;
using weft::Tensor;

int threads() {
  const char* n = std::getenv("WEFT_NUM_THREADS");
  return n ? std::max(1, std::atoi(n)) : 2;
}

Tensor random_ids(std::vector<int64_t> shape, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> id(3, vocab - 1);  // 0..2 are left to padding, BOS and EOS
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t& t : v) t = id(rng);
  return Tensor::from<int64_t>(shape, v);
}

Tensor random_floats(std::vector<int64_t> shape, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return Tensor::from<float>(shape, v);
}

/// With --profile: every program compiled keeps a profile, and is listed here to print it.
bool profiling = false;
std::vector<std::pair<std::string, weft::Executable*>> profiled;

/// With --compile-time: the time spent in compile() calls and the pipeline's share of it.
bool timing_compiles = false;
double compile_seconds = 0;
double pass_seconds = 0;

/// The backend every graph is compiled with: llvm, or the one a workload names after '@'.
std::string backend_name = "llvm";

std::unique_ptr<weft::Executable> compile(const Graph& graph) {
  auto start = std::chrono::steady_clock::now();
  auto exe = weft::make_backend(backend_name)
                 ->compile(graph, {.num_threads = threads(), .time_passes = timing_compiles, .profile = profiling});
  compile_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (auto* compiled = dynamic_cast<weft::CompiledExecutable*>(exe.get()))
    pass_seconds += compiled->stats().pass_seconds;
  if (profiling) profiled.emplace_back(graph.name(), exe.get());
  return exe;
}

/// A workload after its setup: one repetition per call, and its floating-point operations (0: not counted).
struct Workload {
  std::function<void()> repetition;
  double flops = 0;
  std::shared_ptr<void> keep;  // what `repetition` refers to
};

/// The encoder layer compiled into a shared object with the weights of the layer's initializers,
/// run through the C API as a user of the .so runs it.
class SharedObjectLayer {
 public:
  explicit SharedObjectLayer(const weft::bench::EncoderLayerSize& size)
      : x_(random_floats({size.batch, size.length, size.d_model}, 1)),
        y_(static_cast<size_t>(x_.numel())),
        so_({weft::bench::encoder_layer_graph(size)}, nullptr, "encoder_layer") {}

  void run() {
    weft_tensor in{WEFT_F32, 3, x_.shape().data(), const_cast<void*>(x_.raw())};
    weft_tensor out{WEFT_F32, 3, x_.shape().data(), y_.data()};
    so_.check(so_.run(so_.model(), 0, &in, 1, &out, 1), "weft_run");
  }

 private:
  Tensor x_;
  std::vector<float> y_;
  weft::bench::LoadedModel so_;
};

/// A train step with Adam at lr 1e-4; every repetition is the next update.
Workload train_workload(const Graph& model, std::map<std::string, Tensor> inputs, double flops) {
  auto exe = std::shared_ptr<weft::Executable>(compile(weft::train::make_train_step(model)));
  auto state = std::make_shared<std::pair<std::map<std::string, Tensor>, int64_t>>(std::move(inputs), 0);
  state->first["lr"] = Tensor::from<float>({}, {1e-4f});
  return {[exe, state] {
            state->first["step"] = Tensor::from<int64_t>({}, {++state->second});
            exe->run_named(state->first);
          },
          flops, exe};
}

Workload greedy_workload(int64_t batch) {
  weft::bench::TransformerSize size;
  weft::train::Compiler compile_graph = [](const Graph& g) { return compile(g); };
  std::shared_ptr<weft::Executable> prefix = compile(weft::bench::transformer_prefix_graph(size));
  std::shared_ptr<weft::Executable> encode = weft::train::inference_executable(
      *prefix, "encode", [&](weft::dsl::Builder& b) { weft::bench::transformer_encode_graph(b, size); }, compile_graph);
  std::shared_ptr<weft::Executable> step = weft::train::inference_executable(
      *prefix, "step", [&](weft::dsl::Builder& b) { weft::bench::transformer_step_graph(b, size); }, compile_graph);
  Tensor src = random_ids({batch, size.source}, size.vocab, static_cast<uint64_t>(batch));
  weft::decode::SearchOptions options{.bos = 1, .eos = size.vocab, .max_length = size.steps};  // EOS never comes
  return {[=] {
            weft::decode::greedy_decode(*encode, *step, {{"src", src}}, options);
          },
          0,
          std::make_shared<std::vector<std::shared_ptr<weft::Executable>>>(
              std::vector<std::shared_ptr<weft::Executable>>{prefix, encode, step})};
}

Workload setup(const std::string& workload) {
  using namespace weft::bench;
  std::string name = workload.substr(0, workload.find('@'));
  if (name != workload) {
    backend_name = workload.substr(name.size() + 1);
    if (name == "encoder_layer_so")
      throw weft::Error("bench_models: encoder_layer_so runs a shared object, not a backend");
  }
  if (name == "encoder_layer" || name == "encoder_layer_so") {
    EncoderLayerSize size;
    if (name == "encoder_layer_so") {
      auto layer = std::make_shared<SharedObjectLayer>(size);
      return {[layer] { layer->run(); }, size.flops(), layer};
    }
    auto exe = std::shared_ptr<weft::Executable>(compile(encoder_layer_graph(size)));
    auto x = std::make_shared<std::vector<Tensor>>(1, random_floats({size.batch, size.length, size.d_model}, 1));
    return {[exe, x] { exe->run(*x); }, size.flops(), exe};
  }
  if (name == "transformer_train") {
    TransformerSize s;
    return train_workload(transformer_train_graph(s),
                          {{"src", random_ids({s.batch, s.source}, s.vocab, 1)},
                           {"tgt_in", random_ids({s.batch, s.target}, s.vocab, 2)},
                           {"tgt_out", random_ids({s.batch, s.target}, s.vocab, 3)}},
                          s.train_flops());
  }
  if (name == "g2p_train") {
    // The G2P demo's train step (examples/g2p: the reference Transformer, dropout 0.1, label
    // smoothing 0.1) on one length bucket of the demo's batch: 64 words of 9 letters + <eos> ->
    // <bos> + 9 phonemes, about the dictionary's mean. compare.py turns it into ms per 1,000 tokens.
    g2p::ModelConfig c;
    weft::dsl::Builder b("g2p_train");
    g2p::build_train_graph(b, c);
    return train_workload(b.finish(),
                          {{"src", random_ids({64, 10}, c.src_vocab, 1)},
                           {"tgt_in", random_ids({64, 10}, c.tgt_vocab, 2)},
                           {"tgt_out", random_ids({64, 10}, c.tgt_vocab, 3)}},
                          0);
  }
  if (name == "greedy_b1") return greedy_workload(1);
  if (name == "greedy_b8") return greedy_workload(8);
  if (name == "lstm_attn_tutorial" || name == "lstm_attn_hoisted") {
    LstmAttentionSize s;
    Graph model = lstm_attention_graph(s);
    // make_train_step hoists the keys' projection itself; the hoisted workload hands it the
    // graph already hoisted, as a user who wrote the hoisted form would.
    if (name == "lstm_attn_hoisted") model = weft::hoist_scan_invariants(model);
    return train_workload(model,
                          {{"src", random_ids({s.batch, s.length}, s.vocab, 1)},
                           {"tgt_in", random_ids({s.batch, s.length}, s.vocab, 2)},
                           {"tgt_out", random_ids({s.batch, s.length}, s.vocab, 3)}},
                          0);
  }
  int64_t m = 0, k = 0, n = 0;
  if (std::sscanf(name.c_str(), "matmul_%ldx%ldx%ld", &m, &k, &n) == 3 && m > 0 && k > 0 && n > 0) {
    weft::dsl::Builder b("matmul");
    auto a = b.input("a", weft::DType::f32, {weft::Dim(m), weft::Dim(k)});
    auto w = b.input("b", weft::DType::f32, {weft::Dim(k), weft::Dim(n)});
    b.output("c", weft::dsl::matmul(a, w));
    auto exe = std::shared_ptr<weft::Executable>(compile(b.finish()));
    auto in =
        std::make_shared<std::vector<Tensor>>(std::vector<Tensor>{random_floats({m, k}, 1), random_floats({k, n}, 2)});
    return {[exe, in] { exe->run(*in); }, 2.0 * m * k * n, exe};
  }
  throw weft::Error(fmt::format("bench_models: unknown workload '{}'", name));
}

/// 16 independent accumulators per thread hide the FMA latency; the widest vectors the CPU has.
typedef float Vec16 __attribute__((vector_size(64)));
typedef float Vec8 __attribute__((vector_size(32)));

// Inlined into the functions below, which are compiled for the wider instruction sets.
template <typename Vec>
__attribute__((always_inline)) inline double fma_loop(int64_t iterations) {
  constexpr int Width = sizeof(Vec) / sizeof(float);
  Vec acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = Vec{} + static_cast<float>(i) * 1e-3f;
  Vec mul = Vec{} + 0.999999f, add = Vec{} + 1e-7f;
  for (int64_t it = 0; it < iterations; ++it)
    for (Vec& a : acc) a = a * mul + add;  // one fused multiply-add each (-ffp-contract=fast, GCC's default)
  float sum = 0;
  for (Vec& a : acc)
    for (int l = 0; l < Width; ++l) sum += a[l];
  return sum;
}

__attribute__((target("avx512f,fma"))) double fma_avx512(int64_t it) { return fma_loop<Vec16>(it); }
__attribute__((target("avx2,fma"))) double fma_avx2(int64_t it) { return fma_loop<Vec8>(it); }

/// GFLOP/s of `threads()` threads running FMAs: the best of 30 short runs, so that one of them finds
/// the cores free on a machine shared with other work.
double peak_fma_gflops() {
  bool avx512 = __builtin_cpu_supports("avx512f");
  int width = avx512 ? 16 : 8;
  const int64_t iterations = 2'000'000;
  double best = 0;
  for (int run = 0; run < 30; ++run) {
    std::vector<std::thread> pool;
    auto start = std::chrono::steady_clock::now();
    std::vector<double> sink(static_cast<size_t>(threads()));
    for (int t = 0; t < threads(); ++t)
      pool.emplace_back(
          [&, t] { sink[static_cast<size_t>(t)] = avx512 ? fma_avx512(iterations) : fma_avx2(iterations); });
    for (auto& th : pool) th.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * 16 * width * static_cast<double>(iterations) * threads() / s / 1e9);
  }
  return best;
}

}  // namespace

/// `--compile-time`: where the setup's time went (docs/performance.md, "Compile time"). Run it
/// twice with the same WEFT_JIT_CACHE_DIR, the first time empty, for a cold and a warm compile.
int report_compile_time(const std::string& name) {
  timing_compiles = true;
  namespace llvm_backend = weft::llvm_backend;
  auto start = std::chrono::steady_clock::now();
  Workload w = setup(name);
  const double setup = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Parameters get their initial values when first needed (a graph's first run, or a copy of them
  // into an inference graph during the setup): a train step pays that in its first repetition.
  auto first_start = std::chrono::steady_clock::now();
  w.repetition();
  const double first = std::chrono::duration<double>(std::chrono::steady_clock::now() - first_start).count();
  auto second_start = std::chrono::steady_clock::now();
  w.repetition();
  const double second = std::chrono::duration<double>(std::chrono::steady_clock::now() - second_start).count();
  const llvm_backend::JitTimings jit = llvm_backend::Jit::global().timings();
  const llvm_backend::JitDiskCacheStats disk = llvm_backend::JitDiskCache::global().stats();
  const llvm_backend::RegionCacheStats regions = llvm_backend::region_cache_stats();
  auto ms = [](double s) { return s * 1e3; };
  fmt::print("compile time of {}: setup {:.1f} ms\n", name, ms(setup));
  fmt::print("  building graphs, autodiff, inputs  {:8.1f} ms\n", ms(setup - compile_seconds));
  fmt::print("  compile() calls                    {:8.1f} ms\n", ms(compile_seconds));
  fmt::print("    pipeline (passes, planning)      {:8.1f} ms\n", ms(pass_seconds));
  fmt::print("    kernels, executors (the rest)    {:8.1f} ms\n", ms(compile_seconds - pass_seconds));
  // The regions compile on several threads (WEFT_NUM_THREADS): these are thread times, summed.
  fmt::print("    LLVM backend, summed over threads {:7.1f} ms\n", ms(jit.total()));
  fmt::print("      region keys, module keys       {:8.1f} ms\n", ms(jit.key));
  fmt::print("      IR emission                    {:8.1f} ms\n", ms(jit.emit));
  fmt::print("      optimization (O3)              {:8.1f} ms\n", ms(jit.optimize));
  fmt::print("      code generation                {:8.1f} ms\n", ms(jit.codegen));
  fmt::print("      disk cache reads and writes    {:8.1f} ms\n", ms(jit.disk));
  fmt::print("      linking and symbol lookups     {:8.1f} ms\n", ms(jit.link));
  fmt::print("  first repetition {:.1f} ms, second {:.1f} ms (parameters are initialized at first use)\n", ms(first),
             ms(second));
  fmt::print("  regions compiled {} (in-process hits {}); disk cache hits {}, misses {}, rejected {}\n",
             regions.compiled, regions.hits, disk.hits, disk.misses, disk.rejected);
  return 0;
}

int main(int argc, char** argv) {
  weft::bench::run_with_peer_threads(argv);
  const bool profile_args = argc == 4 && std::string(argv[2]) == "--profile" && std::atoi(argv[3]) > 0;
  const bool compile_time_args = argc == 3 && std::string(argv[2]) == "--compile-time";
  if (argc != 2 && !profile_args && !compile_time_args) {
    std::fprintf(stderr, "usage: bench_models <workload> [--profile N | --compile-time] | --peak-fma\n");
    return 2;
  }
  std::string name = argv[1];
  if (compile_time_args) {
    try {
      return report_compile_time(name);
    } catch (const std::exception& e) {
      fmt::print(stderr, "bench_models: {}\n", e.what());
      return 1;
    }
  }
  if (profile_args) {
    try {
      profiling = true;
      Workload w = setup(name);
      w.repetition();  // warm-up: caches, the pool, first-run planning
      for (auto& [graph, exe] : profiled) exe->reset_profile();
      const int n = std::atoi(argv[3]);
      for (int i = 0; i < n; ++i) w.repetition();
      for (auto& [graph, exe] : profiled)
        fmt::print("profile of '{}' over {} repetitions of {}:\n{}\n", graph, n, name, exe->profile_report());
    } catch (const std::exception& e) {
      fmt::print(stderr, "bench_models: {}\n", e.what());
      return 1;
    }
    return 0;
  }
  try {
    if (name == "--peak-fma") {
      fmt::print("peak_fma_gflops {:.1f} threads={} isa={}\n", peak_fma_gflops(), threads(),
                 __builtin_cpu_supports("avx512f") ? "avx512" : "avx2");
      return 0;
    }
    auto start = std::chrono::steady_clock::now();
    Workload w = setup(name);
    double setup_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    fmt::print("ready setup_ms={:.1f} flops={:.6g}\n", setup_ms, w.flops);
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line == "quit") break;
      int n = 0;
      if (std::sscanf(line.c_str(), "run %d", &n) != 1 || n < 1)
        throw weft::Error("bench_models: expected 'run N' or 'quit', got '" + line + "'");
      std::string times = "times";
      for (int i = 0; i < n; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        w.repetition();
        times += fmt::format(" {:.4f}",
                             std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      fmt::print("{}\n", times);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::string message = e.what();
    for (char& c : message)
      if (c == '\n') c = ' ';
    fmt::print("error {}\n", message);
    return 1;
  }
  return 0;
}
