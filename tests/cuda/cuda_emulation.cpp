#include "tests/cuda/cuda_emulation.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ir/error.h"

namespace weft::cuda_backend {

namespace {

namespace fs = std::filesystem;

/// CUDA's names for what the kernels use, defined on the host.
constexpr const char* kHostCuda = R"(
#include <math.h>
#include <string.h>
#include <atomic>
#include <barrier>
#include <thread>
#include <vector>
struct weft_dim3 { unsigned x = 0, y = 0, z = 0; };
static thread_local weft_dim3 threadIdx;
static weft_dim3 blockIdx, blockDim, gridDim;
static std::barrier<>* weft_block_barrier = nullptr;
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
template <class T> static T atomicAdd(T* p, T v) { return std::atomic_ref<T>(*p).fetch_add(v); }
static inline void __syncthreads() { weft_block_barrier->arrive_and_wait(); }
static inline int __float_as_int(float x) { int i; memcpy(&i, &x, 4); return i; }
static inline float __int_as_float(int i) { float x; memcpy(&x, &i, 4); return x; }
static inline long long __double_as_longlong(double x) { long long i; memcpy(&i, &x, 8); return i; }
static inline double __longlong_as_double(long long i) { double x; memcpy(&x, &i, 8); return x; }
template <class F> static void weft_emulate(unsigned grid, unsigned block, F run) {
  gridDim.x = grid;
  blockDim.x = block;
  for (unsigned b = 0; b < grid; ++b) {
    blockIdx.x = b;
    std::barrier<> barrier(block);
    weft_block_barrier = &barrier;
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < block; ++t) threads.emplace_back([t, &run] { threadIdx.x = t; run(); });
    for (auto& t : threads) t.join();
  }
}
)";

std::string run_command(const std::string& command, int* status) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) throw Error(fmt::format("could not run '{}'", command));
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

}  // namespace

EmulatedKernels::EmulatedKernels(const std::vector<KernelSource>& kernels) {
  std::string src = std::string(kHostCuda) + std::string(cuda_prelude());
  for (size_t k = 0; k < kernels.size(); ++k) {
    const KernelSource& ks = kernels[k];
    src += ks.kernel;
    std::vector<std::string> args;
    for (size_t i = 0; i < ks.param_types.size(); ++i) args.push_back(fmt::format("*({}*)a[{}]", ks.param_types[i], i));
    src += fmt::format(
        "extern \"C\" void weft_emu_launch_{0}(unsigned grid, unsigned block, void** a) {{\n"
        "  weft_emulate(grid, block, [a] {{ {1}({2}); }});\n}}\n",
        k, ks.name, fmt::join(args, ", "));
  }
  static int serial = 0;
  const fs::path dir = fs::temp_directory_path() / fmt::format("weft-cuda-emulation-{}-{}", getpid(), serial++);
  fs::create_directories(dir);
  const fs::path cpp = dir / "kernels.cpp", so = dir / "kernels.so";
  std::ofstream(cpp) << src;
  int status = 0;
  std::string out = run_command(
      fmt::format("c++ -std=c++20 -O1 -w -shared -fPIC -pthread -o '{}' '{}'", so.string(), cpp.string()), &status);
  if (status != 0)
    throw Error(fmt::format("the host compiler rejected the generated kernels ({}):\n{}", cpp.string(), out));
  library_ = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library_) throw Error(fmt::format("dlopen {}: {}", so.string(), dlerror()));
  for (size_t k = 0; k < kernels.size(); ++k) {
    void* f = dlsym(library_, fmt::format("weft_emu_launch_{}", k).c_str());
    if (!f) throw Error(fmt::format("the emulated kernels lack weft_emu_launch_{}", k));
    launchers_.push_back(reinterpret_cast<void (*)(unsigned, unsigned, void**)>(f));
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

EmulatedKernels::~EmulatedKernels() {
  if (library_) dlclose(library_);
}

void EmulatedKernels::launch(size_t index, unsigned grid, unsigned block, void** args) const {
  launchers_.at(index)(grid, block, args);
}

}  // namespace weft::cuda_backend
