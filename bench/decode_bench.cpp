/** \file
 * Greedy decoding and beam search on the benchmark Transformer (vocabulary 1000, d_model 256, 4
 * heads, 3 + 3 layers, feed-forward 1024, sources of 32 tokens; random weights), LLVM backend:
 *
 *  - `prefix`: greedy decoding the naive way, re-running the whole decoder over the prefix for
 *    every token (the full teacher-forced graph, argmax of the last position);
 *  - `kv_cache`: decode::greedy_decode over the encode and step graphs (docs/decoding.md);
 *  - `beam4`: decode::beam_search with k = 4;
 *  - `.so`: the same greedy decoding and beam search through `weft_generate`, the loop of the
 *    shared object's C runtime (compile_shared_object, as weft-compile --decode; docs/decoding.md);
 *  - the step graph alone, 32 runs at 16 cached positions: what the loop adds to the step;
 *  - PyTorch 1.13 on the same model sizes (bench/torch_decode.py), when /usr/bin/python3 has torch:
 *    its naive prefix loop and a loop with a hand-written KV cache.
 *
 * 32 tokens are generated per source (EOS is never a candidate), at batch 1 and 8; the per-step
 * time is the run's time over 32, encode included. Each configuration runs `--rounds` times
 * (default 3), alternating, and the best is reported, with the ratios the issue's targets name.
 * Two threads (WEFT_NUM_THREADS, default 2 here, as in the other benchmarks); PyTorch runs with
 * OMP_WAIT_POLICY=PASSIVE unless set (bench_common.h), as its spinning workers are much slower on a
 * machine where another process holds a core.
 *
 *   bench_decode [--rounds=N]
 */
#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/llvm/aot.h"
#include "bench/bench_common.h"
#include "bench/models.h"
#include "bench/shared_object.h"
#include "frontend/decode.h"
#include "frontend/inference.h"
#include "frontend/nn/nn.h"
#include "ir/safetensors.h"
#include "runtime/capi/weft_model.h"

namespace {

using weft::Dim;
using weft::DType;
using weft::Graph;
using weft::dsl::Builder;
using weft::dsl::Tensor;
namespace nn = weft::nn;

const weft::bench::TransformerSize kSize{};
constexpr int64_t kVocab = 1000, kSource = 32, kSteps = 32;

void encode_graph(Builder& b) { weft::bench::transformer_encode_graph(b, kSize); }
void step_graph(Builder& b) { weft::bench::transformer_step_graph(b, kSize); }

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

/// The encode and step graphs in a shared object (the entries weft-compile --decode wants) with the
/// trained weights, and its weft_generate, for timing the C runtime's loop against the JIT's.
class SharedObject {
 public:
  SharedObject(const weft::Executable& encode, const weft::Executable& step)
      : so_(
            [&] {
              Builder eb("encode"), sb("decode_step");
              encode_graph(eb);
              step_graph(sb);
              return std::vector<Graph>{eb.finish(), sb.finish()};
            }(),
            &weights_of(encode, step), "decode") {}

  /// Each source's best hypothesis, as decode::greedy_decode / beam_search return it first.
  std::vector<std::vector<int64_t>> generate(const weft::Tensor& src, int32_t beam) {
    int64_t batch = src.shape()[0];
    weft_generate_options o{beam, /*bos=*/1, /*eos=*/kVocab, /*max_length=*/kSteps, /*alpha=*/0.0};
    weft_tensor in{WEFT_I64, 2, src.shape().data(), const_cast<void*>(src.raw())};
    std::vector<int64_t> tokens(static_cast<size_t>(batch * beam * kSteps)), lengths(static_cast<size_t>(batch * beam));
    so_.check(so_.generate(so_.model(), &o, &in, 1, batch, tokens.data(), lengths.data(), nullptr), "weft_generate");
    std::vector<std::vector<int64_t>> best;
    for (int64_t b = 0; b < batch; ++b) {
      auto begin = tokens.begin() + b * beam * kSteps;
      best.emplace_back(begin, begin + lengths[static_cast<size_t>(b * beam)]);
    }
    return best;
  }

 private:
  /// The trained weights of both graphs (the decoder's parameters are in both).
  const weft::SafetensorsFile& weights_of(const weft::Executable& encode, const weft::Executable& step) {
    for (const weft::Executable* exe : {&encode, &step})
      for (const weft::TensorSpec& s : exe->signature().state) {
        if (weights_.find(s.name)) continue;
        weft::Tensor t = exe->state(s.name);
        auto bytes = t.bytes();
        weights_.tensors.push_back({s.name, t.dtype(), t.shape(), std::vector<std::byte>(bytes.begin(), bytes.end())});
      }
    return weights_;
  }
  weft::SafetensorsFile weights_;  // before so_, which is made from it
  weft::bench::LoadedModel so_;
};

}  // namespace

