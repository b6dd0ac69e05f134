/** \file
 * Memory-bound row reductions against a plain copy: the LLVM backend's fused layer_norm (last
 * axis, with gamma and beta) and softmax (last axis), in GB/s, beside the fastest copy of the same
 * tensor measured in the same run.
 *
 * A fused row reduction reads its input once from memory and writes its output once, so a copy
 * of the same bytes is its ceiling; the ratio says how close the generated code comes. Two copies
 * are measured and the faster is each ratio's baseline (the output names it):
 *  - copy_memcpy: glibc's memcpy, one contiguous chunk per task, 4 tasks per thread, on Weft's
 *    thread pool (the one generated code runs on);
 *  - copy_llvm: the LLVM backend's own loop region for y = -x (a load and a store per element).
 * Bytes counted: the input read plus the output written, 4 each per element. gamma and beta (one
 * row each, read from cache for every row) are not counted.
 *
 * Each op is compiled by `LlvmBackend` from a graph with symbolic dims (f32[R, C]); the program
 * checks that it became one generated region, then calls that region's compiled function directly
 * on buffers allocated here. `Executable::run` copies its outputs out of its arena into fresh
 * tensors, a second pass over the output that is not the generated code: its GB/s is printed
 * apart ("via run()"), not in the ratios. Two sizes: 8192 × 2048 (64 MiB in and 64 MiB out, past a
 * 32 MiB last-level cache) and 1024 × 512 (2 MiB each: cache-resident).
 *
 * The machine may be shared, so kernels alternate: every round times one sample of each (a batch
 * of calls lasting at least 20 ms), and each kernel's best and median sample are reported;
 * contention then hits all kernels alike. Two threads (WEFT_NUM_THREADS, default 2 here, as in the
 * other benchmarks).
 *
 *   bench_bandwidth [--rounds=N]   (other flags, e.g. Google Benchmark's, are ignored)
 */
#include <fmt/format.h>

#ifdef WEFT_BENCH_ONEDNN
#include <dnnl.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "backends/interp/interpreter.h"
#include "backends/llvm/host_cache.h"
#include "backends/llvm/jit.h"
#include "backends/llvm/llvm_backend.h"
#include "backends/llvm/node_region.h"
#include "passes/pipeline.h"
#include "backends/llvm/region_codegen.h"
#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "bench/bench_common.h"
#include "runtime/thread_pool.h"

