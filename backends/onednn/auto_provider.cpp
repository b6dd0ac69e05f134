/** \file
 * The "auto" backend: per call, the faster of oneDNN's primitive and LLVM-generated code, measured.
 *
 * For each call both providers are asked for a kernel. When only one gives one, it runs the call;
 * when neither does, the interpreter does (the chain is [auto, interp]). When both do, each kernel
 * runs on the same made-up operands at the call's planning sizes (every symbol at its bound, capped
 * at 4096; 64 when unbounded) under the pool the executable will use, in turn (time_kernels), and
 * the faster is kept — oneDNN only when it is more than 10% faster (kOnednnMargin). The compile report (`weft-dump
 * --compile --backend auto`) names the provider kept and both times, so a choice can be checked.
 *
 * The measured pair is kept with the JIT's compile cache (backends/llvm/jit_disk_cache.h), keyed by
 * the call (its region's body as text, its operands' types), the timing sizes, the pool's size, the
 * host CPU and this build: a later compile of the same call on the same machine reads the choice
 * instead of timing again (the report says so), and WEFT_JIT_CACHE=off turns that off too.
 */
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <tuple>
#include <vector>

#include "backends/interp/interpreter.h"
#include "backends/onednn/onednn_backend.h"
#include "backends/onednn/rnn_cells.h"
#include "backends/onednn/rnn_layer.h"
#include "ir/dtype.h"
#include "ir/graph.h"
#include "ir/ops.h"
#include "ir/text.h"
#include "runtime/tensor.h"
#include "runtime/thread_pool.h"

#ifdef WEFT_HAVE_LLVM
#include "backends/llvm/jit.h"
#include "backends/llvm/jit_disk_cache.h"
#include "backends/llvm/llvm_backend.h"
#endif

