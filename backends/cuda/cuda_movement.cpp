#include "backends/cuda/cuda_movement.h"

#include <fmt/format.h>

#include "ir/error.h"

namespace weft::cuda_backend {

namespace {

std::vector<std::string> params(DType data, DType index) {
  return {fmt::format("const {}*", cuda_memory_type(data)),
          fmt::format("const {}*", cuda_memory_type(index)),
          fmt::format("{}*", cuda_memory_type(data)),
          "int*",
          "i64",
          "i64",
          "i64",
          "i64"};
}

KernelSource wrap_up(const std::string& name, std::string kernel, std::vector<std::string> types) {
  return {name, std::string(cuda_prelude()) + kernel, std::move(kernel), std::move(types)};
}

}  // namespace

KernelSource gather_source(const std::string& name, DType data, DType index, bool wrap) {
  const std::string T = cuda_memory_type(data), I = cuda_memory_type(index);
  std::string k = fmt::format(R"(extern "C" __global__ void {0}(const {1}* x, const {2}* indices, {1}* out, int* error,
                              i64 outer, i64 n, i64 count, i64 inner) {{
  const i64 total = outer * count * inner;
  for (i64 lin = (i64)blockIdx.x * blockDim.x + threadIdx.x; lin < total; lin += (i64)gridDim.x * blockDim.x) {{
    const i64 i = lin % inner, r = lin / inner, j = r % count, o = r / count;
    i64 k = (i64)indices[j];
    if ({3} && k < 0) k += n;
    if (k < 0 || k >= n) {{
      *error = 1;
      out[lin] = ({1})0;
      continue;
    }}
    out[lin] = x[(o * n + k) * inner + i];
  }}
}}
)",
                              name, T, I, wrap ? "true" : "false");
  return wrap_up(name, std::move(k), params(data, index));
}

KernelSource scatter_add_source(const std::string& name, DType data, DType index) {
  if (data == DType::boolean) throw Error("scatter_add: bool updates have no sum");
  const std::string T = cuda_memory_type(data), I = cuda_memory_type(index);
  // atomicAdd has int, unsigned long long, float and double forms: an i64 adds as unsigned (the
  // same bits: two's complement wraps alike).
  const std::string add =
      data == DType::i64 ? "atomicAdd((unsigned long long*)&out[at], (unsigned long long)v)" : "atomicAdd(&out[at], v)";
  std::string k =
      fmt::format(R"(extern "C" __global__ void {0}(const {1}* updates, const {2}* indices, {1}* out, int* error,
                              i64 outer, i64 n, i64 count, i64 inner) {{
  const i64 total = outer * count * inner;
  for (i64 lin = (i64)blockIdx.x * blockDim.x + threadIdx.x; lin < total; lin += (i64)gridDim.x * blockDim.x) {{
    const i64 i = lin % inner, r = lin / inner, j = r % count, o = r / count;
    i64 k = (i64)indices[j];
    if (k < 0) k += n;
    if (k < 0 || k >= n) {{
      *error = 1;
      continue;
    }}
    const i64 at = (o * n + k) * inner + i;
    const {1} v = updates[lin];
    {3};
  }}
}}
)",
                  name, T, I, add);
  return wrap_up(name, std::move(k), params(data, index));
}

KernelSource zero_source(const std::string& name, DType data) {
  const std::string T = cuda_memory_type(data);
  std::string k = fmt::format(R"(extern "C" __global__ void {0}({1}* out, i64 total) {{
  for (i64 lin = (i64)blockIdx.x * blockDim.x + threadIdx.x; lin < total; lin += (i64)gridDim.x * blockDim.x)
    out[lin] = ({1})0;
}}
)",
                              name, T);
  return wrap_up(name, std::move(k), {fmt::format("{}*", T), "i64"});
}

}  // namespace weft::cuda_backend
