/** \file
 * The fixed costs the arithmetic does not explain (issue 26, items 4 and 5), LLVM backend, two
 * threads:
 *
 *  - `scan step`: a scan whose body is one tiny fused region (h = tanh(h + x_t) on [4, 8]), 2,000
 *    steps, time-major and batch-major (the step's slice strided in the sequence): the microseconds a
 *    step costs beyond its arithmetic (binding, dispatch, the body's run, the copies of the carried
 *    state and of the slices);
 *  - `small call`: a program of one tiny region (y = tanh(x) · 2 on [4, 8]) run through
 *    Executable::run, and the region's own time from the executor's profile: what one call costs;
 *  - `pool`: the same region on [8..512, 2048] (from [16, 2048] on, large enough for the generated
 *    loop to use the pool), with 2 threads and with 1: whether handing the loop to the pool's
 *    workers pays; and an empty loop on the pool: what the hand-off itself costs.
 *
 * The best of `--rounds` (default 5) rounds; each prints microseconds per step or call.
 *
 *   bench_overhead [--rounds=N]
 */
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

#include "backends/backend.h"
#include "backends/provider.h"
#include "bench/bench_common.h"
#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "runtime/thread_pool.h"

namespace {

using weft::CompileOptions, weft::DType, weft::Dim, weft::Graph;
using weft::dsl::Builder;
using Value = weft::dsl::Tensor;  // a graph value
using weft::Tensor;

double best_seconds(int rounds, const std::function<void()>& f) {
  double best = 1e30;
  for (int r = 0; r < rounds; ++r) {
    auto start = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

Tensor filled(std::vector<int64_t> shape, float value) {
  Tensor t = Tensor::zeros(DType::f32, std::move(shape));
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = value * static_cast<float>(i % 7) / 7.0f;
  return t;
}

/// h_t = tanh(h + x_t) over `steps` steps of [batch, width].
Graph tiny_rnn(int64_t steps, int64_t batch, int64_t width, int64_t time_axis) {
  Builder body("tiny_cell");
  Value h = body.input("h", DType::f32, {batch, width});
  Value x_t = body.input("x_t", DType::f32, {batch, width});
  Value next = weft::dsl::tanh(h + x_t);
  body.output("h_next", next);
  body.output("y", next);
  Builder b("tiny_rnn");
  std::vector<int64_t> xs =
      time_axis == 0 ? std::vector<int64_t>{steps, batch, width} : std::vector<int64_t>{batch, steps, width};
  Value x = b.input("x", DType::f32, {Dim(xs[0]), Dim(xs[1]), Dim(xs[2])});
  Value h0 = b.input("h0", DType::f32, {batch, width});
  std::vector<Value> r = weft::dsl::scan(body.finish(), {.carries = {h0}, .sequences = {x}}, {.time_axis = time_axis});
  b.output("h", r[0]);
  b.output("ys", r[1]);
  return b.finish();
}

Graph one_region(int64_t rows, int64_t cols) {
  Builder b("one_region");
  Value x = b.input("x", DType::f32, {rows, cols});
  b.output("y", weft::dsl::tanh(x) * 2.0);
  return b.finish();
}

}  // namespace

int main(int argc, char** argv) {
  weft::bench::run_with_peer_threads(argv);
  int rounds = weft::bench::take_rounds(argc, argv, 5);
  auto backend = weft::make_backend("llvm");
  const int64_t steps = 2000, batch = 4, width = 8;
  fmt::print("bench_overhead: LLVM backend, {} threads, best of {} rounds\n", weft::ThreadPool::default_num_threads(),
             rounds);

  for (int64_t axis : {0, 1}) {
    auto exe = backend->compile(tiny_rnn(steps, batch, width, axis));
    std::vector<Tensor> in{axis == 0 ? filled({steps, batch, width}, 0.5f) : filled({batch, steps, width}, 0.5f),
                           filled({batch, width}, 0.1f)};
    exe->run(in);
    double s = best_seconds(rounds, [&] { exe->run(in); });
    fmt::print("scan step ({}, [{}, {}] body, {} steps): {:.2f} us per step\n",
               axis == 0 ? "time-major" : "batch-major", batch, width, steps, s / steps * 1e6);
  }

  {
    const int calls = 20000;
    CompileOptions options;
    options.profile = true;
    auto small = backend->compile(one_region(batch, width), options);
    std::vector<Tensor> in{filled({batch, width}, 1.0f)};
    small->run(in);
    small->reset_profile();
    double s = best_seconds(rounds, [&] {
      for (int i = 0; i < calls; ++i) small->run(in);
    });
    auto* compiled = dynamic_cast<weft::CompiledExecutable*>(small.get());
    double region = 0;
    int64_t region_calls = 0;
    if (compiled)
      for (const weft::CallProfile& p : compiled->profile()) region += p.seconds, region_calls += p.calls;
    fmt::print("small call ([{}, {}], one region): {:.2f} us per Executable::run, {:.2f} us in the region's call\n",
               batch, width, s / calls * 1e6, region_calls ? region / static_cast<double>(region_calls) * 1e6 : 0.0);
  }

  for (int64_t rows : {8, 16, 32, 128, 512})
    for (int threads : {2, 1}) {
      const int calls = 2000;
      CompileOptions options;
      options.num_threads = threads;
      auto exe = backend->compile(one_region(rows, 2048), options);
      std::vector<Tensor> in{filled({rows, 2048}, 1.0f)};
      exe->run(in);
      double s = best_seconds(rounds, [&] {
        for (int i = 0; i < calls; ++i) exe->run(in);
      });
      fmt::print("pool ([{}, 2048] region, {} thread{}): {:.2f} us per call\n", rows, threads, threads == 1 ? "" : "s",
                 s / calls * 1e6);
    }
  {
    // The pool alone: a loop of one index per thread whose body does nothing.
    const int calls = 20000;
    weft::ThreadPool& pool = weft::ThreadPool::global();
    double s = best_seconds(rounds, [&] {
      for (int i = 0; i < calls; ++i) pool.parallel_for(pool.num_threads(), nullptr, [](void*, int64_t) {});
    });
    fmt::print("pool hand-off (an empty loop of {} indices): {:.2f} us per loop\n", pool.num_threads(),
               s / calls * 1e6);
  }
  return 0;
}