namespace weft {

namespace {

using Clock = std::chrono::steady_clock;

SymbolBindings timing_sizes(const std::vector<SymbolDecl>& symbols) {
  SymbolBindings sizes;
  for (const SymbolDecl& s : symbols) sizes.emplace(s.name, s.bound ? std::min<int64_t>(*s.bound, 4096) : 64);
  return sizes;
}

/// oneDNN is kept only when it is faster than LLVM-generated code by more than this fraction: a
/// near-tie goes to generated code. On a loaded 2-core machine two timings of one kernel differ by
/// more than 5%, and the isolated timing misses what a oneDNN call costs inside a program (its
/// OpenMP team woken for it, Weft's pool woken after it): measured on the benchmark's LSTM train
/// step, a recurrent product that timed as a tie ran 1.5x slower on oneDNN (docs/onednn-backend.md).
constexpr double kOnednnMargin = 0.10;

/// Two runners' times in seconds (each runner runs once and returns its seconds): one warm-up run
/// each, then runs in turn (oneDNN, LLVM, oneDNN, ...) so that both see the same machine state —
/// at least `min_runs` of each, more until each has run for `enough` seconds, at most 50 — and the
/// median run of each. Not the best run: a primitive waits at its end for every thread of oneDNN's
/// OpenMP team, which sleeps between calls, so on a busy machine a late wake-up costs it more than
/// Weft's pool (whose caller takes the work a late worker has not started); the best run hides
/// that, the median counts it as the program will meet it.
std::pair<double, double> time_in_turn(const std::function<double()>& onednn, const std::function<double()>& llvm,
                                       int min_runs, double enough) {
  onednn();
  llvm();
  std::vector<double> t_onednn, t_llvm;
  double total_onednn = 0, total_llvm = 0;
  for (int i = 0; i < 50 && (i < min_runs || std::min(total_onednn, total_llvm) < enough); ++i) {
    t_onednn.push_back(onednn());
    t_llvm.push_back(llvm());
    total_onednn += t_onednn.back();
    total_llvm += t_llvm.back();
  }
  auto median = [](std::vector<double>& v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  return {median(t_onednn), median(t_llvm)};
}

/// Two kernels of a call, timed in turn (time_in_turn: at least 5 runs each, until 20 ms).
/// `excluded`, when given, says how many of the seconds of oneDNN's last run to leave out.
std::pair<double, double> time_kernels(const CallKernel& onednn, const CallKernel& llvm,
                                       std::span<void* const> buffers, const SymbolBindings& sizes,
                                       const std::function<double()>& excluded = {}) {
  auto once = [&](const CallKernel& k) {
    auto start = Clock::now();
    k.run(buffers, sizes);
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (&k == &onednn && excluded) seconds -= excluded();
    return seconds;
  };
  return time_in_turn([&] { return once(onednn); }, [&] { return once(llvm); }, 5, 0.020);
}

#ifdef WEFT_HAVE_LLVM
/// Everything the measured times depend on (see the file comment).
std::string timing_key(const KernelCall& call, const SymbolBindings& sizes, int threads) {
  std::string key = "weft auto-provider timing 4\nbuild " __DATE__ " " __TIME__ "\n";
  key += fmt::format("host {} {}\nthreads {}\nop {}\n", llvm_backend::host_target().cpu,
                     llvm_backend::host_target().features, threads, op_name(call.op));
  key += print_graph(call.body ? *call.body : wrap_call(call, {}));  // a lone op as a one-node graph
  for (const BufferRef& ref : call.operands)
    key += fmt::format("operand {} {}\n", ref.type.str(), static_cast<int>(ref.access));
  for (const auto& [name, value] : sizes) key += fmt::format("size {}={}\n", name, value);
  return key;
}
#endif

#ifdef WEFT_HAVE_LLVM
/// Inputs for timing a whole graph at `sizes`: floats in [-1, 1), integers (a recurrent layer's
/// lengths, the only integer operand of a training pair) the whole sequence, the first input's dim 1.
std::vector<Tensor> timing_inputs(const Graph& g, const SymbolBindings& sizes) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<Tensor> inputs;
  for (const InputDecl& in : g.inputs()) {
    const TensorType& t = g.type(in.value);
    Tensor v = Tensor::zeros(t.dtype, evaluate_shape(t.shape, sizes));
    if (t.dtype == DType::f32)
      for (int64_t i = 0; i < v.numel(); ++i) v.data<float>()[i] = u(rng);
    const int64_t steps = inputs.empty() || inputs[0].shape().size() < 2 ? 0 : inputs[0].shape()[1];
    if (t.dtype == DType::i64)
      for (int64_t i = 0; i < v.numel(); ++i) v.data<int64_t>()[i] = steps;
    if (t.dtype == DType::i32)
      for (int64_t i = 0; i < v.numel(); ++i) v.data<int32_t>()[i] = static_cast<int32_t>(steps);
    inputs.push_back(std::move(v));
  }
  return inputs;
}

/// How a training recurrent layer is run: whole on oneDNN's primitives or decomposed, and the
/// times that chose it.
struct PairChoice {
  bool keep = true;
  double t_onednn = 0, t_llvm = 0;
};

/// The choice for `node`, one of a training recurrent layer's two ops (its forward and the backward
/// that reads it: onednn::training_pair); nullopt when it is not one of such a pair (an inference
/// layer stays whole: its kernel is chosen per call). Per call, auto can only choose between the
/// primitive and the layer's decomposition as a graph of its own, whose backward recomputes the
/// forward; decomposed in the program instead, the backward shares the forward's scan (what the llvm
/// backend runs). So the pair is timed both ways before lowering — compiled by the onednn chain
/// (both primitives) and by [llvm, interp] (decomposed), at the timing sizes, under the global
/// pool, in turn (time_in_turn: at least 3 runs each, until 0.2 s) — and stays whole only when oneDNN is more than the margin
/// faster. The choice is kept per process and on disk with the JIT's cache.
std::optional<PairChoice> training_layer_choice(const Graph& g, const Node& node) {
  std::optional<Graph> pair = onednn::training_pair(g, node);
  if (!pair) return std::nullopt;
  const int threads = ThreadPool::global().num_threads();
  const SymbolBindings sizes = timing_sizes(pair->symbols());
  std::string key = "weft auto-provider training pair 1\nbuild " __DATE__ " " __TIME__ "\n";
  key += fmt::format("host {} {}\nthreads {}\n", llvm_backend::host_target().cpu, llvm_backend::host_target().features,
                     threads);
  for (const auto& [name, value] : sizes) key += fmt::format("size {}={}\n", name, value);
  key += print_graph(*pair);
  static std::mutex mutex;
  static std::map<std::string, PairChoice> decided;
  std::lock_guard lock(mutex);
  if (auto it = decided.find(key); it != decided.end()) return it->second;
  llvm_backend::JitDiskCache& disk = llvm_backend::JitDiskCache::global();
  PairChoice choice;
  std::optional<std::string> entry = disk.enabled() ? disk.load(key) : std::nullopt;
  if (!entry || std::sscanf(entry->c_str(), "%lf %lf", &choice.t_onednn, &choice.t_llvm) != 2) {
    std::unique_ptr<Executable> on_onednn = make_onednn_backend()->compile(*pair);
    ProviderChain llvm_chain("llvm", {llvm_provider(), interp_provider()});
    std::unique_ptr<Executable> on_llvm = llvm_chain.compile(*pair);
    const std::vector<Tensor> inputs = timing_inputs(*pair, sizes);
    auto once = [&](Executable& exe) {
      auto start = Clock::now();
      exe.run(inputs);
      return std::chrono::duration<double>(Clock::now() - start).count();
    };
    std::tie(choice.t_onednn, choice.t_llvm) =
        time_in_turn([&] { return once(*on_onednn); }, [&] { return once(*on_llvm); }, 3, 0.2);
    if (disk.enabled()) disk.store(key, fmt::format("{:.9e} {:.9e}", choice.t_onednn, choice.t_llvm));
  }
  choice.keep = choice.t_onednn * (1 + kOnednnMargin) < choice.t_llvm;
  return decided[key] = choice;
}
#endif

class AutoProvider : public KernelProvider {
 public:
  std::string name() const override { return "auto"; }

