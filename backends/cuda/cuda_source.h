/** \file
 * CUDA C for a fused region, from the same lowered description the LLVM backend generates its loop
 * nests from (backends/llvm/region_terms.h): the terms over one iteration space, its strided
 * accesses, stores and reductions. NVRTC compiles the text at run time (nvrtc.h).
 *
 * The kernels, one per region, `extern "C" __global__`:
 *
 *  - loop: one thread per element of the coalesced space, in a grid-stride loop; the element's
 *    linear index is split into the axes' indices (row-major), each term is one C expression.
 *  - reduction: one block of `reduction_block` threads (kReductionBlock) per row (grid-stride over the rows). Per
 *    stage of reductions, each thread folds its strided share of the row's elements, then the block
 *    combines the partials in shared memory in a fixed tree order (the result depends on the sizes,
 *    never on the timing); then one pass writes the full-level outputs, and thread 0 the row-level
 *    ones.
 *  - matmul: the epilogue only. The product itself comes from cuBLAS into a scratch buffer, passed
 *    as the last pointer parameter; the epilogue is a loop kernel in which the `gemm` term reads
 *    that buffer at the element's row-major index.
 *
 * Parameters, in order: the region's buffers (inputs, then outputs: `const T*` and `T*`; bool as
 * one byte), the matmul epilogue's `const float* gemm`, then one `long long` per symbol of
 * `LoweredRegion::symbols`. No pointer is `__restrict__`: the memory plan may give an output the
 * memory of an input it replaces.
 *
 * The op semantics are the interpreter's, as the LLVM backend's are (term_codegen.h): IEEE f32 in
 * f32, wrapping integer arithmetic (done in unsigned types, since signed overflow is undefined in
 * C), x / 0 = 0 for integers, NaN-propagating max and min, saturating float -> int casts. The
 * transcendentals are CUDA's (expf, logf, tanhf: within 2 ulp), not the LLVM backend's
 * polynomials, so the two backends agree within the tolerances of docs/llvm-backend.md rather than
 * bit for bit.
 */
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "backends/llvm/region_terms.h"

namespace weft::cuda_backend {

/// Threads per block of a reduction kernel (and the size of its shared-memory tree).
constexpr int kReductionBlock = 256;

struct KernelSource {
  std::string name;                      // the kernel's `extern "C"` name
  std::string source;                    // a whole translation unit for NVRTC (no #include)
  std::string kernel;                    // the same without `cuda_prelude()`: its constants and function
  std::vector<std::string> param_types;  // the C type of each parameter, in order
};

/// The helpers every kernel's source starts with (typedefs, NaN-propagating max, wrapping
/// integer arithmetic, saturating casts).
std::string_view cuda_prelude();

/// The C type a buffer of `t` holds in a kernel ("float", "i64", bool as "unsigned char"); an
/// InternalError for a type kernels do not take (`llvm_backend::codegen_supports`).
std::string cuda_memory_type(DType t);

/// The CUDA C of `region`, a lowered loop, reduction or matmul region, as kernel `name`; a
/// reduction kernel must be launched with exactly `reduction_block` threads per block (a power of
/// two: the size of its shared-memory tree). Throws InternalError for a region description it does
/// not know (a new term kind): the lowering has already declined what the generators cannot take.
KernelSource cuda_source(const llvm_backend::LoweredRegion& region, const std::string& name,
                         int reduction_block = kReductionBlock);

}  // namespace weft::cuda_backend
