/** \file
 * One recurrent layer — nn::LSTM, nn::RNN (tanh) and nn::GRU, input and hidden 512, B=32, T=32,
 * batch-first — on the "llvm", "onednn" and "auto" backends, in the same process, ratios printed
 * (docs/onednn-backend.md has the numbers):
 *
 *   bench_lstm_layer [--rounds=N] [--cells=lstm,rnn,gru]
 *
 *  - forward: y and the final state from x (inference: one `lstm`, `rnn` or `gru` call; llvm runs
 *    its decomposition, the hoisted projection and a scan of 32 steps);
 *  - forward+backward: the gradients of x and of the four parameters of a loss reading y (a
 *    training step's layer without the optimizer: the forward keeps what its backward needs).
 *
 * 2 threads for Weft and OpenMP, idle OpenMP workers sleeping (bench_common.h). Each number is the
 * median over rounds of the mean of two runs, the backends alternating within each round.
 */
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/provider.h"
#include "bench/bench_common.h"
#include "frontend/nn/nn.h"
#include "passes/autodiff.h"
#include "runtime/tensor.h"

namespace {

using weft::Graph;
using weft::Tensor;
using Clock = std::chrono::steady_clock;

constexpr int64_t kBatch = 32, kLength = 32, kSize = 512;

/// One layer of `cell` ("lstm", "rnn" or "gru"), its forward or its training forward+backward.
Graph layer_graph(const std::string& cell, bool backward) {
  weft::dsl::Builder b(cell + (backward ? "_layer_train" : "_layer"));
  auto x = b.input("x", weft::DType::f32, {kBatch, kLength, kSize});
  weft::dsl::Tensor y;
  std::vector<std::pair<const char*, weft::dsl::Tensor>> states;
  if (cell == "lstm") {
    weft::nn::LstmOutput r = weft::nn::LSTM(b, cell, kSize, kSize)(x);
    y = r.output, states = {{"h_n", r.h_n}, {"c_n", r.c_n}};
  } else {
    weft::nn::RnnOutput r =
        cell == "gru" ? weft::nn::GRU(b, cell, kSize, kSize)(x) : weft::nn::RNN(b, cell, kSize, kSize)(x);
    y = r.output, states = {{"h_n", r.h_n}};
  }
  if (!backward) {
    b.output("y", y);
    for (const auto& [name, state] : states) b.output(name, state);
    return b.finish();
  }
  auto wy = b.input("wy", weft::DType::f32, {kBatch, kLength, kSize});
  b.output("loss", weft::dsl::sum(y * wy));
  Graph g = b.finish();
  std::vector<std::string> wrt{"x"};
  for (const weft::ParamDecl& p : g.params()) wrt.push_back(p.name);
  return weft::differentiate(g, "loss", wrt);
}

std::vector<Tensor> random_inputs(const Graph& g) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<Tensor> out;
  for (const weft::InputDecl& in : g.inputs()) {
    Tensor x = Tensor::zeros(weft::DType::f32, weft::evaluate_shape(g.type(in.value).shape, {}));
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
    out.push_back(x);
  }
  return out;
}

struct Timed {
  std::string backend;
  std::unique_ptr<weft::CompiledExecutable> exe;
  std::vector<double> ms;
};

/// One warm-up run each, then `rounds` rounds timing two runs of each backend in turn; the medians.
std::vector<double> time_backends(const Graph& g, const std::vector<std::string>& backends, int rounds) {
  std::vector<Tensor> inputs = random_inputs(g);
  std::vector<Timed> all;
  for (const std::string& name : backends) {
    auto chain = weft::make_backend(name);
    auto start = Clock::now();
    all.push_back({name, dynamic_cast<const weft::ProviderChain&>(*chain).compile_chain(g), {}});
    fmt::print("  compiled {} on {} in {:.0f} ms\n", g.name(), name,
               std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    all.back().exe->run(inputs);
  }
  for (int r = 0; r < rounds; ++r)
    for (Timed& t : all) {
      auto start = Clock::now();
      for (int i = 0; i < 2; ++i) t.exe->run(inputs);
      t.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count() / 2);
    }
  std::vector<double> medians;
  for (Timed& t : all) {
    std::sort(t.ms.begin(), t.ms.end());
    medians.push_back(t.ms[t.ms.size() / 2]);
    for (const weft::NodeStats& n : t.exe->stats().nodes)
      if (n.op == "lstm" || n.op == "lstm_backward" || n.op == "rnn" || n.op == "rnn_backward" || n.op == "gru" ||
          n.op == "gru_backward" || n.op == "scan")
        fmt::print("  {:7} {:14} on {:7} {}\n", t.backend, n.op, n.provider, n.reason);
  }
  return medians;
}

}  // namespace

/// The cells named by --cells= (all three by default), in that order.
std::vector<std::string> take_cells(int& argc, char** argv) {
  std::vector<std::string> cells{"lstm", "rnn", "gru"};
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--cells=", 8) != 0) {
      argv[out++] = argv[i];
      continue;
    }
    cells.clear();
    std::string list = argv[i] + 8;
    for (size_t start = 0; start <= list.size();) {
      size_t end = std::min(list.find(',', start), list.size());
      std::string cell = list.substr(start, end - start);
      if (cell != "lstm" && cell != "rnn" && cell != "gru") {
        fmt::print(stderr, "bench_lstm_layer: --cells takes lstm, rnn and gru, but got '{}'\n", cell);
        std::exit(2);
      }
      cells.push_back(cell);
      start = end + 1;
    }
  }
  argc = out;
  return cells;
}

int main(int argc, char** argv) {
  weft::bench::run_with_peer_threads(argv);
  const int rounds = weft::bench::take_rounds(argc, argv, 5);
  const std::vector<std::string> cells = take_cells(argc, argv);
  const std::vector<std::string> backends{"llvm", "onednn", "auto"};
  fmt::print("Recurrent layers, input and hidden {}, B={}, T={}; median of {} rounds (2 threads)\n", kSize, kBatch,
             kLength, rounds);
  struct Row {
    std::string name;
    std::vector<double> ms;
  };
  std::vector<Row> rows;
  for (const std::string& cell : cells) {
    rows.push_back({cell + " forward", time_backends(layer_graph(cell, false), backends, rounds)});
    rows.push_back({cell + " forward+backward", time_backends(layer_graph(cell, true), backends, rounds)});
  }
  fmt::print("\n{:22} {:>10} {:>10} {:>10} {:>16} {:>14}\n", "workload", "llvm ms", "onednn ms", "auto ms",
             "llvm / onednn", "llvm / auto");
  for (const Row& r : rows)
    fmt::print("{:22} {:10.2f} {:10.2f} {:10.2f} {:16.2f} {:14.2f}\n", r.name, r.ms[0], r.ms[1], r.ms[2],
               r.ms[0] / r.ms[1], r.ms[0] / r.ms[2]);
  return 0;
}
