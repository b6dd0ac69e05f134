/* weft_rt_pool.c — the thread pool of an instance, and the entry points generated kernels call:
 * weft_parallel_for, weft_num_threads, weft_thread_scratch.
 *
 * Each instance has its own pool: the thread that calls weft_run plus num_threads - 1 workers,
 * which sleep on a condition variable between loops — at once, or after watching for the next
 * loop for WEFT_POOL_SPIN_US microseconds, as the JIT's pool does (runtime/thread_pool.cpp). Kernels know nothing of
 * instances, so weft_run makes the instance's pool current on its thread (a thread-local), and
 * each worker does the same for itself once; instances run by different threads at the same time
 * never meet.
 *
 * A loop is published under the mutex with a new generation number; everyone, caller included,
 * takes indices from an atomic counter until they run out, so a busy core does not hold the
 * others back. Each worker acknowledges every generation, so the caller knows when the loop's
 * fields are no longer read. A loop started from inside a loop body runs serially on that thread.
 *
 * Scratch memory (weft_thread_scratch) belongs to the pool, one buffer per thread, freed with the
 * instance: no thread-exit destructor, which would outlive a dlclose'd shared object.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "weft_rt_internal.h"

typedef struct rt_scratch {
  void* data;
  int64_t size;
} rt_scratch;

typedef struct rt_worker {
  rt_pool* pool;
  int32_t index;
} rt_worker;

struct rt_pool {
  int32_t num_threads;
  int32_t started;    /* workers running */
  pthread_t* threads; /* num_threads - 1 workers */
  rt_worker* workers;
  rt_scratch* scratch; /* per thread: 0 is the caller of weft_run, i the worker i */
  pthread_mutex_t mutex;
  pthread_cond_t wake; /* a new loop, or stop */
  pthread_cond_t done; /* the last worker finished the loop */
  uint64_t generation;
  _Atomic uint64_t published; /* generation, readable without the mutex */
  int64_t spin_ns;            /* how long a worker watches `published` before it sleeps */
  int32_t pending; /* workers that have not finished the current generation */
  int stop;
  /* The current loop: written under the mutex before the generation changes. */
  int64_t n;
  void* ctx;
  void (*fn)(void*, int64_t);
  _Atomic int64_t next;
};

static _Thread_local rt_pool* tl_pool;
static _Thread_local int32_t tl_index;
static _Thread_local int tl_inside; /* running loop bodies: a nested loop runs serially */

static void run_indices(rt_pool* pool, int64_t n, void* ctx, void (*fn)(void*, int64_t)) {
  int was_inside = tl_inside;
  tl_inside = 1;
  for (int64_t i = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed); i < n;
       i = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed))
    fn(ctx, i);
  tl_inside = was_inside;
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static void spin_for_next_loop(rt_pool* pool, uint64_t seen) {
  if (pool->spin_ns <= 0) return;
  int64_t until = now_ns() + pool->spin_ns;
  while (atomic_load_explicit(&pool->published, memory_order_acquire) == seen && now_ns() < until)
    for (int i = 0; i < 16; ++i) cpu_relax();
}

/* WEFT_POOL_SPIN_US (0 to 1,000,000 µs), else 0: sleep at once. */
static int64_t spin_ns_from_env(void) {
  const char* env = getenv("WEFT_POOL_SPIN_US");
  if (env && *env) {
    char* end = NULL;
    long v = strtol(env, &end, 10);
    if (*end == '\0' && v >= 0 && v <= 1000000) return (int64_t)v * 1000;
  }
  return 0;
}

static void* worker_main(void* arg) {
  rt_worker* self = arg;
  rt_pool* pool = self->pool;
  tl_pool = pool;
  tl_index = self->index;
  uint64_t seen = 0;
  for (;;) {
    spin_for_next_loop(pool, seen);
    pthread_mutex_lock(&pool->mutex);
    while (!pool->stop && pool->generation == seen) pthread_cond_wait(&pool->wake, &pool->mutex);
    if (pool->stop) {
      pthread_mutex_unlock(&pool->mutex);
      return NULL;
    }
    seen = pool->generation;
    int64_t n = pool->n;
    void* ctx = pool->ctx;
    void (*fn)(void*, int64_t) = pool->fn;
    pthread_mutex_unlock(&pool->mutex);
    run_indices(pool, n, ctx, fn);
    pthread_mutex_lock(&pool->mutex);
    if (--pool->pending == 0) pthread_cond_signal(&pool->done);
    pthread_mutex_unlock(&pool->mutex);
  }
}