  // As the oneDNN provider: an f32 recurrent layer and its gradient stay whole
  // (backends/onednn/rnn_layer.h) — a training pair only when oneDNN runs it faster (training_layer_choice).
  LoweringOptions lowering_policy() const override {
    LoweringOptions options;
#ifdef WEFT_HAVE_LLVM
    options.keep_composites = [](const Graph& g, const Node& node) {
      if (!onednn::keeps_recurrent_layer(g, node)) return false;
      std::optional<PairChoice> choice = training_layer_choice(g, node);
      return !choice || choice->keep;
    };
#else
    options.keep_composites = onednn::keeps_recurrent_layer;
#endif
    return options;
  }

#ifdef WEFT_HAVE_LLVM
  // Each training recurrent layer's choice (made, and kept, while the graph was lowered).
  std::vector<std::string> lowering_notes(const Graph& graph) const override {
    std::vector<std::string> notes;
    for (const Node& node : graph.nodes()) {
      if (!onednn::keeps_recurrent_layer(graph, node) || onednn::cell_spec(node.op).forward != node.op) continue;
      if (std::optional<PairChoice> c = training_layer_choice(graph, node))
        notes.push_back(fmt::format("{} {} (x {}) and its backward: {}: onednn {:.4f} ms, llvm (decomposed) {:.4f} ms{}",
                                    op_name(node.op), node.scope.empty() ? "-" : node.scope,
                                    graph.type(node.operands[0]).str(),
                                    c->keep ? "kept whole for oneDNN's primitives" : "decomposed",
                                    c->t_onednn * 1e3, c->t_llvm * 1e3,
                                    c->keep || c->t_onednn >= c->t_llvm ? "" : " (oneDNN less than 10% faster)"));
    }
    return notes;
  }
#endif

