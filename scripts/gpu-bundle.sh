#!/usr/bin/env bash
# Packs the CUDA tests for the GPU machine (docs/cuda-backend.md, "On a GPU"): the cuda_gpu_check
# binary (no LLVM, no registry) and the one library it needs that the GPU machine's image lacks
# (fmt), with a script that finds the machine's own CUDA libraries and runs the tests that need a
# GPU. The folder (.gpu/, in .gitignore) is what the device run carries; it stays well under the
# 64 MiB the transfer allows.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
out=$root/.gpu
cmake --build "$build" --target cuda_gpu_check -j"$(nproc)"
rm -rf "$out"
mkdir -p "$out"
cp "$build/tests/cuda_gpu_check" "$out/"
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
exec "$here/cuda_gpu_check" --gtest_filter="${FILTER:-CudaDevice*:CudaCodegen*}" "$@"
RUN
chmod +x "$out/run.sh"
du -sh "$out"
echo "device run: command 'bash .gpu/run.sh', carry ['.gpu']"
