/** \file
 * Reference kernels for the elementwise ops: one loop per op over the (broadcast) output.
 *
 * f32 is computed in float, not double, so that results match what a float implementation (the
 * LLVM backend, PyTorch) gives; f64 in double. Integer arithmetic wraps in two's complement (it is
 * done in the unsigned type, so overflow is never undefined behaviour); integer division truncates
 * toward zero, x / 0 is 0, and INT_MIN / -1 wraps to INT_MIN. max and min propagate NaN; comparisons
 * follow IEEE (NaN != NaN). Dtypes are not promoted: the op table has already checked them, and a
 * kernel handed a dtype it does not support throws weft::Error rather than reading garbage.
 */
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <type_traits>

#include "backends/interp/kernels.h"
#include "ir/ops.h"

namespace weft::interp {

namespace {

enum class Accepts { floating, numeric, boolean, any };

template <Accepts A, typename T>
constexpr bool accepts() {
  if constexpr (A == Accepts::floating) return std::is_floating_point_v<T>;
  if constexpr (A == Accepts::numeric) return !std::is_same_v<T, bool>;
  if constexpr (A == Accepts::boolean) return std::is_same_v<T, bool>;
  return true;
}

[[noreturn]] void unsupported(const KernelContext& ctx, DType t) {
  throw Error(fmt::format("{}: the interpreter has no kernel for dtype {}", op_name(ctx.node.op), dtype_name(t)));
}

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
      unsupported(ctx, dtype);
  }
}

/// Advances a row-major multi-index over `shape`.
void next_index(std::vector<int64_t>& idx, const std::vector<int64_t>& shape) {
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (++idx[d] < shape[d]) return;
    idx[d] = 0;
  }
}

template <typename T, typename Fn>
Tensor map_unary(const Tensor& x, Fn fn) {
  using R = decltype(fn(T{}));
  Tensor out = Tensor::zeros(dtype_of<R>(), x.shape());
  const T* px = x.data<T>();
  R* po = out.data<R>();
  for (int64_t i = 0; i < x.numel(); ++i) po[i] = fn(px[i]);
  return out;
}

/// out[i] = fn(a[i'], b[i'']) over the broadcast shape; R is fn's result type.
template <typename T, typename Fn>
Tensor map_binary(const Tensor& a, const Tensor& b, Fn fn) {
  using R = decltype(fn(T{}, T{}));
  std::vector<int64_t> shape = broadcast_concrete(a.shape(), b.shape());
  Tensor out = Tensor::zeros(dtype_of<R>(), shape);
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  R* po = out.data<R>();
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t i = 0; i < out.numel(); ++i, next_index(idx, shape))
    po[i] = fn(pa[broadcast_index(idx, a.shape(), shape)], pb[broadcast_index(idx, b.shape(), shape)]);
  return out;
}

/// A kernel applying `fn` (a generic lambda) to each element of operand 0, for dtypes in A.
template <Accepts A, typename Fn>
Kernel unary(Fn fn) {
  return [fn](const KernelContext& ctx, std::span<const Tensor> in) {
    const Tensor& x = in[0];
    return std::vector<Tensor>{visit_dtype(ctx, x.dtype(), [&](auto tag) -> Tensor {
      using T = decltype(tag);
      if constexpr (accepts<A, T>()) return map_unary<T>(x, fn);
      unsupported(ctx, x.dtype());
    })};
  };
}

template <Accepts A, typename Fn>
Kernel binary(Fn fn) {
  return [fn](const KernelContext& ctx, std::span<const Tensor> in) {
    const Tensor& a = in[0];
    const Tensor& b = in[1];
    if (a.dtype() != b.dtype())
      throw Error(fmt::format("{}: operands must have the same dtype, but got {} and {}", op_name(ctx.node.op),
                              a.type_str(), b.type_str()));
    return std::vector<Tensor>{visit_dtype(ctx, a.dtype(), [&](auto tag) -> Tensor {
      using T = decltype(tag);
      if constexpr (accepts<A, T>()) return map_binary<T>(a, b, fn);
      unsupported(ctx, a.dtype());
    })};
  };
}

template <typename T>
constexpr bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) return x != x;
  return false;
}

// Integer +, -, *, negation in the unsigned type: wraps instead of being undefined on overflow.
template <typename T>
T wrapping(T a, T b, char op) {
  using U = std::make_unsigned_t<T>;
  U ua = static_cast<U>(a), ub = static_cast<U>(b);
  U r = op == '+' ? U(ua + ub) : op == '-' ? U(ua - ub) : U(ua * ub);
  return static_cast<T>(r);
}

template <typename T>
T add(T a, T b) {
  if constexpr (std::is_integral_v<T>) return wrapping(a, b, '+');
  return a + b;
}
template <typename T>
T sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) return wrapping(a, b, '-');
  return a - b;
}
template <typename T>
T mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) return wrapping(a, b, '*');
  return a * b;
}
template <typename T>
T div(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) return 0;
    if (b == -1) return wrapping(T{0}, a, '-');  // INT_MIN / -1 would overflow
  }
  return a / b;
}

template <typename T>
T gelu_exact(T x) {
  const T inv_sqrt2 = static_cast<T>(0.70710678118654752440);
  return static_cast<T>(0.5) * x * (static_cast<T>(1) + std::erf(x * inv_sqrt2));
}

