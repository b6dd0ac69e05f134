/** \file
 * Reference kernels for the reductions. Each output element walks its reduced elements in row-major
 * order, accumulating in the tensor's own dtype (float for f32, so results match a float
 * implementation that sums in the same order; integers wrap). Over a zero-size axis reduce_sum
 * gives 0 and reduce_mean NaN (integers: 0); reduce_max, reduce_min and argmax throw weft::Error,
 * since the maximum of nothing is undefined. max and min propagate NaN; argmax counts NaN as the
 * maximum (as PyTorch does) and returns the first index of the maximum.
 */
#include <fmt/format.h>

#include <algorithm>
#include <type_traits>

#include "backends/interp/kernels.h"
#include "ir/ops.h"

namespace weft::interp {

namespace {

/// Which input elements each output element reduces: output o and reduced index r give the input
/// offset offset_of(o, kept) + offset_of(r, reduced).
struct Plan {
  std::vector<int64_t> out_shape;
  std::vector<int64_t> kept_sizes, kept_strides;
  std::vector<int64_t> reduced_sizes, reduced_strides;
  int64_t out_count = 1;
  int64_t reduced_count = 1;
  std::string empty_axis;  // "axis 0 of f32[0, 3]" when a reduced axis has size 0
};

Plan make_plan(const Tensor& x, const std::vector<int>& axes, bool keepdims) {
  Plan p;
  std::vector<int64_t> strides = strides_of(x.shape());
  for (int i = 0; i < x.rank(); ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    int64_t size = x.shape()[i];
    if (reduced) {
      p.reduced_sizes.push_back(size);
      p.reduced_strides.push_back(strides[i]);
      p.reduced_count *= size;
      if (size == 0 && p.empty_axis.empty()) p.empty_axis = fmt::format("axis {} of {}", i, x.type_str());
      if (keepdims) p.out_shape.push_back(1);
    } else {
      p.kept_sizes.push_back(size);
      p.kept_strides.push_back(strides[i]);
      p.out_count *= size;
      p.out_shape.push_back(size);
    }
  }
  return p;
}

/// The input offset of the flat index `i` over `sizes`, laid out with `strides`.
int64_t offset_of(int64_t i, const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides) {
  int64_t offset = 0;
  for (int d = static_cast<int>(sizes.size()) - 1; d >= 0; --d) {
    offset += (i % sizes[d]) * strides[d];
    i /= sizes[d];
  }
  return offset;
}

std::vector<int> normalized_axes(const KernelContext& ctx, const Tensor& x) {
  const std::vector<int64_t>& attr = ctx.node.attrs.get_ints("axes");
  std::vector<int> axes;
  if (attr.empty())
    for (int i = 0; i < x.rank(); ++i) axes.push_back(i);
  for (int64_t a : attr) axes.push_back(normalize_axis(a, x.rank(), std::string(op_name(ctx.node.op))));
  return axes;
}

template <typename T>
constexpr bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) return x != x;
  return false;
}

template <typename T>
T wrapping_add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  }
  return a + b;
}

/// Calls `f(T{})` for the numeric dtypes the reductions accept.
template <typename F>
Tensor visit_numeric(const KernelContext& ctx, DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32:
      return f(float{});
    case DType::f64:
      return f(double{});
    case DType::i32:
      return f(int32_t{});
    case DType::i64:
      return f(int64_t{});
    default:
      throw Error(
          fmt::format("{}: the interpreter has no kernel for dtype {}", op_name(ctx.node.op), dtype_name(dtype)));
  }
}

template <typename T>
T reduce_one(OpKind op, const T* px, int64_t base, const Plan& p) {
  auto at = [&](int64_t r) { return px[base + offset_of(r, p.reduced_sizes, p.reduced_strides)]; };
  if (op == OpKind::reduce_sum || op == OpKind::reduce_mean) {
    T acc{0};
    for (int64_t r = 0; r < p.reduced_count; ++r) acc = wrapping_add(acc, at(r));
    if (op == OpKind::reduce_sum) return acc;
    if constexpr (std::is_integral_v<T>) {
      return p.reduced_count == 0 ? T{0} : static_cast<T>(static_cast<int64_t>(acc) / p.reduced_count);
    } else {
      return acc / static_cast<T>(p.reduced_count);  // 0 / 0 = NaN over an empty axis
    }
  }
  bool is_max = op == OpKind::reduce_max;
  T acc = at(0);
  for (int64_t r = 1; r < p.reduced_count && !is_nan(acc); ++r) {
    T v = at(r);
    if (is_nan(v) || (is_max ? v > acc : v < acc)) acc = v;
  }
  return acc;
}

std::vector<Tensor> reduce_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  const Tensor& x = in[0];
  OpKind op = ctx.node.op;
  Plan p = make_plan(x, normalized_axes(ctx, x), ctx.node.attrs.get_bool("keepdims"));
  bool needs_element = op == OpKind::reduce_max || op == OpKind::reduce_min;
  if (needs_element && p.reduced_count == 0 && p.out_count > 0)
    throw Error(fmt::format("{} over an empty axis: {} has size 0, and the {} of no elements is undefined", op_name(op),
                            p.empty_axis, op == OpKind::reduce_max ? "maximum" : "minimum"));
  return {visit_numeric(ctx, x.dtype(), [&](auto tag) -> Tensor {
    using T = decltype(tag);
    Tensor out = Tensor::zeros(x.dtype(), p.out_shape);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    for (int64_t o = 0; o < p.out_count; ++o)
      po[o] = reduce_one<T>(op, px, offset_of(o, p.kept_sizes, p.kept_strides), p);
    return out;
  })};
}

std::vector<Tensor> argmax_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  const Tensor& x = in[0];
  int axis = normalize_axis(ctx.node.attrs.get_int("axis"), x.rank(), "argmax");
  Plan p = make_plan(x, {axis}, ctx.node.attrs.get_bool("keepdims"));
  if (p.reduced_count == 0 && p.out_count > 0)
    throw Error(fmt::format("argmax over an empty axis: {} has size 0, so there is no maximum to index", p.empty_axis));
  Tensor out = Tensor::zeros(DType::i64, p.out_shape);
  int64_t* po = out.data<int64_t>();
  visit_numeric(ctx, x.dtype(), [&](auto tag) -> Tensor {
    using T = decltype(tag);
    const T* px = x.data<T>();
    for (int64_t o = 0; o < p.out_count; ++o) {
      int64_t base = offset_of(o, p.kept_sizes, p.kept_strides);
      int64_t best = 0;
      T best_value = px[base];
      for (int64_t r = 1; r < p.reduced_count && !is_nan(best_value); ++r) {
        T v = px[base + r * p.reduced_strides[0]];
        if (is_nan(v) || v > best_value) {
          best = r;
          best_value = v;
        }
      }
      po[o] = best;
    }
    return out;
  });
  return {out};
}

}  // namespace

void register_reduction_kernels(KernelTable& t) {
  for (OpKind op : {OpKind::reduce_sum, OpKind::reduce_mean, OpKind::reduce_max, OpKind::reduce_min})
    t[static_cast<size_t>(op)] = reduce_kernel;
  t[static_cast<size_t>(OpKind::argmax)] = argmax_kernel;
}

}  // namespace weft::interp
