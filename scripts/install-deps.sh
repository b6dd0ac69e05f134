#!/usr/bin/env bash
# Installs Weft's build and test dependencies from Debian's packages, only those missing.
# Idempotent and quiet when everything is already there. Needs root (CI and dev machines run as root).
#   install-deps.sh          what the build and the tests need
#   install-deps.sh --bench  also the benchmarks' peers (`make bench`): Debian's PyTorch 1.13 with the
#                            threaded OpenBLAS (else a reference BLAS 30x slower)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  llvm-19-dev clang-19 libclang-rt-19-dev
  libdnnl-dev
  libfmt-dev
  libgtest-dev libgmock-dev
  libbenchmark-dev
  nlohmann-json3-dev
  libcli11-dev
  graphviz
  festlex-cmu chromium
  zlib1g-dev libzstd-dev
  python3-venv  # bench/compare.py's venv; test_bench runs it
  libopenmpi-dev openmpi-bin  # data-parallel training (runtime/mpi_communicator.cpp, tests/distributed)
)
if [ "${1:-}" = "--bench" ]; then
  packages+=(python3-torch libopenblas0-pthread)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
