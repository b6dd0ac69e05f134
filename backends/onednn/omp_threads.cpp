/** \file
 * One set of threads: oneDNN's OpenMP team and Weft's pool take turns on the cores.
 *
 * Debian's oneDNN runs its primitives on OpenMP (libgomp); Weft's kernels run on its own pool.
 * While a primitive runs, the pool's workers sleep on a condition variable, so oneDNN has the
 * cores. The danger is the other way round: after a parallel region libgomp's workers spin, by
 * default for about 3 ms (GOMP_SPINCOUNT 300000), before they sleep — and the next call, on
 * Weft's pool, then shares a core with a spinning thread. Two things keep them apart:
 *
 *  - libgomp reads its wait policy (OMP_WAIT_POLICY, GOMP_SPINCOUNT) only from the environment,
 *    once, in its library initializer: nothing set programmatically later changes it (omp.h has
 *    no call for it). So an executable that links this provider sets OMP_WAIT_POLICY=PASSIVE,
 *    unless the user set it, from its `.preinit_array`, which the dynamic loader runs before any
 *    shared library's initializer, libgomp's included. PASSIVE makes the workers sleep at once.
 *  - the team's size is the calling thread's `nthreads-var`, which `omp_set_num_threads` sets
 *    programmatically: before each primitive it is made the size of the Weft pool the call runs
 *    under (CompileOptions::num_threads or the global pool), so both sides use the same cores.
 *
 * docs/onednn-backend.md has the measurements (bench/onednn_bench.cpp).
 */
#include <omp.h>

#include <cstdlib>

#include "backends/onednn/primitive_cache.h"
#include "runtime/thread_pool.h"

namespace weft::onednn {

namespace {

void passive_openmp(int, char**, char**) { setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0); }

}  // namespace

// An executable's .preinit_array runs before every shared library's initializer.
__attribute__((section(".preinit_array"), used)) void (*const weft_onednn_passive_openmp)(int, char**,
                                                                                          char**) = passive_openmp;

void match_openmp_to_pool() {
  thread_local int team = 0;
  const int threads = ThreadPool::current().num_threads();
  if (threads != team) {
    omp_set_num_threads(threads);
    team = threads;
  }
}

}  // namespace weft::onednn
