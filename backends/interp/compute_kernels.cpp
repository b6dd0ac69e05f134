/** \file
 * Reference kernels for matmul, the sources (constant, iota, rng_uniform) and cast.
 *
 * matmul is the textbook triple loop per batch matrix, accumulating in the operands' dtype (float
 * for f32) in the fixed order k = 0..K-1, so that it is obviously correct rather than fast. cast
 * never has undefined behaviour: float -> int truncates toward zero and saturates at the integer's
 * range, NaN -> 0; int -> narrower int wraps (two's complement, as in C++20, NumPy and PyTorch);
 * anything -> bool is `x != 0` (so NaN -> true); bool -> number is 0 or 1. constant converts its
 * reals the same way (the op table has already required exact integers for integer dtypes).
 */
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <type_traits>

#include "backends/interp/kernels.h"
#include "ir/ops.h"
#include "ir/philox.h"

namespace weft::interp {

namespace {

/// Calls `f(T{})` with T the host type of `dtype`.
template <typename F>
Tensor visit_dtype(const KernelContext& ctx, DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32:
      return f(float{});
    case DType::f64:
      return f(double{});
    case DType::i32:
      return f(int32_t{});
    case DType::i64:
      return f(int64_t{});
    case DType::boolean:
      return f(bool{});
    default:
      throw Error(
          fmt::format("{}: the interpreter has no kernel for dtype {}", op_name(ctx.node.op), dtype_name(dtype)));
  }
}

/// The conversion `cast` performs (see the file comment).
template <typename To, typename From>
To convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From{0};
  } else if constexpr (std::is_same_v<From, bool>) {
    return static_cast<To>(v ? 1 : 0);
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    // -2^(bits-1) is exact in any float type; 2^(bits-1) is the first value past the maximum.
    const double limit = std::ldexp(1.0, std::numeric_limits<To>::digits);
    if (std::isnan(v)) return 0;
    if (static_cast<double>(v) >= limit) return std::numeric_limits<To>::max();
    if (static_cast<double>(v) < -limit) return std::numeric_limits<To>::min();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

std::vector<int64_t> shape_attr(const KernelContext& ctx) {
  std::vector<int64_t> shape = evaluate_shape(ctx.node.attrs.get_shape("shape"), ctx.bindings);
  for (int64_t d : shape)
    if (d < 0)
      throw Error(fmt::format("{}: dims of 'shape' must be non-negative, but {} evaluates to a negative dim",
                              op_name(ctx.node.op), shape_str(ctx.node.attrs.get_shape("shape"))));
  return shape;
}

int64_t product(const std::vector<int64_t>& dims, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= dims[i];
  return n;
}

std::vector<Tensor> matmul_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  const Tensor& a = in[0];
  const Tensor& b = in[1];
  bool ta = ctx.node.attrs.get_bool("transpose_a");
  bool tb = ctx.node.attrs.get_bool("transpose_b");
  if (a.rank() < 2 || b.rank() < 2 || a.dtype() != b.dtype())
    throw Error(fmt::format("matmul: needs two operands of rank >= 2 and one dtype, but got {} and {}", a.type_str(),
                            b.type_str()));
  const auto& sa = a.shape();
  const auto& sb = b.shape();
  int64_t m = ta ? sa[sa.size() - 1] : sa[sa.size() - 2];
  int64_t k = ta ? sa[sa.size() - 2] : sa[sa.size() - 1];
  int64_t kb = tb ? sb[sb.size() - 1] : sb[sb.size() - 2];
  int64_t n = tb ? sb[sb.size() - 2] : sb[sb.size() - 1];
  if (k != kb)
    throw Error(fmt::format("matmul: inner dimensions must agree, but got {} and {}", a.type_str(), b.type_str()));
  std::vector<int64_t> batch_a(sa.begin(), sa.end() - 2);
  std::vector<int64_t> batch_b(sb.begin(), sb.end() - 2);
  std::vector<int64_t> batch = broadcast_concrete(batch_a, batch_b);
  std::vector<int64_t> out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  int64_t batches = product(batch, 0, batch.size());

  return {visit_dtype(ctx, a.dtype(), [&](auto tag) -> Tensor {
    using T = decltype(tag);
    if constexpr (!std::is_floating_point_v<T>) {
      throw Error(fmt::format("matmul: the interpreter has no kernel for dtype {}", dtype_name(a.dtype())));
    } else {
      Tensor out = Tensor::zeros(a.dtype(), out_shape);
      std::vector<int64_t> batch_strides = strides_of(batch);
      std::vector<int64_t> idx(batch.size());
      for (int64_t bi = 0; bi < batches; ++bi) {
        for (size_t d = 0; d < batch.size(); ++d) idx[d] = (bi / batch_strides[d]) % batch[d];
        const T* pa = a.data<T>() + broadcast_index(idx, batch_a, batch) * m * k;
        const T* pb = b.data<T>() + broadcast_index(idx, batch_b, batch) * k * n;
        T* po = out.data<T>() + bi * m * n;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            T acc{0};
            for (int64_t p = 0; p < k; ++p)
              acc += (ta ? pa[p * m + i] : pa[i * k + p]) * (tb ? pb[j * k + p] : pb[p * n + j]);
            po[i * n + j] = acc;
          }
      }
      return out;
    }
  })};
}

