#include "frontend/optim.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace weft::train {

namespace {

/// Sets the builder's scope until destroyed, then restores the previous one.
class ScopeGuard {
 public:
  ScopeGuard(GraphBuilder& b, std::string scope) : b_(b), previous_(b.scope()) { b_.set_scope(std::move(scope)); }
  ~ScopeGuard() { b_.set_scope(previous_); }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;

 private:
  GraphBuilder& b_;
  std::string previous_;
};

/// Arithmetic in one dtype, so the update formulas read as formulas.
class Arith {
 public:
  Arith(GraphBuilder& b, DType dtype) : b_(b), dtype_(dtype) {}
  ValueId c(double v) { return b_.constant(v, dtype_); }
  ValueId add(ValueId x, ValueId y) { return b_.binary(OpKind::add, x, y); }
  ValueId sub(ValueId x, ValueId y) { return b_.binary(OpKind::sub, x, y); }
  ValueId mul(ValueId x, ValueId y) { return b_.binary(OpKind::mul, x, y); }
  ValueId div(ValueId x, ValueId y) { return b_.binary(OpKind::div, x, y); }
  ValueId mul(double s, ValueId x) { return mul(c(s), x); }
  ValueId sqrt(ValueId x) { return b_.unary(OpKind::sqrt, x); }
  /// `x` in this dtype (a scalar computed in f32 used on an f64 parameter).
  ValueId in_dtype(ValueId x) { return b_.cast(x, dtype_); }

 private:
  GraphBuilder& b_;
  DType dtype_;
};

bool is_scalar(const TensorType& t) { return t.shape.empty(); }

void check_inputs(const Graph& g, const OptimizerInputs& in, bool needs_step, const std::string& who) {
  auto describe = [&](ValueId v) { return fmt::format("'{}' ({})", g.value_name(v), g.type(v).str()); };
  if (in.lr == kNoValue || static_cast<size_t>(in.lr) >= g.num_values())
    throw Error(
        fmt::format("{}: needs the learning rate as a graph value (an f32 scalar input), but none was given", who));
  if (g.type(in.lr).dtype != DType::f32 || !is_scalar(g.type(in.lr)))
    throw Error(fmt::format("{}: the learning rate must be an f32 scalar, but it is {}", who, describe(in.lr)));
  if (!needs_step) return;
  if (in.step == kNoValue || static_cast<size_t>(in.step) >= g.num_values())
    throw Error(
        fmt::format("{}: needs the step count as a graph value (an i64 scalar input, 1 for the first update), "
                    "but none was given",
                    who));
  if (g.type(in.step).dtype != DType::i64 || !is_scalar(g.type(in.step)))
    throw Error(fmt::format("{}: the step count must be an i64 scalar, but it is {}", who, describe(in.step)));
}

void check_range(const std::string& who, const char* option, double value, double lo, double hi, bool hi_open) {
  bool ok = std::isfinite(value) && value >= lo && (hi_open ? value < hi : value <= hi);
  if (!ok)
    throw Error(fmt::format("{}: option '{}' must be in [{}, {}{}, but it is {}", who, option, lo, hi,
                            hi_open ? ")" : "]", value));
}

/// A trainable parameter with its gradient, checked.
struct Target {
  std::string name;
  ValueId param;
  ValueId grad;
  TensorType type;
};

std::vector<Target> resolve(const Graph& g, const std::vector<ParamGrad>& params, const std::string& who) {
  std::vector<Target> out;
  for (const ParamGrad& pg : params) {
    const ParamDecl* p = g.find_param(pg.name);
    if (!p)
      throw Error(
          fmt::format("{}: can only update parameters, but graph '{}' has none named '{}'", who, g.name(), pg.name));
    const TensorType type = g.type(p->value);
    if (!is_float(type.dtype))
      throw Error(
          fmt::format("{}: can only update floating-point parameters, but '{}' is {}", who, pg.name, type.str()));
    if (pg.grad == kNoValue || static_cast<size_t>(pg.grad) >= g.num_values() || g.type(pg.grad) != type)
      throw Error(fmt::format("{}: the gradient of '{}' must have its type {}, but it is {}", who, pg.name, type.str(),
                              pg.grad == kNoValue || static_cast<size_t>(pg.grad) >= g.num_values()
                                  ? std::string("missing")
                                  : g.type(pg.grad).str()));
    bool updated =
        std::any_of(g.updates().begin(), g.updates().end(), [&](const StateUpdate& u) { return u.param == pg.name; });
    bool repeated = std::any_of(out.begin(), out.end(), [&](const Target& t) { return t.name == pg.name; });
    if (updated || repeated)
      throw Error(fmt::format("{}: each parameter may be updated once per step, but '{}' already is{}", who, pg.name,
                              repeated ? " (it is listed twice)" : " (the graph has an update for it)"));
    out.push_back(Target{pg.name, p->value, pg.grad, type});
  }
  return out;
}

/// A zero-initialized optimizer-state parameter `<prefix>.<param>` of the parameter's type.
ValueId new_state(Graph& g, const std::string& prefix, const Target& t) {
  std::string name = prefix + "." + t.name;
  if (g.find_param(name) || g.find_input(name))
    throw Error(
        fmt::format("optimizer: its state for '{}' is named '{}', but graph '{}' already has a value of that "
                    "name (was an optimizer applied twice?)",
                    t.name, name, g.name()));
  return g.add_param(name, t.type, Initializer{"zeros", {}, 0});
}

/// The gradient with L2 weight decay folded in, as torch.optim.SGD and Adam do: g + wd·p.
ValueId decayed_grad(Arith& a, const Target& t, double weight_decay) {
  if (weight_decay == 0.0) return t.grad;
  return a.add(t.grad, a.mul(weight_decay, t.param));
}

/// The step-dependent scalars of Adam (f32): lr / (1 - β1^t) and sqrt(1 - β2^t).
struct AdamScalars {
  ValueId step_size;
  ValueId bias_correction2_sqrt;
};

AdamScalars adam_scalars(GraphBuilder& b, const OptimizerInputs& in, double beta1, double beta2) {
  Arith a(b, DType::f32);
  ValueId t = b.cast(in.step, DType::f32);
  ValueId bc1 = a.sub(a.c(1.0), b.binary(OpKind::pow, a.c(beta1), t));
  ValueId bc2 = a.sub(a.c(1.0), b.binary(OpKind::pow, a.c(beta2), t));
  return AdamScalars{a.div(in.lr, bc1), a.sqrt(bc2)};
}

/// One parameter's Adam step from parameter value `p` and gradient `g`; declares the updates of its
/// moments and returns the new parameter value.
ValueId adam_step(GraphBuilder& b, const std::string& prefix, const Target& t, ValueId p, ValueId g,
                  const AdamScalars& s, double beta1, double beta2, double eps) {
  Graph& graph = b.graph();
  ValueId m = new_state(graph, prefix + ".m", t);
  ValueId v = new_state(graph, prefix + ".v", t);
  Arith a(b, t.type.dtype);
  ValueId m_new = a.add(a.mul(beta1, m), a.mul(1.0 - beta1, g));
  ValueId v_new = a.add(a.mul(beta2, v), a.mul(1.0 - beta2, a.mul(g, g)));
  ValueId denom = a.add(a.div(a.sqrt(v_new), a.in_dtype(s.bias_correction2_sqrt)), a.c(eps));
  ValueId p_new = a.sub(p, a.mul(a.in_dtype(s.step_size), a.div(m_new, denom)));
  graph.add_update(prefix + ".m." + t.name, m_new);
  graph.add_update(prefix + ".v." + t.name, v_new);
  return p_new;
}

}  // namespace

