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
 *    once, in its library initializer: omp.h has no call to change it later. An executable's own
 *    code runs too late (even its .preinit_array: libc's initializer restores the initial
 *    environment after it), so a small shared library, weft_omp_env (omp_env.c), linked right
 *    after libgomp and so initialized just before it, sets OMP_WAIT_POLICY=PASSIVE unless the user
 *    set a policy. PASSIVE makes the workers sleep at once.
 *  - the team's size is the calling thread's `nthreads-var`, which `omp_set_num_threads` sets
 *    programmatically: before each primitive it is made the size of the Weft pool the call runs
 *    under (CompileOptions::num_threads or the global pool), so both sides use the same cores;
 *    a primitive too small to repay waking the sleeping workers (a few microseconds) runs on the
 *    caller alone, as Weft's own small products do (primitive_cache.cpp).
 *
 * docs/onednn-backend.md has the measurements (bench/onednn_bench.cpp).
 */
#include <omp.h>

#include "backends/onednn/primitive_cache.h"
#include "ir/error.h"
#include "runtime/thread_pool.h"

extern "C" int weft_omp_env_loaded;  // omp_env.c

namespace weft::onednn {

void match_openmp_to_pool(bool serial) {
  WEFT_CHECK(weft_omp_env_loaded == 1, "libweft_omp_env.so was not initialized before the first primitive");
  thread_local int team = 0;
  const int threads = serial ? 1 : ThreadPool::current().num_threads();
  if (threads != team) {
    omp_set_num_threads(threads);
    team = threads;
  }
}

}  // namespace weft::onednn