int32_t rt_default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 1024 ? 1024 : (int32_t)n;
}

rt_pool* rt_pool_create(int32_t num_threads) {
  rt_pool* pool = calloc(1, sizeof *pool);
  if (!pool) return NULL;
  pool->num_threads = num_threads < 1 ? 1 : num_threads;
  pool->threads = calloc((size_t)pool->num_threads, sizeof *pool->threads);
  pool->workers = calloc((size_t)pool->num_threads, sizeof *pool->workers);
  pool->scratch = calloc((size_t)pool->num_threads, sizeof *pool->scratch);
  if (!pool->threads || !pool->workers || !pool->scratch || pthread_mutex_init(&pool->mutex, NULL) != 0) {
    free(pool->threads);
    free(pool->workers);
    free(pool->scratch);
    free(pool);
    return NULL;
  }
  pthread_cond_init(&pool->wake, NULL);
  pthread_cond_init(&pool->done, NULL);
  atomic_init(&pool->next, 0);
  atomic_init(&pool->published, 0);
  pool->spin_ns = spin_ns_from_env();
  for (int32_t i = 1; i < pool->num_threads; ++i) {
    pool->workers[i] = (rt_worker){pool, i};
    if (pthread_create(&pool->threads[i], NULL, worker_main, &pool->workers[i]) != 0) {
      rt_pool_destroy(pool);
      return NULL;
    }
    pool->started = i;
  }
  return pool;
}

void rt_pool_destroy(rt_pool* pool) {
  pthread_mutex_lock(&pool->mutex);
  pool->stop = 1;
  atomic_fetch_add_explicit(&pool->published, 1, memory_order_release); /* ends the workers' spins */
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->mutex);
  for (int32_t i = 1; i <= pool->started; ++i) pthread_join(pool->threads[i], NULL);
  for (int32_t i = 0; i < pool->num_threads; ++i) free(pool->scratch[i].data);
  pthread_cond_destroy(&pool->wake);
  pthread_cond_destroy(&pool->done);
  pthread_mutex_destroy(&pool->mutex);
  free(pool->threads);
  free(pool->workers);
  free(pool->scratch);
  free(pool);
}

int32_t rt_pool_threads(const rt_pool* pool) { return pool->num_threads; }

rt_pool_binding rt_pool_enter(rt_pool* pool) {
  rt_pool_binding previous = {tl_pool, tl_index, tl_inside};
  tl_pool = pool;
  tl_index = 0;
  tl_inside = 0;
  return previous;
}

void rt_pool_leave(rt_pool_binding previous) {
  tl_pool = previous.pool;
  tl_index = previous.index;
  tl_inside = previous.inside;
}

/* ---- what generated kernels call */

void weft_parallel_for(void* ctx, int64_t n, void (*fn)(void*, int64_t)) {
  if (n <= 0 || !fn) return;
  rt_pool* pool = tl_pool;
  if (!pool || pool->started == 0 || n == 1 || tl_inside) {
    int was_inside = tl_inside;
    tl_inside = 1;
    for (int64_t i = 0; i < n; ++i) fn(ctx, i);
    tl_inside = was_inside;
    return;
  }
  pthread_mutex_lock(&pool->mutex);
  pool->n = n;
  pool->ctx = ctx;
  pool->fn = fn;
  atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
  pool->pending = pool->started;
  ++pool->generation;
  atomic_store_explicit(&pool->published, pool->generation, memory_order_release);
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->mutex);
  run_indices(pool, n, ctx, fn);
  pthread_mutex_lock(&pool->mutex);
  while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->mutex);
  pthread_mutex_unlock(&pool->mutex);
}

int64_t weft_num_threads(void) { return tl_pool ? tl_pool->num_threads : 1; }

void* weft_thread_scratch(int64_t bytes) {
  rt_pool* pool = tl_pool;
  if (!pool || bytes < 0 || bytes > INT64_MAX - RT_ALIGN) return NULL;
  rt_scratch* s = &pool->scratch[tl_index];
  if (bytes <= s->size && s->data) return s->data;
  free(s->data);
  /* Whole 64-byte lines: aligned_alloc wants a multiple of the alignment. */
  int64_t size = bytes < RT_ALIGN ? RT_ALIGN : (bytes + RT_ALIGN - 1) / RT_ALIGN * RT_ALIGN;
  s->data = aligned_alloc(RT_ALIGN, (size_t)size);
  s->size = s->data ? size : 0;
  return s->data;
}
