// The runtime's thread pool, as the JIT'd code uses it: every index exactly once (back to back, and
// after the workers went to sleep), nesting and concurrent callers without deadlock, exceptions
// carried back to the caller.
#include "runtime/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace weft {
namespace {

TEST(ThreadPool, RunsEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t n : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      pool.parallel_for(n, [&](int64_t i) { hits[i]++; });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i << " of " << n;
    }
  }
}

class ThreadPoolSpin : public ::testing::TestWithParam<int> {};

TEST_P(ThreadPoolSpin, LoopsBackToBackAndAfterTheWorkersFellAsleepRunEveryIndex) {
  // Back to back, a worker may still be finishing (or waking for, or spinning for) one loop when
  // the next is published; after a pause longer than the spin it sleeps and must be woken. A
  // worker that missed a loop, ran one twice or read the loop after it closed shows as a wrong
  // count. Spins: none (sleep at once, the default), 50 µs, and longer than the pause (never sleeps).
  ThreadPool pool(3, GetParam());
  for (int round = 0; round < 3; ++round) {
    for (int r = 0; r < 2000; ++r) {
      const int64_t n = 1 + r % 9;
      std::vector<std::atomic<int>> hits(n);
      pool.parallel_for(n, [&](int64_t i) { hits[i]++; });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "loop " << r << " index " << i;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::atomic<int> total{0};
    pool.parallel_for(64, [&](int64_t) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      total++;
    });
    EXPECT_EQ(total.load(), 64);
  }
  EXPECT_GT(pool.stats().worker_indices, 0) << "the workers never joined a loop";
}

INSTANTIATE_TEST_SUITE_P(Spins, ThreadPoolSpin, ::testing::Values(0, 50, 20000));

TEST(ThreadPool, StopsWhileItsWorkersSpin) {
  // The destructor must end workers that are watching for a next loop, not only sleeping ones.
  for (int i = 0; i < 20; ++i) {
    ThreadPool pool(3, 1000000);
    std::atomic<int> total{0};
    pool.parallel_for(16, [&](int64_t) { total++; });
    EXPECT_EQ(total.load(), 16);
  }
}

TEST(ThreadPool, RunsNestedLoopsSerially) {
  ThreadPool pool(2);
  std::atomic<int> total{0};
  pool.parallel_for(4, [&](int64_t) { pool.parallel_for(5, [&](int64_t) { total++; }); });
  EXPECT_EQ(total.load(), 20);
}

TEST(ThreadPool, ServesConcurrentCallers) {
  ThreadPool pool(2);
  std::atomic<int> total{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int r = 0; r < 50; ++r) pool.parallel_for(10, [&](int64_t) { total++; });
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 4 * 50 * 10);
}

TEST(ThreadPool, RethrowsTheFirstException) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(100,
                                 [&](int64_t i) {
                                   if (i == 37) throw std::runtime_error("index 37");
                                 }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<int> total{0};
  pool.parallel_for(10, [&](int64_t) { total++; });
  EXPECT_EQ(total.load(), 10);
}

TEST(ThreadPool, CEntryPointsUseTheGlobalPool) {
  EXPECT_EQ(weft_num_threads(), ThreadPool::global().num_threads());
  std::atomic<int64_t> sum{0};
  weft_parallel_for(&sum, 100, [](void* ctx, int64_t i) { *static_cast<std::atomic<int64_t>*>(ctx) += i; });
  EXPECT_EQ(sum.load(), 4950);  // 0 + 1 + ... + 99
}

TEST(ThreadPool, ScratchIsAlignedAndGrows) {
  void* small = weft_thread_scratch(10);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small) % 64, 0u);
  EXPECT_EQ(weft_thread_scratch(5), small);  // big enough already: the same buffer
  void* big = weft_thread_scratch(1 << 22);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big) % 64, 0u);
  static_cast<char*>(big)[(1 << 22) - 1] = 1;  // writable to the end
}

}  // namespace
}  // namespace weft
