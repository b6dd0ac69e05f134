/** \file
 * The "onednn" backend ([onednn, llvm, interp]) against the "llvm" one, in the same process, ratios
 * printed (docs/onednn-backend.md has the numbers):
 *
 *   bench_onednn [--rounds=N] [--report] [encoder] [lstm_train] [matmul] [mixed]   (matmul and mixed when none
 *                                                                         is named: `make bench`)
 *
 *  - encoder: the Transformer encoder layer forward (d512 h8 ff2048, B8 T128; bench/models.h), on
 *    llvm, onednn and auto (per call the faster of the two, measured when compiling), auto ÷ the
 *    best of the two printed;
 *  - lstm_train: the train step (Adam) of the LSTM encoder-decoder with additive attention (the
 *    benchmark's, bench/models.h, keys' projection hoisted) on the same three, the same ratio.
 *    `make bench` measures these two against the peers instead (bench/compare.py's encoder_layer
 *    and lstm_attn_hoisted, with a worker per backend), so that each runs once;
 *  - matmul: the products of that layer and of a small batch, with bias (and ReLU), one graph each;
 *  - mixed: one set of threads — a graph that alternates oneDNN products with loops oneDNN has no
 *    primitive for (sin, on the LLVM provider and Weft's pool), against its two parts run alone.
 *    With libgomp's workers spinning after each product the mixed graph pays for it; with them
 *    sleeping (OMP_WAIT_POLICY=PASSIVE, which the provider sets unless the user did) it costs no
 *    more than its parts. Run it with OMP_WAIT_POLICY=ACTIVE or GOMP_SPINCOUNT=300000 (libgomp's
 *    default when nothing is set) to see the difference.
 *
 * 2 threads unless WEFT_NUM_THREADS / OMP_NUM_THREADS say otherwise (bench_common.h). Each
 * measurement is the median over rounds of the mean of a few runs, the backends alternating.
 */
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/provider.h"
#include "bench/bench_common.h"
#include "bench/models.h"
#include "frontend/train_step.h"
#include "ir/text.h"
#include "passes/hoist_scan_invariants.h"
#include "runtime/tensor.h"

namespace {

/// --report: print auto's compile report (each call's choice and both times) after its workload.
bool print_report = false;

using weft::Graph;
using weft::Tensor;
using Clock = std::chrono::steady_clock;

std::vector<Tensor> random_inputs(const Graph& g, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<Tensor> out;
  for (const weft::InputDecl& in : g.inputs()) {
    const weft::TensorType& t = g.type(in.value);
    Tensor x = Tensor::zeros(t.dtype, weft::evaluate_shape(t.shape, {}));
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
    out.push_back(x);
  }
  return out;
}

std::unique_ptr<weft::CompiledExecutable> compile(const std::string& backend, const Graph& g) {
  auto b = weft::make_backend(backend);
  return dynamic_cast<const weft::ProviderChain&>(*b).compile_chain(g);
}

/// A workload timed as part of a round: `run` once per call.
struct Timed {
  std::string name;
  std::function<void()> run;
  std::vector<double> ms;  // per round, the mean of `reps` calls
};

/// Runs every workload once to warm up, then `rounds` rounds, each timing `reps` calls of each
/// workload in turn (so all see the same machine state); returns the medians in ms.
std::vector<double> time_together(std::vector<Timed>& all, int rounds, int reps) {
  for (Timed& t : all) t.run();
  for (int r = 0; r < rounds; ++r)
    for (Timed& t : all) {
      auto start = Clock::now();
      for (int i = 0; i < reps; ++i) t.run();
      t.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count() / reps);
    }
  std::vector<double> medians;
  for (Timed& t : all) {
    std::sort(t.ms.begin(), t.ms.end());
    medians.push_back(t.ms[t.ms.size() / 2]);
  }
  return medians;
}

int on_onednn(const weft::CompiledExecutable& exe) {
  int n = 0;
  for (const weft::NodeStats& s : exe.stats().nodes) n += s.provider == "onednn" ? 1 : 0;
  return n;
}

/// "auto ÷ best single provider" for a workload timed on llvm, onednn and auto (ms in that order).
void print_providers(const std::string& workload, const std::vector<double>& ms) {
  fmt::print("  llvm {:8.2f} ms   onednn {:8.2f} ms   auto {:8.2f} ms   onednn/llvm {:.2f}   auto/best {:.2f}\n", ms[0],
             ms[1], ms[2], ms[1] / ms[0], ms[2] / std::min(ms[0], ms[1]));
  fmt::print("providers {} llvm_ms={:.3f} onednn_ms={:.3f} auto_ms={:.3f} auto/best={:.3f}\n", workload, ms[0], ms[1],
             ms[2], ms[2] / std::min(ms[0], ms[1]));
}