namespace {

using Clock = std::chrono::steady_clock;
using weft::llvm_backend::RegionFunction;

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float, FreeDeleter>;

/// A 64-byte-aligned buffer of `n` floats uniform in [-4, 4), every page touched.
Buffer make_buffer(int64_t n, uint32_t seed) {
  size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
  Buffer b(static_cast<float*>(std::aligned_alloc(64, bytes)));
  if (!b) throw std::bad_alloc();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
  for (int64_t i = 0; i < n; ++i) b.get()[i] = dist(rng);
  return b;
}

weft::Tensor tensor_of(const float* p, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return weft::Tensor::from_bytes(weft::DType::f32, std::move(shape),
                                  {reinterpret_cast<const std::byte*>(p), static_cast<size_t>(n) * sizeof(float)});
}

/// One op compiled by the LLVM backend, reduced to its single region's function.
struct Compiled {
  weft::Graph graph;
  std::unique_ptr<weft::CompiledExecutable> exe;
  std::string kind;  // the region's
  RegionFunction function = nullptr;
  std::vector<std::string> symbols;   // the order of the function's dims argument
  std::vector<std::string> operands;  // graph input names, in the region's buffer order
};

Compiled compile(weft::Graph g, const char* want_kind) {
  Compiled c;
  c.graph = std::move(g);
  c.exe = weft::LlvmBackend().compile_llvm(c.graph);
  const weft::CompileStats& s = c.exe->stats();
  if (s.nodes.size() != 1 || s.compiled != 1 || s.nodes[0].op != want_kind)
    throw std::runtime_error(
        fmt::format("{} did not become one generated {} region:\n{}", c.graph.name(), want_kind, s.report()));
  c.kind = s.nodes[0].op;
  const weft::Graph& fused = c.exe->compiled_graph();
  std::string why;
  auto region = weft::llvm_backend::call_region(weft::plan_program(fused).calls[0], &why);
  if (!region) throw std::runtime_error(c.graph.name() + ": " + why);
  // The executable compiled this body already: a cache hit returning the function it runs.
  auto code = weft::llvm_backend::compile_region(region->body, region->kind);
  if (!code.code) throw std::runtime_error(c.graph.name() + ": " + code.unsupported);
  c.function = code.code->function;
  c.symbols = code.code->symbols;
  for (weft::ValueId v : fused.nodes()[0].operands) {
    std::string name;
    for (const weft::InputDecl& in : fused.inputs())
      if (in.value == v) name = in.name;
    if (name.empty()) throw std::runtime_error(c.graph.name() + ": a region operand is not a graph input");
    c.operands.push_back(name);
  }
  return c;
}

weft::Graph layer_norm_graph() {
  weft::dsl::Builder b("layer_norm");
  auto x = b.input("x", "f32[R<=8192, C<=2048]");
  auto gamma = b.input("gamma", "f32[C]");
  auto beta = b.input("beta", "f32[C]");
  b.output("y", weft::dsl::layer_norm(x, gamma, beta));
  return b.finish();
}

weft::Graph softmax_graph() {
  weft::dsl::Builder b("softmax");
  auto x = b.input("x", "f32[R<=8192, C<=2048]");
  b.output("y", weft::dsl::softmax(x));
  return b.finish();
}

weft::Graph exp_graph() {
  weft::dsl::Builder b("exp");
  auto x = b.input("x", "f32[R<=8192, C<=2048]");
  b.output("y", weft::dsl::exp(x));
  return b.finish();
}

weft::Graph neg_graph() {
  weft::dsl::Builder b("copy_llvm");
  auto x = b.input("x", "f32[R<=8192, C<=2048]");
  b.output("y", -x);
  return b.finish();
}

/// One tensor size and its buffers.
struct Size {
  int64_t rows, cols;
  Buffer x, y, gamma, beta;
  int64_t elements() const { return rows * cols; }
  double bytes() const { return 2.0 * double(elements()) * sizeof(float); }
};

void call_region(const Compiled& c, Size& s) {
  std::vector<void*> buffers;
  for (const std::string& name : c.operands) {
    if (name == "x")
      buffers.push_back(s.x.get());
    else if (name == "gamma")
      buffers.push_back(s.gamma.get());
    else if (name == "beta")
      buffers.push_back(s.beta.get());
    else
      throw std::runtime_error("unexpected region operand " + name);
  }
  buffers.push_back(s.y.get());
  std::vector<int64_t> dims;
  for (const std::string& sym : c.symbols) dims.push_back(sym == "R" ? s.rows : s.cols);
  c.function(buffers.data(), dims.data());
}

/// x copied to y in 4 × threads contiguous chunks on the global pool (the task count the
/// generated code uses).
void pool_memcpy(Size& s) {
  weft::ThreadPool& pool = weft::ThreadPool::global();
  const int64_t n = s.elements();
  const int64_t tasks = std::min<int64_t>(4 * pool.num_threads(), n);
  struct Ctx {
    const float* x;
    float* y;
    int64_t n, per;
  } ctx{s.x.get(), s.y.get(), n, (n + tasks - 1) / tasks};
  pool.parallel_for(tasks, &ctx, [](void* p, int64_t t) {
    auto* c = static_cast<Ctx*>(p);
    int64_t begin = t * c->per, end = std::min(c->n, begin + c->per);
    if (begin < end) std::memcpy(c->y + begin, c->x + begin, static_cast<size_t>(end - begin) * sizeof(float));
  });
}

#ifdef WEFT_BENCH_ONEDNN
/// oneDNN's layer normalization (with scale and shift) and softmax over the last axis, on the same
/// buffers: the peer a Weft user would otherwise call (bench_matmul's GEMM peer too). Each is one
/// primitive created once and executed per call.
class OneDnn {
 public:
  explicit OneDnn(Size& s) : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    dnnl::memory::desc data({s.rows, s.cols}, dt::f32, tag::ab);
    dnnl::memory::desc row({s.cols}, dt::f32, tag::a);
    x_ = dnnl::memory(data, engine_, s.x.get());
    y_ = dnnl::memory(data, engine_, s.y.get());
    gamma_ = dnnl::memory(row, engine_, s.gamma.get());
    beta_ = dnnl::memory(row, engine_, s.beta.get());
    auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
    dnnl::layer_normalization_forward::desc ln(dnnl::prop_kind::forward_inference, data, 1e-5f, flags);
    layer_norm_ = dnnl::layer_normalization_forward(dnnl::layer_normalization_forward::primitive_desc(ln, engine_));
    dnnl::softmax_forward::desc sm(dnnl::prop_kind::forward_inference, data, 1);
    softmax_ = dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(sm, engine_));
  }
  void layer_norm() {
    layer_norm_.execute(stream_, {{DNNL_ARG_SRC, x_}, {DNNL_ARG_DST, y_}, {DNNL_ARG_SCALE, gamma_}, {DNNL_ARG_SHIFT, beta_}});
    stream_.wait();
  }
  void softmax() {
    softmax_.execute(stream_, {{DNNL_ARG_SRC, x_}, {DNNL_ARG_DST, y_}});
    stream_.wait();
  }

 private:
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::memory x_, y_, gamma_, beta_;
  dnnl::layer_normalization_forward layer_norm_;
  dnnl::softmax_forward softmax_;
};
#endif

