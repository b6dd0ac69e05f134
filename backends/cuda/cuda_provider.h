/** \file
 * The CUDA provider (docs/cuda-backend.md): a program's calls as GPU kernels, its memory on the GPU.
 *
 *  - loop and reduction regions, and each piece of a concat: generated CUDA C (cuda_source.h);
 *  - matmul regions: cuBLAS's batched SGEMM into the region's accumulator output, then the region's
 *    epilogue as a generated kernel over it (none when the region is the product alone);
 *  - gather and scatter_add: hand-written kernels (cuda_movement.h); rng_uniform: Philox, the
 *    interpreter's numbers bit for bit (cuda_random.h);
 *  - everything else (scans, non-f32 matmuls, what the generators decline) is declined with
 *    the reason, and since a program's memory is in one space and nothing else runs on the GPU
 *    yet, a model using them does not compile for `cuda` (the error names the op).
 *
 * The provider's memory is the device's (KernelProvider::memory): the executor keeps the arena,
 * the parameters and the optimizer's slots there between runs and copies only inputs in and
 * outputs out.
 */
#pragma once

#include <functional>
#include <memory>

#include "backends/backend.h"
#include "backends/cuda/gpu_device.h"
#include "backends/provider.h"

namespace weft::cuda_backend {

/// The provider on `device` (called at the first compile: the real GPU's is made then, so that a
/// machine without one fails at compile time with the reason, not when the backend is listed).
std::shared_ptr<const KernelProvider> cuda_provider(std::function<std::shared_ptr<GpuDevice>()> device = cuda_device);

}  // namespace weft::cuda_backend

namespace weft {
/// The "cuda" backend: the CUDA provider alone.
std::unique_ptr<Backend> make_cuda_backend();
}  // namespace weft
