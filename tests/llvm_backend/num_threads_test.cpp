/** \file
 * CompileOptions::num_threads on the LLVM backend, and the thread pool's current-pool mechanism it
 * rests on (runtime/thread_pool.h).
 *
 * Compiled code sizes and spreads its loops with `weft_num_threads()` and runs them with
 * `weft_parallel_for`; both use the calling thread's current pool, which an executable sets for
 * the duration of each run. The tests check the mechanism directly (which threads run a loop's
 * indices, what `weft_num_threads()` says inside a scope and on a worker), then through an
 * executable: which pool its loops reached (the pools' counters), and that its results do not
 * depend on the thread count, bit for bit.
 */
#include <gtest/gtest.h>

#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "runtime/thread_pool.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

/// The threads that ran the indices of one weft_parallel_for, and what weft_num_threads() said
/// on each.
struct Seen {
  std::mutex mutex;
  std::set<std::thread::id> threads;
  std::set<int64_t> num_threads;
  int64_t indices = 0;
};

void record(void* ctx, int64_t) {
  auto* seen = static_cast<Seen*>(ctx);
  // Long enough that a woken worker takes some indices when the pool has any.
  std::this_thread::sleep_for(std::chrono::microseconds(200));
  std::lock_guard lock(seen->mutex);
  seen->threads.insert(std::this_thread::get_id());
  seen->num_threads.insert(weft_num_threads());
  ++seen->indices;
}

TEST(LlvmNumThreads, ScopeMakesAPoolCurrentAndRestoresThePreviousOne) {
  ThreadPool three(3), one(1);
  EXPECT_EQ(&ThreadPool::current(), &ThreadPool::global());
  {
    ThreadPoolScope outer(three);
    EXPECT_EQ(weft_num_threads(), 3);
    {
      ThreadPoolScope inner(one);
      EXPECT_EQ(weft_num_threads(), 1);
      EXPECT_EQ(&ThreadPool::current(), &one);
    }
    EXPECT_EQ(&ThreadPool::current(), &three);
  }
  EXPECT_EQ(&ThreadPool::current(), &ThreadPool::global());
  EXPECT_EQ(weft_num_threads(), ThreadPool::global().num_threads());
}

TEST(LlvmNumThreads, OneThreadPoolRunsEveryIndexOnTheCallingThread) {
  ThreadPool one(1);
  Seen seen;
  {
    ThreadPoolScope scope(one);
    weft_parallel_for(&seen, 40, record);
  }
  EXPECT_EQ(seen.indices, 40);
  EXPECT_EQ(seen.threads, std::set<std::thread::id>{std::this_thread::get_id()});
  EXPECT_EQ(seen.num_threads, std::set<int64_t>{1});
  ThreadPool::Stats stats = one.stats();
  EXPECT_EQ(stats.loops, 1);
  EXPECT_EQ(stats.indices, 40);
  EXPECT_EQ(stats.worker_indices, 0);
}

TEST(LlvmNumThreads, WorkersSeeTheirOwnPoolAsCurrent) {
  ThreadPool three(3);
  Seen seen;
  ThreadPool::Stats global_before = ThreadPool::global().stats();
  {
    ThreadPoolScope scope(three);
    weft_parallel_for(&seen, 60, record);
  }
  EXPECT_EQ(seen.indices, 60);
  // Whichever threads ran them (the caller, the pool's workers), each saw the pool of 3.
  EXPECT_EQ(seen.num_threads, std::set<int64_t>{3});
  EXPECT_LE(seen.threads.size(), 3u);
  ThreadPool::Stats stats = three.stats();
  EXPECT_EQ(stats.loops, 1);
  EXPECT_EQ(stats.indices, 60);
  EXPECT_EQ(ThreadPool::global().stats().loops, global_before.loops);
}

/// Rows × columns large enough that every region splits its work into tasks when it has more than
/// one thread: a Linear layer, layer_norm, softmax, a column sum and a row maximum.
Graph parallel_graph() {
  dsl::Builder b("parallel");
  auto x = b.input("x", "f32[B<=512, 96]");
  auto w = b.input("w", "f32[128, 96]");
  auto gamma = b.input("gamma", "f32[128]");
  auto beta = b.input("beta", "f32[128]");
  auto h = dsl::relu(dsl::matmul(x, w, false, true));
  auto n = dsl::layer_norm(h, gamma, beta);
  b.output("p", dsl::softmax(n * 3.0f));
  b.output("col", dsl::sum(n, {0}));
  b.output("row", dsl::max(h, {1}));
  return b.finish();
}

