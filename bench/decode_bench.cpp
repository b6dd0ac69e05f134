/** \file
 * Greedy decoding and beam search on the benchmark Transformer (vocabulary 1000, d_model 256, 4
 * heads, 3 + 3 layers, feed-forward 1024, sources of 32 tokens; random weights), LLVM backend:
 *
 *  - `prefix`: greedy decoding the naive way, re-running the whole decoder over the prefix for
 *    every token (the full teacher-forced graph, argmax of the last position);
 *  - `kv_cache`: decode::greedy_decode over the encode and step graphs (docs/decoding.md);
 *  - `beam4`: decode::beam_search with k = 4;
 *  - PyTorch 1.13 on the same model sizes (bench/torch_decode.py), when /usr/bin/python3 has torch:
 *    its naive prefix loop and a loop with a hand-written KV cache.
 *
 * 32 tokens are generated per source (EOS is never a candidate), at batch 1 and 8; the per-step
 * time is the run's time over 32, encode included. Each configuration runs `--rounds` times
 * (default 3), alternating, and the best is reported, with the ratios the issue's targets name.
 * Two threads (WEFT_NUM_THREADS, default 2 here, as in the other benchmarks).
 *
 *   bench_decode [--rounds=N]
 */
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "bench/bench_common.h"
#include "frontend/decode.h"
#include "frontend/inference.h"
#include "frontend/nn/nn.h"

namespace {

using weft::Dim;
using weft::DType;
using weft::Graph;
using weft::dsl::Builder;
using weft::dsl::Tensor;
namespace nn = weft::nn;

constexpr int64_t kVocab = 1000, kDModel = 256, kHeads = 4, kLayers = 3, kFF = 1024, kSource = 32, kSteps = 32;
constexpr int64_t kMaxRows = 32;

struct Model {
  explicit Model(Builder& b)
      : src_embed(b, "src_embed", kVocab, kDModel, {.scale_by_sqrt_dim = true}),
        tgt_embed(b, "tgt_embed", kVocab, kDModel, {.scale_by_sqrt_dim = true}),
        positions(b, "positions", kDModel),
        transformer(b, "transformer",
                    {.layer = {.d_model = kDModel, .nhead = kHeads, .dim_feedforward = kFF, .dropout = 0.0},
                     .num_encoder_layers = kLayers,
                     .num_decoder_layers = kLayers}),
        generator(b, "generator", kDModel, kVocab) {}

  Tensor memory(const Tensor& src) const { return transformer.encoder(positions(src_embed(src))); }

