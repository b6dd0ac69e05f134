/* Sets OMP_WAIT_POLICY=PASSIVE, unless the user set it, before libgomp reads its environment.
 *
 * libgomp reads its wait policy (OMP_WAIT_POLICY, GOMP_SPINCOUNT) once, in its library
 * initializer, and offers no call to change it later. A program's own code runs too late: its
 * constructors run after every library's, and even its .preinit_array, which runs before them,
 * cannot set a variable (libc's initializer puts the initial environment back after it). So this
 * is a shared library of its own, listed after libgomp in the program's needed libraries: the
 * dynamic loader initializes libc, then it, then libgomp (backends/onednn/omp_threads.cpp). */
#include <stdlib.h>

/* Referenced by the provider, so that no linker drops the library as unused. */
int weft_omp_env_loaded = 0;

__attribute__((constructor)) static void weft_passive_openmp(void) {
  setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  weft_omp_env_loaded = 1;
}
