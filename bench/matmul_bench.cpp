/** \file
 * The LLVM backend's generated SGEMM against oneDNN's matmul, on the same machine state.
 *
 * Every shape is measured for both, alternately, for several rounds; each side's best round
 * gives its GFLOP/s, and one line per shape prints "weft/onednn = 0.xx". Both run on 2 threads
 * unless WEFT_NUM_THREADS / OMP_NUM_THREADS say otherwise: oneDNN's OpenMP reads its settings when
 * it is loaded, so the program re-executes itself with them in its environment when they are
 * missing, and with OMP_WAIT_POLICY=PASSIVE, so that idle OpenMP workers do not spin on the cores
 * Weft is being timed on (Weft's pool sleeps too).
 *
 *   bench_matmul [--rounds=N] [google benchmark flags]
 */
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dnnl.hpp>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backends/llvm/jit.h"
#include "backends/llvm/matmul_codegen.h"
#include "bench/bench_common.h"
#include "runtime/thread_pool.h"

namespace {

using weft::llvm_backend::GemmArgs;
using weft::llvm_backend::GemmKernel;

struct Shape {
  int64_t m, k, n;
  bool transpose_b = false;  // B stored N×K, as a Linear layer's weight
  std::string str() const {
    return transpose_b ? fmt::format("({}x{})·({}x{})^T", m, k, n, k) : fmt::format("({}x{})·({}x{})", m, k, k, n);
  }
  double flops() const { return 2.0 * m * n * k; }
};

// The shapes the LLVM backend issue names: two rectangular and square 512 to 2048; then a
// Linear layer's product with a transposed weight.
const std::vector<Shape> kShapes = {{1024, 512, 2048},  {1024, 2048, 512},  {512, 512, 512},
                                    {1024, 1024, 1024}, {2048, 2048, 2048}, {1024, 512, 2048, true}};

struct Operands {
  std::vector<float> a, b, c;
  explicit Operands(const Shape& s) : a(s.m * s.k), b(s.k * s.n), c(s.m * s.n) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (float& x : a) x = dist(rng);
    for (float& x : b) x = dist(rng);
  }
};

// Per shape: operands, both implementations, the best seconds per call seen for each.
struct Case {
  Shape shape;
  Operands operands;
  GemmKernel weft;
  GemmArgs args;
  dnnl::matmul onednn;
  dnnl::memory a_mem, b_mem, c_mem;
  double best_weft = INFINITY, best_onednn = INFINITY;          // wall seconds per call
  double best_weft_cpu = INFINITY, best_onednn_cpu = INFINITY;  // CPU seconds (all threads) per call
};

weft::llvm_backend::GemmBlocking& blocking() {
  static weft::llvm_backend::GemmBlocking b = weft::llvm_backend::GemmBlocking::for_host();
  return b;
}

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

std::unique_ptr<Case> make_case(const Shape& s) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  auto c = std::unique_ptr<Case>(
      new Case{s, Operands(s), GemmKernel::compile({false, s.transpose_b, false, {}}, blocking()), {}, {}, {}, {}, {}});
  c->args.a = c->operands.a.data();
  c->args.b = c->operands.b.data();
  c->args.c = c->operands.c.data();
  c->args.m = s.m;
  c->args.n = s.n;
  c->args.k = s.k;
  c->args.lda = s.k;
  c->args.ldb = s.transpose_b ? s.k : s.n;
  c->args.ldc = s.n;
  dnnl::memory::desc a_md({s.m, s.k}, dt::f32, tag::ab);
  dnnl::memory::desc b_md({s.k, s.n}, dt::f32, s.transpose_b ? tag::ba : tag::ab);
  dnnl::memory::desc c_md({s.m, s.n}, dt::f32, tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), engine());
  c->onednn = dnnl::matmul(pd);
  c->a_mem = dnnl::memory(a_md, engine(), c->operands.a.data());
  c->b_mem = dnnl::memory(b_md, engine(), c->operands.b.data());
  c->c_mem = dnnl::memory(c_md, engine(), c->operands.c.data());
  return c;
}

void run_onednn(Case& c) {
  c.onednn.execute(stream(), {{DNNL_ARG_SRC, c.a_mem}, {DNNL_ARG_WEIGHTS, c.b_mem}, {DNNL_ARG_DST, c.c_mem}});
  stream().wait();
}

// Largest difference between the two results, relative to the largest |C| (a sanity check that
// both compute the same product).
double disagreement(Case& c) {
  c.weft.run_unchecked(c.args);
  std::vector<float> ours = c.operands.c;
  run_onednn(c);
  double diff = 0, scale = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    diff = std::max(diff, double(std::abs(ours[i] - c.operands.c[i])));
    scale = std::max(scale, double(std::abs(c.operands.c[i])));
  }
  return diff / std::max(scale, 1e-30);
}

