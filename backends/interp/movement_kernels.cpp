/** \file
 * Reference kernels for the data-movement ops (ir/ops/movement.cpp): reshape, transpose, broadcast,
 * slice, concat, gather and scatter_add.
 *
 * All but scatter_add only copy elements, so they work on bytes and serve every dtype. Each kernel
 * works from its operands' concrete shapes and re-checks what it relies on (ranks, dims, index
 * ranges) with a weft::Error, so a tensor that disagrees with the graph's declared types, or an index
 * out of range, is reported rather than read out of bounds. Results never alias operands.
 */
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backends/interp/kernels.h"
#include "ir/ops.h"

namespace weft::interp {

namespace {

constexpr int64_t kSliceToEnd = std::numeric_limits<int64_t>::max();

const std::byte* bytes_of(const Tensor& t) { return static_cast<const std::byte*>(t.raw()); }
std::byte* bytes_of(Tensor& t) { return static_cast<std::byte*>(t.raw()); }

int64_t product(const std::vector<int64_t>& shape, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= shape[i];
  return n;
}

std::string dims_str(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

/// Advances a row-major multi-index within `shape`.
void next_index(std::vector<int64_t>& idx, const std::vector<int64_t>& shape) {
  for (int i = static_cast<int>(idx.size()) - 1; i >= 0; --i) {
    if (++idx[i] < shape[i]) return;
    idx[i] = 0;
  }
}

std::vector<Tensor> reshape_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  const Tensor& x = in[0];
  std::vector<int64_t> shape = evaluate_shape(ctx.node.attrs.get_shape("shape"), ctx.bindings);
  bool negative = std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; });
  if (negative || product(shape, 0, shape.size()) != x.numel())
    throw Error(fmt::format("reshape: the element count must not change, but {} has {} elements and the target shape "
                            "{} has {}",
                            x.type_str(), x.numel(), dims_str(shape), product(shape, 0, shape.size())));
  return {x.clone().reshaped(std::move(shape))};
}

std::vector<Tensor> transpose_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  const Tensor& x = in[0];
  const auto& perm = ctx.node.attrs.get_ints("perm");
  int rank = x.rank();
  if (static_cast<int>(perm.size()) != rank)
    throw Error(fmt::format("transpose: perm [{}] needs one entry per axis of {}", fmt::join(perm, ", "),
                            x.type_str()));
  std::vector<int64_t> axes(rank);
  std::vector<int64_t> out_shape(rank);
  std::vector<bool> seen(rank, false);
  for (int i = 0; i < rank; ++i) {
    axes[i] = normalize_axis(perm[i], rank, "transpose");
    if (seen[axes[i]])
      throw Error(fmt::format("transpose: perm [{}] must be a permutation, but axis {} appears twice",
                              fmt::join(perm, ", "), axes[i]));
    seen[axes[i]] = true;
    out_shape[i] = x.shape()[axes[i]];
  }
  std::vector<int64_t> in_strides = strides_of(x.shape());
  Tensor out = Tensor::zeros(x.dtype(), out_shape);
  size_t esize = dtype_size(x.dtype());
  std::vector<int64_t> idx(rank, 0);
  for (int64_t flat = 0; flat < out.numel(); ++flat, next_index(idx, out_shape)) {
    int64_t src = 0;
    for (int i = 0; i < rank; ++i) src += idx[i] * in_strides[axes[i]];
    std::memcpy(bytes_of(out) + flat * esize, bytes_of(x) + src * esize, esize);
  }
  return {out};
}

std::vector<Tensor> broadcast_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  const Tensor& x = in[0];
  std::vector<int64_t> shape = evaluate_shape(ctx.node.attrs.get_shape("shape"), ctx.bindings);
  bool ok = static_cast<size_t>(x.rank()) <= shape.size();
  for (int i = 0; ok && i < x.rank(); ++i) {
    int64_t have = x.shape()[i];
    ok = have == 1 || have == shape[i + shape.size() - x.rank()];
  }
  if (!ok)
    throw Error(fmt::format("broadcast: each operand dim (aligned right) must equal the target's or be 1, but {} "
                            "cannot broadcast to {}",
                            x.type_str(), dims_str(shape)));
  Tensor out = Tensor::zeros(x.dtype(), shape);
  size_t esize = dtype_size(x.dtype());
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t flat = 0; flat < out.numel(); ++flat, next_index(idx, shape)) {
    int64_t src = broadcast_index(idx, x.shape(), shape);
    std::memcpy(bytes_of(out) + flat * esize, bytes_of(x) + src * esize, esize);
  }
  return {out};
}

