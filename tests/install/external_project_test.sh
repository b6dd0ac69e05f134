#!/usr/bin/env bash
# Installs this build into a fresh prefix and builds examples/external against it twice, as an
# outside project would: with CMake (find_package(Weft) + Weft::weft) and with pkg-config. Each
# program trains XOR on the llvm backend and exits 0 only when its predictions are right.
#   external_project_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
for f in lib/cmake/Weft/WeftConfig.cmake lib/pkgconfig/weft.pc include/weft/frontend/nn/nn.h bin/weft-compile; do
  [[ -e $prefix/$f ]] || { echo "not installed: $f"; exit 1; }
done
# The installed tree must not point back into the source or build tree.
if grep -rl -e "$src" -e "$build" "$prefix/lib/cmake" "$prefix/lib/pkgconfig"; then
  echo "the installed package files above name the source or build tree"
  exit 1
fi

cp -r "$src/examples/external" "$work/app"
cmake -S "$work/app" -B "$work/app/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" >"$work/configure.log" ||
  { cat "$work/configure.log"; exit 1; }
cmake --build "$work/app/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
(cd "$work/app" && build/xor)
# What it saved compiles to a shared object with its trained weights.
"$prefix/bin/weft-compile" "$work/app/xor.weft" --weights "$work/app/xor.safetensors" -o "$work/app/xor.so"
[[ -s $work/app/xor.so && -s $work/app/xor.h ]] || { echo "weft-compile wrote no xor.so / xor.h"; exit 1; }
# ... runs from literal inputs, and predicts XOR (docs/getting-started.md, section 3).
out=$("$prefix/bin/weft-run" "$work/app/xor.so" --input 'x=[[0, 0], [0, 1], [1, 0], [1, 1]]' --input 'y=[0, 1, 1, 0]')
echo "$out"
grep -qx 'pred: i64\[4\] = \[0, 1, 1, 0\]' <<<"$out" || { echo "weft-run on xor.so did not predict XOR"; exit 1; }
"$prefix/bin/weft-dump" "$work/app/xor.weft" --format dot -o "$work/app/xor.dot"
[[ -s $work/app/xor.dot ]] || { echo "weft-dump wrote no xor.dot"; exit 1; }

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046  # the flags are words
c++ -O1 -o "$work/xor_pc" "$work/app/xor.cpp" $(pkg-config --cflags --libs weft)
(cd "$work" && ./xor_pc)
"$prefix/bin/weft-compile" --version
