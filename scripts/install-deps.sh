#!/usr/bin/env bash
# Installs Weft's build and test dependencies from Debian's packages, only those missing.
# Idempotent and quiet when everything is already there. Needs root (CI and dev machines run as root).
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
)

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