/// PyTorch's layer_norm and softmax on a tensor of the same size (bench/torch_bandwidth.py, run
/// by the Python that has torch: $WEFT_BENCH_PYTHON, else /usr/bin/python3 with Debian's
/// python3-torch): seconds per call, best and median, by op; empty when it is not available.
struct TorchPeer {
  std::map<std::string, std::pair<double, double>> seconds;
  std::string version, why_not;
};

TorchPeer run_torch_peer(int64_t rows, int64_t cols, int rounds) {
  TorchPeer peer;
  const char* python = std::getenv("WEFT_BENCH_PYTHON");
  std::string command = fmt::format("'{}' '{}/bench/torch_bandwidth.py' {} {} {} 2>&1", python ? python : "/usr/bin/python3",
                                    WEFT_SOURCE_DIR, rows, cols, rounds);
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) {
    peer.why_not = "cannot start " + command;
    return peer;
  }
  char line[512];
  std::string all;
  while (std::fgets(line, sizeof line, pipe)) {
    all += line;
    char name[64];
    double best = 0, median = 0;
    if (std::strncmp(line, "torch ", 6) == 0)
      peer.version = std::string(line + 6, std::strcspn(line + 6, "\n"));
    else if (std::strncmp(line, "unavailable ", 12) == 0)
      peer.why_not = std::string(line + 12, std::strcspn(line + 12, "\n"));
    else if (std::sscanf(line, "%63s %lf %lf", name, &best, &median) == 3)
      peer.seconds[name] = {best, median};
  }
  int status = pclose(pipe);
  if (peer.seconds.empty() && peer.why_not.empty())
    peer.why_not = fmt::format("{} exited with {}: {}", command, status, all.substr(0, 300));
  return peer;
}

/// A kernel and its samples (seconds per call) at one size.
struct Kernel {
  std::string name;
  std::function<void()> call;
  int64_t calls_per_sample = 1;
  std::vector<double> samples;

  double best() const { return *std::min_element(samples.begin(), samples.end()); }
  double median() const {
    std::vector<double> t = samples;
    std::sort(t.begin(), t.end());
    return t.size() % 2 ? t[t.size() / 2] : 0.5 * (t[t.size() / 2 - 1] + t[t.size() / 2]);
  }
};

double time_calls(Kernel& k, int64_t calls) {
  auto start = Clock::now();
  for (int64_t i = 0; i < calls; ++i) k.call();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Largest |a - b| over the largest |b|, for the first `n` floats.
double relative_difference(const float* a, const float* b, int64_t n) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
    scale = std::max(scale, double(std::fabs(b[i])));
  }
  return diff / std::max(scale, 1e-30);
}

