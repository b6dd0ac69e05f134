/** \file
 * The LLVM backend's generated SGEMM against oneDNN's matmul and PyTorch 1.13's (OpenBLAS), on
 * the same machine state: large products, and the skinny ones of recurrent and decode steps
 * (M from 1 to 64 against a Linear or LSTM weight), matrix–vector products (N = 1) and the small
 * batched products of attention.
 *
 * Each round times every shape once for Weft, for the GEMM as it was before the large-product
 * work of issue 26 ("before": each task packing its own B, element by element) and for oneDNN, in an order that rotates
 * from round to round, each sample after an untimed call (a sample is a batch of calls lasting at least 20 ms), then
 * runs bench/torch_matmul.py for one sample of every shape; the table gives each side's median GFLOP/s over the rounds
 * (and the best), its GFLOP per CPU-second (every thread's time: what a machine loaded by other programs distorts
 * least), the ratios of the medians, and the load average before and after, since the machine may be shared. Both run
 * on 2 threads unless WEFT_NUM_THREADS / OMP_NUM_THREADS say otherwise, with OMP_WAIT_POLICY=PASSIVE (bench_common.h).
 *
 *   bench_matmul [--rounds=N] [--filter=SUBSTRING[|SUBSTRING...]] [--cold]
 *
 * --cold evicts the caches before every timed call (PyTorch is then not run), to measure what a
 * product costs when its operands come from memory, as most of a model's do.
 *
 * WEFT_GEMM_BLOCKING=kc,mc,nc overrides the cache blocks (for tuning); WEFT_BENCH_PYTHON names
 * the Python that has torch (default /usr/bin/python3, Debian's python3-torch).
 */
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dnnl.hpp>
#include <fstream>
#include <map>
#include <memory>
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
  int64_t batch = 1;         // every batch element has its own A and B
  bool transpose_a = false;  // A stored K×M, as the activations in a weight gradient dyᵀ·x
  std::string str() const {
    std::string a = transpose_a ? fmt::format("[{},{}]ᵀ", k, m) : fmt::format("[{},{}]", m, k);
    std::string s = transpose_b ? fmt::format("{}·[{},{}]ᵀ", a, n, k) : fmt::format("{}·[{},{}]", a, k, n);
    return batch > 1 ? fmt::format("{}×{}", batch, s) : s;
  }
  // M,K,N,TB,BATCH[,TA]: the transposed-A flag only when set, so the older keys stay as they were.
  std::string key() const {
    return fmt::format("{},{},{},{},{}{}", m, k, n, transpose_b ? 1 : 0, batch, transpose_a ? ",1" : "");
  }
  double flops() const { return 2.0 * double(m) * double(n) * double(k) * double(batch); }
};

// Large products (the Transformer's and square ones), then the skinny ones issue 26 names: an
// LSTM step's [B,H]·[4H,H]ᵀ and a Linear's x·Wᵀ at decode and recurrent batch sizes, the same
// with W stored K×N (the backward pass's dy·W), matrix–vector products (attention scores against
// one query, N = 1), and attention's batched [B·h, T, dk] products (scores, weights·values, one
// decode step's scores).
std::vector<Shape> all_shapes() {
  std::vector<Shape> s = {{1024, 512, 2048},  {1024, 2048, 512},       {512, 512, 512},
                          {1024, 1024, 1024}, {1024, 512, 2048, true}, {1024, 512, 512, true}};
  for (int64_t m : {1, 8, 32, 64}) {
    s.push_back({m, 512, 2048, true});
    s.push_back({m, 768, 2048, true});
    s.push_back({m, 512, 512, true});
  }
  for (int64_t m : {1, 32}) {
    s.push_back({m, 512, 512});
    s.push_back({m, 2048, 512});
  }
  s.push_back({1024, 512, 1, true});
  s.push_back({1024, 512, 1});
  s.push_back({32, 64, 32, true, 64});
  s.push_back({32, 32, 64, false, 64});
  s.push_back({1, 64, 32, true, 64});
  // The G2P demo's train step (bench_models g2p_train: 640 tokens, d256, ff1024): the feed-forward
  // products and an attention projection, forward (x·Wᵀ), input gradient (dy·W) and weight
  // gradient (dyᵀ·x).
  for (auto [k, n] : {std::pair<int64_t, int64_t>{256, 1024}, {1024, 256}, {256, 256}}) {
    s.push_back({640, k, n, true});
    s.push_back({640, n, k});
    s.push_back({n, 640, k, false, 1, true});
  }
  return s;
}

std::vector<float> random_floats(int64_t n, unsigned seed) {
  std::vector<float> v(static_cast<size_t>(n));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& x : v) x = dist(rng);
  return v;
}

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

