/** \file
 * Elementwise ops: unary math, binary arithmetic and comparisons with NumPy broadcasting, select.
 * Dtypes are strict: both operands of a binary op have the same dtype; comparisons give bool.
 */
#include <fmt/format.h>

#include "ir/graph_builder.h"
#include "ir/ops.h"

namespace weft::ops_detail {

namespace {

enum class Domain { floating, numeric, boolean };

bool in_domain(DType t, Domain d) {
  switch (d) {
    case Domain::floating: return is_float(t);
    case Domain::numeric: return is_float(t) || is_int(t);
    case Domain::boolean: return t == DType::boolean;
  }
  return false;
}

std::string_view domain_name(Domain d) {
  switch (d) {
    case Domain::floating: return "a floating-point dtype";
    case Domain::numeric: return "a numeric dtype";
    case Domain::boolean: return "bool";
  }
  return "?";
}

OpDef unary(OpKind kind, const char* name, Domain domain, const char* summary, bool differentiable = true) {
  OpDef d;
  d.kind = kind;
  d.name = name;
  d.min_operands = d.max_operands = 1;
  d.fusion = FusionKind::elementwise;
  d.differentiable = differentiable;
  d.summary = summary;
  d.infer = [name, domain](const ShapeQuery& q) {
    const TensorType& x = q.operands[0];
    if (!in_domain(x.dtype, domain))
      throw Error(fmt::format("{}: operand must have {}, but got {}", name, domain_name(domain), x.str()));
    return std::vector<TensorType>{x};
  };
  return d;
}

/// `result`: nullopt keeps the operands' dtype; otherwise the fixed result dtype (bool for comparisons).
OpDef binary(OpKind kind, const char* name, Domain domain, std::optional<DType> result, const char* summary,
             bool differentiable = true) {
  OpDef d;
  d.kind = kind;
  d.name = name;
  d.min_operands = d.max_operands = 2;
  d.fusion = FusionKind::elementwise;
  d.differentiable = differentiable;
  d.summary = summary;
  d.infer = [name, domain, result](const ShapeQuery& q) {
    const TensorType& a = q.operands[0];
    const TensorType& b = q.operands[1];
    if (a.dtype != b.dtype)
      throw Error(fmt::format("{}: operands must have the same dtype (Weft never promotes; use cast), but got {} and {}",
                              name, a.str(), b.str()));
    if (!in_domain(a.dtype, domain))
      throw Error(fmt::format("{}: operands must have {}, but got {}", name, domain_name(domain), a.str()));
    Shape shape = broadcast_shapes(name, a, b);
    return std::vector<TensorType>{TensorType{result.value_or(a.dtype), shape}};
  };
  return d;
}

}  // namespace

void register_elementwise_ops(std::vector<OpDef>& t) {
  t.push_back(unary(OpKind::neg, "neg", Domain::numeric, "-x"));
  t.push_back(unary(OpKind::abs, "abs", Domain::numeric, "|x|"));
  t.push_back(unary(OpKind::exp, "exp", Domain::floating, "e^x"));
  t.push_back(unary(OpKind::log, "log", Domain::floating, "natural logarithm"));
  t.push_back(unary(OpKind::sqrt, "sqrt", Domain::floating, "square root"));
  t.push_back(unary(OpKind::rsqrt, "rsqrt", Domain::floating, "1 / sqrt(x)"));
  t.push_back(unary(OpKind::tanh, "tanh", Domain::floating, "hyperbolic tangent"));
  t.push_back(unary(OpKind::sigmoid, "sigmoid", Domain::floating, "1 / (1 + e^-x)"));
  t.push_back(unary(OpKind::relu, "relu", Domain::numeric, "max(x, 0)"));
  {
    OpDef gelu = unary(OpKind::gelu, "gelu", Domain::floating,
                       "x * Phi(x), exact erf form; approximate=\"tanh\" for the tanh approximation");
    gelu.attrs = {AttrSpec{"approximate", AttrKind::string, AttrValue{std::string("none")}}};
    auto base = gelu.infer;
    gelu.infer = [base](const ShapeQuery& q) {
      const std::string& a = q.attrs.get_string("approximate");
      if (a != "none" && a != "tanh")
        throw Error(fmt::format("gelu: attribute 'approximate' must be \"none\" or \"tanh\", but got \"{}\"", a));
      return base(q);
    };
    t.push_back(std::move(gelu));
  }
  t.push_back(unary(OpKind::sin, "sin", Domain::floating, "sine"));
  t.push_back(unary(OpKind::cos, "cos", Domain::floating, "cosine"));
  t.push_back(unary(OpKind::logical_not, "logical_not", Domain::boolean, "!x", false));

  t.push_back(binary(OpKind::add, "add", Domain::numeric, std::nullopt, "a + b"));
  t.push_back(binary(OpKind::sub, "sub", Domain::numeric, std::nullopt, "a - b"));
  t.push_back(binary(OpKind::mul, "mul", Domain::numeric, std::nullopt, "a * b"));
  t.push_back(binary(OpKind::div, "div", Domain::numeric, std::nullopt, "a / b (integers: truncating)"));
  t.push_back(binary(OpKind::pow, "pow", Domain::floating, std::nullopt, "a ^ b"));
  t.push_back(binary(OpKind::maximum, "max", Domain::numeric, std::nullopt, "elementwise maximum (NaN propagates)"));
  t.push_back(binary(OpKind::minimum, "min", Domain::numeric, std::nullopt, "elementwise minimum (NaN propagates)"));
  t.push_back(binary(OpKind::eq, "eq", Domain::numeric, DType::boolean, "a == b", false));
  t.push_back(binary(OpKind::ne, "ne", Domain::numeric, DType::boolean, "a != b", false));
  t.push_back(binary(OpKind::lt, "lt", Domain::numeric, DType::boolean, "a < b", false));
  t.push_back(binary(OpKind::le, "le", Domain::numeric, DType::boolean, "a <= b", false));
  t.push_back(binary(OpKind::gt, "gt", Domain::numeric, DType::boolean, "a > b", false));
  t.push_back(binary(OpKind::ge, "ge", Domain::numeric, DType::boolean, "a >= b", false));
  t.push_back(binary(OpKind::logical_and, "logical_and", Domain::boolean, DType::boolean, "a && b", false));
  t.push_back(binary(OpKind::logical_or, "logical_or", Domain::boolean, DType::boolean, "a || b", false));

  OpDef select;
  select.kind = OpKind::select;
  select.name = "select";
  select.min_operands = select.max_operands = 3;
  select.fusion = FusionKind::elementwise;
  select.summary = "cond ? a : b, with NumPy broadcasting of all three";
  select.infer = [](const ShapeQuery& q) {
    const TensorType& c = q.operands[0];
    const TensorType& a = q.operands[1];
    const TensorType& b = q.operands[2];
    if (c.dtype != DType::boolean)
      throw Error(fmt::format("select: the condition must be bool, but got {}", c.str()));
    if (a.dtype != b.dtype)
      throw Error(fmt::format("select: both branches must have the same dtype, but got {} and {}", a.str(), b.str()));
    Shape ab = broadcast_shapes("select", a, b);
    Shape all = broadcast_shapes("select", c, TensorType{a.dtype, ab});
    return std::vector<TensorType>{TensorType{a.dtype, all}};
  };
  t.push_back(std::move(select));
}

}  // namespace weft::ops_detail
