/** \file
 * The thread pool behind `parallel_for`.
 *
 * One loop runs at a time. The caller publishes the `Loop` (an atomic index counter and the
 * function) in the pool's state, bumps a generation number and wakes the workers; everyone, caller
 * included, takes indices until they run out. A worker joins a loop only while it is open, and
 * counts itself in (`active`) under the lock; when the caller has run out of indices it closes the
 * loop and waits only for the workers that joined. A worker that wakes late — descheduled on a
 * machine whose cores are busy, which takes a scheduler tick or more — finds the loop closed and
 * goes back to sleep: the caller never waits for a thread that had nothing left to do (before, it
 * waited for every worker to acknowledge every loop, which cost milliseconds under load).
 *
 * A worker that finished a loop can watch for the next one for a while (`spin_us`,
 * WEFT_POOL_SPIN_US; default 0: it sleeps at once) before it sleeps: the loops of a decode step
 * come a few microseconds apart, and waking a sleeping thread (a futex wake and a reschedule, 5–30
 * µs under KVM) costs as much as a small loop. The spin is bounded, so an idle pool sleeps and
 * takes no core from other programs for longer than that.
 *
 * The current pool is a thread-local pointer: set by ThreadPoolScope, and by each worker to its own
 * pool when it starts.
 */
#include "runtime/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace weft {
namespace {

struct Loop {
  int64_t n = 0;
  void* ctx = nullptr;
  void (*fn)(void*, int64_t) = nullptr;
  std::atomic<int64_t> next{0};
};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// Set while a thread runs loop bodies, so that a nested parallel_for runs serially.
thread_local bool t_inside_loop = false;

// The calling thread's current pool; null means the global one.
thread_local ThreadPool* t_current = nullptr;

/// Runs indices until none are left; returns how many this thread ran.
int64_t run_indices(Loop& loop) {
  bool was_inside = t_inside_loop;
  t_inside_loop = true;
  int64_t ran = 0;
  for (int64_t i = loop.next.fetch_add(1, std::memory_order_relaxed); i < loop.n;
       i = loop.next.fetch_add(1, std::memory_order_relaxed)) {
    loop.fn(loop.ctx, i);
    ++ran;
  }
  t_inside_loop = was_inside;
  return ran;
}

}  // namespace

struct ThreadPool::State {
  int num_threads = 1;
  std::vector<std::thread> workers;

  std::mutex submit;  // one loop at a time
  std::mutex mutex;
  std::condition_variable wake;
  std::condition_variable done;
  uint64_t generation = 0;
  Loop loop;          // the current loop, valid while `open` or while a worker is `active` in it
  bool open = false;  // workers may join the current loop
  int active = 0;     // workers running the current loop's indices
  bool stop = false;

  std::atomic<int64_t> loops{0}, indices{0}, worker_indices{0};
  std::atomic<uint64_t> published{0};  // `generation`, readable without the lock
  std::chrono::nanoseconds spin{0};

  // Waits up to `spin` for a loop after `seen` before the worker goes to sleep: a step's loops
  // come microseconds apart, and waking a sleeping thread costs about as much as a small loop.
  void spin_for_next_loop(uint64_t seen) const {
    if (spin.count() <= 0) return;
    auto until = std::chrono::steady_clock::now() + spin;
    while (published.load(std::memory_order_acquire) == seen && std::chrono::steady_clock::now() < until) {
      for (int i = 0; i < 16; ++i) cpu_relax();
    }
  }

  void worker_main(ThreadPool* owner) {
    t_current = owner;
    uint64_t seen = 0;
    for (;;) {
      spin_for_next_loop(seen);
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [&] { return stop || generation != seen; });
        if (stop) return;
        seen = generation;
        if (!open) continue;  // woke after the caller finished it
        ++active;
      }
      int64_t ran = run_indices(loop);
      if (ran > 0) worker_indices.fetch_add(ran, std::memory_order_relaxed);
      std::lock_guard lock(mutex);
      if (--active == 0) done.notify_one();
    }
  }
};

