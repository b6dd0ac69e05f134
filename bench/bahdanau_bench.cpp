/** \file
 * The Bahdanau-form attention decoder (nn::Seq2SeqAttention with AttentionStyle::bahdanau, additive
 * attention) trained as the tutorial writes it: one scan whose body projects the keys (`Ua·keys`)
 * at every target step. passes/hoist_scan_invariants.h moves that projection in front of the loop,
 * and make_train_step runs it before autodiff, so the backward pass projects the keys' gradient
 * once too. This measures what that buys, LLVM backend:
 *
 *  - `as written`: the forward and gradient graph of the model as written (differentiate alone;
 *    the backend's pipeline still hoists what the forward scan computes from its consts, but the
 *    backward scan accumulates `Ua`'s gradient at every step);
 *  - `hoisted`: the same after hoist_scan_invariants, what make_train_step differentiates — the
 *    tutorial form gets it without the user writing the hoisted form;
 *  - `train step`: make_train_step of the model as written (SGD), a whole update.
 *
 * Sizes: vocabularies 1000, embedding and hidden 256, one layer, batch 32, sources and targets of
 * 24 tokens. The best of `--rounds` (default 3) runs of 10 calls each, alternating. Two threads.
 *
 *   bench_bahdanau [--rounds=N]
 */
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "bench/bench_common.h"
#include "frontend/nn/nn.h"
#include "frontend/train_step.h"
#include "passes/autodiff.h"
#include "passes/hoist_scan_invariants.h"

namespace {

namespace nn = weft::nn;
using weft::Graph;

constexpr int64_t kVocab = 1000, kHidden = 256, kBatch = 32, kLength = 24, kCalls = 10;

Graph model() {
  weft::dsl::Builder b("bahdanau");
  auto src = b.input("src", "i64[B<=32, S<=24]");
  auto tgt_in = b.input("tgt_in", "i64[B, T<=24]");
  auto tgt_out = b.input("tgt_out", "i64[B, T]");
  nn::Seq2SeqAttention m(b, "model",
                         {.src_vocab = kVocab,
                          .tgt_vocab = kVocab,
                          .embed_dim = kHidden,
                          .hidden_size = kHidden,
                          .attention = nn::AttentionKind::additive,
                          .style = nn::AttentionStyle::bahdanau});
  b.output("loss", weft::dsl::cross_entropy(m(src, tgt_in).logits, tgt_out));
  return b.finish();
}

weft::Tensor ids(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> id(0, kVocab - 1);
  std::vector<int64_t> v(static_cast<size_t>(kBatch * kLength));
  for (int64_t& t : v) t = id(rng);
  return weft::Tensor::from<int64_t>({kBatch, kLength}, v);
}

double seconds(const std::function<void()>& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  weft::bench::run_with_peer_threads(argv);
  int rounds = weft::bench::take_rounds(argc, argv, 3);
  auto backend = weft::make_backend("llvm");
  Graph forward = model();
  auto as_written = backend->compile(weft::differentiate(forward, "loss"));
  auto hoisted = backend->compile(weft::differentiate(weft::hoist_scan_invariants(forward), "loss"));
  auto train_step = backend->compile(weft::train::make_train_step(forward, {.optimizer = weft::train::SgdOptions{}}));

  std::map<std::string, weft::Tensor> inputs{{"src", ids(1)}, {"tgt_in", ids(2)}, {"tgt_out", ids(3)}};
  std::map<std::string, weft::Tensor> train_inputs = inputs;
  train_inputs["lr"] = weft::Tensor::from<float>({}, {1e-4f});
  train_inputs["step"] = weft::Tensor::from<int64_t>({}, {1});
  auto times = [&](weft::Executable& exe, const std::map<std::string, weft::Tensor>& in) {
    return [&exe, &in] {
      for (int64_t i = 0; i < kCalls; ++i) exe.run_named(in);
    };
  };
  double written = 1e30, hoist = 1e30, train = 1e30;
  for (int r = 0; r < rounds; ++r) {
    written = std::min(written, seconds(times(*as_written, inputs)));
    hoist = std::min(hoist, seconds(times(*hoisted, inputs)));
    train = std::min(train, seconds(times(*train_step, train_inputs)));
  }
  auto ms = [](double s) { return s * 1e3 / kCalls; };
  fmt::print("bahdanau: vocab {}, hidden {}, batch {}, {} source and target tokens, LLVM backend\n", kVocab, kHidden,
             kBatch, kLength);
  fmt::print("forward + gradients: as written {:.2f} ms, hoisted {:.2f} ms ({:.2f}x as written)\n", ms(written),
             ms(hoist), hoist / written);
  fmt::print("make_train_step of the model as written (SGD): {:.2f} ms per update ({:.2f}x the hoisted gradients)\n",
             ms(train), train / hoist);
  return 0;
}
