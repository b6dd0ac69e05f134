// Trains the benchmark's seq2seq Transformer (bench/models.h: 3+3 layers, d_model 256, vocab 1000)
// data-parallel on a reversal task, one process per rank:
//
//   mpirun -np 2 build/examples/ddp/example_ddp --steps 20 --batch 32 --threads 1
//
// Every rank builds the train step for its share of the batch (batch / ranks rows), the trainer
// feeds it its rows of each batch, and the gradients are averaged in buckets before Adam's update.
// Rank 0 prints the progress and, at the end, the time per step and the part of it spent in
// all-reduce (docs/distributed.md's table comes from these lines).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "backends/backend.h"
#include "bench/models.h"
#include "frontend/train_step.h"
#include "frontend/trainer.h"
#include "runtime/communicator.h"

using namespace weft;

namespace {

struct Options {
  int64_t steps = 20, batch = 32, log_every = 5;
  int threads = 1;
  double bucket_mb = 4;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: mpirun -np N example_ddp [--steps S] [--batch B] [--threads T] [--bucket-mb M] [--log-every K]\n"
          "Trains the benchmark Transformer on a reversal task, data-parallel over the mpirun ranks:\n"
          "B rows per step in all, B/N on each rank (default 20 steps of 32 rows, 1 thread per rank).\n");
      std::exit(0);
    }
    if (i + 1 >= argc) throw Error(fmt::format("example_ddp: {} needs a value (see --help)", a));
    const std::string v = argv[++i];
    try {
      if (a == "--steps")
        o.steps = std::stoll(v);
      else if (a == "--batch")
        o.batch = std::stoll(v);
      else if (a == "--threads")
        o.threads = std::stoi(v);
      else if (a == "--bucket-mb")
        o.bucket_mb = std::stod(v);
      else if (a == "--log-every")
        o.log_every = std::stoll(v);
      else
        throw Error(fmt::format("example_ddp: unknown option {} (see --help)", a));
    } catch (const std::logic_error&) {
      throw Error(fmt::format("example_ddp: {} takes a number, but got '{}'", a, v));
    }
  }
  if (o.steps < 1 || o.batch < 1 || o.threads < 1 || o.bucket_mb <= 0)
    throw Error("example_ddp: --steps, --batch, --threads and --bucket-mb must be positive");
  return o;
}

/// Batch `step` of the reversal task: random source tokens in [3, vocab); the target is the
/// source reversed, fed to the decoder after <bos> = 1. A function of the step alone, so every rank
/// draws the same whole batch and takes its rows.
train::Batch reversal_batch(int64_t step, const bench::TransformerSize& size, int64_t rows) {
  std::mt19937_64 rng(static_cast<uint64_t>(step));
  std::uniform_int_distribution<int64_t> token(3, size.vocab - 1);
  std::vector<int64_t> src, tgt_in, tgt_out;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<int64_t> s(static_cast<size_t>(size.source));
    for (int64_t& t : s) t = token(rng);
    src.insert(src.end(), s.begin(), s.end());
    tgt_in.push_back(1);
    for (int64_t t = 0; t < size.target; ++t) {
      int64_t out = s[static_cast<size_t>(size.source - 1 - t)];
      tgt_out.push_back(out);
      if (t + 1 < size.target) tgt_in.push_back(out);
    }
  }
  return {{{"src", Tensor::from<int64_t>({rows, size.source}, src)},
           {"tgt_in", Tensor::from<int64_t>({rows, size.target}, tgt_in)},
           {"tgt_out", Tensor::from<int64_t>({rows, size.target}, tgt_out)}},
          rows * size.target};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  try {
    CommunicatorScope world("world", make_mpi_communicator());
    Communicator& comm = world.communicator();
    if (o.batch % comm.size() != 0)
      throw Error(fmt::format("example_ddp: --batch {} must be a multiple of the {} ranks", o.batch, comm.size()));
    bench::TransformerSize size;
    size.batch = o.batch / comm.size();  // each rank's graph takes its share
    train::TrainStepOptions step_options;
    step_options.optimizer = train::AdamOptions{};
    step_options.data_parallel =
        train::DataParallelOptions{.bucket_bytes = static_cast<int64_t>(o.bucket_mb * (1 << 20))};
    auto exe = make_backend("llvm")->compile(train::make_train_step(bench::transformer_train_graph(size), step_options),
                                             {.num_threads = o.threads});

    train::Trainer trainer(*exe, {.total_steps = o.steps,
                                  .lr = train::constant_lr(3e-4),
                                  .log_every = o.log_every,
                                  .data_parallel_group = "world"});
    // Wall time from the end of step 1 to the end of the last (the first step also fills caches
    // and pages in the arena): making the batch, the step, and the trainer's loss all-reduce.
    std::chrono::steady_clock::time_point start;
    CommunicatorStats before;
    trainer.run([&](int64_t step) { return reversal_batch(step, size, o.batch); },
                [&](const train::StepReport& r) {
                  if (r.step == 1) {
                    before = comm.stats();
                    start = std::chrono::steady_clock::now();
                  }
                  return true;
                });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CommunicatorStats after = comm.stats();
    const double timed = static_cast<double>(std::max<int64_t>(o.steps - 1, 1));
    if (comm.rank() == 0)
      std::printf(
          "ranks %d × %d thread(s), batch %lld (%lld per rank): %.1f ms per step over steps 2-%lld, of which "
          "all-reduce %.1f ms (%lld calls, %.1f MB per step)\n",
          comm.size(), o.threads, static_cast<long long>(o.batch), static_cast<long long>(size.batch),
          1e3 * seconds / timed, static_cast<long long>(o.steps),
          1e3 * (after.all_reduce_seconds - before.all_reduce_seconds) / timed,
          static_cast<long long>(after.all_reduce_calls - before.all_reduce_calls) / static_cast<long long>(timed),
          static_cast<double>(after.all_reduce_bytes - before.all_reduce_bytes) / timed / 1e6);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