int main(int argc, char** argv) {
  weft::bench::run_with_peer_threads(argv);  // also the PyTorch child's: idle OpenMP workers sleep
  int rounds = weft::bench::take_rounds(argc, argv, 3);
  auto backend = weft::make_backend("llvm");
  weft::train::Compiler compile = [&](const Graph& g) { return backend->compile(g); };
  auto full = compile(weft::bench::transformer_prefix_graph(kSize));
  auto encode = weft::train::inference_executable(*full, "encode", encode_graph, compile);
  auto step = weft::train::inference_executable(*full, "step", step_graph, compile);

  fmt::print("decode: vocab {}, d_model {}, {} heads, {}+{} layers, ff {}, source {}, {} tokens, LLVM backend\n",
             kVocab, kSize.d_model, kSize.heads, kSize.layers, kSize.layers, kSize.ff, kSource, kSteps);
  SharedObject so(*encode, *step);
  for (int64_t batch : {1, 8}) {
    std::mt19937_64 rng(static_cast<uint64_t>(batch));
    std::uniform_int_distribution<int64_t> id(3, kVocab - 1);
    std::vector<int64_t> ids(static_cast<size_t>(batch * kSource));
    for (int64_t& t : ids) t = id(rng);
    weft::Tensor src = weft::Tensor::from<int64_t>({batch, kSource}, ids);
    weft::decode::SearchOptions greedy{.bos = 1, .eos = kVocab, .max_length = kSteps};  // EOS never comes
    weft::decode::SearchOptions beam = greedy;
    beam.beam = 4;
    double prefix = 1e30, cached = 1e30, beam4 = 1e30, so_greedy = 1e30, so_beam4 = 1e30;
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
      so_greedy = std::min(so_greedy, seconds([&] { so.generate(src, 1); }));
      if (batch == 8) {
        beam4 = std::min(beam4, seconds([&] { weft::decode::beam_search(*encode, *step, {{"src", src}}, beam); }));
        so_beam4 = std::min(so_beam4, seconds([&] { so.generate(src, 4); }));
      }
    }
    // The timings compare the same search: the .so's best hypotheses are the JIT's.
    for (int32_t width : {1, 4}) {
      auto jit = width == 1 ? weft::decode::greedy_decode(*encode, *step, {{"src", src}}, greedy)
                            : weft::decode::beam_search(*encode, *step, {{"src", src}}, beam);
      auto c = so.generate(src, width);
      for (size_t b = 0; b < c.size(); ++b)
        if (c[b] != jit[b].best[0].tokens)
          fmt::print("  (batch {}, beam {}: the .so's tokens differ from the JIT's for source {})\n", batch, width, b);
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
    double step_alone = 1e30, encode_alone = 1e30;
    for (int r = 0; r < rounds; ++r) {
      step_alone = std::min(step_alone, seconds([&] {
                              for (int64_t t = 0; t < kSteps; ++t) step->run(step_inputs);
                            }));
      encode_alone = std::min(encode_alone, seconds([&] { encode->run_named({{"src", src}}); }));
    }
    auto ms = [](double s) { return s * 1e3 / kSteps; };
    // What the search adds to its graphs: the KV-cache decode less the encode and 32 steps alone.
    fmt::print(
        "batch {}: the step graph alone (16 cached positions) {:.2f} ms/step, the encode graph alone {:.2f} ms "
        "({:.2f} ms/step), the search's own {:.2f} ms/step\n",
        batch, ms(step_alone), encode_alone * 1e3, ms(encode_alone), ms(cached - step_alone - encode_alone));
    fmt::print("batch {}: prefix re-run {:.2f} ms/step, KV cache {:.2f} ms/step ({:.2f}x the prefix re-run)\n", batch,
               ms(prefix), ms(cached), cached / prefix);
    if (batch == 8)
      fmt::print("batch 8: beam search k=4 {:.2f} ms/step ({:.2f}x greedy with the KV cache)\n", ms(beam4),
                 beam4 / cached);
    fmt::print("batch {}: .so weft_generate greedy {:.2f} ms/step ({:.2f}x the JIT's greedy_decode)\n", batch,
               ms(so_greedy), so_greedy / cached);
    if (batch == 8)
      fmt::print("batch 8: .so weft_generate beam k=4 {:.2f} ms/step ({:.2f}x the JIT's beam_search)\n", ms(so_beam4),
                 so_beam4 / beam4);
    TorchTimes torch = torch_ms(batch);
    if (torch.prefix_ms > 0 && torch.kv_cache_ms > 0)
      fmt::print(
          "batch {}: PyTorch 1.13 prefix loop {:.2f} ms/step, KV-cache loop {:.2f} ms/step; Weft KV cache / PyTorch "
          "prefix = {:.2f}, / PyTorch KV cache = {:.2f}\n",
          batch, torch.prefix_ms, torch.kv_cache_ms, ms(cached) / torch.prefix_ms, ms(cached) / torch.kv_cache_ms);
  }
  return 0;
}