std::vector<Tensor> constant_kernel(const KernelContext& ctx, std::span<const Tensor>) {
  const std::vector<double>& value = ctx.node.attrs.get_reals("value");
  DType dtype = ctx.node.attrs.get_dtype("dtype");
  std::vector<int64_t> shape = shape_attr(ctx);
  return {visit_dtype(ctx, dtype, [&](auto tag) -> Tensor {
    using T = decltype(tag);
    Tensor out = Tensor::zeros(dtype, shape);
    bool splat = value.size() == 1;
    if (!splat && static_cast<int64_t>(value.size()) != out.numel())
      throw Error(fmt::format("constant: 'value' has {} elements, but {} needs 1 or {}", value.size(), out.type_str(),
                              out.numel()));
    T* po = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) po[i] = convert<T>(value[splat ? 0 : i]);
    return out;
  })};
}

std::vector<Tensor> iota_kernel(const KernelContext& ctx, std::span<const Tensor>) {
  DType dtype = ctx.node.attrs.get_dtype("dtype");
  std::vector<int64_t> shape = shape_attr(ctx);
  int axis = normalize_axis(ctx.node.attrs.get_int("axis"), static_cast<int>(shape.size()), "iota");
  int64_t stride = strides_of(shape)[axis];
  return {visit_dtype(ctx, dtype, [&](auto tag) -> Tensor {
    using T = decltype(tag);
    Tensor out = Tensor::zeros(dtype, shape);
    T* po = out.data<T>();
    for (int64_t i = 0; i < out.numel(); ++i) po[i] = convert<T>((i / stride) % shape[axis]);
    return out;
  })};
}

std::vector<Tensor> cast_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  const Tensor& x = in[0];
  DType to = ctx.node.attrs.get_dtype("dtype");
  return {visit_dtype(ctx, x.dtype(), [&](auto from_tag) -> Tensor {
    using From = decltype(from_tag);
    return visit_dtype(ctx, to, [&](auto to_tag) -> Tensor {
      using To = decltype(to_tag);
      Tensor out = Tensor::zeros(to, x.shape());
      const From* px = x.data<From>();
      To* po = out.data<To>();
      for (int64_t i = 0; i < x.numel(); ++i) po[i] = convert<To>(px[i]);
      return out;
    });
  })};
}

std::vector<Tensor> rng_uniform_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  const Tensor& offset_tensor = in[0];
  if (offset_tensor.dtype() != DType::i64 || offset_tensor.numel() != 1)
    throw Error(
        fmt::format("rng_uniform: the offset operand must be an i64 scalar, but got {}", offset_tensor.type_str()));
  auto offset = static_cast<uint64_t>(offset_tensor.data<int64_t>()[0]);
  auto seed = static_cast<uint64_t>(ctx.node.attrs.get_int("seed"));
  DType dtype = ctx.node.attrs.get_dtype("dtype");
  Tensor out = Tensor::zeros(dtype, shape_attr(ctx));
  if (dtype != DType::f32 && dtype != DType::f64)
    throw Error(fmt::format("rng_uniform: 'dtype' must be f32 or f64, but got {}", dtype_name(dtype)));
  // One counter (j, offset) gives four words: elements 4j..4j+3 of an f32 tensor take one word
  // each (its top 24 bits), elements 2j and 2j+1 of an f64 tensor two words each (their top 53).
  const PhiloxKey key{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  const int64_t per = dtype == DType::f32 ? 4 : 2;
  for (int64_t i = 0; i < out.numel(); ++i) {
    const auto counter = static_cast<uint64_t>(i / per);
    const int64_t e = i % per;
    auto words = philox4x32({static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32),
                             static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32)},
                            key);
    if (dtype == DType::f32)
      out.data<float>()[i] = static_cast<float>(words[e] >> 8) * 0x1.0p-24f;
    else
      out.data<double>()[i] = philox_bits_to_unit_double(words[2 * e], words[2 * e + 1]);
  }
  return {out};
}

}  // namespace

void register_compute_kernels(KernelTable& t) {
  t[static_cast<size_t>(OpKind::matmul)] = matmul_kernel;
  t[static_cast<size_t>(OpKind::constant)] = constant_kernel;
  t[static_cast<size_t>(OpKind::iota)] = iota_kernel;
  t[static_cast<size_t>(OpKind::cast)] = cast_kernel;
  t[static_cast<size_t>(OpKind::rng_uniform)] = rng_uniform_kernel;
}

}  // namespace weft::interp
