// A GpuDevice that runs on the CPU: "device" memory is host memory (its space says device, so the
// executor stages inputs and outputs as it would for a GPU), kernels are the generated CUDA C
// compiled for the host (cuda_emulation.h) in batches at the first launch after they were added,
// and the GEMM is a plain loop. It tests the CUDA provider's whole path on every machine.
#pragma once

#include <memory>
#include <vector>

#include "backends/cuda/gpu_device.h"
#include "tests/cuda/cuda_emulation.h"

namespace weft::cuda_backend {

class EmulatedGpu final : public GpuDevice {
 public:
  std::string name() const override { return "emulated GPU"; }
  void* allocate(int64_t bytes) override;
  void deallocate(void* p) override;
  void copy_from_host(void* dst, const void* src, int64_t bytes) override;
  void copy_to_host(void* dst, const void* src, int64_t bytes) override;
  void copy_within(void* dst, const void* src, int64_t bytes) override;
  int add_kernel(const KernelSource& kernel) override;
  void launch(int handle, unsigned grid, unsigned block, void** args) override;
  void gemm(const GemmShape& shape, const float* a, const float* b, float* c) override;
  int multiprocessors() const override { return 1; }
  /// Threads per reduction block: a tree of two levels, and few threads to start per launch.
  static constexpr int kEmulatedBlock = 4;
  int reduction_block() const override { return kEmulatedBlock; }
  /// Not a copy of the program's data: not counted.
  bool take_flag(void* flag) override {
    int32_t* f = static_cast<int32_t*>(flag);
    const bool set = *f != 0;
    *f = 0;
    return set;
  }

  int64_t launches = 0, gemms = 0, copies_in = 0, copies_out = 0;

 private:
  struct Batch {
    int first = 0;
    std::unique_ptr<EmulatedKernels> kernels;
  };
  std::vector<KernelSource> sources_;
  std::vector<Batch> batches_;
  int built_ = 0;  // kernels [0, built_) are in a batch
};

}  // namespace weft::cuda_backend
