/** \file
 * cuda_gpu_bench: the benchmark models of bench/models.h on the CUDA backend, for a GPU machine
 * (packed with the tests by scripts/gpu-bundle.sh; docs/cuda-backend.md). Prints one line per
 * workload: the median milliseconds per run over `reps` timed runs after two warm-ups, and the
 * rate. Runs include the copies of inputs in and outputs out, as a user's `run` does.
 *
 *   cuda_gpu_bench [reps]        (default 20)
 *
 * bench/torch_cuda.py times the same workloads in PyTorch on the same GPU.
 */
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <vector>

#include "backends/cuda/cuda_driver.h"
#include "backends/cuda/cuda_provider.h"
#include "bench/models.h"
#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "frontend/train_step.h"
#include "ir/error.h"

namespace {

using weft::Tensor;

Tensor random_tokens(std::vector<int64_t> shape, int64_t vocab, uint64_t seed) {
  Tensor t = Tensor::zeros(weft::DType::i64, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = static_cast<int64_t>((seed + 7919 * i) % vocab);
  return t;
}

Tensor random_f32(std::vector<int64_t> shape) {
  Tensor t = Tensor::zeros(weft::DType::f32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  return t;
}

Tensor scalar_f32(float v) {
  Tensor t = Tensor::zeros(weft::DType::f32, {});
  t.data<float>()[0] = v;
  return t;
}

Tensor scalar_i64(int64_t v) {
  Tensor t = Tensor::zeros(weft::DType::i64, {});
  t.data<int64_t>()[0] = v;
  return t;
}

template <class Run>
double median_ms(Run run, int reps) {
  for (int i = 0; i < 2; ++i) run();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    auto start = std::chrono::steady_clock::now();
    run();  // synchronous: the outputs are copied back
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
  if (std::optional<std::string> why = weft::cuda_backend::gpu_unavailable()) {
    fmt::print(stderr, "cuda_gpu_bench: no GPU: {}\n", *why);
    return 2;
  }
  try {
    const auto& info = weft::cuda_backend::device_info();
    fmt::print("device {} (compute capability {}.{}, {} SMs)\n", info.name, info.compute_capability / 10,
               info.compute_capability % 10, info.multiprocessors);
    weft::ProviderChain cuda("cuda", {weft::cuda_backend::cuda_provider()});

    weft::bench::EncoderLayerSize enc;
    auto encoder = cuda.compile(weft::bench::encoder_layer_graph(enc));
    std::vector<Tensor> x{random_f32({enc.batch, enc.length, enc.d_model})};
    double ms = median_ms([&] { encoder->run(x); }, reps);
    fmt::print("encoder_layer d512 h8 ff2048 B8 T128 forward: {:.3f} ms ({:.0f} GFLOP/s)\n", ms,
               enc.flops() / ms / 1e6);

    {  // scaled dot-product attention, the size (torch's scaled_dot_product_attention in torch_cuda.py)
      weft::dsl::Builder b("attention");
      weft::dsl::Tensor q = b.input("q", "f32[8, 8, 1024, 64]"), k = b.input("k", "f32[8, 8, 1024, 64]"),
                        v = b.input("v", "f32[8, 8, 1024, 64]");
      b.output("y", weft::dsl::attention(q, k, v));
      auto attention = cuda.compile(b.finish());
      std::vector<Tensor> qkv{random_f32({8, 8, 1024, 64}), random_f32({8, 8, 1024, 64}), random_f32({8, 8, 1024, 64})};
      ms = median_ms([&] { attention->run(qkv); }, reps);
      const double flops = 4.0 * 8 * 8 * 1024 * 1024 * 64;
      fmt::print("attention B8 h8 T1024 d64 f32 forward: {:.3f} ms ({:.0f} GFLOP/s, copies of q, k, v, y included)\n",
                 ms, flops / ms / 1e6);
    }

    weft::bench::TransformerSize tr;
    auto step = cuda.compile(weft::train::make_train_step(weft::bench::transformer_train_graph(tr)));
    std::map<std::string, Tensor> in{{"src", random_tokens({tr.batch, tr.source}, tr.vocab, 1)},
                                     {"tgt_in", random_tokens({tr.batch, tr.target}, tr.vocab, 2)},
                                     {"tgt_out", random_tokens({tr.batch, tr.target}, tr.vocab, 3)},
                                     {"lr", scalar_f32(1e-4f)}};
    int64_t update = 0;
    ms = median_ms(
        [&] {
          in["step"] = scalar_i64(++update);
          step->run_named(in);
        },
        reps);
    fmt::print("transformer_train d256 3+3 B32 L32 step: {:.3f} ms ({:.0f} tokens/s)\n", ms,
               static_cast<double>(tr.batch * tr.target) / ms * 1e3);
  } catch (const std::exception& e) {
    fmt::print(stderr, "cuda_gpu_bench: {}\n", e.what());
    return 1;
  }
  return 0;
}
