/** \file
 * Kernels for the data-movement ops that are not fused regions: gather (`numpy.take` along an
 * axis) and scatter_add (its adjoint), as CUDA C written out per element type.
 *
 * Both view their operands as [outer, n, inner] (the data, the axis of size n) against
 * [outer, count, inner] (the gathered rows, `count` indices). An index outside its range sets the
 * kernel's `error` flag (and its rows are left 0); the provider then reads the indices back and
 * raises the interpreter's error (runtime/call_checks.h), since the executor's checks before a
 * call read host memory. scatter_add accumulates with atomicAdd: float sums in an order the GPU
 * decides, so results differ from the interpreter's in-order sums by rounding.
 */
#pragma once

#include "backends/cuda/cuda_source.h"
#include "ir/dtype.h"

namespace weft::cuda_backend {

/// For the dtypes generated code takes (`llvm_backend::codegen_supports`; the provider declines the
/// others). gather(x, indices): params (const T* x, const I* indices, T* out, int* error, i64 outer, i64 n,
/// i64 count, i64 inner); `wrap`: negative indices count from the end.
KernelSource gather_source(const std::string& name, DType data, DType index, bool wrap);

/// scatter_add(updates, indices) into a zeroed output: params (const T* updates, const I* indices,
/// T* out, int* error, i64 outer, i64 n, i64 count, i64 inner). Zero the output first with
/// `zero_source`'s kernel: params (T* out, i64 total).
KernelSource scatter_add_source(const std::string& name, DType data, DType index);
KernelSource zero_source(const std::string& name, DType data);

}  // namespace weft::cuda_backend