  std::optional<ProvidedKernel> kernel_for(const KernelCall& call, const ProviderContext& context,
                                           std::string* why) const override {
    std::string why_onednn, why_llvm = "this build has no LLVM backend";
    std::optional<ProvidedKernel> onednn, llvm;
    std::shared_ptr<onednn::LayerProbe> probe;
    if (onednn::is_recurrent_layer(call.op)) {
      onednn = onednn::recurrent_layer_kernel(call, context, &why_onednn, &probe);
      if (!onednn) why_onednn = "oneDNN: " + why_onednn;
      // The LLVM provider runs a layer as its decomposition (the projection and the scan).
      llvm = onednn::decomposed_layer_kernel(call, context);
    } else {
      onednn = onednn_provider()->kernel_for(call, context, &why_onednn);
#ifdef WEFT_HAVE_LLVM
      llvm = llvm_provider()->kernel_for(call, context, &why_llvm);
#endif
    }
    if (!onednn && !llvm) {
      *why = fmt::format("{}; llvm: {}", why_onednn, why_llvm);
      return std::nullopt;
    }
    if (!onednn || !llvm) {
      ProvidedKernel& only = onednn ? *onednn : *llvm;
      only.note = onednn ? fmt::format("{}; llvm: {}", only.note, why_llvm) : why_onednn;
      return std::move(only);
    }
    // Both run it: measure, under the pool the executable will run on.
    const SymbolBindings sizes = timing_sizes(context.symbols);
    std::unique_ptr<ThreadPool> own;
    ThreadPool* pool = &ThreadPool::global();
    if (context.options.num_threads != 0 && context.options.num_threads != pool->num_threads())
      pool = (own = std::make_unique<ThreadPool>(context.options.num_threads)).get();
    double t_onednn = 0, t_llvm = 0;
    bool cached = false;
#ifdef WEFT_HAVE_LLVM
    llvm_backend::JitDiskCache& disk = llvm_backend::JitDiskCache::global();
    const std::string key = timing_key(call, sizes, pool->num_threads());
    if (std::optional<std::string> entry = disk.enabled() ? disk.load(key) : std::nullopt)
      cached = std::sscanf(entry->c_str(), "%lf %lf", &t_onednn, &t_llvm) == 2;
#endif
    if (!cached) {
      AutoTimingOperands buffers(call, sizes);
      ThreadPoolScope scope(*pool);
      // On made-up operands a layer's backward (lstm_backward, ...) finds no workspace and runs the forward first; in the
      // program it uses its forward's (when that ran on oneDNN). The decomposition recomputes the
      // forward either way: it is a graph of its own here, not merged with the forward's.
      std::tie(t_onednn, t_llvm) =
          time_kernels(onednn->kernel, llvm->kernel, buffers.pointers(), sizes,
                       probe ? std::function<double()>([&] { return probe->recompute_seconds.load(); })
                             : std::function<double()>());
#ifdef WEFT_HAVE_LLVM
      if (disk.enabled()) disk.store(key, fmt::format("{:.9e} {:.9e}", t_onednn, t_llvm));
#endif
    }
    // A training forward of a recurrent layer (`saved`) is kept on oneDNN unless LLVM is more than the
    // margin faster: its backward is timed above as if it had the forward's workspace, which only a
    // forward on oneDNN leaves (else the backward runs the forward again: 0.76x LLVM-only when the
    // forward went to LLVM by a 7% tie and the backward to oneDNN).
    const bool paired_forward = onednn::is_recurrent_layer(call.op) && call.attrs.has("saved") &&
                                call.attrs.get_bool("saved");
    const bool pick_onednn = paired_forward ? t_llvm * (1 + kOnednnMargin) >= t_onednn
                                            : t_onednn * (1 + kOnednnMargin) < t_llvm;
    ProvidedKernel& picked = pick_onednn ? *onednn : *llvm;
    const char* rule = "";
    if (paired_forward && pick_onednn && t_llvm < t_onednn)
      rule = " (a layer's training forward stays with its backward's workspace unless LLVM is 10% faster)";
    else if (!pick_onednn && t_onednn < t_llvm)
      rule = " (oneDNN less than 10% faster: llvm kept)";
    picked.note = fmt::format("{}: onednn {:.4f} ms ({}), llvm {:.4f} ms{}", cached ? "measured before" : "measured",
                              t_onednn * 1e3, onednn->note, t_llvm * 1e3, rule);
    picked.compile_seconds = onednn->compile_seconds + llvm->compile_seconds;
    return std::move(picked);
  }
};

}  // namespace

AutoTimingOperands::AutoTimingOperands(const KernelCall& call, const SymbolBindings& sizes) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  for (const BufferRef& ref : call.operands) {
    int64_t n = 1;
    for (int64_t d : evaluate_shape(ref.type.shape, sizes)) n *= d;
    const size_t bytes = static_cast<size_t>(n) * dtype_size(ref.type.dtype);
    const size_t padded = std::max<size_t>(64, (bytes + 63) / 64 * 64);
    memory_.emplace_back(static_cast<std::byte*>(std::aligned_alloc(64, padded)), &std::free);
    std::memset(memory_.back().get(), 0, padded);
    if (ref.type.dtype == DType::f32)
      for (int64_t i = 0; i < n; ++i) reinterpret_cast<float*>(memory_.back().get())[i] = u(rng);
    pointers_.push_back(memory_.back().get());
  }
  // A recurrent layer's lengths say every row runs the whole sequence: with lengths 0 oneDNN's
  // kernel would run the decomposition (rows shorter than the sequence) and the two timings would
  // both be of generated code.
  if (std::optional<int> k = onednn::lengths_operand(call)) {
    const std::vector<int64_t> x = evaluate_shape(call.operands[0].type.shape, sizes);
    const BufferRef& ref = call.operands[static_cast<size_t>(*k)];
    const int64_t rows = x[0], steps = x[1];
    for (int64_t b = 0; b < rows; ++b) {
      if (ref.type.dtype == DType::i64) static_cast<int64_t*>(pointers_[static_cast<size_t>(*k)])[b] = steps;
      else if (ref.type.dtype == DType::i32)
        static_cast<int32_t*>(pointers_[static_cast<size_t>(*k)])[b] = static_cast<int32_t>(steps);
    }
  }
}

std::shared_ptr<const KernelProvider> auto_provider() {
  static const auto provider = std::make_shared<const AutoProvider>();
  return provider;
}

std::unique_ptr<Backend> make_auto_backend() {
  return std::make_unique<ProviderChain>(
      "auto", std::vector<std::shared_ptr<const KernelProvider>>{auto_provider(), interp_provider()});
}

}  // namespace weft
