/** \file
 * The CUDA driver API, loaded at run time. Linking `libcuda.so.1` directly (CMake's
 * `CUDA::cuda_driver`) would make every binary fail to start on a machine without NVIDIA's driver;
 * loaded with dlopen, a missing driver is one more reason why there is no GPU.
 *
 * `gpu_unavailable()` is the one question the rest of Weft asks: nullopt when a device can run
 * kernels, else why not, in one sentence ("libcuda.so.1 not found", "cuInit: CUDA driver version
 * is insufficient for CUDA runtime version", "no CUDA device"). Any error counts as no GPU: on
 * these machines a missing device shows up as a driver-version error rather than as a count of 0.
 */
#pragma once

#include <cuda.h>

#include <optional>
#include <string>

namespace weft::cuda_backend {

/// The driver's entry points Weft uses, resolved once.
struct DriverApi {
  CUresult (*cuInit)(unsigned int);
  CUresult (*cuDriverGetVersion)(int*);
  CUresult (*cuDeviceGetCount)(int*);
  CUresult (*cuDeviceGet)(CUdevice*, int);
  CUresult (*cuDeviceGetName)(char*, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int*, CUdevice_attribute, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuModuleLoadData)(CUmodule*, const void*);
  CUresult (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                             void**, void**);
  CUresult (*cuMemAlloc)(CUdeviceptr*, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void*, size_t);
  CUresult (*cuMemcpyDtoH)(void*, CUdeviceptr, size_t);
  CUresult (*cuMemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
  CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*cuGetErrorString)(CUresult, const char**);
};

/// Nullopt when device 0 can run kernels (the driver loaded, initialised, and has a device); else
/// why not. Decided once per process.
std::optional<std::string> gpu_unavailable();

/// The driver, with device 0's primary context current on the calling thread. Throws weft::Error
/// with `gpu_unavailable()`'s reason when there is none.
const DriverApi& driver();

/// Device 0: its name and compute capability (90 for 9.0).
struct DeviceInfo {
  std::string name;
  int compute_capability = 0;
  int multiprocessors = 0;
};
const DeviceInfo& device_info();

/// Throws weft::Error naming `what` and the driver's message when `r` is not CUDA_SUCCESS.
void check(CUresult r, const char* what);

}  // namespace weft::cuda_backend
