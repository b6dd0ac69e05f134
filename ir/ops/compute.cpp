/** \file
 * Compute and source ops: matmul, constant, iota, cast, rng_uniform.
 *
 * matmul is batched: the last two dims of each operand are the matrices, the dims before them
 * broadcast as in NumPy. Both operands must have rank >= 2; a vector is not silently promoted (NumPy's
 * rank-1 rules drop a dim from the result, which hides shape bugs), so the user reshapes it.
 *
 * The sources (constant, iota, rng_uniform) take their shape from a `shape` attribute whose symbolic
 * dims are bound when the graph runs. rng_uniform takes one operand, an i64 scalar `offset`, so that
 * a training loop passes its step counter and draws fresh numbers without rebuilding the graph:
 * elements are uniform in [0, 1) from Philox4x32-10 (ir/philox.h) with key `seed`, counter (j, offset)
 * making four f32 elements (4j..4j+3) or two f64 elements (docs/ops.md).
 */
#include <fmt/format.h>

#include <cmath>

#include "ir/ops.h"

namespace weft::ops_detail {

namespace {

void require_valid_shape(const std::string& op, const Shape& shape) {
  for (const Dim& d : shape)
    if (d.coefficient() < 0)
      throw Error(fmt::format("{}: dims of 'shape' must be non-negative, but got {}", op, shape_str(shape)));
}

/// Whether `v` is exactly representable in the integer or bool `dtype`.
bool exact_in(double v, DType dtype) {
  if (v != std::floor(v)) return false;  // also rejects NaN and infinities
  switch (dtype) {
    case DType::boolean:
      return v == 0.0 || v == 1.0;
    case DType::i32:
      return v >= -2147483648.0 && v <= 2147483647.0;
    case DType::i64:
      return v >= -9223372036854775808.0 && v < 9223372036854775808.0;
    default:
      return true;
  }
}

OpDef matmul() {
  OpDef d;
  d.kind = OpKind::matmul;
  d.name = "matmul";
  d.min_operands = d.max_operands = 2;
  d.attrs = {AttrSpec{"transpose_a", AttrKind::boolean, AttrValue{false}},
             AttrSpec{"transpose_b", AttrKind::boolean, AttrValue{false}}};
  d.fusion = FusionKind::matmul;
  d.summary = "batched matrix product a @ b (optionally transposing either's last two dims), batch dims broadcast";
  d.infer = [](const ShapeQuery& q) {
    const TensorType& a = q.operands[0];
    const TensorType& b = q.operands[1];
    if (a.rank() < 2)
      throw Error(
          fmt::format("matmul: both operands must have rank >= 2 (reshape a vector to [1, K]), but a is {}", a.str()));
    if (b.rank() < 2)
      throw Error(
          fmt::format("matmul: both operands must have rank >= 2 (reshape a vector to [K, 1]), but b is {}", b.str()));
    if (a.dtype != b.dtype)
      throw Error(
          fmt::format("matmul: operands must have the same dtype (Weft never promotes; use cast), but got {} "
                      "and {}",
                      a.str(), b.str()));
    if (!is_float(a.dtype))
      throw Error(
          fmt::format("matmul: operands must have a floating-point dtype, but got {} and {}", a.str(), b.str()));
    bool ta = q.attrs.get_bool("transpose_a");
    bool tb = q.attrs.get_bool("transpose_b");
    const Dim& m = a.shape[a.rank() - (ta ? 1 : 2)];
    const Dim& ka = a.shape[a.rank() - (ta ? 2 : 1)];
    const Dim& kb = b.shape[b.rank() - (tb ? 1 : 2)];
    const Dim& n = b.shape[b.rank() - (tb ? 2 : 1)];
    if (ka != kb)
      throw Error(fmt::format("matmul: inner dimensions must agree ({} K with {}), but got {} and {} ({} vs {})",
                              ta ? "a's second-to-last dim, as transpose_a=true," : "a's last dim",
                              tb ? "b's last, as transpose_b=true" : "b's second-to-last", a.str(), b.str(), ka.str(),
                              kb.str()));
    TensorType batch_a{a.dtype, Shape(a.shape.begin(), a.shape.end() - 2)};
    TensorType batch_b{b.dtype, Shape(b.shape.begin(), b.shape.end() - 2)};
    Shape out;
    try {
      out = broadcast_shapes("matmul", batch_a, batch_b);
    } catch (const Error&) {
      throw Error(
          fmt::format("matmul: batch dims (all but the last two) must be broadcast-compatible, but got {} "
                      "and {}",
                      a.str(), b.str()));
    }
    out.push_back(m);
    out.push_back(n);
    return std::vector<TensorType>{TensorType{a.dtype, out}};
  };
  return d;
}

OpDef constant() {
  OpDef d;
  d.kind = OpKind::constant;
  d.name = "constant";
  d.min_operands = d.max_operands = 0;
  d.attrs = {AttrSpec{"value", AttrKind::reals, std::nullopt}, AttrSpec{"dtype", AttrKind::dtype, std::nullopt},
             AttrSpec{"shape", AttrKind::shape, std::nullopt}};
  d.fusion = FusionKind::source;
  d.differentiable = false;
  d.summary = "a tensor of `shape` filled from `value`: one element (a splat) or one per element, row-major";
  d.infer = [](const ShapeQuery& q) {
    const auto& value = q.attrs.get_reals("value");
    DType dtype = q.attrs.get_dtype("dtype");
    const Shape& shape = q.attrs.get_shape("shape");
    require_valid_shape("constant", shape);
    TensorType type{dtype, shape};
    if (value.empty())
      throw Error(fmt::format("constant: 'value' must have at least one element (for {})", type.str()));
    if (value.size() != 1) {
      Dim n = num_elements(shape);
      if (!n.is_static())
        throw Error(
            fmt::format("constant: a constant of symbolic shape must be a splat (one value), but {} got {} "
                        "values",
                        type.str(), value.size()));
      if (static_cast<int64_t>(value.size()) != n.value())
        throw Error(
            fmt::format("constant: 'value' must have 1 element (a splat) or {} (one per element of {}), but "
                        "got {}",
                        n.value(), type.str(), value.size()));
    }
    if (!is_float(dtype))
      for (double v : value)
        if (!exact_in(v, dtype))
          throw Error(fmt::format("constant: every value of a {} constant must be {}, but got {}", dtype_name(dtype),
                                  dtype == DType::boolean ? "0 or 1" : "an integer in the dtype's range", real_str(v)));
    return std::vector<TensorType>{type};
  };
  return d;
}

OpDef iota() {
  OpDef d;
  d.kind = OpKind::iota;
  d.name = "iota";
  d.min_operands = d.max_operands = 0;
  d.attrs = {AttrSpec{"shape", AttrKind::shape, std::nullopt}, AttrSpec{"axis", AttrKind::integer, std::nullopt},
             AttrSpec{"dtype", AttrKind::dtype, AttrValue{DType::i64}}};
  d.fusion = FusionKind::source;
  d.differentiable = false;
  d.summary = "a tensor of `shape` whose every element is its index along `axis`";
  d.infer = [](const ShapeQuery& q) {
    const Shape& shape = q.attrs.get_shape("shape");
    DType dtype = q.attrs.get_dtype("dtype");
    require_valid_shape("iota", shape);
    TensorType type{dtype, shape};
    if (!is_float(dtype) && !is_int(dtype))
      throw Error(fmt::format("iota: 'dtype' must be numeric, but got {}", type.str()));
    normalize_axis(q.attrs.get_int("axis"), type.rank(), fmt::format("iota of {}", type.str()));
    return std::vector<TensorType>{type};
  };
  return d;
}

OpDef cast() {
  OpDef d;
  d.kind = OpKind::cast;
  d.name = "cast";
  d.min_operands = d.max_operands = 1;
  d.attrs = {AttrSpec{"dtype", AttrKind::dtype, std::nullopt}};
  d.fusion = FusionKind::elementwise;
  d.summary = "converts to `dtype`: float->int truncates and saturates (NaN -> 0), nonzero -> true";
  d.infer = [](const ShapeQuery& q) {
    return std::vector<TensorType>{TensorType{q.attrs.get_dtype("dtype"), q.operands[0].shape}};
  };
  return d;
}

OpDef rng_uniform() {
  OpDef d;
  d.kind = OpKind::rng_uniform;
  d.name = "rng_uniform";
  d.min_operands = d.max_operands = 1;
  d.attrs = {AttrSpec{"seed", AttrKind::integer, std::nullopt}, AttrSpec{"shape", AttrKind::shape, std::nullopt},
             AttrSpec{"dtype", AttrKind::dtype, AttrValue{DType::f32}}};
  d.fusion = FusionKind::source;
  d.differentiable = false;
  d.summary = "uniform [0, 1) of `shape`: Philox4x32-10, key `seed`, counter (flat index, offset operand)";
  d.infer = [](const ShapeQuery& q) {
    const TensorType& offset = q.operands[0];
    const Shape& shape = q.attrs.get_shape("shape");
    DType dtype = q.attrs.get_dtype("dtype");
    require_valid_shape("rng_uniform", shape);
    TensorType type{dtype, shape};
    if (offset.dtype != DType::i64 || offset.rank() != 0)
      throw Error(
          fmt::format("rng_uniform: the offset operand must be an i64 scalar (i64[]), but got {}", offset.str()));
    if (dtype != DType::f32 && dtype != DType::f64)
      throw Error(fmt::format("rng_uniform: 'dtype' must be f32 or f64, but got {}", type.str()));
    return std::vector<TensorType>{type};
  };
  return d;
}

}  // namespace

void register_compute_ops(std::vector<OpDef>& t) {
  auto generated = [](OpDef d, CostClass cost, ProviderImpl impl) {
    d.cost = cost;
    d.llvm = {impl, {}};
    return d;
  };
  t.push_back(generated(matmul(), CostClass::matmul, ProviderImpl::fused));
  t.push_back(generated(constant(), CostClass::cheap, ProviderImpl::fused));
  t.push_back(generated(iota(), CostClass::cheap, ProviderImpl::fused));
  t.push_back(generated(cast(), CostClass::cheap, ProviderImpl::fused));
  t.push_back(generated(rng_uniform(), CostClass::expensive, ProviderImpl::alone));  // Philox: 10 rounds of multiplies
}

}  // namespace weft::ops_detail
