#!/usr/bin/env bash
# Runs every benchmark built in <builddir>/bench (bench_* executables), one after another:
# bench_bahdanau (the Bahdanau decoder's training step as written against its hoisted form),
# bench_bandwidth (fused layer_norm and softmax against a copy of the same tensor), bench_decode
# (greedy and beam search with the KV cache against re-running the prefix, and PyTorch's loops)
# and bench_matmul (the generated SGEMM against oneDNN). Each prints its own ratio lines against the baseline or peer
# it measures in the same run.
#   bench/run.sh <builddir> [extra flags passed to every benchmark]
set -euo pipefail
build="${1:?usage: bench/run.sh <builddir> [benchmark flags]}"
shift
dir="$build/bench"
if [ ! -d "$dir" ]; then
  echo "bench/run.sh: $dir does not exist; build first (make bench)" >&2
  exit 1
fi
# Two threads for Weft and for OpenMP peers, idle OpenMP workers sleeping: see bench/matmul_bench.cpp.
export WEFT_NUM_THREADS="${WEFT_NUM_THREADS:-2}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
found=0
for exe in "$dir"/bench_*; do
  [ -x "$exe" ] || continue
  found=1
  echo "== $(basename "$exe")"
  "$exe" "$@"
done
if [ "$found" -eq 0 ]; then
  echo "bench/run.sh: no bench_* executables in $dir" >&2
  exit 1
fi