std::vector<Tensor> parallel_inputs(const Graph& g) { return random_inputs(g, {{"B", 509}}, 11); }

TEST(LlvmNumThreads, ExecutableWithOneThreadRunsEveryTaskOnTheCallingThread) {
  Graph g = parallel_graph();
  auto exe = LlvmBackend().compile_llvm(g, CompileOptions{.num_threads = 1});
  ThreadPool& pool = exe->thread_pool();
  EXPECT_EQ(pool.num_threads(), 1);
  ThreadPool::Stats global_before = ThreadPool::global().stats();
  exe->run(parallel_inputs(g));
  // Loops its code dispatched (the GEMM hands its tiles to weft_parallel_for whatever the count)
  // reached its own pool, which has no workers: every index ran on this thread (see
  // OneThreadPoolRunsEveryIndexOnTheCallingThread). None reached the global pool's workers.
  EXPECT_EQ(pool.stats().worker_indices, 0);
  EXPECT_EQ(ThreadPool::global().stats().loops, global_before.loops);
  EXPECT_EQ(ThreadPool::global().stats().worker_indices, global_before.worker_indices);
  EXPECT_EQ(&ThreadPool::current(), &ThreadPool::global());  // the run's scope has ended
}

TEST(LlvmNumThreads, ExecutableRunsItsLoopsOnAPoolOfItsThreadCount) {
  Graph g = parallel_graph();
  // One more thread than the global pool: the executable must make a pool of its own.
  const int n = ThreadPool::global().num_threads() + 1;
  auto exe = LlvmBackend().compile_llvm(g, CompileOptions{.num_threads = n});
  ThreadPool& pool = exe->thread_pool();
  ASSERT_NE(&pool, &ThreadPool::global());
  EXPECT_EQ(pool.num_threads(), n);
  ThreadPool::Stats global_before = ThreadPool::global().stats();
  exe->run(parallel_inputs(g));
  EXPECT_GT(pool.stats().loops, 0);  // its code saw n > 1 threads and dispatched to this pool
  EXPECT_EQ(ThreadPool::global().stats().loops, global_before.loops);
  EXPECT_EQ(&exe->thread_pool(), &pool);  // made once
}

TEST(LlvmNumThreads, ZeroMeansTheGlobalPool) {
  auto exe = LlvmBackend().compile_llvm(parallel_graph(), CompileOptions{.num_threads = 0});
  EXPECT_EQ(&exe->thread_pool(), &ThreadPool::global());
}

TEST(LlvmNumThreads, ResultsAreBitIdenticalAtOneTwoAndThreeThreads) {
  Graph g = parallel_graph();
  std::vector<Tensor> inputs = parallel_inputs(g);
  std::vector<std::vector<Tensor>> results;
  for (int n : {1, 2, 3})
    results.push_back(LlvmBackend().compile_llvm(g, CompileOptions{.num_threads = n})->run(inputs));
  for (size_t r = 1; r < results.size(); ++r) {
    ASSERT_EQ(results[r].size(), results[0].size());
    for (size_t k = 0; k < results[0].size(); ++k) {
      ASSERT_EQ(results[r][k].type_str(), results[0][k].type_str());
      EXPECT_EQ(std::memcmp(results[r][k].raw(), results[0][k].raw(), results[0][k].nbytes()), 0)
          << "output " << g.outputs()[k].name << " differs between 1 and " << r + 1 << " threads";
    }
  }
  // And they are the interpreter's, up to the reductions' rounding.
  std::vector<Tensor> want = InterpBackend().compile(g)->run(inputs);
  for (size_t k = 0; k < want.size(); ++k) expect_close(want[k], results[1][k], kMatmul, g.outputs()[k].name);
}

TEST(LlvmNumThreads, RejectsANegativeThreadCount) {
  try {
    LlvmBackend().compile_llvm(parallel_graph(), CompileOptions{.num_threads = -2});
    FAIL() << "expected weft::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_threads must be 0 (the global pool) or 1 to 1024, but is -2"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace weft::llvm_tests
