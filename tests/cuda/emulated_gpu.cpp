#include "tests/cuda/emulated_gpu.h"

#include <cstdlib>
#include <cstring>

#include "ir/error.h"

namespace weft::cuda_backend {

void* EmulatedGpu::allocate(int64_t bytes) {
  if (bytes <= 0) return nullptr;
  void* p = std::aligned_alloc(64, static_cast<size_t>((bytes + 63) / 64 * 64));
  if (!p) throw Error("the emulated GPU is out of memory");
  return p;
}

void EmulatedGpu::deallocate(void* p) { std::free(p); }

void EmulatedGpu::copy_from_host(void* dst, const void* src, int64_t bytes) {
  ++copies_in;
  if (bytes > 0) std::memcpy(dst, src, static_cast<size_t>(bytes));
}

void EmulatedGpu::copy_to_host(void* dst, const void* src, int64_t bytes) {
  ++copies_out;
  if (bytes > 0) std::memcpy(dst, src, static_cast<size_t>(bytes));
}

void EmulatedGpu::copy_within(void* dst, const void* src, int64_t bytes) {
  if (bytes > 0) std::memmove(dst, src, static_cast<size_t>(bytes));
}

int EmulatedGpu::add_kernel(const KernelSource& kernel) {
  sources_.push_back(kernel);
  return static_cast<int>(sources_.size() - 1);
}

void EmulatedGpu::launch(int handle, unsigned grid, unsigned block, void** args) {
  if (handle >= built_) {
    std::vector<KernelSource> pending(sources_.begin() + built_, sources_.end());
    batches_.push_back({built_, std::make_unique<EmulatedKernels>(pending)});
    built_ = static_cast<int>(sources_.size());
  }
  for (const Batch& b : batches_)
    if (handle >= b.first && handle < b.first + static_cast<int>(b.kernels->size())) {
      // Grid-stride kernels take any grid, and a loop kernel any block: two blocks of a few threads
      // cover the strides. A reduction kernel's block is its tree's size, kEmulatedBlock already.
      ++launches;
      b.kernels->launch(static_cast<size_t>(handle - b.first), std::min(grid, 2u),
                        std::min(block, static_cast<unsigned>(kEmulatedBlock)), args);
      return;
    }
  throw InternalError("the emulated GPU has no such kernel");
}

void EmulatedGpu::gemm(const GemmShape& s, const float* a, const float* b, float* c) {
  ++gemms;
  for (int64_t p = 0; p < s.batch; ++p)
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < s.k; ++q) {
          const float x = s.transpose_a ? a[p * s.stride_a + q * s.m + i] : a[p * s.stride_a + i * s.k + q];
          const float y = s.transpose_b ? b[p * s.stride_b + j * s.k + q] : b[p * s.stride_b + q * s.n + j];
          acc += static_cast<double>(x) * y;
        }
        c[p * s.stride_c + i * s.n + j] = static_cast<float>(acc);
      }
}

}  // namespace weft::cuda_backend