template <typename T>
T gelu_tanh(T x) {
  const T sqrt_2_over_pi = static_cast<T>(0.79788456080286535588);
  const T kappa = static_cast<T>(0.044715);
  T inner = sqrt_2_over_pi * (x + kappa * x * x * x);
  return static_cast<T>(0.5) * x * (static_cast<T>(1) + std::tanh(inner));
}

std::vector<Tensor> gelu_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  bool approximate = ctx.node.attrs.get_string("approximate") == "tanh";
  const Tensor& x = in[0];
  return {visit_dtype(ctx, x.dtype(), [&](auto tag) -> Tensor {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>)
      return approximate ? map_unary<T>(x, gelu_tanh<T>) : map_unary<T>(x, gelu_exact<T>);
    unsupported(ctx, x.dtype());
  })};
}

std::vector<Tensor> select_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  const Tensor& c = in[0];
  const Tensor& a = in[1];
  const Tensor& b = in[2];
  if (c.dtype() != DType::boolean || a.dtype() != b.dtype())
    throw Error(fmt::format("select: needs a bool condition and branches of one dtype, but got {}, {} and {}",
                            c.type_str(), a.type_str(), b.type_str()));
  std::vector<int64_t> shape = broadcast_concrete(c.shape(), broadcast_concrete(a.shape(), b.shape()));
  return {visit_dtype(ctx, a.dtype(), [&](auto tag) -> Tensor {
    using T = decltype(tag);
    Tensor out = Tensor::zeros(a.dtype(), shape);
    const bool* pc = c.data<bool>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    std::vector<int64_t> idx(shape.size(), 0);
    for (int64_t i = 0; i < out.numel(); ++i, next_index(idx, shape))
      po[i] = pc[broadcast_index(idx, c.shape(), shape)] ? pa[broadcast_index(idx, a.shape(), shape)]
                                                         : pb[broadcast_index(idx, b.shape(), shape)];
    return out;
  })};
}

}  // namespace

void register_elementwise_kernels(KernelTable& t) {
  auto set = [&t](OpKind op, Kernel k) { t[static_cast<size_t>(op)] = std::move(k); };
  using A = Accepts;

  set(OpKind::neg, unary<A::numeric>([](auto x) {
        if constexpr (std::is_floating_point_v<decltype(x)>)
          return -x;  // -0.0 for 0.0, as IEEE negation
        else
          return sub(decltype(x){0}, x);
      }));
  set(OpKind::abs, unary<A::numeric>([](auto x) {
        using T = decltype(x);
        if constexpr (std::is_floating_point_v<T>)
          return std::fabs(x);
        else
          return x < 0 ? sub(T{0}, x) : x;  // abs(INT_MIN) wraps to INT_MIN
      }));
  set(OpKind::exp, unary<A::floating>([](auto x) { return std::exp(x); }));
  set(OpKind::log, unary<A::floating>([](auto x) { return std::log(x); }));
  set(OpKind::sqrt, unary<A::floating>([](auto x) { return std::sqrt(x); }));
  set(OpKind::rsqrt, unary<A::floating>([](auto x) { return decltype(x){1} / std::sqrt(x); }));
  set(OpKind::tanh, unary<A::floating>([](auto x) { return std::tanh(x); }));
  set(OpKind::sigmoid, unary<A::floating>([](auto x) { return decltype(x){1} / (decltype(x){1} + std::exp(-x)); }));
  set(OpKind::relu, unary<A::numeric>([](auto x) { return x > 0 || is_nan(x) ? x : decltype(x){0}; }));
  set(OpKind::gelu, gelu_kernel);
  set(OpKind::sin, unary<A::floating>([](auto x) { return std::sin(x); }));
  set(OpKind::cos, unary<A::floating>([](auto x) { return std::cos(x); }));
  set(OpKind::logical_not, unary<A::boolean>([](auto x) { return !x; }));

  set(OpKind::add, binary<A::numeric>([](auto a, auto b) { return add(a, b); }));
  set(OpKind::sub, binary<A::numeric>([](auto a, auto b) { return sub(a, b); }));
  set(OpKind::mul, binary<A::numeric>([](auto a, auto b) { return mul(a, b); }));
  set(OpKind::div, binary<A::numeric>([](auto a, auto b) { return div(a, b); }));
  set(OpKind::pow, binary<A::floating>([](auto a, auto b) { return std::pow(a, b); }));
  set(OpKind::maximum, binary<A::numeric>([](auto a, auto b) {
        return is_nan(a) ? a : is_nan(b) ? b : a > b ? a : b;
      }));
  set(OpKind::minimum, binary<A::numeric>([](auto a, auto b) {
        return is_nan(a) ? a : is_nan(b) ? b : a < b ? a : b;
      }));
  set(OpKind::eq, binary<A::numeric>([](auto a, auto b) { return a == b; }));
  set(OpKind::ne, binary<A::numeric>([](auto a, auto b) { return a != b; }));
  set(OpKind::lt, binary<A::numeric>([](auto a, auto b) { return a < b; }));
  set(OpKind::le, binary<A::numeric>([](auto a, auto b) { return a <= b; }));
  set(OpKind::gt, binary<A::numeric>([](auto a, auto b) { return a > b; }));
  set(OpKind::ge, binary<A::numeric>([](auto a, auto b) { return a >= b; }));
  set(OpKind::logical_and, binary<A::boolean>([](auto a, auto b) { return a && b; }));
  set(OpKind::logical_or, binary<A::boolean>([](auto a, auto b) { return a || b; }));
  set(OpKind::select, select_kernel);
}

}  // namespace weft::interp
