#!/usr/bin/env bash
# Packs the CUDA tests and benchmarks for the GPU machine (docs/cuda-backend.md, "On a GPU"): the
# cuda_gpu_check and cuda_gpu_bench binaries (no LLVM, no registry), the one library they need that
# the GPU machine's image lacks (fmt), PyTorch's side of the benchmark (bench/torch_cuda.py), and a
# script that finds the machine's own CUDA libraries and runs the tests (or, `run.sh bench`, the
# benchmarks). The folder (.gpu/, in .gitignore) is what the device run carries; it stays well under the
# 64 MiB the transfer allows.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
out=$root/.gpu
cmake --build "$build" --target cuda_gpu_check cuda_gpu_bench -j"$(nproc)"
rm -rf "$out"
mkdir -p "$out"
cp "$build/tests/cuda_gpu_check" "$build/bench/cuda_gpu_bench" "$out/"
cp "$root/bench/torch_cuda.py" "$out/"
cp -r "$root/bench/peers" "$out/peers"
# The non-system libraries it links (libfmt today), resolved here.
ldd "$build/tests/cuda_gpu_check" | awk '/=> \// {print $3}' | grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|ld-linux)' |
  while read -r lib; do cp -L "$lib" "$out/"; done
cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# On the GPU machine: the CUDA driver is the machine's; NVRTC and cuBLAS are taken from the CUDA
# toolkit there, or from the Python packages (nvidia-cuda-nvrtc, nvidia-cublas) its image holds.
here=$(cd "$(dirname "$0")" && pwd)
dirs="$here"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$d" ] && dirs="$dirs:$d"; done
py=$(python3 - 2>/dev/null <<'PY'
import glob, os
try:
    import nvidia
    for base in nvidia.__path__:
        for lib in sorted(glob.glob(os.path.join(base, "*", "lib"))):
            print(lib)
except ImportError:
    pass
PY
)
for d in $py; do dirs="$dirs:$d"; done
export LD_LIBRARY_PATH="$dirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
if [ "${1:-}" = bench ]; then  # the benchmark models on Weft's CUDA backend, then PyTorch on the same GPU
  "$here/cuda_gpu_bench" "${2:-20}"
  python3 "$here/torch_cuda.py" "${2:-20}"
  exit
fi
exec "$here/cuda_gpu_check" --gtest_filter="${FILTER:-CudaDevice*:CudaCodegen*}" "$@"
RUN
chmod +x "$out/run.sh"
du -sh "$out"
echo "device run: command 'bash .gpu/run.sh', carry ['.gpu']"