  nn::Embedding src_embed, tgt_embed;
  nn::PositionalEncoding positions;
  nn::Transformer transformer;
  nn::Linear generator;
};

void full_graph(Builder& b) {
  Tensor src = b.input("src", "i64[B<=32, S<=32]");
  Tensor tgt_in = b.input("tgt_in", "i64[B, T<=33]");
  Tensor last = b.input("last", "i64[]");  // T - 1: only the last position goes through the generator
  Model m(b);
  Tensor y = m.transformer.decoder(m.positions(m.tgt_embed(tgt_in)), m.memory(src), {.self = {.causal = true}});
  b.output("next", weft::dsl::argmax(m.generator(weft::dsl::gather(y, last, 1)), -1));  // [B]
}

void encode_graph(Builder& b) {
  Tensor src = b.input("src", "i64[B<=32, S<=32]");
  Model m(b);
  m.transformer.decoder.output_memory(b, m.transformer.decoder.project_memory(m.memory(src)));
}

void step_graph(Builder& b) {
  Dim rows = b.symbol("R", kMaxRows), past = b.symbol("P", kSteps), src_length = b.symbol("S", kSource);
  Tensor tokens = b.input("tokens", DType::i64, {rows});
  Tensor position = b.input("position", "i64[]");
  Model m(b);
  const nn::TransformerDecoder& decoder = m.transformer.decoder;
  nn::TransformerDecoder::Cache cache = decoder.declare_cache(b, rows, past, src_length, false);
  nn::TransformerDecoder::StepOutput out =
      decoder.step(m.tgt_embed(tokens) + m.positions.encode(position), position, cache);
  b.output("logits", m.generator(out.output));
  decoder.output_cache(b, out);
}

double seconds(const std::function<void()>& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct TorchTimes {
  double prefix_ms = -1, kv_cache_ms = -1;
};

/// PyTorch's prefix loop and hand-written KV-cache loop, ms per step at `batch` (negative: unavailable).
TorchTimes torch_ms(int64_t batch) {
  const char* python = std::getenv("WEFT_BENCH_PYTHON");
  std::string command = fmt::format("'{}' '{}/bench/torch_decode.py' {} 2>&1", python ? python : "/usr/bin/python3",
                                    WEFT_SOURCE_DIR, batch);
  TorchTimes times;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return times;
  char line[512];
  std::string text;
  while (fgets(line, sizeof line, pipe)) {
    text += line;
    std::sscanf(line, "prefix_ms_per_step %lf", &times.prefix_ms);
    std::sscanf(line, "kv_cache_ms_per_step %lf", &times.kv_cache_ms);
  }
  if (pclose(pipe) != 0 || times.prefix_ms < 0)
    fmt::print("  (PyTorch peer unavailable: {})\n", text.substr(0, text.find('\n')));
  return times;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = weft::bench::take_rounds(argc, argv, 3);
  auto backend = weft::make_backend("llvm");
  weft::train::Compiler compile = [&](const Graph& g) { return backend->compile(g); };
  Builder fb("full");
  full_graph(fb);
  auto full = compile(fb.finish());
  auto encode = weft::train::inference_executable(*full, "encode", encode_graph, compile);
  auto step = weft::train::inference_executable(*full, "step", step_graph, compile);

  fmt::print("decode: vocab {}, d_model {}, {} heads, {}+{} layers, ff {}, source {}, {} tokens, LLVM backend\n",
             kVocab, kDModel, kHeads, kLayers, kLayers, kFF, kSource, kSteps);
  for (int64_t batch : {1, 8}) {
    std::mt19937_64 rng(static_cast<uint64_t>(batch));
    std::uniform_int_distribution<int64_t> id(3, kVocab - 1);
    std::vector<int64_t> ids(static_cast<size_t>(batch * kSource));
    for (int64_t& t : ids) t = id(rng);
    weft::Tensor src = weft::Tensor::from<int64_t>({batch, kSource}, ids);
    weft::decode::SearchOptions greedy{.bos = 1, .eos = kVocab, .max_length = kSteps};  // EOS never comes
    weft::decode::SearchOptions beam = greedy;
    beam.beam = 4;
    double prefix = 1e30, cached = 1e30, beam4 = 1e30;
    for (int r = 0; r < rounds; ++r) {
      prefix = std::min(prefix, seconds([&] {
                          std::vector<int64_t> tgt(static_cast<size_t>(batch), 1);
                          for (int64_t t = 0; t < kSteps; ++t) {
                            auto out = full->run_named({{"src", src},
                                                        {"tgt_in", weft::Tensor::from<int64_t>({batch, t + 1}, tgt)},
                                                        {"last", weft::Tensor::from<int64_t>({}, {t})}});
                            std::vector<int64_t> next = out.at("next").to_vector<int64_t>();
                            std::vector<int64_t> grown;
                            for (int64_t b = 0; b < batch; ++b) {
                              grown.insert(grown.end(), tgt.begin() + b * (t + 1), tgt.begin() + (b + 1) * (t + 1));
                              grown.push_back(next[static_cast<size_t>(b)]);
                            }
                            tgt = std::move(grown);
                          }
                        }));
      cached = std::min(cached, seconds([&] { weft::decode::greedy_decode(*encode, *step, {{"src", src}}, greedy); }));
      if (batch == 8)
        beam4 = std::min(beam4, seconds([&] { weft::decode::beam_search(*encode, *step, {{"src", src}}, beam); }));
    }
    // The step graph alone, at the middle of the generation (16 cached positions), without the loop.
    std::vector<weft::Tensor> step_inputs;
    for (const weft::TensorSpec& in : step->signature().inputs) {
      std::vector<int64_t> shape;
      for (const Dim& dim : in.type.shape)
        shape.push_back(dim.is_static()           ? dim.value()
                        : dim == Dim::symbol("R") ? batch
                        : dim == Dim::symbol("P") ? 16
                                                  : kSource);
      step_inputs.push_back(weft::Tensor::zeros(in.type.dtype, shape));  // position 0; zero caches are finite
    }
    double step_alone = 1e30;
    for (int r = 0; r < rounds; ++r)
      step_alone = std::min(step_alone, seconds([&] {
                              for (int64_t t = 0; t < kSteps; ++t) step->run(step_inputs);
                            }));
    auto ms = [](double s) { return s * 1e3 / kSteps; };
    fmt::print("batch {}: the step graph alone (16 cached positions) {:.2f} ms/step\n", batch, ms(step_alone));
    fmt::print("batch {}: prefix re-run {:.2f} ms/step, KV cache {:.2f} ms/step ({:.2f}x the prefix re-run)\n", batch,
               ms(prefix), ms(cached), cached / prefix);
    if (batch == 8)
      fmt::print("batch 8: beam search k=4 {:.2f} ms/step ({:.2f}x greedy with the KV cache)\n", ms(beam4),
                 beam4 / cached);
    TorchTimes torch = torch_ms(batch);
    if (torch.prefix_ms > 0 && torch.kv_cache_ms > 0)
      fmt::print(
          "batch {}: PyTorch 1.13 prefix loop {:.2f} ms/step, KV-cache loop {:.2f} ms/step; Weft KV cache / PyTorch "
          "prefix = {:.2f}, / PyTorch KV cache = {:.2f}\n",
          batch, torch.prefix_ms, torch.kv_cache_ms, ms(cached) / torch.prefix_ms, ms(cached) / torch.kv_cache_ms);
  }
  return 0;
}