weft::llvm_backend::GemmBlocking& blocking() {
  static weft::llvm_backend::GemmBlocking b = weft::llvm_backend::GemmBlocking::for_host();
  return b;
}

// The host's blocking as the GEMM was before issue 26's large-product work (Weft 4fbc831): every
// blocked task packs its own columns of B, element by element where B's depth is contiguous (x·Wᵀ's
// weight, an untransposed A), and AVX-512 hosts ran a 14×32 register tile over KC = 256 blocks; the
// "before" column.
weft::llvm_backend::GemmBlocking before_blocking() {
  weft::llvm_backend::GemmBlocking b = blocking();
  b.share_packed_b = false;
  b.transpose_packs = false;
  if (b.vector_floats == 16 && !std::getenv("WEFT_GEMM_BLOCKING")) {
    b.mr = 14;
    b.nr = 32;
    b.kc = 256;
    b.mc = 336;
    b.nc = 2048;
  }
  return b;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// One shape: its operands, both implementations and the samples (seconds per call) of all three.
struct Case {
  Shape shape;
  std::vector<float> a, b, c;
  GemmKernel weft;
  GemmKernel before;  // the GEMM as it was before the large-product work (before_blocking)
  GemmArgs args;
  dnnl::matmul onednn;
  dnnl::memory a_mem, b_mem, c_mem;
  std::vector<double> weft_s, before_s, onednn_s, torch_s;          // wall seconds per call
  std::vector<double> weft_cpu, before_cpu, onednn_cpu, torch_cpu;  // CPU seconds (all threads) per call
  int64_t weft_calls = 1, before_calls = 1, onednn_calls = 1;

  explicit Case(const Shape& s)
      : shape(s),
        a(random_floats(s.batch * s.m * s.k, 1)),
        b(random_floats(s.batch * s.k * s.n, 2)),
        c(static_cast<size_t>(s.batch * s.m * s.n)),
        weft(GemmKernel::compile({s.transpose_a, s.transpose_b, false, {}}, blocking())),
        before(GemmKernel::compile({s.transpose_a, s.transpose_b, false, {}}, before_blocking())) {
    args = {a.data(), b.data(), c.data(),  s.m,       s.n,       s.k,    s.transpose_a ? s.m : s.k, s.transpose_b ? s.k : s.n,
            s.n,      s.batch,  s.m * s.k, s.k * s.n, s.m * s.n, nullptr};
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    bool batched = s.batch > 1;
    auto dims = [&](int64_t r, int64_t c) {
      return batched ? dnnl::memory::dims{s.batch, r, c} : dnnl::memory::dims{r, c};
    };
    tag plain = batched ? tag::abc : tag::ab;
    dnnl::memory::desc a_md(dims(s.m, s.k), dt::f32, s.transpose_a ? (batched ? tag::acb : tag::ba) : plain);
    dnnl::memory::desc b_md(dims(s.k, s.n), dt::f32, s.transpose_b ? (batched ? tag::acb : tag::ba) : plain);
    dnnl::memory::desc c_md(dims(s.m, s.n), dt::f32, plain);
    onednn = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), engine()));
    a_mem = dnnl::memory(a_md, engine(), a.data());
    b_mem = dnnl::memory(b_md, engine(), b.data());
    c_mem = dnnl::memory(c_md, engine(), c.data());
  }

  void run_weft() { weft.run_unchecked(args); }
  void run_before() { before.run_unchecked(args); }
  void run_onednn() {
    onednn.execute(stream(), {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
    stream().wait();
  }

  // Largest difference between the two results relative to the largest |C|: both must compute
  // the same product.
  double disagreement() {
    run_weft();
    std::vector<float> ours = c;
    run_onednn();
    double diff = 0, scale = 0;
    for (size_t i = 0; i < ours.size(); ++i) {
      diff = std::max(diff, double(std::abs(ours[i] - c[i])));
      scale = std::max(scale, double(std::abs(c[i])));
    }
    return diff / std::max(scale, 1e-30);
  }
};

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// Wall seconds per call; adds the CPU seconds per call (every thread of the process) to *cpu.
template <class F>
double seconds_per_call(F&& f, int64_t calls, std::vector<double>* cpu = nullptr) {
  double cpu0 = process_cpu_seconds();
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < calls; ++i) f();
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / double(calls);
  if (cpu) cpu->push_back((process_cpu_seconds() - cpu0) / double(calls));
  return wall;
}

// --cold: every timed call starts with the caches holding none of its operands, as a model's
// products mostly find them (the previous calls' data evicted them). Writing 96 MiB evicts a 32 MiB
// L3 and the L2s; only the call itself is timed.
bool& cold_caches() {
  static bool cold = false;
  return cold;
}

void evict_caches() {
  static std::vector<char> junk(size_t{96} << 20);
  static char value = 0;
  std::memset(junk.data(), ++value, junk.size());
}

