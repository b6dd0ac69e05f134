#include "backends/cuda/cuda_driver.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <mutex>

#include "ir/error.h"

namespace weft::cuda_backend {

namespace {

struct Loaded {
  DriverApi api{};
  std::optional<std::string> unavailable;  // set: no GPU, and why
  CUcontext context = nullptr;
  DeviceInfo info;
};

template <class F>
bool resolve(void* lib, const char* name, F& out, std::string& missing) {
  out = reinterpret_cast<F>(dlsym(lib, name));
  if (!out) missing = name;
  return out != nullptr;
}

std::string message(const DriverApi& api, CUresult r) {
  const char* text = nullptr;
  if (api.cuGetErrorString && api.cuGetErrorString(r, &text) == CUDA_SUCCESS && text) return text;
  return fmt::format("CUDA error {}", static_cast<int>(r));
}

Loaded load() {
  Loaded l;
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    l.unavailable = fmt::format("the CUDA driver (libcuda.so.1) is not installed: {}", e ? e : "not found");
    return l;
  }
  DriverApi& a = l.api;
  std::string missing;
  bool ok =
      resolve(lib, "cuInit", a.cuInit, missing) && resolve(lib, "cuDriverGetVersion", a.cuDriverGetVersion, missing) &&
      resolve(lib, "cuDeviceGetCount", a.cuDeviceGetCount, missing) &&
      resolve(lib, "cuDeviceGet", a.cuDeviceGet, missing) &&
      resolve(lib, "cuDeviceGetName", a.cuDeviceGetName, missing) &&
      resolve(lib, "cuDeviceGetAttribute", a.cuDeviceGetAttribute, missing) &&
      resolve(lib, "cuDevicePrimaryCtxRetain", a.cuDevicePrimaryCtxRetain, missing) &&
      resolve(lib, "cuCtxSetCurrent", a.cuCtxSetCurrent, missing) &&
      resolve(lib, "cuCtxSynchronize", a.cuCtxSynchronize, missing) &&
      resolve(lib, "cuModuleLoadData", a.cuModuleLoadData, missing) &&
      resolve(lib, "cuModuleGetFunction", a.cuModuleGetFunction, missing) &&
      resolve(lib, "cuLaunchKernel", a.cuLaunchKernel, missing) &&
      resolve(lib, "cuMemAlloc_v2", a.cuMemAlloc, missing) && resolve(lib, "cuMemFree_v2", a.cuMemFree, missing) &&
      resolve(lib, "cuMemcpyHtoD_v2", a.cuMemcpyHtoD, missing) &&
      resolve(lib, "cuMemcpyDtoH_v2", a.cuMemcpyDtoH, missing) &&
      resolve(lib, "cuMemcpyDtoD_v2", a.cuMemcpyDtoD, missing) &&
      resolve(lib, "cuMemsetD8_v2", a.cuMemsetD8, missing) &&
      resolve(lib, "cuGetErrorString", a.cuGetErrorString, missing);
  if (!ok) {
    l.unavailable = fmt::format("the CUDA driver (libcuda.so.1) lacks {}: too old", missing);
    return l;
  }
  // Any error from here on means no usable GPU: a machine without a device answers cuInit with
  // "driver version is insufficient" as often as with "no device".
  if (CUresult r = a.cuInit(0); r != CUDA_SUCCESS) {
    l.unavailable = fmt::format("cuInit: {}", message(a, r));
    return l;
  }
  int count = 0;
  if (CUresult r = a.cuDeviceGetCount(&count); r != CUDA_SUCCESS) {
    l.unavailable = fmt::format("cuDeviceGetCount: {}", message(a, r));
    return l;
  }
  if (count == 0) {
    l.unavailable = "no CUDA device";
    return l;
  }
  CUdevice dev = 0;
  if (CUresult r = a.cuDeviceGet(&dev, 0); r != CUDA_SUCCESS) {
    l.unavailable = fmt::format("cuDeviceGet: {}", message(a, r));
    return l;
  }
  char name[256] = {};
  int major = 0, minor = 0, sms = 0;
  if (a.cuDeviceGetName(name, sizeof name, dev) != CUDA_SUCCESS ||
      a.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev) != CUDA_SUCCESS ||
      a.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev) != CUDA_SUCCESS ||
      a.cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev) != CUDA_SUCCESS) {
    l.unavailable = "the CUDA driver could not describe device 0";
    return l;
  }
  l.info = {name, major * 10 + minor, sms};
  if (CUresult r = a.cuDevicePrimaryCtxRetain(&l.context, dev); r != CUDA_SUCCESS) {
    l.unavailable = fmt::format("cuDevicePrimaryCtxRetain: {}", message(a, r));
    return l;
  }
  return l;
}

const Loaded& loaded() {
  static const Loaded l = load();
  return l;
}

}  // namespace

std::optional<std::string> gpu_unavailable() { return loaded().unavailable; }

const DriverApi& driver() {
  const Loaded& l = loaded();
  if (l.unavailable) throw Error(fmt::format("no GPU: {}", *l.unavailable));
  // The primary context is per device, current per thread: make it current on each caller.
  thread_local bool current = false;
  if (!current) {
    check(l.api.cuCtxSetCurrent(l.context), "cuCtxSetCurrent");
    current = true;
  }
  return l.api;
}

const DeviceInfo& device_info() {
  driver();
  return loaded().info;
}

void check(CUresult r, const char* what) {
  if (r == CUDA_SUCCESS) return;
  throw Error(fmt::format("CUDA: {} failed: {}", what, message(loaded().api, r)));
}

}  // namespace weft::cuda_backend
