/** \file
 * Elementwise ops: unary math, binary arithmetic and comparisons with NumPy broadcasting, select.
 * Dtypes are strict: both operands of a binary op have the same dtype; comparisons give bool.
 *
 * Gradient rules stand beside each op. Conventions at the points where a derivative is undefined
 * follow PyTorch: abs and relu have derivative 0 at 0; max and min split the gradient evenly
 * between equal operands; pow gives d/da = 0 where b == 0 and d/db = 0 where a == 0 and b >= 0.
 * Comparisons and logical ops carry no gradient.
 */
#include <cmath>
#include <fmt/format.h>

#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "ir/ops/emit.h"
#include "ir/ops/grad_util.h"

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
  d.llvm = {ProviderImpl::fused, {}};
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
  d.llvm = {ProviderImpl::fused, {}};
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


// ---- gradient rules ----

/// A unary rule from its formula d(x, y, g) for the gradient of x, given the result y and its gradient g.
template <typename F>
GradRule unary_rule(F formula) {
  return [formula](const GradQuery& q) {
    Emit e{q.builder};
    DType t = e.type(q.node.operands[0]).dtype;
    return Grads{formula(e, q.node.operands[0], q.node.results[0], *q.result_grads[0], t)};
  };
}

/// A binary rule from the broadcast-shaped gradients of both operands; each is summed back to its operand.
template <typename F>
GradRule binary_rule(F formula) {
  return [formula](const GradQuery& q) {
    Emit e{q.builder};
    ValueId a = q.node.operands[0], b = q.node.operands[1];
    DType t = e.type(a).dtype;
    auto [da, db] = formula(e, a, b, q.node.results[0], *q.result_grads[0], t);
    Shape sa = e.type(a).shape, sb = e.type(b).shape;
    return Grads{unbroadcast(e.b, da, sa), unbroadcast(e.b, db, sb)};
  };
}

ValueId gelu_exact_derivative(Emit& e, ValueId x, ValueId y, DType t) {
  // d/dx x*Phi(x) = Phi(x) + x*phi(x). There is no erf op, but Phi(x) = y / x exactly up to rounding
  // (the forward computes y as 0.5*x*(1 + erf(x/sqrt 2))); at x = 0, Phi is 1/2.
  ValueId nonzero = e.b.binary(OpKind::ne, x, e.c(0.0, t));
  ValueId safe_x = e.select(nonzero, x, e.c(1.0, t));
  ValueId cdf = e.select(nonzero, e.div(y, safe_x), e.c(0.5, t));
  ValueId pdf = e.mul(e.c(1.0 / std::sqrt(2.0 * M_PI), t), e.exp(e.mul(e.c(-0.5, t), e.mul(x, x))));
  return e.add(cdf, e.mul(x, pdf));
}

ValueId gelu_tanh_derivative(Emit& e, ValueId x, DType t) {
  // y = x/2 (1 + tanh u), u = c (x + k x^3): dy/dx = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) c (1 + 3k x^2).
  const double c = std::sqrt(2.0 / M_PI), k = 0.044715;
  ValueId x2 = e.mul(x, x);
  ValueId u = e.mul(e.c(c, t), e.add(x, e.mul(e.c(k, t), e.mul(x2, x))));
  ValueId th = e.b.unary(OpKind::tanh, u);
  ValueId left = e.mul(e.c(0.5, t), e.add(e.c(1.0, t), th));
  ValueId du = e.mul(e.c(c, t), e.add(e.c(1.0, t), e.mul(e.c(3.0 * k, t), x2)));
  ValueId right = e.mul(e.mul(e.c(0.5, t), x), e.mul(e.sub(e.c(1.0, t), e.mul(th, th)), du));
  return e.add(left, right);
}

Grads gelu_grad(const GradQuery& q) {
  Emit e{q.builder};
  ValueId x = q.node.operands[0];
  DType t = e.type(x).dtype;
  ValueId d = q.node.attrs.get_string("approximate") == "tanh" ? gelu_tanh_derivative(e, x, t)
                                                                : gelu_exact_derivative(e, x, q.node.results[0], t);
  return {e.mul(*q.result_grads[0], d)};
}

