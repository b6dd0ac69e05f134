#include "backends/cuda/cuda_libraries.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <string>

#include "ir/error.h"

namespace weft::cuda_backend {

namespace {

/// The library `soname`, from the toolkit's directory first.
void* open_library(const char* soname) {
  const std::string in_toolkit = std::string(WEFT_CUDA_LIBRARY_DIR) + "/" + soname;
  void* lib = dlopen(in_toolkit.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    throw Error(
        fmt::format("the CUDA backend needs {} (CUDA toolkit {}): {}", soname, WEFT_CUDA_VERSION, e ? e : "not found"));
  }
  return lib;
}

template <class F>
void resolve(void* lib, const char* soname, const char* name, F& out) {
  out = reinterpret_cast<F>(dlsym(lib, name));
  if (!out)
    throw Error(fmt::format("{} lacks {}: not the toolkit Weft was built with ({})", soname, name, WEFT_CUDA_VERSION));
}

NvrtcApi load_nvrtc() {
  NvrtcApi a{};
  const char* so = WEFT_NVRTC_SONAME;
  void* lib = open_library(so);
  resolve(lib, so, "nvrtcCreateProgram", a.CreateProgram);
  resolve(lib, so, "nvrtcCompileProgram", a.CompileProgram);
  resolve(lib, so, "nvrtcDestroyProgram", a.DestroyProgram);
  resolve(lib, so, "nvrtcGetProgramLogSize", a.GetProgramLogSize);
  resolve(lib, so, "nvrtcGetProgramLog", a.GetProgramLog);
  resolve(lib, so, "nvrtcGetPTXSize", a.GetPTXSize);
  resolve(lib, so, "nvrtcGetPTX", a.GetPTX);
  resolve(lib, so, "nvrtcGetErrorString", a.GetErrorString);
  resolve(lib, so, "nvrtcVersion", a.Version);
  return a;
}

CublasApi load_cublas() {
  CublasApi a{};
  const char* so = WEFT_CUBLAS_SONAME;
  void* lib = open_library(so);
  resolve(lib, so, "cublasCreate_v2", a.Create);
  resolve(lib, so, "cublasDestroy_v2", a.Destroy);
  resolve(lib, so, "cublasSgemmStridedBatched", a.SgemmStridedBatched);
  return a;
}

}  // namespace

const NvrtcApi& nvrtc() {
  static const NvrtcApi api = load_nvrtc();  // a failed load throws, and the next call tries again
  return api;
}

const CublasApi& cublas() {
  static const CublasApi api = load_cublas();
  return api;
}

}  // namespace weft::cuda_backend