std::string optimizer_name(const OptimizerConfig& config) {
  switch (config.index()) {
    case 0:
      return "sgd";
    case 1:
      return "adam";
    default:
      return "adamw";
  }
}

void sgd_update(GraphBuilder& b, const std::vector<ParamGrad>& params, const OptimizerInputs& inputs,
                const SgdOptions& options) {
  const std::string who = "sgd";
  check_range(who, "momentum", options.momentum, 0.0, 1.0, false);
  check_range(who, "dampening", options.dampening, 0.0, 1.0, false);
  check_range(who, "weight_decay", options.weight_decay, 0.0, HUGE_VAL, false);
  if (options.nesterov && (options.momentum <= 0.0 || options.dampening != 0.0))
    throw Error(
        fmt::format("sgd: Nesterov momentum needs momentum > 0 and zero dampening, but momentum is {} and "
                    "dampening {}",
                    options.momentum, options.dampening));
  // The first step sets the buffer to the gradient itself; with zero dampening, momentum·0 + g is
  // exactly g, so only a damped buffer needs to know which step it is.
  const bool needs_step = options.momentum != 0.0 && options.dampening != 0.0;
  check_inputs(b.graph(), inputs, needs_step, who);
  std::vector<Target> targets = resolve(b.graph(), params, who);
  for (const Target& t : targets) {
    ScopeGuard scope(b, who + "." + t.name);
    Arith a(b, t.type.dtype);
    ValueId g = decayed_grad(a, t, options.weight_decay);
    if (options.momentum != 0.0) {
      ValueId buf = new_state(b.graph(), "sgd.momentum_buffer", t);
      ValueId damped = options.dampening == 0.0 ? g : a.mul(1.0 - options.dampening, g);
      ValueId buf_new = a.add(a.mul(options.momentum, buf), damped);
      if (needs_step) {
        ValueId first = b.binary(OpKind::le, inputs.step, b.constant(1.0, DType::i64));
        buf_new = b.emit1(OpKind::select, {first, g, buf_new});
      }
      b.graph().add_update("sgd.momentum_buffer." + t.name, buf_new);
      g = options.nesterov ? a.add(g, a.mul(options.momentum, buf_new)) : buf_new;
    }
    ValueId p_new = a.sub(t.param, a.mul(a.in_dtype(inputs.lr), g));
    b.graph().add_update(t.name, p_new);
  }
}