std::vector<Tensor> slice_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  const Tensor& x = in[0];
  const Attrs& attrs = ctx.node.attrs;
  int axis = normalize_axis(attrs.get_int("axis"), x.rank(), "slice");
  int64_t start = attrs.get_int("start");
  int64_t end = attrs.get_int("end");
  int64_t step = attrs.get_int("step");
  if (step <= 0) throw Error(fmt::format("slice: step must be at least 1, but got {}", step));
  int64_t n = x.shape()[axis];

  // Over a symbolic dim the shape rule promised a window of static size (end - start) / step; Python
  // would silently return less when the dim is shorter than `end`, so that is an error here.
  bool declared_symbolic = false;
  if (ctx.graph != nullptr) {
    const TensorType& declared = ctx.graph->type(ctx.node.operands[0]);
    declared_symbolic = axis < declared.rank() && !declared.shape[axis].is_static();
  }
  if (declared_symbolic && start >= 0 && end != kSliceToEnd && end > start && n < end)
    throw Error(fmt::format("slice: the window [{}, {}) of axis {} needs the symbolic dim {} to be at least {}, but it "
                            "is {} at run time (operand {})",
                            start, end, axis, ctx.graph->type(ctx.node.operands[0]).shape[axis].str(), end, n,
                            x.type_str()));

  auto clamp = [n](int64_t i) { return i < 0 ? std::max<int64_t>(i + n, 0) : std::min(i, n); };
  int64_t s = clamp(start);
  int64_t e = clamp(end);
  int64_t len = e <= s ? 0 : (e - s - 1) / step + 1;

  std::vector<int64_t> out_shape = x.shape();
  out_shape[axis] = len;
  Tensor out = Tensor::zeros(x.dtype(), out_shape);
  int64_t outer = product(x.shape(), 0, axis);
  size_t row = static_cast<size_t>(product(x.shape(), axis + 1, x.shape().size())) * dtype_size(x.dtype());
  std::byte* dst = bytes_of(out);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < len; ++k, dst += row) std::memcpy(dst, bytes_of(x) + (o * n + s + k * step) * row, row);
  return {out};
}

std::vector<Tensor> concat_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  const Tensor& first = in[0];
  int axis = normalize_axis(ctx.node.attrs.get_int("axis"), first.rank(), "concat");
  std::vector<int64_t> out_shape = first.shape();
  out_shape[axis] = 0;
  for (const Tensor& t : in) {
    bool ok = t.dtype() == first.dtype() && t.rank() == first.rank();
    for (int i = 0; ok && i < first.rank(); ++i) ok = i == axis || t.shape()[i] == first.shape()[i];
    if (!ok)
      throw Error(fmt::format("concat: operands must have the same dtype, rank and dims except axis {}, but got {} "
                              "and {}",
                              axis, first.type_str(), t.type_str()));
    out_shape[axis] += t.shape()[axis];
  }
  Tensor out = Tensor::zeros(first.dtype(), out_shape);
  int64_t outer = product(out_shape, 0, axis);
  size_t inner = static_cast<size_t>(product(out_shape, axis + 1, out_shape.size())) * dtype_size(first.dtype());
  std::byte* dst = bytes_of(out);
  for (int64_t o = 0; o < outer; ++o) {
    for (const Tensor& t : in) {
      size_t block = static_cast<size_t>(t.shape()[axis]) * inner;
      std::memcpy(dst, bytes_of(t) + o * block, block);
      dst += block;
    }
  }
  return {out};
}

/// The indices as int64, each wrapped once as numpy does (-1 is the last); an index outside
/// [-n, n) is an error naming it, its position and the dim.
std::vector<int64_t> checked_indices(const char* op, const Tensor& indices, int axis, int64_t n, bool wrap) {
  std::vector<int64_t> out;
  if (indices.dtype() == DType::i32) {
    const int32_t* p = indices.data<int32_t>();
    out.assign(p, p + indices.numel());
  } else if (indices.dtype() == DType::i64) {
    out = indices.to_vector<int64_t>();
  } else {
    throw Error(fmt::format("{}: indices must be i32 or i64, but got {}", op, indices.type_str()));
  }
  for (size_t j = 0; j < out.size(); ++j) {
    int64_t i = out[j];
    if (i < (wrap ? -n : 0) || i >= n)
      throw Error(fmt::format("{}: index {} (at flat position {} of the indices) is out of range for axis {} of size {} "
                              "(valid: {} to {})",
                              op, i, j, axis, n, wrap ? -n : 0, n - 1));
    if (i < 0) out[j] = i + n;
  }
  return out;
}

