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
 *
 * Which pool those entry points use is the calling thread's *current* pool: the innermost
 * `ThreadPoolScope` on that thread, else (on a pool's worker) the worker's own pool, else the
 * global one. An executable compiled for N threads holds a pool of N and runs under a scope of it,
 * so its code sizes and spreads its loops for N threads without knowing where they come from.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace weft {

class ThreadPool {
 public:
  /// How long, by default, a worker watches for the next loop before it sleeps: not at all (see
  /// docs/performance.md, "The worker awake through a step": faster back to back, slower in the
  /// benchmark's interleaved runs).
  static constexpr int kDefaultSpinUs = 0;

  /// A pool in which `num_threads` threads (the caller plus num_threads - 1 workers) run loops; a
  /// worker that finished a loop waits `spin_us` microseconds for the next before it sleeps.
  explicit ThreadPool(int num_threads, int spin_us = default_spin_us());
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
  /// WEFT_POOL_SPIN_US if set (0 to 1,000,000; 0: sleep at once), else kDefaultSpinUs.
  static int default_spin_us();

  /// The pool `weft_parallel_for` and `weft_num_threads` use on the calling thread (see the file
  /// comment).
  static ThreadPool& current();

  /// What a pool has run since it was made (for diagnostics and tests; counted once per loop).
  struct Stats {
    int64_t loops = 0;           // parallel_for calls with n > 0
    int64_t indices = 0;         // indices run, on any thread
    int64_t worker_indices = 0;  // of those, indices run by the pool's workers rather than callers
  };
  Stats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Makes `pool` the calling thread's current pool for the scope's lifetime, then restores the one
/// before. Scopes nest; a scope must end on the thread that made it.
class ThreadPoolScope {
 public:
  explicit ThreadPoolScope(ThreadPool& pool);
  ~ThreadPoolScope();
  ThreadPoolScope(const ThreadPoolScope&) = delete;
  ThreadPoolScope& operator=(const ThreadPoolScope&) = delete;

 private:
  ThreadPool* previous_;
};

}  // namespace weft

extern "C" {
/// fn(ctx, i) for i in [0, n) on the calling thread's current pool (ThreadPool::current()).
/// Registered in the JIT as an absolute symbol.
void weft_parallel_for(void* ctx, int64_t n, void (*fn)(void*, int64_t));
/// Threads the calling thread's current pool runs loops on.
int64_t weft_num_threads(void);
/// A 64-byte-aligned buffer of at least `bytes` bytes owned by the calling thread, valid until the
/// thread's next call. Contents are not preserved when it grows. Compiled code asks only for sizes
/// bounded by its blocking constants (a few MiB), so a failure here means the process is out of
/// memory; it then returns null and the caller's behaviour is undefined.
void* weft_thread_scratch(int64_t bytes);
}