void adam_update(GraphBuilder& b, const std::vector<ParamGrad>& params, const OptimizerInputs& inputs,
                 const AdamOptions& options) {
  const std::string who = "adam";
  check_range(who, "beta1", options.beta1, 0.0, 1.0, true);
  check_range(who, "beta2", options.beta2, 0.0, 1.0, true);
  check_range(who, "eps", options.eps, 0.0, HUGE_VAL, false);
  check_range(who, "weight_decay", options.weight_decay, 0.0, HUGE_VAL, false);
  check_inputs(b.graph(), inputs, true, who);
  std::vector<Target> targets = resolve(b.graph(), params, who);
  AdamScalars s = [&] {
    ScopeGuard scope(b, who);
    return adam_scalars(b, inputs, options.beta1, options.beta2);
  }();
  for (const Target& t : targets) {
    ScopeGuard scope(b, who + "." + t.name);
    Arith a(b, t.type.dtype);
    ValueId g = decayed_grad(a, t, options.weight_decay);
    ValueId p_new = adam_step(b, who, t, t.param, g, s, options.beta1, options.beta2, options.eps);
    b.graph().add_update(t.name, p_new);
  }
}

void adamw_update(GraphBuilder& b, const std::vector<ParamGrad>& params, const OptimizerInputs& inputs,
                  const AdamWOptions& options) {
  const std::string who = "adamw";
  check_range(who, "beta1", options.beta1, 0.0, 1.0, true);
  check_range(who, "beta2", options.beta2, 0.0, 1.0, true);
  check_range(who, "eps", options.eps, 0.0, HUGE_VAL, false);
  check_range(who, "weight_decay", options.weight_decay, 0.0, HUGE_VAL, false);
  check_inputs(b.graph(), inputs, true, who);
  std::vector<Target> targets = resolve(b.graph(), params, who);
  ValueId keep = kNoValue;  // 1 - lr·weight_decay
  AdamScalars s = [&] {
    ScopeGuard scope(b, who);
    Arith a(b, DType::f32);
    if (options.weight_decay != 0.0) keep = a.sub(a.c(1.0), a.mul(inputs.lr, a.c(options.weight_decay)));
    return adam_scalars(b, inputs, options.beta1, options.beta2);
  }();
  for (const Target& t : targets) {
    ScopeGuard scope(b, who + "." + t.name);
    Arith a(b, t.type.dtype);
    ValueId p = keep == kNoValue ? t.param : a.mul(t.param, a.in_dtype(keep));
    ValueId p_new = adam_step(b, who, t, p, t.grad, s, options.beta1, options.beta2, options.eps);
    b.graph().add_update(t.name, p_new);
  }
}

void apply_optimizer(GraphBuilder& b, const OptimizerConfig& config, const std::vector<ParamGrad>& params,
                     const OptimizerInputs& inputs) {
  if (const auto* sgd = std::get_if<SgdOptions>(&config)) return sgd_update(b, params, inputs, *sgd);
  if (const auto* adam = std::get_if<AdamOptions>(&config)) return adam_update(b, params, inputs, *adam);
  adamw_update(b, params, inputs, std::get<AdamWOptions>(config));
}

ValueId global_norm(GraphBuilder& b, const std::vector<ValueId>& grads) {
  Arith a(b, DType::f32);
  ValueId total = a.c(0.0);
  for (ValueId g : grads) {
    if (!is_float(b.type(g).dtype))
      throw Error(fmt::format("global_norm: gradients must be floating-point, but '{}' is {}", b.graph().value_name(g),
                              b.type(g).str()));
    ValueId squares = b.reduce(OpKind::reduce_sum, b.binary(OpKind::mul, g, g), {}, false);
    total = a.add(total, b.cast(squares, DType::f32));
  }
  return a.sqrt(total);
}

ClippedGrads clip_grad_norm(GraphBuilder& b, const std::vector<ParamGrad>& grads, double max_norm) {
  if (!std::isfinite(max_norm) || max_norm <= 0.0)
    throw Error(fmt::format("clip_grad_norm: max_norm must be a positive finite number, but it is {}", max_norm));
  ScopeGuard scope(b, "clip_grad_norm");
  std::vector<ValueId> values;
  for (const ParamGrad& g : grads) values.push_back(g.grad);
  ClippedGrads out;
  out.norm = global_norm(b, values);
  Arith a(b, DType::f32);
  ValueId coef = a.div(a.c(max_norm), a.add(out.norm, a.c(1e-6)));
  coef = b.binary(OpKind::minimum, coef, a.c(1.0));
  for (const ParamGrad& g : grads)
    out.grads.push_back(ParamGrad{g.name, b.binary(OpKind::mul, g.grad, b.cast(coef, b.type(g.grad).dtype))});
  return out;
}

}  // namespace weft::train
