/** \file
 * Runs one generated region kernel (cuda_source.h) on the GPU, host tensors in and out: the
 * smallest piece of the CUDA backend that executes, used by the device tests to hold every kernel
 * to the interpreter. Each call allocates, copies in, launches, copies out and frees; the provider
 * that keeps state on the device builds on the same module cache and launch geometry.
 */
#pragma once

#include <vector>

#include "backends/cuda/cuda_source.h"
#include "backends/llvm/region_terms.h"
#include "ir/shape.h"
#include "runtime/tensor.h"

namespace weft::cuda_backend {

/// The grid of a region's kernel: a loop region's elements, a reduction region's rows.
struct LaunchShape {
  unsigned grid = 0;  // 0: nothing to do
  unsigned block = 0;
};
LaunchShape launch_shape(const llvm_backend::LoweredRegion& region, const SymbolBindings& sizes, int multiprocessors,
                         int reduction_block = kReductionBlock);

/// Runs `region` (loop or reduction) on device 0: `buffers` are its inputs then its outputs, shaped
/// and typed as the region's body says, `sizes` the values of its symbols. Outputs are written in
/// place. Throws weft::Error when there is no GPU (with the reason) or for a matmul region (its
/// product comes from cuBLAS, which this runner does not call).
void run_region_on_device(const llvm_backend::LoweredRegion& region, std::vector<Tensor*> buffers,
                          const SymbolBindings& sizes);

}  // namespace weft::cuda_backend
