#include "frontend/builder.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

#include "ir/init.h"

namespace weft::dsl {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool is_fan_based(const std::string& kind) {
  return kind == "kaiming_uniform" || kind == "xavier_uniform" || kind == "xavier_normal";
}

}  // namespace

// --- Tensor ---

Builder& Tensor::builder() const {
  if (!builder_) throw Error("this Tensor handle is empty (default-constructed); it refers to no value");
  return *builder_;
}

const TensorType& Tensor::type() const { return builder().graph().type(id_); }

const Dim& Tensor::dim(int64_t axis) const {
  int a = normalize_axis(axis, rank(), fmt::format("dim of {}", type().str()));
  return shape()[a];
}

std::string Tensor::name() const { return builder().graph().value_name(id_); }

// --- Scope ---

Scope::~Scope() {
  if (builder_) builder_->scope_ = std::move(previous_);
}

// --- type strings ---

ParsedType parse_type_with_bounds(std::string_view text) {
  auto fail = [&](const std::string& why) -> ParsedType {
    throw Error(
        fmt::format("a type must be written as in the text IR, e.g. \"f32[B<=4096, 784]\", but \"{}\" {}", text, why));
  };
  std::string_view s = trim(text);
  size_t open = s.find('[');
  if (open == std::string_view::npos || s.back() != ']') return fail("has no [dims]");
  std::string_view dtype_text = trim(s.substr(0, open));
  auto dtype = parse_dtype(dtype_text);
  if (!dtype) return fail(fmt::format("has unknown dtype '{}'", dtype_text));
  ParsedType out;
  out.type.dtype = *dtype;
  std::string_view dims = trim(s.substr(open + 1, s.size() - open - 2));
  if (dims.empty()) return out;  // a scalar: "f32[]"
  while (true) {
    size_t comma = dims.find(',');
    std::string_view part = trim(dims.substr(0, comma));
    std::optional<int64_t> bound;
    size_t le = part.find("<=");
    if (le != std::string_view::npos) {
      std::string_view b = trim(part.substr(le + 2));
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(b.data(), b.data() + b.size(), v);
      if (ec != std::errc() || ptr != b.data() + b.size() || v <= 0)
        return fail(fmt::format("has a bad bound '{}' (bounds are positive integers)", b));
      bound = v;
      part = trim(part.substr(0, le));
    }
    auto dim = Dim::parse(std::string(part));
    if (!dim) return fail(fmt::format("has a bad dim '{}'", part));
    if (bound) {
      if (dim->coefficient() != 1 || dim->symbols().size() != 1)
        return fail(fmt::format("bounds '{}': only a bare symbol can carry a bound", part));
      out.bounds.push_back(SymbolDecl{dim->symbols()[0], bound});
    }
    if (dim->is_static() && dim->value() < 0) return fail("has a negative dim");
    out.type.shape.push_back(*dim);
    if (comma == std::string_view::npos) break;
    dims.remove_prefix(comma + 1);
  }
  return out;
}

// --- Builder ---

Builder::Builder(std::string name) : graph_(std::move(name)), gb_(graph_) {}

ValueId Builder::check_operand(const Tensor& t, const char* what, const SourceLoc& loc) const {
  if (!t.defined())
    throw Error(
        with_location(fmt::format("{}: an operand is an empty Tensor handle (default-constructed)", what), loc));
  if (&t.builder() != this)
    throw Error(with_location(fmt::format("{}: an operand belongs to another Builder's graph ('{}', not '{}')", what,
                                          t.builder().graph().name(), graph_.name()),
                              loc));
  return t.id();
}

Tensor Builder::input(const std::string& name, DType dtype, Shape shape, std::source_location loc) {
  SourceLoc where = location(SourceLoc::from(loc));
  if (name.empty()) throw Error(with_location("input: an input needs a name", where));
  if (graph_.find_input(name) || graph_.find_param(name))
    throw Error(with_location(fmt::format("input: names must be unique, but '{}' is already declared", name), where));
  for (const Dim& d : shape)
    if (d.is_static() && d.value() < 0)
      throw Error(with_location(
          fmt::format("input '{}': dims must be non-negative, but got {}", name, shape_str(shape)), where));
  TensorType type{dtype, std::move(shape)};
  try {
    check_tensor_size(graph_, type, fmt::format("input '{}'", name));
  } catch (const Error& e) {
    throw Error(with_location(e.what(), where));
  }
  return Tensor(this, graph_.add_input(name, std::move(type)));
}