std::vector<int64_t> take_shape(const std::vector<int64_t>& x, int axis, const std::vector<int64_t>& indices) {
  std::vector<int64_t> out(x.begin(), x.begin() + axis);
  out.insert(out.end(), indices.begin(), indices.end());
  out.insert(out.end(), x.begin() + axis + 1, x.end());
  return out;
}

std::vector<Tensor> gather_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  const Tensor& x = in[0];
  int axis = normalize_axis(ctx.node.attrs.get_int("axis"), x.rank(), "gather");
  int64_t n = x.shape()[axis];
  std::vector<int64_t> idx = checked_indices("gather", in[1], axis, n, ctx.node.attrs.get_bool("wrap"));
  Tensor out = Tensor::zeros(x.dtype(), take_shape(x.shape(), axis, in[1].shape()));
  int64_t outer = product(x.shape(), 0, axis);
  size_t row = static_cast<size_t>(product(x.shape(), axis + 1, x.shape().size())) * dtype_size(x.dtype());
  std::byte* dst = bytes_of(out);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i : idx) {
      std::memcpy(dst, bytes_of(x) + (o * n + i) * row, row);
      dst += row;
    }
  return {out};
}

/// a + b; integers wrap (two's complement) rather than overflow into undefined behaviour.
template <typename T>
T add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}

template <typename T>
void scatter_add_into(Tensor& out, const Tensor& updates, const std::vector<int64_t>& idx, int64_t outer, int64_t n,
                      int64_t inner) {
  T* dst = out.data<T>();
  const T* src = updates.data<T>();
  auto m = static_cast<int64_t>(idx.size());
  // In order of the updates, so that floating-point sums are deterministic.
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < m; ++j)
      for (int64_t k = 0; k < inner; ++k) {
        T& d = dst[(o * n + idx[j]) * inner + k];
        d = add(d, src[(o * m + j) * inner + k]);
      }
}

std::vector<Tensor> scatter_add_kernel(const KernelContext& ctx, std::span<const Tensor> in) {
  const Tensor& updates = in[0];
  const Tensor& indices = in[1];
  std::vector<int64_t> shape = evaluate_shape(ctx.node.attrs.get_shape("shape"), ctx.bindings);
  int axis = normalize_axis(ctx.node.attrs.get_int("axis"), static_cast<int>(shape.size()), "scatter_add");
  std::vector<int64_t> want = take_shape(shape, axis, indices.shape());
  if (updates.shape() != want)
    throw Error(fmt::format("scatter_add: updates must have shape[:axis] + indices.shape + shape[axis+1:] = {}, but "
                            "got {} (indices {}, shape {}, axis {})",
                            dims_str(want), updates.type_str(), indices.type_str(), dims_str(shape), axis));
  int64_t n = shape[axis];
  std::vector<int64_t> idx = checked_indices("scatter_add", indices, axis, n, true);
  Tensor out = Tensor::zeros(updates.dtype(), shape);
  int64_t outer = product(shape, 0, axis);
  int64_t inner = product(shape, axis + 1, shape.size());
  switch (updates.dtype()) {
    case DType::f32: scatter_add_into<float>(out, updates, idx, outer, n, inner); break;
    case DType::f64: scatter_add_into<double>(out, updates, idx, outer, n, inner); break;
    case DType::i32: scatter_add_into<int32_t>(out, updates, idx, outer, n, inner); break;
    case DType::i64: scatter_add_into<int64_t>(out, updates, idx, outer, n, inner); break;
    default:
      throw Error(fmt::format("scatter_add: the interpreter supports f32, f64, i32 and i64 updates, but got {}",
                              updates.type_str()));
  }
  return {out};
}

}  // namespace

void register_movement_kernels(KernelTable& t) {
  t[static_cast<size_t>(OpKind::reshape)] = reshape_kernel;
  t[static_cast<size_t>(OpKind::transpose)] = transpose_kernel;
  t[static_cast<size_t>(OpKind::broadcast)] = broadcast_kernel;
  t[static_cast<size_t>(OpKind::slice)] = slice_kernel;
  t[static_cast<size_t>(OpKind::concat)] = concat_kernel;
  t[static_cast<size_t>(OpKind::gather)] = gather_kernel;
  t[static_cast<size_t>(OpKind::scatter_add)] = scatter_add_kernel;
}

}  // namespace weft::interp
