/** \file
 * What every benchmark in bench/ does first: run with the peers' thread settings, and read
 * `--rounds=N`.
 */
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace weft::bench {

/// 2 threads for Weft and for the OpenMP peers (oneDNN), idle OpenMP workers sleeping
/// (OMP_WAIT_POLICY=PASSIVE), unless the environment says otherwise. OpenMP reads its settings
/// when its library loads, before main, so when they are missing this sets them and starts the
/// program again; it returns only when they were already set (or the restart failed).
inline void run_with_peer_threads(char** argv) {
  if (std::getenv("OMP_NUM_THREADS") != nullptr) return;
  setenv("OMP_NUM_THREADS", "2", 1);
  if (std::getenv("WEFT_NUM_THREADS") == nullptr) setenv("WEFT_NUM_THREADS", "2", 1);
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
}

/// The value of `--rounds=N` (at least 1), or `fallback`; removes the flag from argv, so that the
/// rest can go to Google Benchmark.
inline int take_rounds(int& argc, char** argv, int fallback) {
  int rounds = fallback;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--rounds=", 9) == 0)
      rounds = std::max(1, std::atoi(argv[i] + 9));
    else
      argv[out++] = argv[i];
  }
  argc = out;
  return rounds;
}

}  // namespace weft::bench