Tensor Builder::input(const std::string& name, std::string_view type, std::source_location loc) {
  ParsedType parsed;
  try {
    parsed = parse_type_with_bounds(type);
  } catch (const Error& e) {
    throw Error(with_location(fmt::format("input '{}': {}", name, e.what()), location(SourceLoc::from(loc))));
  }
  for (const auto& s : parsed.bounds) symbol(s.name, s.bound, loc);
  return input(name, parsed.type.dtype, parsed.type.shape, loc);
}

Dim Builder::symbol(const std::string& name, std::optional<int64_t> bound, std::source_location loc) {
  auto dim = Dim::parse(name);
  if (!dim || dim->coefficient() != 1 || dim->symbols().size() != 1)
    throw Error(with_location(fmt::format("symbol: a symbol is a name such as B or T, but got '{}'", name),
                              location(SourceLoc::from(loc))));
  if (bound && *bound <= 0)
    throw Error(with_location(fmt::format("symbol '{}': a bound must be positive, but got {}", name, *bound),
                              location(SourceLoc::from(loc))));
  if (const SymbolDecl* old = graph_.find_symbol(name); old && old->bound && bound && *old->bound != *bound)
    throw Error(with_location(fmt::format("symbol '{}': it is already bounded by {}, so it cannot be bounded by {}",
                                          name, *old->bound, *bound),
                              location(SourceLoc::from(loc))));
  graph_.declare_symbol(name, bound);
  return *dim;
}

Tensor Builder::param(const std::string& name, DType dtype, Shape shape, Initializer init, std::source_location loc) {
  SourceLoc where = location(SourceLoc::from(loc));
  std::string full = scoped_name(name);
  TensorType type{dtype, std::move(shape)};
  if (name.empty()) throw Error(with_location("param: a parameter needs a name", where));
  if (graph_.find_param(full) || graph_.find_input(full))
    throw Error(with_location(fmt::format("param: names must be unique, but '{}' is already declared", full), where));
  for (const Dim& d : type.shape)
    if (!d.is_static() || d.value() < 0)
      throw Error(with_location(fmt::format("param '{}': a parameter's shape must be static and non-negative, but "
                                            "got {}",
                                            full, type.str()),
                                where));
  try {
    validate_initializer(init);
  } catch (const Error& e) {
    throw Error(with_location(fmt::format("param '{}': {}", full, e.what()), where));
  }
  if (is_fan_based(init.kind) && type.rank() < 2)
    throw Error(with_location(fmt::format("param '{}': initializer {} needs a weight of rank >= 2 (it uses fan_in), "
                                          "but got {}",
                                          full, init.kind, type.str()),
                              where));
  return Tensor(this, graph_.add_param(full, std::move(type), std::move(init)));
}

Tensor Builder::param(const std::string& name, std::string_view type, Initializer init, std::source_location loc) {
  ParsedType parsed;
  try {
    parsed = parse_type_with_bounds(type);
  } catch (const Error& e) {
    throw Error(
        with_location(fmt::format("param '{}': {}", scoped_name(name), e.what()), location(SourceLoc::from(loc))));
  }
  return param(name, parsed.type.dtype, parsed.type.shape, std::move(init), loc);
}

void Builder::output(const std::string& name, const Tensor& value, std::source_location loc) {
  SourceLoc where = location(SourceLoc::from(loc));
  ValueId v = check_operand(value, "output", where);
  if (name.empty()) throw Error(with_location("output: an output needs a name", where));
  for (const auto& o : graph_.outputs())
    if (o.name == name)
      throw Error(
          with_location(fmt::format("output: names must be unique, but '{}' is already an output", name), where));
  graph_.add_output(name, v);
}

