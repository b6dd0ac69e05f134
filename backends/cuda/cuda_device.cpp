// The real GPU behind GpuDevice: memory from cuMemAlloc, kernels compiled by NVRTC for the device's
// compute capability and loaded as modules, GEMMs by cuBLAS on the primary context.
#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "backends/cuda/cuda_driver.h"
#include "backends/cuda/cuda_libraries.h"
#include "backends/cuda/gpu_device.h"
#include "backends/cuda/nvrtc.h"
#include "ir/error.h"

namespace weft::cuda_backend {

namespace {

void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw Error(fmt::format("cuBLAS: {} failed (status {})", what, static_cast<int>(s)));
}

class CudaGpu final : public GpuDevice {
 public:
  CudaGpu() {
    driver();
    // cuBLAS runs on the current context: the primary context driver() made current.
    check_cublas(cublas().Create(&blas_), "cublasCreate");
  }
  ~CudaGpu() override { cublas().Destroy(blas_); }

  std::string name() const override { return fmt::format("cuda:0 ({})", device_info().name); }

  void* allocate(int64_t bytes) override {
    if (bytes <= 0) return nullptr;
    CUdeviceptr p = 0;
    CUresult r = api().cuMemAlloc(&p, static_cast<size_t>(bytes));
    if (r != CUDA_SUCCESS) throw Error(fmt::format("the GPU has no {} bytes left (cuMemAlloc)", bytes));
    return reinterpret_cast<void*>(p);
  }
  void deallocate(void* p) override {
    if (p) api().cuMemFree(reinterpret_cast<CUdeviceptr>(p));
  }
  void copy_from_host(void* dst, const void* src, int64_t bytes) override {
    if (bytes > 0) check(api().cuMemcpyHtoD(ptr(dst), src, static_cast<size_t>(bytes)), "cuMemcpyHtoD");
  }
  void copy_to_host(void* dst, const void* src, int64_t bytes) override {
    if (bytes > 0) check(api().cuMemcpyDtoH(dst, ptr(src), static_cast<size_t>(bytes)), "cuMemcpyDtoH");
  }
  void copy_within(void* dst, const void* src, int64_t bytes) override {
    if (bytes > 0) check(api().cuMemcpyDtoD(ptr(dst), ptr(src), static_cast<size_t>(bytes)), "cuMemcpyDtoD");
  }

  int add_kernel(const KernelSource& kernel) override {
    std::lock_guard<std::mutex> lock(mutex_);
    kernels_.push_back({kernel, nullptr});
    return static_cast<int>(kernels_.size() - 1);
  }

  void launch(int handle, unsigned grid, unsigned block, void** args) override {
    CUfunction f = function(handle);
    check(api().cuLaunchKernel(f, grid, 1, 1, block, 1, 1, 0, nullptr, args, nullptr), "cuLaunchKernel");
  }

  void gemm(const GemmShape& s, const float* a, const float* b, float* c) override {
    // Row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: B's and A's storage read as column-major is
    // already Bᵀ and Aᵀ (or, when stored transposed, B and A, hence the op).
    const float one = 1, zero = 0;
    // cuBLAS rejects a leading dimension under 1 even where it reads nothing (k = 0: C = 0).
    const int lda = static_cast<int>(std::max<int64_t>(1, s.transpose_a ? s.m : s.k));
    const int ldb = static_cast<int>(std::max<int64_t>(1, s.transpose_b ? s.k : s.n));
    api();
    check_cublas(cublas().SgemmStridedBatched(
                     blas_, s.transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N, s.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                     static_cast<int>(s.n), static_cast<int>(s.m), static_cast<int>(s.k), &one, b, ldb, s.stride_b, a,
                     lda, s.stride_a, &zero, c, static_cast<int>(s.n), s.stride_c, static_cast<int>(s.batch)),
                 "cublasSgemmStridedBatched");
  }

  int multiprocessors() const override { return device_info().multiprocessors; }

  // Kernels and cuBLAS run in order on the legacy default stream, and the executor's copies
  // (synchronous cuMemcpy) wait for them: no explicit synchronization is needed.
 private:
  /// The driver, with the primary context current on the calling thread (the executor or a scan's
  /// steps may call from a thread other than the one that compiled).
  static const DriverApi& api() { return driver(); }
  static CUdeviceptr ptr(const void* p) { return reinterpret_cast<CUdeviceptr>(p); }

  CUfunction function(int handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& e = kernels_.at(static_cast<size_t>(handle));
    if (!e.function) {
      Ptx ptx = compile_to_ptx(e.source.source, e.source.name, device_info().compute_capability);
      CUmodule module = nullptr;
      check(api().cuModuleLoadData(&module, ptx.text.c_str()), "cuModuleLoadData");
      check(api().cuModuleGetFunction(&e.function, module, e.source.name.c_str()), "cuModuleGetFunction");
    }
    return e.function;
  }

  struct Entry {
    KernelSource source;
    CUfunction function;
  };
  cublasHandle_t blas_ = nullptr;
  std::mutex mutex_;
  std::vector<Entry> kernels_;
};

}  // namespace

std::shared_ptr<GpuDevice> cuda_device() {
  static std::mutex mutex;
  static std::shared_ptr<GpuDevice> device;
  std::lock_guard<std::mutex> lock(mutex);
  if (!device) device = std::make_shared<CudaGpu>();  // throws "no GPU: ..." where there is none
  return device;
}

}  // namespace weft::cuda_backend
