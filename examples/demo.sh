#!/usr/bin/env bash
# `make demo`: grapheme-to-phoneme on the CMU dictionary (docs/g2p.md). Trains the reference
# Transformer for DEMO_MINUTES (default 10) of wall-clock time, scores it on the test words with
# greedy and beam search, writes out/g2p/report.html, compiles the model to out/g2p/g2p.so with
# weft-compile --decode and pronounces words through it from C (out/g2p/weft-g2p).
# Usage: examples/demo.sh BUILD_DIR [example_g2p options...] (`make demo` passes the build dir;
# DEMO_ARGS adds options, e.g. DEMO_ARGS=--resume or DEMO_ARGS=--until-converged).
set -euo pipefail

build="${1:-build}"
shift || true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
g2p="$build/examples/g2p/example_g2p"
dump="$build/tools/weft-dump"
compile="$build/tools/weft-compile"
for exe in "$g2p" "$dump" "$compile"; do
  if [[ ! -x "$exe" ]]; then
    echo "demo: $exe is missing; build first (make build, or cmake --build $build)" >&2
    exit 1
  fi
done

cd "$root"
out=out/g2p
mkdir -p "$out"
minutes="${DEMO_MINUTES:-10}"
echo "== 1. train the G2P Transformer for $minutes minutes, then evaluate (example_g2p)"
# shellcheck disable=SC2086
"$g2p" --minutes "$minutes" --out "$out" --weft-dump "$dump" ${DEMO_ARGS:-} "$@"
echo
echo "== 2. compile it to a shared object: weft-compile --decode beam"
"$compile" "$out/encode.weft" "$out/decode_step.weft" --weights "$out/weights.safetensors" \
  --decode beam --beam 4 --name g2p -o "$out/g2p.so"
echo
echo "== 3. build weft-g2p (plain C) against it and pronounce a few words"
cc -std=c11 -O2 -I"$out" -DWEFT_MODEL_HEADER='"g2p.h"' examples/g2p/weft_g2p.c "$out/g2p.so" \
  -Wl,-rpath,'$ORIGIN' -o "$out/weft-g2p"
echo "$out/weft-g2p hello world weft phoneme"
"$out/weft-g2p" hello world weft phoneme
echo
echo "files:"
echo "  $root/$out/report.html   error rates, samples, curves, attention heatmaps, the graph"
echo "  $root/$out/results.json  the numbers; curves.csv the training curves"
echo "  $root/$out/checkpoint.safetensors  resume with: DEMO_ARGS=--resume make demo"
echo "  $root/$out/g2p.so        the compiled model (header g2p.h); $out/weft-g2p WORD... pronounces"
