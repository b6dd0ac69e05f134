#!/usr/bin/env bash
# The MLP walk-through (`make demo-mlp`; `make demo` is the G2P one, examples/demo.sh): build a
# 2-layer MLP with the DSL, run it on the interpreter, draw it and report its statistics with
# weft-dump, then compile it to a shared object and run it from a C program.
# Usage: examples/mlp/demo.sh BUILD_DIR.
set -euo pipefail

build="${1:-build}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
example="$build/examples/example_mlp"
dump="$build/tools/weft-dump"
compile="$build/tools/weft-compile"
for exe in "$example" "$dump" "$compile"; do
  if [[ ! -x "$exe" ]]; then
    echo "demo: $exe is missing; build first (make build, or cmake --build $build)" >&2
    exit 1
  fi
done

cd "$root"
mkdir -p out
echo "== 1. build the MLP with the DSL and run it on the interpreter"
"$example" out/mlp.weft
echo
echo "== 2. the graph as text IR (out/mlp.weft)"
cat out/mlp.weft
echo
echo "== 3. draw it: weft-dump --format svg -o out/mlp.svg out/mlp.weft"
"$dump" out/mlp.weft --format svg -o out/mlp.svg
echo
echo "== 4. weft-dump --stats out/mlp.weft"
"$dump" out/mlp.weft --stats
echo
echo "== 5. compile it to a shared object: weft-compile out/mlp.weft -o out/mlp.so"
"$compile" out/mlp.weft -o out/mlp.so
echo
echo "== 6. build the C example against it and run it (B = 2)"
echo "cc -std=c11 -Iout -DWEFT_MODEL_HEADER='\"mlp.h\"' examples/c_api/run_model.c out/mlp.so -Wl,-rpath,'\$ORIGIN' -o out/run_mlp"
cc -std=c11 -Iout -DWEFT_MODEL_HEADER='"mlp.h"' examples/c_api/run_model.c out/mlp.so -Wl,-rpath,'$ORIGIN' -o out/run_mlp
out/run_mlp B=2 | cut -c1-160
echo
echo "files:"
echo "  $root/out/mlp.weft   text IR"
echo "  $root/out/mlp.svg    drawing (open it in a browser)"
echo "  $root/out/mlp.so     the compiled model, with its C header out/mlp.h"
echo "  $root/out/run_mlp    the C example linked against it"
