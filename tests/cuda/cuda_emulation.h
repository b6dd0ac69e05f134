// Generated CUDA C run on the CPU, so that the kernels' index arithmetic, reductions, shared-memory
// trees and stores are held to the interpreter on every machine, GPU or not. The kernels of a model
// are compiled together by the host's C++ compiler as one shared object, with a few definitions
// standing in for CUDA's: `__shared__` is `static` (one copy, shared by the block's threads), each
// thread of a block is a std::thread, `__syncthreads` a std::barrier, blocks run one after another.
// The device's math library is the host's here, so this checks the code, not CUDA's expf.
#pragma once

#include <string>
#include <vector>

#include "backends/cuda/cuda_source.h"

namespace weft::cuda_backend {

class EmulatedKernels {
 public:
  /// Compiles `kernels` (names unique) into one shared object; throws weft::Error with the
  /// compiler's output when they do not compile.
  explicit EmulatedKernels(const std::vector<KernelSource>& kernels);
  ~EmulatedKernels();
  EmulatedKernels(const EmulatedKernels&) = delete;
  EmulatedKernels& operator=(const EmulatedKernels&) = delete;

  /// Runs kernel `index` of the constructor's list on `grid` blocks of `block` threads; `args`
  /// points at each parameter's value, as cuLaunchKernel takes them.
  void launch(size_t index, unsigned grid, unsigned block, void** args) const;
  size_t size() const { return launchers_.size(); }

 private:
  void* library_ = nullptr;
  std::vector<void (*)(unsigned, unsigned, void**)> launchers_;
};

}  // namespace weft::cuda_backend
