#!/usr/bin/env bash
# The demo: build a 2-layer MLP with the DSL, run it on the interpreter, then draw it and report its
# statistics with weft-dump. Usage: examples/demo.sh BUILD_DIR (`make demo` passes it).
set -euo pipefail

build="${1:-build}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
example="$build/examples/example_mlp"
dump="$build/tools/weft-dump"
for exe in "$example" "$dump"; do
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
echo "files:"
echo "  $root/out/mlp.weft   text IR"
echo "  $root/out/mlp.svg    drawing (open it in a browser)"