void encoder(int rounds) {
  Graph g = weft::bench::encoder_layer_graph();
  std::vector<Tensor> inputs = random_inputs(g, 1);
  auto llvm = compile("llvm", g);
  auto onednn = compile("onednn", g);
  auto automatic = compile("auto", g);
  std::vector<Timed> all{{"llvm", [&] { llvm->run(inputs); }, {}},
                         {"onednn", [&] { onednn->run(inputs); }, {}},
                         {"auto", [&] { automatic->run(inputs); }, {}}};
  std::vector<double> ms = time_together(all, rounds, 3);
  fmt::print("encoder layer d512 h8 ff2048 B8 T128 (forward; oneDNN runs {} of {} calls on onednn, {} on auto)\n",
             on_onednn(*onednn), onednn->stats().nodes.size(), on_onednn(*automatic));
  print_providers("encoder_layer", ms);
  if (print_report) fmt::print("{}\n", automatic->stats().report());
}

Tensor random_ids(std::vector<int64_t> shape, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> id(3, vocab - 1);  // 0..2: padding, BOS, EOS
  Tensor t = Tensor::zeros(weft::DType::i64, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = id(rng);
  return t;
}

void lstm_train(int rounds) {
  weft::bench::LstmAttentionSize s;
  Graph step = weft::train::make_train_step(weft::hoist_scan_invariants(weft::bench::lstm_attention_graph(s)));
  std::map<std::string, Tensor> inputs{{"src", random_ids({s.batch, s.length}, s.vocab, 1)},
                                       {"tgt_in", random_ids({s.batch, s.length}, s.vocab, 2)},
                                       {"tgt_out", random_ids({s.batch, s.length}, s.vocab, 3)},
                                       {"lr", Tensor::from<float>({}, {1e-4f})}};
  auto llvm = compile("llvm", step);
  auto onednn = compile("onednn", step);
  auto automatic = compile("auto", step);
  int64_t n = 0;
  auto train = [&](weft::CompiledExecutable& exe) {
    inputs["step"] = Tensor::from<int64_t>({}, {++n});
    exe.run_named(inputs);
  };
  std::vector<Timed> all{{"llvm", [&] { train(*llvm); }, {}},
                         {"onednn", [&] { train(*onednn); }, {}},
                         {"auto", [&] { train(*automatic); }, {}}};
  std::vector<double> ms = time_together(all, rounds, 1);
  fmt::print(
      "LSTM encoder-decoder + additive attention train step, B{} T{} hidden {} (oneDNN runs {} of {} calls on onednn, "
      "{} on auto)\n",
      s.batch, s.length, s.hidden, on_onednn(*onednn), onednn->stats().nodes.size(), on_onednn(*automatic));
  print_providers("lstm_train", ms);
  if (print_report) fmt::print("{}\n", automatic->stats().report());
}

void matmul(int rounds) {
  struct Shape {
    int64_t m, k, n;
    bool relu;
    const char* what;
  };
  fmt::print("matmul + bias (x @ w^T + b), one graph each\n");
  for (Shape s :
       {Shape{1024, 512, 512, false, "attention projection, B*T=1024"},
        Shape{1024, 512, 2048, true, "feed-forward in, + ReLU"}, Shape{1024, 2048, 512, false, "feed-forward out"},
        Shape{32, 512, 2048, true, "batch 32, + ReLU"}, Shape{8, 512, 512, false, "batch 8"}}) {
    Graph g = weft::parse_graph(
        fmt::format("weft 1\ngraph mm(x: f32[{0}, {1}], w: f32[{2}, {1}], b: f32[{2}]) -> (y: f32[{0}, {2}]) {{\n"
                    "  %0 = matmul(x, w, transpose_b=true) : f32[{0}, {2}]\n  %1 = add(%0, b) : f32[{0}, {2}]\n"
                    "  {3}\n  return %{4}\n}}\n",
                    s.m, s.k, s.n, s.relu ? fmt::format("%2 = relu(%1) : f32[{}, {}]", s.m, s.n) : "", s.relu ? 2 : 1));
    std::vector<Tensor> inputs = random_inputs(g, 2);
    auto llvm = compile("llvm", g);
    auto onednn = compile("onednn", g);
    const int reps = s.m * s.k * s.n > 100'000'000 ? 5 : 50;
    std::vector<Timed> all{{"llvm", [&] { llvm->run(inputs); }, {}}, {"onednn", [&] { onednn->run(inputs); }, {}}};
    std::vector<double> ms = time_together(all, rounds, reps);
    const double gflop = 2e-6 * static_cast<double>(s.m * s.k * s.n);
    fmt::print(
        "  {:>4}x{:>4}x{:>4} {:<32} llvm {:7.3f} ms ({:5.1f} GFLOP/s)  onednn {:7.3f} ms ({:5.1f} GFLOP/s)  "
        "onednn/llvm {:.2f}\n",
        s.m, s.k, s.n, s.what, ms[0], gflop / ms[0], ms[1], gflop / ms[1], ms[1] / ms[0]);
  }
}

/// `layers` products [1024, 512] x [512, 512]^T, each followed (when `with_sin`) by a sin over the
/// result, or (`with_matmul` false) the sins alone. The sin reads the product through a reshape
/// to [512, 1024]: a loop at another shape than the product's never joins the matmul's region as
/// its epilogue, so it stays a call of its own, which oneDNN declines and the LLVM provider takes.
Graph chain(int layers, bool with_matmul, bool with_sin) {
  std::string text = "weft 1\ngraph mixed(x: f32[1024, 512], w: f32[512, 512]) -> (y: f32[1024, 512]) {\n";
  std::string last = "x";
  int v = 0;
  auto add = [&](const std::string& node, const char* type) {
    text += fmt::format("  %{} = {} : {}\n", v, node, type);
    last = fmt::format("%{}", v++);
  };
  for (int l = 0; l < layers; ++l) {
    if (with_matmul) add(fmt::format("matmul({}, w, transpose_b=true)", last), "f32[1024, 512]");
    if (with_sin) {
      add(fmt::format("reshape({}, shape=[512, 1024])", last), "f32[512, 1024]");
      add(fmt::format("sin({})", last), "f32[512, 1024]");
      add(fmt::format("reshape({}, shape=[1024, 512])", last), "f32[1024, 512]");
    }
  }
  return weft::parse_graph(text + "  return " + last + "\n}\n");
}

void mixed(int rounds) {
  const int layers = 8;
  Graph both = chain(layers, true, true);
  // Its parts: one product, and one sin, each alone and run `layers` times (a graph of only sins
  // would fuse them all into one loop).
  Graph product = chain(1, true, false);
  Graph sin = chain(1, false, true);
  std::vector<Tensor> inputs = random_inputs(both, 3);
  auto mixed_exe = compile("onednn", both);
  auto product_exe = compile("onednn", product);
  auto sin_exe = compile("llvm", sin);
  auto llvm_exe = compile("llvm", both);
  // The sins alone read a product, as in the mixed graph: the cost of sin depends on its argument.
  std::vector<Tensor> sin_inputs{product_exe->run(inputs)[0], inputs[1]};
  std::vector<Timed> all{{"mixed", [&] { mixed_exe->run(inputs); }, {}},
                         {"products",
                          [&] {
                            for (int l = 0; l < layers; ++l) product_exe->run(inputs);
                          },
                          {}},
                         {"sins",
                          [&] {
                            for (int l = 0; l < layers; ++l) sin_exe->run(sin_inputs);
                          },
                          {}},
                         {"llvm", [&] { llvm_exe->run(inputs); }, {}}};
  std::vector<double> ms = time_together(all, rounds, 5);
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  fmt::print(
      "mixed graph: {} x (matmul 1024x512x512 on oneDNN, then sin on the LLVM provider); "
      "OMP_WAIT_POLICY={} GOMP_SPINCOUNT={}\n",
      layers, policy ? policy : "(unset)", spin ? spin : "(unset)");
  fmt::print("  calls: {}\n", [&] {
    std::string calls;
    for (const weft::NodeStats& n : mixed_exe->stats().nodes) calls += n.provider + ":" + n.op + " ";
    return calls;
  }());
  fmt::print(
      "  mixed {:7.2f} ms   {} products alone {:7.2f} ms + {} sins alone {:7.2f} ms = {:7.2f} ms   "
      "mixed/parts {:.2f}   (the mixed graph all on llvm {:7.2f} ms)\n",
      ms[0], layers, ms[1], layers, ms[2], ms[1] + ms[2], ms[0] / (ms[1] + ms[2]), ms[3]);
  fmt::print("one_set_of_threads mixed_ms={:.3f} parts_ms={:.3f} mixed/parts={:.3f}\n", ms[0], ms[1] + ms[2],
             ms[0] / (ms[1] + ms[2]));
}

}  // namespace

int main(int argc, char** argv) {
  weft::bench::run_with_peer_threads(argv);
  int rounds = weft::bench::take_rounds(argc, argv, 7);
  std::vector<std::string> which;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--report")
      print_report = true;
    else
      which.emplace_back(argv[i]);
  }
  if (which.empty()) which = {"matmul", "mixed"};
  fmt::print("weft threads: {}, OMP_NUM_THREADS={}, rounds: {}\n",
             std::getenv("WEFT_NUM_THREADS") ? std::getenv("WEFT_NUM_THREADS") : "(hardware)",
             std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : "(unset)", rounds);
  try {
    for (const std::string& w : which) {
      if (w == "encoder")
        encoder(rounds);
      else if (w == "lstm_train")
        lstm_train(rounds);
      else if (w == "matmul")
        matmul(rounds);
      else if (w == "mixed")
        mixed(rounds);
      else {
        fmt::print(stderr, "bench_onednn: unknown workload '{}' (encoder, lstm_train, matmul, mixed)\n", w);
        return 2;
      }
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_onednn: {}\n", e.what());
    return 1;
  }
  return 0;
}
