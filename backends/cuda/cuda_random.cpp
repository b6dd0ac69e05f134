#include "backends/cuda/cuda_random.h"

#include <fmt/format.h>

#include "ir/error.h"

namespace weft::cuda_backend {

KernelSource rng_uniform_source(const std::string& name, DType dtype, uint64_t seed) {
  if (dtype != DType::f32 && dtype != DType::f64)
    throw Error(fmt::format("rng_uniform: 'dtype' must be f32 or f64, but got {}", dtype_name(dtype)));
  const bool f32 = dtype == DType::f32;
  const std::string T = f32 ? "float" : "double";
  // The recipes of backends/interp/compute_kernels.cpp: counter j makes elements per·j .. per·j +
  // per - 1 — four f32 (24 bits of one word each) or two f64 (53 bits of two words each).
  const std::string value = f32 ? "(float)(w[e] >> 8) * 0x1p-24f"
                                : "(double)((((unsigned long long)w[2 * e] << 32) | w[2 * e + 1]) >> 11) * 0x1p-53";
  std::string k =
      fmt::format(R"(extern "C" __global__ void {0}(const i64* offset, {1}* out, i64 total) {{
  const unsigned long long off = (unsigned long long)offset[0];
  const int per = {5};
  const i64 counters = (total + per - 1) / per;
  for (i64 lin = (i64)blockIdx.x * blockDim.x + threadIdx.x; lin < counters; lin += (i64)gridDim.x * blockDim.x) {{
    const unsigned long long index = (unsigned long long)lin;
    u32 c0 = (u32)index, c1 = (u32)(index >> 32), c2 = (u32)off, c3 = (u32)(off >> 32);
    u32 k0 = {2}u, k1 = {3}u;
    for (int r = 0; r < 10; ++r) {{
      if (r > 0) {{
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
      }}
      const unsigned long long p0 = (unsigned long long)0xD2511F53u * c0;
      const unsigned long long p1 = (unsigned long long)0xCD9E8D57u * c2;
      const u32 n0 = (u32)(p1 >> 32) ^ c1 ^ k0, n1 = (u32)p1, n2 = (u32)(p0 >> 32) ^ c3 ^ k1, n3 = (u32)p0;
      c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    }}
    const u32 w[4] = {{c0, c1, c2, c3}};
    for (int e = 0; e < per && lin * per + e < total; ++e) out[lin * per + e] = {4};
  }}
}}
)",
                  name, T, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), value, f32 ? 4 : 2);
  return {name, std::string(cuda_prelude()) + k, k, {"const i64*", fmt::format("{}*", T), "i64"}};
}

}  // namespace weft::cuda_backend