void Builder::update(const std::string& param, const Tensor& value, std::source_location loc) {
  SourceLoc where = location(SourceLoc::from(loc));
  ValueId v = check_operand(value, "update", where);
  const ParamDecl* p = graph_.find_param(param);
  if (!p)
    throw Error(
        with_location(fmt::format("update: the updated value must be a parameter, but '{}' is not one", param), where));
  const TensorType& want = graph_.type(p->value);
  if (value.type() != want)
    throw Error(with_location(fmt::format("update '{}': the new value must have the parameter's type {}, but got {}",
                                          param, want.str(), value.type().str()),
                              where));
  for (const auto& u : graph_.updates())
    if (u.param == param)
      throw Error(with_location(fmt::format("update: parameter '{}' is already updated once", param), where));
  graph_.add_update(param, v);
}

Scope Builder::scope(const std::string& name, std::source_location loc) {
  if (name.empty() || name.find_first_of(" \t\n\"") != std::string::npos)
    throw Error(with_location(fmt::format("scope: a scope name must be non-empty without spaces or quotes, but got "
                                          "\"{}\"",
                                          name),
                              location(SourceLoc::from(loc))));
  std::string previous = scope_;
  scope_ = scoped_name(name);
  return Scope(this, std::move(previous));
}

std::string Builder::scoped_name(const std::string& name) const { return scope_.empty() ? name : scope_ + "." + name; }

LocationGuard::~LocationGuard() {
  if (builder_) builder_->loc_override_.reset();
}

LocationGuard Builder::at(std::source_location loc) {
  if (loc_override_) return LocationGuard(nullptr);
  loc_override_ = SourceLoc::from(loc);
  return LocationGuard(this);
}

SourceLoc Builder::location(const SourceLoc& call_site) const {
  SourceLoc loc = loc_override_ ? *loc_override_ : call_site;
  if (!source_root_.empty() && loc.file.rfind(source_root_, 0) == 0) {
    loc.file.erase(0, source_root_.size());
    if (!loc.file.empty() && loc.file[0] == '/') loc.file.erase(0, 1);
  }
  return loc;
}

std::vector<Tensor> Builder::emit(OpKind op, const std::vector<Tensor>& operands, const Attrs& attrs,
                                  const SourceLoc& loc, std::shared_ptr<const Graph> body) {
  std::string what(op_name(op));
  std::vector<ValueId> ids;
  ids.reserve(operands.size());
  for (const Tensor& t : operands) ids.push_back(check_operand(t, what.c_str(), location(loc)));
  gb_.set_scope(scope_);
  gb_.set_loc(location(loc));
  std::vector<ValueId> results = gb_.emit(op, std::move(ids), attrs, std::move(body));
  std::vector<Tensor> out;
  out.reserve(results.size());
  for (ValueId r : results) out.emplace_back(this, r);
  return out;
}

Tensor Builder::emit1(OpKind op, const std::vector<Tensor>& operands, const Attrs& attrs, const SourceLoc& loc) {
  std::vector<Tensor> results = emit(op, operands, attrs, loc);
  if (results.size() != 1)
    throw Error(with_location(
        fmt::format("{}: has {} results; use emit() to get all of them", op_name(op), results.size()), location(loc)));
  return results[0];
}

Tensor Builder::constant(std::vector<double> values, DType dtype, Shape shape, std::source_location loc) {
  return emit1(OpKind::constant, {}, Attrs{{"value", std::move(values)}, {"dtype", dtype}, {"shape", std::move(shape)}},
               location(SourceLoc::from(loc)));
}

Tensor Builder::constant(double value, DType dtype, std::source_location loc) {
  return constant(std::vector<double>{value}, dtype, Shape{}, loc);
}

Graph Builder::finish(std::source_location loc) const {
  if (graph_.outputs().empty())
    throw Error(with_location(
        fmt::format("finish: graph '{}' has no outputs; declare them with Builder::output", graph_.name()),
        location(SourceLoc::from(loc))));
  return graph_;
}

Tensor Builder::find_param(const std::string& name, std::source_location loc) {
  const ParamDecl* p = graph_.find_param(name);
  if (!p)
    throw Error(with_location(fmt::format("find_param: graph '{}' has no parameter '{}'", graph_.name(), name),
                              location(SourceLoc::from(loc))));
  return Tensor(this, p->value);
}

}  // namespace weft::dsl
