/** \file
 * Reductions: reduce_sum, reduce_mean, reduce_max, reduce_min over a set of axes, and argmax along one.
 *
 * `axes` lists the reduced axes (negative counts from the end; an empty list reduces every axis;
 * a repeated axis is an error rather than silently merged, since it is almost always a typo).
 * `keepdims` keeps each reduced axis as a dim of size 1. The shape rule only drops or keeps dims,
 * so symbolic dims pass through: reduce_mean of f32[B, T] over axis 1 is f32[B].
 *
 * Over a zero-size axis, reduce_sum gives 0 and reduce_mean NaN (0/0; integers give 0), while
 * reduce_max, reduce_min and argmax have no answer and fail at run time: the sizes of symbolic dims
 * are not known when the graph is built.
 */
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "ir/ops.h"

namespace weft::ops_detail {

namespace {

/// The reduced axes, normalized and sorted; throws on an out-of-range or repeated axis.
std::vector<int> reduced_axes(const std::string& op, const std::vector<int64_t>& axes, const TensorType& x) {
  std::vector<int> out;
  if (axes.empty()) {
    for (int i = 0; i < x.rank(); ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : axes) {
    int n = normalize_axis(a, x.rank(), fmt::format("{} of {}", op, x.str()));
    if (std::find(out.begin(), out.end(), n) != out.end())
      throw Error(fmt::format("{}: each axis may appear once in 'axes', but axis {} appears twice in [{}] (for {})", op,
                              n, fmt::join(axes, ", "), x.str()));
    out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Shape reduced_shape(const Shape& shape, const std::vector<int>& axes, bool keepdims) {
  Shape out;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (!reduced)
      out.push_back(shape[i]);
    else if (keepdims)
      out.push_back(Dim(1));
  }
  return out;
}

void require_numeric(const std::string& op, const TensorType& x) {
  if (!is_float(x.dtype) && !is_int(x.dtype))
    throw Error(fmt::format("{}: operand must have a numeric dtype, but got {}", op, x.str()));
}

OpDef reduce(OpKind kind, const char* name, const char* summary) {
  OpDef d;
  d.kind = kind;
  d.name = name;
  d.min_operands = d.max_operands = 1;
  d.attrs = {AttrSpec{"axes", AttrKind::integers, AttrValue{std::vector<int64_t>{}}},
             AttrSpec{"keepdims", AttrKind::boolean, AttrValue{false}}};
  d.fusion = FusionKind::reduction;
  d.cost = CostClass::reduction;
  d.llvm = {ProviderImpl::fused, {}};
  d.summary = summary;
  d.infer = [name](const ShapeQuery& q) {
    const TensorType& x = q.operands[0];
    require_numeric(name, x);
    std::vector<int> axes = reduced_axes(name, q.attrs.get_ints("axes"), x);
    return std::vector<TensorType>{TensorType{x.dtype, reduced_shape(x.shape, axes, q.attrs.get_bool("keepdims"))}};
  };
  return d;
}

}  // namespace

void register_reduction_ops(std::vector<OpDef>& t) {
  t.push_back(reduce(OpKind::reduce_sum, "reduce_sum", "sum over `axes` (empty: all); 0 over an empty axis"));
  t.push_back(reduce(OpKind::reduce_mean, "reduce_mean",
                     "mean over `axes` (empty: all); NaN over an empty axis; integers: truncating"));
  t.push_back(reduce(OpKind::reduce_max, "reduce_max", "maximum over `axes` (empty: all); NaN propagates"));
  t.push_back(reduce(OpKind::reduce_min, "reduce_min", "minimum over `axes` (empty: all); NaN propagates"));

  OpDef argmax;
  argmax.kind = OpKind::argmax;
  argmax.name = "argmax";
  argmax.min_operands = argmax.max_operands = 1;
  argmax.attrs = {AttrSpec{"axis", AttrKind::integer, std::nullopt},
                  AttrSpec{"keepdims", AttrKind::boolean, AttrValue{false}}};
  argmax.fusion = FusionKind::reduction;
  argmax.cost = CostClass::reduction;
  argmax.llvm = {ProviderImpl::fused, {}};
  argmax.differentiable = false;
  argmax.summary = "i64 index of the first maximum along `axis` (NaN counts as the maximum)";
  argmax.infer = [](const ShapeQuery& q) {
    const TensorType& x = q.operands[0];
    require_numeric("argmax", x);
    int axis = normalize_axis(q.attrs.get_int("axis"), x.rank(), fmt::format("argmax of {}", x.str()));
    return std::vector<TensorType>{
        TensorType{DType::i64, reduced_shape(x.shape, {axis}, q.attrs.get_bool("keepdims"))}};
  };
  t.push_back(std::move(argmax));
}

}  // namespace weft::ops_detail
