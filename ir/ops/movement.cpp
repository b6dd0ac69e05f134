/** \file
 * Data-movement ops: reshape, transpose, broadcast, slice, concat, gather and scatter_add.
 *
 * Every shape rule here works over symbolic dims. A dim is a monomial (coefficient × symbols), so a
 * rule may only produce a result dim it can write as one: reshape compares element counts as
 * monomials, concat of n copies of the same dim D gives n*D, and a slice of a symbolic dim is either
 * the whole dim or a static window; anything else (T-1, T+S, ceil(T/2)) is rejected with an error
 * that says why. `gather` is `numpy.take` along one axis and `scatter_add` is its exact adjoint, with
 * the same index conventions (negative indices wrap once, anything else out of range is an error).
 */
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "ir/ops.h"

namespace weft::ops_detail {

namespace {

constexpr int64_t kSliceToEnd = std::numeric_limits<int64_t>::max();

OpDef base(OpKind kind, const char* name, int min_operands, int max_operands, FusionKind fusion,
           const char* summary) {
  OpDef d;
  d.kind = kind;
  d.name = name;
  d.min_operands = min_operands;
  d.max_operands = max_operands;
  d.fusion = fusion;
  d.cost = CostClass::movement;
  d.differentiable = true;
  d.summary = summary;
  return d;
}

/// Rejects negative static dims in a shape attribute (a symbolic dim is positive by construction).
void check_shape_attr(const char* op, const Shape& shape) {
  for (const Dim& d : shape)
    if (d.coefficient() < 0)
      throw Error(fmt::format("{}: every dim of the target shape must be non-negative, but got {}", op,
                              shape_str(shape)));
}

void check_index_dtype(const char* op, const TensorType& indices) {
  if (indices.dtype != DType::i32 && indices.dtype != DType::i64)
    throw Error(fmt::format("{}: indices must be i32 or i64, but got {}", op, indices.str()));
}

/// x.shape[:axis] + indices.shape + x.shape[axis+1:], the shape numpy.take gives.
Shape take_shape(const Shape& x, int axis, const Shape& indices) {
  Shape out(x.begin(), x.begin() + axis);
  out.insert(out.end(), indices.begin(), indices.end());
  out.insert(out.end(), x.begin() + axis + 1, x.end());
  return out;
}

OpDef reshape_op() {
  OpDef d = base(OpKind::reshape, "reshape", 1, 1, FusionKind::injective,
                 "the same elements in row-major order under a new shape with the same element count");
  d.attrs = {AttrSpec{"shape", AttrKind::shape, std::nullopt}};
  d.infer = [](const ShapeQuery& q) {
    const TensorType& x = q.operands[0];
    const Shape& shape = q.attrs.get_shape("shape");
    check_shape_attr("reshape", shape);
    Dim have = num_elements(x.shape);
    Dim want = num_elements(shape);
    if (have != want)
      throw Error(fmt::format("reshape: the element count must not change, but {} has {} elements and the target "
                              "shape {} has {}",
                              x.str(), have.str(), shape_str(shape), want.str()));
    return std::vector<TensorType>{TensorType{x.dtype, shape}};
  };
  return d;
}

OpDef transpose_op() {
  OpDef d = base(OpKind::transpose, "transpose", 1, 1, FusionKind::injective,
                 "permutes the axes: result dim i is operand dim perm[i] (negative entries count from the end)");
  d.attrs = {AttrSpec{"perm", AttrKind::integers, std::nullopt}};
  d.infer = [](const ShapeQuery& q) {
    const TensorType& x = q.operands[0];
    const auto& perm = q.attrs.get_ints("perm");
    int rank = x.rank();
    auto bad = [&](const std::string& why) {
      return Error(fmt::format("transpose: perm must be a permutation of the axes 0..{} (negative entries count from "
                               "the end), but got [{}] for {}: {}",
                               rank - 1, fmt::join(perm, ", "), x.str(), why));
    };
    if (static_cast<int>(perm.size()) != rank)
      throw bad(fmt::format("it has {} entries for a tensor of rank {}", perm.size(), rank));
    std::vector<bool> seen(rank, false);
    Shape out;
    for (int64_t p : perm) {
      int64_t a = p < 0 ? p + rank : p;
      if (a < 0 || a >= rank) throw bad(fmt::format("entry {} is out of range", p));
      if (seen[a]) throw bad(fmt::format("axis {} appears twice", a));
      seen[a] = true;
      out.push_back(x.shape[a]);
    }
    return std::vector<TensorType>{TensorType{x.dtype, out}};
  };
  return d;
}

OpDef broadcast_op() {
  OpDef d = base(OpKind::broadcast, "broadcast", 1, 1, FusionKind::injective,
                 "NumPy broadcast to a target shape: operand dims aligned right, each equal to the target's or 1");
  d.attrs = {AttrSpec{"shape", AttrKind::shape, std::nullopt}};
  d.infer = [](const ShapeQuery& q) {
    const TensorType& x = q.operands[0];
    const Shape& shape = q.attrs.get_shape("shape");
    check_shape_attr("broadcast", shape);
    if (x.shape.size() > shape.size())
      throw Error(fmt::format("broadcast: the target shape must have at least the operand's rank, but {} has rank {} "
                              "and the target {} has rank {}",
                              x.str(), x.rank(), shape_str(shape), shape.size()));
    size_t offset = shape.size() - x.shape.size();
    for (size_t i = 0; i < x.shape.size(); ++i) {
      const Dim& have = x.shape[i];
      const Dim& want = shape[i + offset];
      if (have != want && have != Dim(1))
        throw Error(fmt::format("broadcast: each operand dim (aligned right) must equal the target's or be 1, but {} "
                                "cannot broadcast to {} (dim {} vs {})",
                                x.str(), shape_str(shape), have.str(), want.str()));
    }
    return std::vector<TensorType>{TensorType{x.dtype, shape}};
  };
  return d;
}

/// The size of Python's x[start:end:step] along a dim of static size n (step >= 1).
int64_t python_slice_size(int64_t n, int64_t start, int64_t end, int64_t step) {
  auto clamp = [n](int64_t i) { return i < 0 ? std::max<int64_t>(i + n, 0) : std::min(i, n); };
  int64_t s = clamp(start);
  int64_t e = clamp(end);
  return e <= s ? 0 : (e - s - 1) / step + 1;
}

std::string slice_bound_str(int64_t v) { return v == kSliceToEnd ? "the end" : std::to_string(v); }

OpDef slice_op() {
  OpDef d = base(OpKind::slice, "slice", 1, 1, FusionKind::injective,
                 "Python's x[start:end:step] on one axis (negative bounds count from the end; step >= 1)");
  d.attrs = {AttrSpec{"axis", AttrKind::integer, std::nullopt},
             AttrSpec{"start", AttrKind::integer, AttrValue{int64_t{0}}},
             AttrSpec{"end", AttrKind::integer, AttrValue{kSliceToEnd}},
             AttrSpec{"step", AttrKind::integer, AttrValue{int64_t{1}}}};
  d.infer = [](const ShapeQuery& q) {
    const TensorType& x = q.operands[0];
    int axis = normalize_axis(q.attrs.get_int("axis"), x.rank(), "slice");
    int64_t start = q.attrs.get_int("start");
    int64_t end = q.attrs.get_int("end");
    int64_t step = q.attrs.get_int("step");
    if (step <= 0)
      throw Error(fmt::format("slice: step must be at least 1 (reversed slices are not supported), but got {}", step));
    const Dim& dim = x.shape[axis];
    Shape out = x.shape;
    if (dim.is_static()) {
      out[axis] = python_slice_size(dim.value(), start, end, step);
    } else if (start == 0 && end == kSliceToEnd && step == 1) {
      // The whole axis: nothing to compute.
    } else if (start >= 0 && end >= 0 && end != kSliceToEnd) {
      // A static window; the kernel checks at run time that the dim reaches `end`.
      out[axis] = end <= start ? 0 : (end - start - 1) / step + 1;
    } else {
      throw Error(fmt::format(
          "slice: cannot slice symbolic dim {} from {} to {}{} of {}; the result size is not expressible as a dim (a "
          "coefficient times symbols). Slice a symbolic axis whole, or with non-negative start and a static end "
          "(a window of static size)",
          dim.str(), start, slice_bound_str(end), step == 1 ? "" : fmt::format(" with step {}", step), x.str()));
    }
    return std::vector<TensorType>{TensorType{x.dtype, out}};
  };
  return d;
}

OpDef concat_op() {
  OpDef d = base(OpKind::concat, "concat", 1, -1, FusionKind::injective,
                 "joins operands along an axis; the other dims must be equal");
  d.attrs = {AttrSpec{"axis", AttrKind::integer, std::nullopt}};
  d.infer = [](const ShapeQuery& q) {
    const TensorType& first = q.operands[0];
    auto types = [&] {
      std::vector<std::string> s;
      for (const auto& t : q.operands) s.push_back(t.str());
      return fmt::format("{}", fmt::join(s, ", "));
    };
    for (const auto& t : q.operands) {
      if (t.dtype != first.dtype)
        throw Error(fmt::format("concat: operands must have the same dtype, but got {}", types()));
      if (t.rank() != first.rank())
        throw Error(fmt::format("concat: operands must have the same rank, but got {}", types()));
    }
    int axis = normalize_axis(q.attrs.get_int("axis"), first.rank(), "concat");
    for (const auto& t : q.operands)
      for (int i = 0; i < first.rank(); ++i)
        if (i != axis && t.shape[i] != first.shape[i])
          throw Error(fmt::format("concat: all dims except axis {} must be equal, but dim {} differs ({} vs {}) in {}",
                                  axis, i, first.shape[i].str(), t.shape[i].str(), types()));
    bool all_static = std::all_of(q.operands.begin(), q.operands.end(),
                                  [&](const TensorType& t) { return t.shape[axis].is_static(); });
    bool all_same = std::all_of(q.operands.begin(), q.operands.end(),
                                [&](const TensorType& t) { return t.shape[axis] == first.shape[axis]; });
    Shape out = first.shape;
    if (all_static) {
      int64_t sum = 0;
      for (const auto& t : q.operands) sum += t.shape[axis].value();
      out[axis] = sum;
    } else if (all_same) {
      out[axis] = Dim(static_cast<int64_t>(q.operands.size())) * first.shape[axis];
    } else {
      throw Error(fmt::format("concat: the axis-{} dims must be all static or all the same symbolic dim, so that their "
                              "sum is a dim, but got {}",
                              axis, types()));
    }
    return std::vector<TensorType>{TensorType{first.dtype, out}};
  };
  return d;
}

OpDef gather_op() {
  OpDef d = base(OpKind::gather, "gather", 2, 2, FusionKind::injective,
                 "numpy.take(x, indices, axis): shape x[:axis] + indices + x[axis+1:]; negative indices wrap "
                 "(wrap=false: every index must be in [0, n), as a class label); differentiable in x only");
  d.attrs = {AttrSpec{"axis", AttrKind::integer, AttrValue{int64_t{0}}},
             AttrSpec{"wrap", AttrKind::boolean, AttrValue{true}}};
  d.infer = [](const ShapeQuery& q) {
    const TensorType& x = q.operands[0];
    const TensorType& indices = q.operands[1];
    check_index_dtype("gather", indices);
    int axis = normalize_axis(q.attrs.get_int("axis"), x.rank(), "gather");
    return std::vector<TensorType>{TensorType{x.dtype, take_shape(x.shape, axis, indices.shape)}};
  };
  return d;
}

OpDef scatter_add_op() {
  OpDef d = base(OpKind::scatter_add, "scatter_add", 2, 2, FusionKind::opaque,
                 "the adjoint of gather: zeros(shape), then out[.., indices[j..], ..] += updates[.., j.., ..]; "
                 "duplicates accumulate; differentiable in updates only");
  d.attrs = {AttrSpec{"axis", AttrKind::integer, AttrValue{int64_t{0}}},
             AttrSpec{"shape", AttrKind::shape, std::nullopt}};
  d.infer = [](const ShapeQuery& q) {
    const TensorType& updates = q.operands[0];
    const TensorType& indices = q.operands[1];
    const Shape& shape = q.attrs.get_shape("shape");
    check_index_dtype("scatter_add", indices);
    if (!is_float(updates.dtype) && !is_int(updates.dtype))
      throw Error(fmt::format("scatter_add: updates must have a numeric dtype, but got {}", updates.str()));
    check_shape_attr("scatter_add", shape);
    int axis = normalize_axis(q.attrs.get_int("axis"), static_cast<int>(shape.size()), "scatter_add");
    Shape want = take_shape(shape, axis, indices.shape);
    if (updates.shape != want)
      throw Error(fmt::format("scatter_add: updates must have the shape gather would give, shape[:axis] + "
                              "indices.shape + shape[axis+1:] = {}, but got {} (indices {}, shape {}, axis {})",
                              shape_str(want), updates.str(), indices.str(), shape_str(shape), axis));
    return std::vector<TensorType>{TensorType{updates.dtype, shape}};
  };
  return d;
}

}  // namespace

void register_movement_ops(std::vector<OpDef>& t) {
  auto generated = [](OpDef d, ProviderImpl impl) {
    d.llvm = {impl, {}};
    return d;
  };
  t.push_back(generated(reshape_op(), ProviderImpl::fused));
  t.push_back(generated(transpose_op(), ProviderImpl::fused_or_alone));
  t.push_back(generated(broadcast_op(), ProviderImpl::fused));
  t.push_back(generated(slice_op(), ProviderImpl::fused_or_alone));
  t.push_back(generated(concat_op(), ProviderImpl::alone));
  t.push_back(generated(gather_op(), ProviderImpl::alone));
  t.push_back(generated(scatter_add_op(), ProviderImpl::alone));
}

}  // namespace weft::ops_detail