/// max (is_max) or min: the gradient goes to the operand that wins, half to each on a tie.
GradRule extremum_rule(bool is_max) {
  return binary_rule([is_max](Emit& e, ValueId a, ValueId b, ValueId, ValueId g, DType t) {
    OpKind beats = is_max ? OpKind::lt : OpKind::gt;  // a loses where a < b (max) or a > b (min)
    ValueId zero = e.c(0.0, t);
    ValueId tie = e.b.binary(OpKind::eq, a, b);
    ValueId shared = e.select(tie, e.mul(g, e.c(0.5, t)), g);
    return std::pair{e.select(e.b.binary(beats, a, b), zero, shared), e.select(e.b.binary(beats, b, a), zero, shared)};
  });
}

Grads select_grad(const GradQuery& q) {
  Emit e{q.builder};
  ValueId c = q.node.operands[0], a = q.node.operands[1], b = q.node.operands[2];
  ValueId g = *q.result_grads[0];
  const TensorType ta = e.type(a), tb = e.type(b);
  ValueId zero = e.c(0.0, ta.dtype);
  return {std::nullopt, unbroadcast(e.b, e.select(c, g, zero), ta.shape),
          unbroadcast(e.b, e.select(c, zero, g), tb.shape)};
}

}  // namespace

void register_elementwise_ops(std::vector<OpDef>& t) {
  auto with = [](OpDef d, GradRule rule) {
    d.gradient = std::move(rule);
    return d;
  };
  t.push_back(with(unary(OpKind::neg, "neg", Domain::numeric, "-x"),
                   unary_rule([](Emit& e, ValueId, ValueId, ValueId g, DType) { return e.neg(g); })));
  t.push_back(with(unary(OpKind::abs, "abs", Domain::numeric, "|x|"),
                   unary_rule([](Emit& e, ValueId x, ValueId, ValueId g, DType t) {
                     ValueId zero = e.c(0.0, t);
                     ValueId neg_part = e.select(e.b.binary(OpKind::lt, x, zero), e.neg(g), zero);
                     return e.select(e.b.binary(OpKind::gt, x, zero), g, neg_part);
                   })));
  t.push_back(with(unary(OpKind::exp, "exp", Domain::floating, "e^x"),
                   unary_rule([](Emit& e, ValueId, ValueId y, ValueId g, DType) { return e.mul(g, y); })));
  t.push_back(with(unary(OpKind::log, "log", Domain::floating, "natural logarithm"),
                   unary_rule([](Emit& e, ValueId x, ValueId, ValueId g, DType) { return e.div(g, x); })));
  t.push_back(with(unary(OpKind::sqrt, "sqrt", Domain::floating, "square root"),
                   unary_rule([](Emit& e, ValueId, ValueId y, ValueId g, DType t) {
                     return e.div(e.mul(g, e.c(0.5, t)), y);  // 1 / (2 sqrt x)
                   })));
  t.push_back(with(unary(OpKind::rsqrt, "rsqrt", Domain::floating, "1 / sqrt(x)"),
                   unary_rule([](Emit& e, ValueId, ValueId y, ValueId g, DType t) {
                     return e.mul(g, e.mul(e.c(-0.5, t), e.mul(y, e.mul(y, y))));  // -x^(-3/2) / 2
                   })));
  t.push_back(with(unary(OpKind::tanh, "tanh", Domain::floating, "hyperbolic tangent"),
                   unary_rule([](Emit& e, ValueId, ValueId y, ValueId g, DType t) {
                     return e.mul(g, e.sub(e.c(1.0, t), e.mul(y, y)));
                   })));
  t.push_back(with(unary(OpKind::sigmoid, "sigmoid", Domain::floating, "1 / (1 + e^-x)"),
                   unary_rule([](Emit& e, ValueId, ValueId y, ValueId g, DType t) {
                     return e.mul(g, e.mul(y, e.sub(e.c(1.0, t), y)));
                   })));
  t.push_back(with(unary(OpKind::relu, "relu", Domain::numeric, "max(x, 0)"),
                   unary_rule([](Emit& e, ValueId x, ValueId, ValueId g, DType t) {
                     return e.select(e.b.binary(OpKind::gt, x, e.c(0.0, t)), g, e.c(0.0, t));
                   })));
  {
    OpDef gelu = unary(OpKind::gelu, "gelu", Domain::floating,
                       "x * Phi(x), exact erf form; approximate=\"tanh\" for the tanh approximation");
    gelu.attrs = {AttrSpec{"approximate", AttrKind::string, AttrValue{std::string("none")}}};
    gelu.gradient = gelu_grad;
    auto base = gelu.infer;
    gelu.infer = [base](const ShapeQuery& q) {
      const std::string& a = q.attrs.get_string("approximate");
      if (a != "none" && a != "tanh")
        throw Error(fmt::format("gelu: attribute 'approximate' must be \"none\" or \"tanh\", but got \"{}\"", a));
      return base(q);
    };
    t.push_back(std::move(gelu));
  }
  t.push_back(with(unary(OpKind::sin, "sin", Domain::floating, "sine"),
                   unary_rule([](Emit& e, ValueId x, ValueId, ValueId g, DType) {
                     return e.mul(g, e.b.unary(OpKind::cos, x));
                   })));
  t.push_back(with(unary(OpKind::cos, "cos", Domain::floating, "cosine"),
                   unary_rule([](Emit& e, ValueId x, ValueId, ValueId g, DType) {
                     return e.neg(e.mul(g, e.b.unary(OpKind::sin, x)));
                   })));
  t.push_back(unary(OpKind::logical_not, "logical_not", Domain::boolean, "!x", false));

  t.push_back(with(binary(OpKind::add, "add", Domain::numeric, std::nullopt, "a + b"),
                   binary_rule([](Emit&, ValueId, ValueId, ValueId, ValueId g, DType) { return std::pair{g, g}; })));
  t.push_back(with(binary(OpKind::sub, "sub", Domain::numeric, std::nullopt, "a - b"),
                   binary_rule([](Emit& e, ValueId, ValueId, ValueId, ValueId g, DType) {
                     return std::pair{g, e.neg(g)};
                   })));
  t.push_back(with(binary(OpKind::mul, "mul", Domain::numeric, std::nullopt, "a * b"),
                   binary_rule([](Emit& e, ValueId a, ValueId b, ValueId, ValueId g, DType) {
                     return std::pair{e.mul(g, b), e.mul(g, a)};
                   })));
  t.push_back(with(binary(OpKind::div, "div", Domain::numeric, std::nullopt, "a / b (integers: truncating)"),
                   binary_rule([](Emit& e, ValueId, ValueId b, ValueId y, ValueId g, DType) {
                     return std::pair{e.div(g, b), e.neg(e.div(e.mul(g, y), b))};  // d/db a/b = -y/b
                   })));
  t.push_back(with(binary(OpKind::pow, "pow", Domain::floating, std::nullopt, "a ^ b"),
                   binary_rule([](Emit& e, ValueId a, ValueId b, ValueId y, ValueId g, DType t) {
                     ValueId zero = e.c(0.0, t);
                     ValueId da = e.mul(g, e.mul(b, e.b.binary(OpKind::pow, a, e.sub(b, e.c(1.0, t)))));
                     da = e.select(e.b.binary(OpKind::eq, b, zero), zero, da);
                     ValueId db = e.mul(g, e.mul(y, e.log(a)));
                     ValueId flat = e.b.binary(OpKind::logical_and, e.b.binary(OpKind::eq, a, zero),
                                               e.b.binary(OpKind::ge, b, zero));
                     return std::pair{da, e.select(flat, zero, db)};
                   })));
  t.push_back(with(binary(OpKind::maximum, "max", Domain::numeric, std::nullopt, "elementwise maximum (NaN propagates)"),
                   extremum_rule(true)));
  t.push_back(with(binary(OpKind::minimum, "min", Domain::numeric, std::nullopt, "elementwise minimum (NaN propagates)"),
                   extremum_rule(false)));
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
  select.llvm = {ProviderImpl::fused, {}};
  select.summary = "cond ? a : b, with NumPy broadcasting of all three";
  select.gradient = select_grad;
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

  // Well above a load and a store per element (libm calls or long polynomials; sqrt and rsqrt use
  // the divider, which issues one vector every few cycles): never recomputed per broadcast copy.
  for (OpKind k : {OpKind::exp, OpKind::log, OpKind::sqrt, OpKind::rsqrt, OpKind::tanh, OpKind::sigmoid, OpKind::gelu,
                   OpKind::sin, OpKind::cos, OpKind::pow})
    find_def(t, k).cost = CostClass::expensive;
}

}  // namespace weft::ops_detail
