#!/bin/sh
# Cold and warm compile time of the benchmark models (docs/performance.md, "Compile time"): each
# workload's setup in a new process with an empty on-disk JIT cache (cold), then again with the
# cache the first run filled (warm). Prints bench_models --compile-time's breakdown and the passes'
# times summed over the workload's compiles. Each run's line gives the load average before it (the
# machine is shared: a compile's time moves with it). WEFT_NUM_THREADS sets the compile's threads too.
#   bench/compile_time.sh [build dir] [workload ...]
set -eu
build=${1:-build}
[ $# -gt 0 ] && shift
workloads=${*:-encoder_layer transformer_train lstm_attn_tutorial greedy_b1}
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
for w in $workloads; do
  rm -rf "$cache"/*
  for run in cold warm; do
    echo "== $w, $run (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    WEFT_JIT_CACHE_DIR=$cache "$build/bench/bench_models" "$w" --compile-time 2>"$cache/passes.txt"
    # time_passes prints '#  <ms>  <share>%  <pass>' per pass and compile; sum them by pass.
    awk '$1 == "#" && $4 != "total" && $2 ~ /^[0-9.]+$/ { t[$4] += $2 }
         END { for (p in t) if (t[p] >= 1) printf "    pass %-24s %8.1f ms\n", p, t[p] }' "$cache/passes.txt" | sort -k3 -rn
  done
done