template <class F>
double cold_seconds_per_call(F&& f, int64_t calls, std::vector<double>* cpu) {
  double wall = 0, cpu_total = 0;
  for (int64_t i = 0; i < calls; ++i) {
    evict_caches();
    double cpu0 = process_cpu_seconds();
    auto start = std::chrono::steady_clock::now();
    f();
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    cpu_total += process_cpu_seconds() - cpu0;
  }
  if (cpu) cpu->push_back(cpu_total / double(calls));
  return wall / double(calls);
}

template <class F>
int64_t calls_for_20ms(F&& f) {
  seconds_per_call(f, 1);  // warm up: page faults, the pool's threads, oneDNN's scratchpad
  double once = seconds_per_call(f, 1);
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(0.02 / std::max(once, 1e-9))));
}

// One sample of every shape from bench/torch_matmul.py; false (and why) when PyTorch is missing.
bool torch_round(std::vector<std::unique_ptr<Case>>& cases, std::string& version, std::string& why_not) {
  const char* python = std::getenv("WEFT_BENCH_PYTHON");
  std::string command =
      fmt::format("'{}' '{}/bench/torch_matmul.py' 1", python ? python : "/usr/bin/python3", WEFT_SOURCE_DIR);
  for (auto& c : cases) command += " " + c->shape.key();
  command += " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) {
    why_not = "cannot start " + command;
    return false;
  }
  std::map<std::string, Case*> by_key;
  for (auto& c : cases) by_key[c->shape.key()] = c.get();
  char line[1024];
  bool any = false;
  while (std::fgets(line, sizeof line, pipe)) {
    char key[128];
    double seconds = 0, cpu = 0;
    if (std::strncmp(line, "torch ", 6) == 0) {
      version = std::string(line + 6, std::strcspn(line + 6, "\n"));
    } else if (std::strncmp(line, "unavailable ", 12) == 0) {
      why_not = std::string(line + 12, std::strcspn(line + 12, "\n"));
    } else if (std::sscanf(line, "%127s %lf %lf", key, &seconds, &cpu) == 3 && by_key.count(key)) {
      by_key[key]->torch_s.push_back(seconds);
      by_key[key]->torch_cpu.push_back(cpu);
      any = true;
    }
  }
  pclose(pipe);
  if (!any && why_not.empty()) why_not = "bench/torch_matmul.py printed no timings";
  return any;
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one, five, fifteen;
  f >> one >> five >> fifteen;
  return fmt::format("{} {} {}", one, five, fifteen);
}

// Whether `shape` is one of those --filter names: any of its '|'-separated substrings of the
// printed shape or of "M,K,N,T,BATCH".
bool matches(const std::string& filter, const Shape& shape) {
  if (filter.empty()) return true;
  size_t start = 0;
  while (start <= filter.size()) {
    size_t end = std::min(filter.find('|', start), filter.size());
    std::string part = filter.substr(start, end - start);
    if (!part.empty() && (shape.str().find(part) != std::string::npos || shape.key().find(part) != std::string::npos))
      return true;
    start = end + 1;
  }
  return false;
}

std::string take_filter(int& argc, char** argv) {
  std::string filter;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--filter=", 9) == 0)
      filter = argv[i] + 9;
    else if (std::strcmp(argv[i], "--cold") == 0)
      cold_caches() = true;
    else
      argv[out++] = argv[i];
  }
  argc = out;
  return filter;
}

}  // namespace

