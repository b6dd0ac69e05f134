/** \file
 * rng_uniform on the GPU: Philox4x32-10 (ir/philox.h) in CUDA C, one thread per counter (j, offset)
 * with the key `seed`, writing the elements it makes with the interpreter's bit recipes — so dropout masks on the GPU
 * are the CPU's, bit for bit, whatever the launch shape.
 */
#pragma once

#include <cstdint>

#include "backends/cuda/cuda_source.h"
#include "ir/dtype.h"

namespace weft::cuda_backend {

/// Params (const i64* offset, T* out, i64 total); T is f32 or f64 (else weft::Error).
KernelSource rng_uniform_source(const std::string& name, DType dtype, uint64_t seed);

}  // namespace weft::cuda_backend
