/** \file
 * A small fixed-size thread pool with one primitive, `parallel_for(n, fn)`, and the C entry points
 * that compiled code (JIT or AOT) calls back into.
 *
 * `parallel_for` runs fn(i) for every i in [0, n) across the pool's threads, the caller included,
 * and returns when all are done. Indices are handed out dynamically (an atomic counter), so a core
 * that another process is using does not hold the others back; results stay deterministic as long
 * as each index writes its own outputs, which is how every caller in Weft uses it. A call made
 * from inside a task, or while another thread is already running a loop on the same pool, runs
 * serially on the calling thread instead of deadlocking.
 *
 * The pool knows nothing of graphs or LLVM: compiled code reaches it through `weft_parallel_for`
 * and borrows per-thread scratch memory (packing buffers) through `weft_thread_scratch`.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace weft {

class ThreadPool {
 public:
  /// A pool in which `num_threads` threads (the caller plus num_threads - 1 workers) run loops.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const;

  /// Runs fn(ctx, i) for i in [0, n); the form compiled code uses (no allocation, no exceptions).
  void parallel_for(int64_t n, void* ctx, void (*fn)(void*, int64_t));

  /// Runs fn(i) for i in [0, n). If any call throws, the first exception is rethrown here after
  /// every started index has finished.
  void parallel_for(int64_t n, const std::function<void(int64_t)>& fn);

  /// The process-wide pool: WEFT_NUM_THREADS threads if set (>= 1), else the hardware's count.
  static ThreadPool& global();
  static int default_num_threads();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace weft

extern "C" {
/// fn(ctx, i) for i in [0, n) on the global pool. Registered in the JIT as an absolute symbol.
void weft_parallel_for(void* ctx, int64_t n, void (*fn)(void*, int64_t));
/// Threads the global pool runs loops on.
int64_t weft_num_threads(void);
/// A 64-byte-aligned buffer of at least `bytes` bytes owned by the calling thread, valid until the
/// thread's next call. Contents are not preserved when it grows. Compiled code asks only for sizes
/// bounded by its blocking constants (a few MiB), so a failure here means the process is out of
/// memory; it then returns null and the caller's behaviour is undefined.
void* weft_thread_scratch(int64_t bytes);
}