int main(int argc, char** argv) {
  weft::bench::run_with_peer_threads(argv);
  const int rounds = weft::bench::take_rounds(argc, argv, 7);
  const std::string filter = take_filter(argc, argv);
  if (argc > 1) {
    fmt::print(stderr, "usage: bench_matmul [--rounds=N] [--filter=SUBSTRING] [--cold]\n");
    return 2;
  }
  if (const char* env = std::getenv("WEFT_GEMM_BLOCKING")) {
    weft::llvm_backend::GemmBlocking& b = blocking();
    int mr = 0, nr = 0;
    int got = std::sscanf(env, "%d,%d,%d,%d,%d", &b.kc, &b.mc, &b.nc, &mr, &nr);
    if (got == 5) {
      b.mr = mr;
      b.nr = nr;
    }
    if (got != 3 && got != 5) {
      fmt::print(stderr, "bench_matmul: WEFT_GEMM_BLOCKING must be kc,mc,nc\n");
      return 2;
    }
  }
  const auto& g = blocking();
  fmt::print("host: {}; weft threads: {}, OMP_NUM_THREADS={}, OMP_WAIT_POLICY={}\n",
             weft::llvm_backend::host_target().describe(), weft::ThreadPool::global().num_threads(),
             std::getenv("OMP_NUM_THREADS"), std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "");
  fmt::print("weft blocking: MR={} NR={} KC={} MC={} NC={} (vector {} floats)\n", g.mr, g.nr, g.kc, g.mc, g.nc,
             g.vector_floats);

  std::vector<std::unique_ptr<Case>> cases;
  for (const Shape& s : all_shapes()) {
    if (!matches(filter, s)) continue;
    cases.push_back(std::make_unique<Case>(s));
    Case& c = *cases.back();
    fmt::print("{}: weft vs oneDNN max relative difference {:.2e}\n", s.str(), c.disagreement());
    c.weft_calls = calls_for_20ms([&] { c.run_weft(); });
    c.before_calls = calls_for_20ms([&] { c.run_before(); });
    c.onednn_calls = calls_for_20ms([&] { c.run_onednn(); });
  }
  const std::string load_before = load_average();
  std::string torch_version, torch_why_not;
  // PyTorch runs in its own process, with warm caches: with --cold its column would not compare.
  bool torch = !cold_caches();
  if (!torch) torch_why_not = "not run with --cold";
  auto time_calls = [](auto&& f, int64_t calls, std::vector<double>* cpu) {
    return cold_caches() ? cold_seconds_per_call(f, calls, cpu) : seconds_per_call(f, calls, cpu);
  };
  for (int r = 0; r < rounds; ++r) {
    for (auto& c : cases) {
      // The side timed first after the previous shape's samples paid for the caches and the pool's
      // wake-up (5-12% on 1024-row shapes): every sample starts with an untimed call, and the order
      // of the three sides rotates from round to round.
      for (int k = 0; k < 3; ++k) {
        switch ((k + r) % 3) {
          case 0:
            c->run_weft();
            c->weft_s.push_back(time_calls([&] { c->run_weft(); }, c->weft_calls, &c->weft_cpu));
            break;
          case 1:
            c->run_before();
            c->before_s.push_back(time_calls([&] { c->run_before(); }, c->before_calls, &c->before_cpu));
            break;
          default:
            c->run_onednn();
            c->onednn_s.push_back(time_calls([&] { c->run_onednn(); }, c->onednn_calls, &c->onednn_cpu));
        }
      }
    }
    if (torch) torch = torch_round(cases, torch_version, torch_why_not);
  }
  const std::string load_after = load_average();

  fmt::print(
      "\nGFLOP/s, median (best) of {} rounds, {} threads each; load average before {}, after {};\n"
      "[GFLOP per CPU-second, median: the work each side did, what a loaded machine distorts least];\n"
      "ratios of the medians, wall [CPU] (above 1: Weft is faster); before = the GEMM before the large-product\n"
      "work (each task packing its own B, element by element); openblas = PyTorch {} (torch.matmul(a, b, out=c))\n",
      rounds, weft::ThreadPool::global().num_threads(), load_before, load_after,
      torch_version.empty() ? "(missing)" : torch_version);
  fmt::print("{:<28} {:>23} {:>23} {:>23} {:>23} {:>12} {:>12} {:>12}\n", "shape", "weft", "before", "onednn",
             "openblas", "weft/openblas", "before/openblas", "weft/onednn");
  for (auto& c : cases) {
    auto gflops = [&](double seconds) { return c->shape.flops() / seconds / 1e9; };
    auto column = [&](const std::vector<double>& s, const std::vector<double>& cpu) {
      if (s.empty()) return fmt::format("{:>23}", "-");
      return fmt::format("{:>6.1f} ({:>5.1f}) [{:>5.1f}]", gflops(median(s)),
                         gflops(*std::min_element(s.begin(), s.end())), gflops(median(cpu)));
    };
    // The peer's time over ours: wall [CPU].
    auto ratio = [&](const std::vector<double>& ours, const std::vector<double>& ours_cpu,
                     const std::vector<double>& peer, const std::vector<double>& peer_cpu) {
      if (peer.empty()) return fmt::format("{:>12}", "-");
      return fmt::format("{:>5.2f} [{:>4.2f}]", median(peer) / median(ours), median(peer_cpu) / median(ours_cpu));
    };
    fmt::print("matmul {:<21} {} {} {} {} {:>12} {:>12} {:>12}\n", c->shape.str(), column(c->weft_s, c->weft_cpu),
               column(c->before_s, c->before_cpu), column(c->onednn_s, c->onednn_cpu), column(c->torch_s, c->torch_cpu),
               ratio(c->weft_s, c->weft_cpu, c->torch_s, c->torch_cpu),
               ratio(c->before_s, c->before_cpu, c->torch_s, c->torch_cpu),
               ratio(c->weft_s, c->weft_cpu, c->onednn_s, c->onednn_cpu));
  }
  if (!torch_why_not.empty()) fmt::print("(no PyTorch peer: {})\n", torch_why_not);
  return 0;
}