/// The region called directly must give run()'s result exactly (same code: checks the buffer
/// wiring), and its first rows the interpreter's up to rounding (printed).
void check_results(Compiled& c, Size& s) {
  std::vector<weft::Tensor> inputs = {tensor_of(s.x.get(), {s.rows, s.cols})};
  if (c.graph.inputs().size() == 3)
    inputs = {inputs[0], tensor_of(s.gamma.get(), {s.cols}), tensor_of(s.beta.get(), {s.cols})};
  call_region(c, s);
  weft::Tensor want = c.exe->run(inputs)[0];
  if (std::memcmp(want.raw(), s.y.get(), want.nbytes()) != 0)
    throw std::runtime_error(c.graph.name() + ": the region called directly disagrees with run()");
  const int64_t rows = std::min<int64_t>(s.rows, 16);
  inputs[0] = tensor_of(s.x.get(), {rows, s.cols});
  weft::Tensor oracle = weft::InterpBackend().compile(c.graph)->run(inputs)[0];
  fmt::print("  {:<11} first {} rows vs the interpreter: max relative difference {:.1e}\n", c.graph.name(), rows,
             relative_difference(s.y.get(), oracle.data<float>(), rows * s.cols));
}

}  // namespace

int main(int argc, char** argv) {
  weft::bench::run_with_peer_threads(argv);  // Weft's pool reads WEFT_NUM_THREADS at its first use
  setenv("WEFT_NUM_THREADS", "2", 0);
  const int rounds = weft::bench::take_rounds(argc, argv, 15);
  const int threads = weft::ThreadPool::global().num_threads();
  const int64_t llc = weft::llvm_backend::last_level_cache_bytes();
  fmt::print("bench_bandwidth: the LLVM backend's fused layer_norm and softmax against a copy of the same tensor\n");
  fmt::print("host: {}; {} threads (WEFT_NUM_THREADS); last-level cache {} MiB\n",
             weft::llvm_backend::host_target().describe(), threads, llc >> 20);

  Compiled layer_norm, softmax, neg, expo;
  try {
    layer_norm = compile(layer_norm_graph(), "reduction");
    softmax = compile(softmax_graph(), "reduction");
    neg = compile(neg_graph(), "loop");
    expo = compile(exp_graph(), "loop");
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_bandwidth: {}\n", e.what());
    return 1;
  }
  fmt::print(
      "layer_norm and softmax each compiled to one generated reduction region, copy_llvm (y = -x) to one loop "
      "region\n");

  const std::vector<std::pair<int64_t, int64_t>> shapes = {{8192, 2048}, {1024, 512}};
  std::string torch_version;
  for (auto [rows, cols] : shapes) {
    Size s{rows,
           cols,
           make_buffer(rows * cols, 1),
           make_buffer(rows * cols, 2),
           make_buffer(cols, 3),
           make_buffer(cols, 4)};
    double mib = double(s.elements()) * sizeof(float) / (1 << 20);
    fmt::print("\n{} x {} f32: {:g} MiB in + {:g} MiB out ({} the {} MiB last-level cache)\n", rows, cols, mib, mib,
               s.bytes() > double(llc) ? "larger than" : "within", llc >> 20);
    try {
      check_results(layer_norm, s);
      check_results(softmax, s);
    } catch (const std::exception& e) {
      fmt::print(stderr, "bench_bandwidth: {}\n", e.what());
      return 1;
    }
    std::vector<weft::Tensor> ln_inputs = {tensor_of(s.x.get(), {rows, cols}), tensor_of(s.gamma.get(), {cols}),
                                           tensor_of(s.beta.get(), {cols})};
    std::vector<weft::Tensor> sm_inputs = {ln_inputs[0]};
    std::vector<Kernel> kernels;
    kernels.push_back({"copy_memcpy", [&] { pool_memcpy(s); }, 1, {}});
    kernels.push_back({"copy_llvm", [&] { call_region(neg, s); }, 1, {}});
    kernels.push_back({"layer_norm", [&] { call_region(layer_norm, s); }, 1, {}});
    kernels.push_back({"softmax", [&] { call_region(softmax, s); }, 1, {}});
    kernels.push_back({"exp", [&] { call_region(expo, s); }, 1, {}});
#ifdef WEFT_BENCH_ONEDNN
    OneDnn peer(s);
    kernels.push_back({"onednn layer_norm", [&] { peer.layer_norm(); }, 1, {}});
    kernels.push_back({"onednn softmax", [&] { peer.softmax(); }, 1, {}});
#endif
    kernels.push_back({"layer_norm via run()", [&] { layer_norm.exe->run(ln_inputs); }, 1, {}});
    kernels.push_back({"softmax via run()", [&] { softmax.exe->run(sm_inputs); }, 1, {}});
    for (Kernel& k : kernels) {  // warm up (page faults, arenas), then size the samples
      time_calls(k, 1);
      double once = time_calls(k, 1);
      k.calls_per_sample = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(0.02 / std::max(once, 1e-9))));
    }
    for (int r = 0; r < rounds; ++r)
      for (Kernel& k : kernels) k.samples.push_back(time_calls(k, k.calls_per_sample) / double(k.calls_per_sample));

    auto gbps = [&](double seconds) { return s.bytes() / seconds / 1e9; };
    auto find = [&](const std::string& name) -> const Kernel* {
      for (const Kernel& k : kernels)
        if (k.name == name) return &k;
      return nullptr;
    };
    const Kernel& base = kernels[0].best() <= kernels[1].best() ? kernels[0] : kernels[1];
    // Best against best, and the median of each round's ratio (samples taken moments apart).
    auto ratio = [](const Kernel& num, const Kernel& den) {
      Kernel per_round;
      for (size_t r = 0; r < den.samples.size(); ++r) per_round.samples.push_back(num.samples[r] / den.samples[r]);
      return fmt::format("{:.2f} ({:.2f})", num.best() / den.best(), per_round.median());
    };
    TorchPeer torch = run_torch_peer(rows, cols, rounds);
    if (!torch.version.empty()) torch_version = torch.version;
    fmt::print("  {} rounds; GB/s = (input read + output written) / time: best (median) of the rounds\n", rounds);
    for (const Kernel& k : kernels) {
      std::string line = fmt::format("  {:<21} {:6.1f} ({:6.1f}) GB/s", k.name, gbps(k.best()), gbps(k.median()));
      if (k.name == "layer_norm" || k.name == "softmax" || k.name == "exp") {
        line += fmt::format("   {}/copy = {}", k.name, ratio(base, k));
        if (const Kernel* peer = find("onednn " + k.name)) line += fmt::format("   weft/onednn = {}", ratio(*peer, k));
      }
      const std::string via = " via run()";
      if (k.name.size() > via.size() && k.name.ends_with(via)) {
        auto it = torch.seconds.find(k.name.substr(0, k.name.size() - via.size()));
        if (it != torch.seconds.end())
          line += fmt::format("   weft/torch = {:.2f} ({:.2f})", it->second.first / k.best(), it->second.second / k.median());
      }
      if (&k == &base) line += "   <- baseline: the faster copy";
      fmt::print("{}\n", line);
    }
    for (const auto& [name, t] : torch.seconds)
      fmt::print("  {:<21} {:6.1f} ({:6.1f}) GB/s\n", "torch " + name, gbps(t.first), gbps(t.second));
    if (!torch.why_not.empty()) fmt::print("  (no PyTorch peer: {})\n", torch.why_not);
  }
  fmt::print(
      "\nop/copy = the copy's time over the op's, weft/onednn = oneDNN's time over Weft's (above 1: Weft is\n"
      "faster): best against best (the median of the rounds' ratios). The op is its generated region called\n"
      "directly; gamma and beta are not counted. exp (y = exp(x), a loop region) is the floor under softmax,\n"
      "which evaluates one exp per element and more: where exp/copy is low, the core's arithmetic, not\n"
      "memory, bounds softmax. \"via run()\" adds what Executable::run does around the region (a fresh\n"
      "output each call), and is compared with PyTorch's torch.softmax / F.layer_norm called the same way\n"
      "(weft/torch: PyTorch's time over Weft's; {}).\n",
      torch_version.empty() ? std::string("PyTorch not found") : "PyTorch " + torch_version);
  return 0;
}