enum class Impl { weft, onednn };

// CPU time of the whole process (every thread). With other programs sharing the cores, wall time
// mostly measures the scheduler; CPU time measures the work each side did.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// Records each run's seconds per iteration into its case.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, std::pair<Case*, Impl>> cases;
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred || run.iterations == 0) continue;
      auto it = cases.find(run.run_name.function_name);
      if (it == cases.end()) continue;
      double seconds = run.real_accumulated_time / double(run.iterations);
      Case& c = *it->second.first;
      bool weft = it->second.second == Impl::weft;
      double& best = weft ? c.best_weft : c.best_onednn;
      best = std::min(best, seconds);
      if (auto cpu = run.counters.find("cpu_s"); cpu != run.counters.end()) {
        double& best_cpu = weft ? c.best_weft_cpu : c.best_onednn_cpu;
        best_cpu = std::min(best_cpu, double(cpu->second.value));
      }
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  weft::bench::run_with_peer_threads(argv);
  const int rounds = weft::bench::take_rounds(argc, argv, 3);
  benchmark::Initialize(&argc, argv);

  fmt::print("host: {}; weft threads: {}, OMP_NUM_THREADS={}, OMP_WAIT_POLICY={}\n",
             weft::llvm_backend::host_target().describe(), weft::ThreadPool::global().num_threads(),
             std::getenv("OMP_NUM_THREADS"), std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "");
  // WEFT_GEMM_BLOCKING=kc,mc,nc overrides the cache blocks, for tuning.
  if (const char* env = std::getenv("WEFT_GEMM_BLOCKING")) {
    weft::llvm_backend::GemmBlocking& b = blocking();
    if (std::sscanf(env, "%d,%d,%d", &b.kc, &b.mc, &b.nc) != 3) {
      fmt::print(stderr, "WEFT_GEMM_BLOCKING must be kc,mc,nc\n");
      return 2;
    }
  }
  const auto& g = blocking();
  fmt::print("weft blocking: MR={} NR={} KC={} MC={} NC={} (vector {} floats)\n", g.mr, g.nr, g.kc, g.mc, g.nc,
             g.vector_floats);

  std::vector<std::unique_ptr<Case>> cases;
  RatioReporter reporter;
  for (const Shape& s : kShapes) {
    cases.push_back(make_case(s));
    fmt::print("{}: weft vs oneDNN max relative difference {:.2e}\n", s.str(), disagreement(*cases.back()));
  }
  for (int r = 0; r < rounds; ++r) {
    for (auto& c : cases) {
      const Shape& s = c->shape;
      for (Impl impl : {Impl::weft, Impl::onednn}) {
        std::string name = fmt::format("matmul/{}/{}x{}x{}{}/round{}", impl == Impl::weft ? "weft" : "onednn", s.m, s.k,
                                       s.n, s.transpose_b ? "T" : "", r);
        Case* cp = c.get();
        benchmark::RegisterBenchmark(name.c_str(),
                                     [cp, impl](benchmark::State& state) {
                                       double cpu0 = process_cpu_seconds();
                                       for (auto _ : state) {
                                         if (impl == Impl::weft) {
                                           cp->weft.run_unchecked(cp->args);
                                         } else {
                                           run_onednn(*cp);
                                         }
                                       }
                                       state.counters["cpu_s"] =
                                           (process_cpu_seconds() - cpu0) / double(state.iterations());
                                     })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(0.3);
        reporter.cases[name] = {cp, impl};
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  fmt::print(
      "\nbest of {} rounds, {} threads each; the ratio is of wall-clock GFLOP/s, and in parentheses of\n"
      "GFLOP per CPU-second (the fairer one when other programs load the cores):\n",
      rounds, weft::ThreadPool::global().num_threads());
  for (auto& c : cases) {
    if (!std::isfinite(c->best_weft) || !std::isfinite(c->best_onednn)) continue;
    double weft_gflops = c->shape.flops() / c->best_weft / 1e9;
    double onednn_gflops = c->shape.flops() / c->best_onednn / 1e9;
    fmt::print(
        "matmul {:<31} weft {:6.1f} GFLOP/s  onednn {:6.1f} GFLOP/s  weft/onednn = {:.2f}   (CPU time: {:.2f})\n",
        c->shape.str(), weft_gflops, onednn_gflops, weft_gflops / onednn_gflops, c->best_onednn_cpu / c->best_weft_cpu);
  }
  return 0;
}