ThreadPool::ThreadPool(int num_threads, int spin_us) : state_(std::make_unique<State>()) {
  state_->num_threads = std::max(1, num_threads);
  state_->spin = std::chrono::microseconds(std::max(0, spin_us));
  for (int i = 1; i < state_->num_threads; ++i) {
    state_->workers.emplace_back([this] { state_->worker_main(this); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stop = true;
  }
  state_->published.fetch_add(1, std::memory_order_release);  // ends the workers' spins
  state_->wake.notify_all();
  for (auto& t : state_->workers) t.join();
}

int ThreadPool::num_threads() const { return state_->num_threads; }

void ThreadPool::parallel_for(int64_t n, void* ctx, void (*fn)(void*, int64_t)) {
  if (n <= 0) return;
  State& s = *state_;
  s.loops.fetch_add(1, std::memory_order_relaxed);
  s.indices.fetch_add(n, std::memory_order_relaxed);
  // Serial when there is nobody to share with, when nested inside a loop body, or when another
  // thread is already running a loop (waiting for it could deadlock if that loop waits for us).
  std::unique_lock submit(s.submit, std::defer_lock);
  if (n == 1 || s.workers.empty() || t_inside_loop || !submit.try_lock()) {
    Loop serial;
    serial.n = n;
    serial.ctx = ctx;
    serial.fn = fn;
    run_indices(serial);
    return;
  }
  {
    // No worker is in the pool's loop now: the last caller closed it and waited for them.
    std::lock_guard lock(s.mutex);
    s.loop.n = n;
    s.loop.ctx = ctx;
    s.loop.fn = fn;
    s.loop.next.store(0, std::memory_order_relaxed);
    s.open = true;
    ++s.generation;
    s.published.store(s.generation, std::memory_order_release);
  }
  s.wake.notify_all();
  run_indices(s.loop);
  std::unique_lock lock(s.mutex);
  s.open = false;
  s.done.wait(lock, [&] { return s.active == 0; });
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t)>& fn) {
  struct Ctx {
    const std::function<void(int64_t)>* fn;
    std::mutex mutex;
    std::exception_ptr error;
  } ctx{&fn, {}, nullptr};
  parallel_for(n, &ctx, [](void* p, int64_t i) {
    auto* c = static_cast<Ctx*>(p);
    try {
      (*c->fn)(i);
    } catch (...) {
      std::lock_guard lock(c->mutex);
      if (!c->error) c->error = std::current_exception();
    }
  });
  if (ctx.error) std::rethrow_exception(ctx.error);
}

int ThreadPool::default_num_threads() {
  if (const char* env = std::getenv("WEFT_NUM_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 1024) return static_cast<int>(v);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

int ThreadPool::default_spin_us() {
  if (const char* env = std::getenv("WEFT_POOL_SPIN_US")) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 0 && v <= 1000000) return static_cast<int>(v);
  }
  return kDefaultSpinUs;
}

ThreadPool& ThreadPool::global() {
  static ThreadPool pool(default_num_threads());
  return pool;
}

ThreadPool& ThreadPool::current() { return t_current ? *t_current : global(); }

ThreadPool::Stats ThreadPool::stats() const {
  Stats out;
  out.loops = state_->loops.load(std::memory_order_relaxed);
  out.indices = state_->indices.load(std::memory_order_relaxed);
  out.worker_indices = state_->worker_indices.load(std::memory_order_relaxed);
  return out;
}

ThreadPoolScope::ThreadPoolScope(ThreadPool& pool) : previous_(t_current) { t_current = &pool; }

ThreadPoolScope::~ThreadPoolScope() { t_current = previous_; }

}  // namespace weft

namespace {

// Per-thread scratch. Freed when the thread exits.
struct Scratch {
  void* data = nullptr;
  int64_t size = 0;
  ~Scratch() { std::free(data); }
};
thread_local Scratch t_scratch;

}  // namespace

extern "C" void weft_parallel_for(void* ctx, int64_t n, void (*fn)(void*, int64_t)) {
  weft::ThreadPool::current().parallel_for(n, ctx, fn);
}

extern "C" int64_t weft_num_threads(void) { return weft::ThreadPool::current().num_threads(); }

extern "C" void* weft_thread_scratch(int64_t bytes) {
  if (bytes <= t_scratch.size) return t_scratch.data;
  std::free(t_scratch.data);
  // Round up to whole 64-byte lines (aligned_alloc requires a multiple of the alignment).
  int64_t size = std::max<int64_t>(64, (bytes + 63) / 64 * 64);
  t_scratch.data = std::aligned_alloc(64, static_cast<size_t>(size));
  t_scratch.size = t_scratch.data ? size : 0;
  return t_scratch.data;
}
