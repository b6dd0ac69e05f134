#!/usr/bin/env bash
# `make bench`: first the kernel benchmarks built in <builddir>/bench (bench_* executables, one after
# another): bench_bahdanau (the Bahdanau decoder's training step as written against its hoisted
# form), bench_bandwidth (fused layer_norm and softmax against a copy of the same tensor),
# bench_decode (greedy and beam search with the KV cache against re-running the prefix, the .so, and
# PyTorch's loops), bench_lstm_layer (one LSTM, tanh RNN and GRU layer on llvm, onednn and auto), bench_matmul (the
# generated SGEMM against oneDNN) and bench_onednn (the onednn backend's products against llvm's,
# and one set of threads: a graph mixing oneDNN and LLVM calls against its parts,
# `one_set_of_threads ... mixed/parts=`), each printing its own ratios; then the whole models
# against every peer (bench/compare.py, docs/benchmarks.md), which ends the run with one
# `ratio <workload> ...` line per workload and, for the encoder layer and the LSTM
# encoder-decoder's train step timed on llvm, onednn and auto, a `providers <workload> ...
# auto/best=` line (docs/onednn-backend.md).
# Last, the G2P race (bench/g2p_budget.py): the demo's Transformer and train_torch.py's, each trained
# for WEFT_BENCH_G2P_MINUTES minutes (default 10; 0 skips it), one after the other, side by side.
#   bench/run.sh <builddir> [compare.py flags]      WEFT_BENCH_KERNELS=0 skips the kernel benchmarks
set -euo pipefail
build="${1:?usage: bench/run.sh <builddir> [compare.py flags]}"
shift
dir="$build/bench"
if [ ! -x "$dir/bench_models" ]; then
  echo "bench/run.sh: $dir/bench_models does not exist; build first (make bench)" >&2
  exit 1
fi
# Two threads for Weft and for OpenMP peers, idle OpenMP workers sleeping: see bench/matmul_bench.cpp.
export WEFT_NUM_THREADS="${WEFT_NUM_THREADS:-2}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
if [ "${WEFT_BENCH_KERNELS:-1}" != 0 ]; then
  for exe in "$dir"/bench_*; do
    [ -x "$exe" ] || continue
    [ "$(basename "$exe")" = bench_models ] && continue  # compare.py's worker
    echo "== $(basename "$exe")"
    "$exe" || echo "bench/run.sh: $(basename "$exe") failed (status $?)"
  done
fi
status=0
python3 "$(dirname "$0")/compare.py" --build "$build" "$@" || status=$?
minutes="${WEFT_BENCH_G2P_MINUTES:-10}"
if [ "$minutes" != 0 ]; then
  echo "== g2p_budget ($minutes minutes each)"
  python3 "$(dirname "$0")/g2p_budget.py" --build "$build" --minutes "$minutes" || status=$?
fi
exit "$status"
