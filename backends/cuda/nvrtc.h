/** \file
 * Run-time compilation of generated CUDA C (cuda_source.h) to PTX with NVRTC, cached per process
 * by the source and the target architecture. NVRTC needs no GPU: the CPU-only tests compile every
 * kernel the generators produce, so code generation is tested on every run.
 */
#pragma once

#include <string>

namespace weft::cuda_backend {

/// The architecture kernels are compiled for when no device says which: compute capability 8.0
/// (A100), whose PTX the driver JIT-compiles for any later GPU (H100's 9.0 included).
constexpr int kDefaultComputeCapability = 80;

struct Ptx {
  std::string text;
  bool cache_hit = false;
};

/// Compiles `source` for compute capability `cc` (80 for 8.0). Throws weft::Error with NVRTC's
/// log when it does not compile (a generator's bug: the log names the line of the source).
Ptx compile_to_ptx(const std::string& source, const std::string& kernel, int cc = kDefaultComputeCapability);

/// NVRTC's version, "major.minor".
std::string nvrtc_version();

}  // namespace weft::cuda_backend
