#include "frontend/nn/common.h"

#include <fmt/format.h>

namespace weft::nn {

std::string join_name(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "." + b;
}

LayerId::LayerId(std::string kind_, const Builder& b, const std::string& name)
    : kind(std::move(kind_)), scope(name.empty() ? b.current_scope() : b.scoped_name(name)), builder(&b) {}

std::string LayerId::describe() const { return scope.empty() ? kind : fmt::format("{} '{}'", kind, scope); }

void LayerId::fail(const std::string& message, const Loc& loc) const {
  config_error(*builder, describe() + ": " + message, loc);
}

LayerCall LayerId::enter(Builder& b, const Loc& loc) const { return LayerCall{enter_scope(b, scope), b.at(loc)}; }

void config_error(const Builder& b, const std::string& message, const Loc& loc) {
  throw Error(with_location(message, b.location(SourceLoc::from(loc))));
}

dsl::Scope enter_scope(Builder& b, const std::string& path) {
  const std::string& current = b.current_scope();
  if (path == current || path.empty()) return dsl::Scope(nullptr, "");
  if (current.empty()) return b.scope(path);
  if (path.size() > current.size() && path.compare(0, current.size(), current) == 0 && path[current.size()] == '.')
    return b.scope(path.substr(current.size() + 1));
  size_t dot = path.rfind('.');
  return b.scope(dot == std::string::npos ? path : path.substr(dot + 1));
}

dsl::Scope open_scope(Builder& b, const std::string& name, const Loc& loc) {
  if (name.empty()) return dsl::Scope(nullptr, "");
  return b.scope(name, loc);
}

std::string spec_str(DType dtype, const std::vector<DimSpec>& dims) {
  std::vector<std::string> parts;
  for (const DimSpec& d : dims) parts.push_back(d.str());
  return fmt::format("{}[{}]", dtype_name(dtype), fmt::join(parts, ", "));
}

namespace {
void require_defined(const LayerId& who, const std::string& what, const Tensor& x, const Loc& loc) {
  if (!x.defined()) who.fail(fmt::format("{} is an empty Tensor handle (default-constructed)", what), loc);
}
}  // namespace

void expect_shape(const LayerId& who, const std::string& what, const Tensor& x, DType dtype,
                  const std::vector<DimSpec>& dims, const Loc& loc) {
  require_defined(who, what, x, loc);
  bool ok = x.dtype() == dtype && x.rank() == static_cast<int>(dims.size());
  for (size_t i = 0; ok && i < dims.size(); ++i) ok = dims[i].accepts(x.shape()[i]);
  if (!ok) who.fail(fmt::format("{} must be {}, but got {}", what, spec_str(dtype, dims), x.type().str()), loc);
}

void expect_last_dim(const LayerId& who, const std::string& what, const Tensor& x, DType dtype, int64_t last,
                     const Loc& loc) {
  require_defined(who, what, x, loc);
  if (x.dtype() != dtype || x.rank() < 1 || x.shape().back() != Dim(last))
    who.fail(fmt::format("{} must be {}[..., {}], but got {}", what, dtype_name(dtype), last, x.type().str()), loc);
}

void expect_integer(const LayerId& who, const std::string& what, const Tensor& x, const Loc& loc) {
  require_defined(who, what, x, loc);
  if (!is_int(x.dtype()))
    who.fail(fmt::format("{} must have an integer dtype (i32 or i64), but got {}", what, x.type().str()), loc);
}

DropoutStep dropout_step(Builder& b, Mode mode, Loc loc) {
  if (mode == Mode::eval) return {};
  for (const InputDecl& in : b.graph().inputs())
    if (in.name == "step") {
      Tensor step = b.value(in.value);
      if (step.dtype() != DType::i64 || step.rank() != 0)
        config_error(
            b, fmt::format("dropout_step: the input `step` must be an i64 scalar, but is {}", step.type().str()), loc);
      return step;
    }
  return b.input("step", DType::i64, {}, loc);
}

std::string_view activation_name(Activation a) {
  switch (a) {
    case Activation::relu:
      return "relu";
    case Activation::gelu:
      return "gelu";
    case Activation::tanh:
      return "tanh";
  }
  return "?";
}

Tensor activate(Activation a, const Tensor& x, const Loc& loc) {
  switch (a) {
    case Activation::relu:
      return dsl::relu(x, loc);
    case Activation::gelu:
      return dsl::gelu(x, "none", loc);
    case Activation::tanh:
      return dsl::tanh(x, loc);
  }
  WEFT_CHECK(false, "unknown activation");
  return x;
}

namespace ops {
Tensor add(const Tensor& a, const Tensor& b, const Loc& loc) {
  return dsl::add(dsl::Operand(a, loc), dsl::Operand(b, loc));
}
Tensor mul(const Tensor& a, const Tensor& b, const Loc& loc) {
  return dsl::mul(dsl::Operand(a, loc), dsl::Operand(b, loc));
}
Tensor mul(const Tensor& a, double s, const Loc& loc) { return dsl::mul(dsl::Operand(a, loc), dsl::Operand(s, loc)); }
Tensor sub(const Tensor& a, const Tensor& b, const Loc& loc) {
  return dsl::sub(dsl::Operand(a, loc), dsl::Operand(b, loc));
}
}  // namespace ops

}  // namespace weft::nn
