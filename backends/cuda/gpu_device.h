/** \file
 * What the CUDA provider needs of a GPU: device memory (a MemoryResource of the device space, so
 * the program executor keeps the arena and the state there), kernels built from generated source
 * and launched, and a batched f32 GEMM. `cuda_device()` is the real one (the driver, NVRTC, cuBLAS);
 * the tests add a stand-in that runs the same kernels on the CPU (tests/cuda/emulated_gpu.h), so the
 * provider's whole path — lowering, kernels, memory, the executor's staging — runs on every machine.
 */
#pragma once

#include <memory>

#include "backends/cuda/cuda_source.h"
#include "runtime/memory.h"

namespace weft::cuda_backend {

/// `batch` products C = op(A)·op(B), row-major, f32: op(A) is [m, k] (stored [k, m] when
/// `transpose_a`), op(B) [k, n] (stored [n, k] when `transpose_b`), C [m, n] dense; the batch
/// strides are in elements, 0 for an operand shared by every product.
struct GemmShape {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
};

class GpuDevice : public MemoryResource {
 public:
  MemorySpace space() const override { return MemorySpace::device; }
  /// Registers a kernel; returns its handle. Its code may be built later (at the first launch
  /// after it was added, with every kernel added since, in one module).
  virtual int add_kernel(const KernelSource& kernel) = 0;
  /// Launches kernel `handle` on `grid` blocks of `block` threads; `args` points at each
  /// parameter's value (device pointers and i64 sizes, in the kernel's parameter order).
  virtual void launch(int handle, unsigned grid, unsigned block, void** args) = 0;
  virtual void gemm(const GemmShape& shape, const float* a, const float* b, float* c) = 0;
  /// How many blocks run at once, for the grid of a grid-stride kernel.
  virtual int multiprocessors() const = 0;
  /// Reads the int a kernel sets on an error (an index out of range) and clears it; true when it
  /// was set.
  virtual bool take_flag(void* flag) {
    int32_t v = 0;
    copy_to_host(&v, flag, sizeof v);
    if (v == 0) return false;
    const int32_t zero = 0;
    copy_from_host(flag, &zero, sizeof zero);
    return true;
  }
  /// Threads per block of the reduction kernels made for this device (cuda_source's argument).
  virtual int reduction_block() const { return kReductionBlock; }
};

/// Device 0 through the driver, NVRTC and cuBLAS (one per process). Throws weft::Error with the
/// reason (cuda_driver.h) when there is no GPU.
std::shared_ptr<GpuDevice> cuda_device();

}  // namespace weft::cuda_backend
