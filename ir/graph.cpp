#include "ir/graph.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace weft {

ValueId Graph::new_value(TensorType type, ValueKind kind, int32_t owner, int32_t result) {
  values_.push_back(ValueInfo{std::move(type), kind, owner, result});
  return static_cast<ValueId>(values_.size() - 1);
}

ValueId Graph::add_input(const std::string& name, TensorType type) {
  for (const auto& d : type.shape)
    for (const auto& s : d.symbols()) declare_symbol(s);
  ValueId v = new_value(std::move(type), ValueKind::input, static_cast<int32_t>(inputs_.size()), 0);
  inputs_.push_back(InputDecl{name, v});
  return v;
}

ValueId Graph::add_param(const std::string& name, TensorType type, Initializer init) {
  for (const auto& d : type.shape)
    for (const auto& s : d.symbols()) declare_symbol(s);
  ValueId v = new_value(std::move(type), ValueKind::param, static_cast<int32_t>(params_.size()), 0);
  params_.push_back(ParamDecl{name, v, std::move(init)});
  return v;
}

int32_t Graph::add_node(OpKind op, std::vector<ValueId> operands, Attrs attrs,
                        const std::vector<TensorType>& result_types, std::string scope, SourceLoc loc,
                        std::shared_ptr<const Graph> body) {
  for (ValueId v : operands) WEFT_CHECK(v >= 0 && static_cast<size_t>(v) < values_.size(), "operand out of range");
  auto index = static_cast<int32_t>(nodes_.size());
  Node n{op, std::move(operands), std::move(attrs), {}, std::move(scope), std::move(loc), std::move(body)};
  for (size_t i = 0; i < result_types.size(); ++i)
    n.results.push_back(new_value(result_types[i], ValueKind::result, index, static_cast<int32_t>(i)));
  nodes_.push_back(std::move(n));
  return index;
}

void Graph::add_output(const std::string& name, ValueId value) {
  WEFT_CHECK(value >= 0 && static_cast<size_t>(value) < values_.size(), "output value out of range");
  outputs_.push_back(OutputDecl{name, value});
}

void Graph::add_update(const std::string& param, ValueId value) {
  WEFT_CHECK(value >= 0 && static_cast<size_t>(value) < values_.size(), "update value out of range");
  updates_.push_back(StateUpdate{param, value});
}

void Graph::declare_symbol(const std::string& name, std::optional<int64_t> bound) {
  for (auto& s : symbols_) {
    if (s.name == name) {
      if (bound && (!s.bound || *bound < *s.bound)) s.bound = bound;
      return;
    }
  }
  symbols_.push_back(SymbolDecl{name, bound});
}

const ValueInfo& Graph::value(ValueId v) const {
  WEFT_CHECK(v >= 0 && static_cast<size_t>(v) < values_.size(), fmt::format("value %{} out of range", v));
  return values_[v];
}

void Graph::set_type(ValueId v, TensorType t) {
  WEFT_CHECK(v >= 0 && static_cast<size_t>(v) < values_.size(), "value out of range");
  values_[v].type = std::move(t);
}

const Node* Graph::producer(ValueId v) const {
  const ValueInfo& info = value(v);
  return info.kind == ValueKind::result ? &nodes_[info.owner] : nullptr;
}

const InputDecl* Graph::find_input(const std::string& name) const {
  for (const auto& i : inputs_)
    if (i.name == name) return &i;
  return nullptr;
}

const ParamDecl* Graph::find_param(const std::string& name) const {
  for (const auto& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

const SymbolDecl* Graph::find_symbol(const std::string& name) const {
  for (const auto& s : symbols_)
    if (s.name == name) return &s;
  return nullptr;
}

void check_tensor_size(const Graph& g, const TensorType& t, const std::string& what) {
  if (t.rank() > kMaxRank)
    throw Error(fmt::format("{}: a tensor has at most {} dims, but {} has {}", what, kMaxRank, dtype_name(t.dtype),
                            t.rank()));
  // The count at the bounds, saturating: a product past 2^48 stops the walk before it can overflow.
  int64_t n = 1;
  std::vector<std::string> bounds;
  for (const Dim& d : t.shape) {
    int64_t c = d.coefficient() < 0 ? -d.coefficient() : d.coefficient();
    bool over = __builtin_mul_overflow(n, c, &n) || n > kMaxElements;
    for (const std::string& name : d.symbols()) {
      const SymbolDecl* decl = g.find_symbol(name);
      if (!decl || !decl->bound) continue;  // unbounded: checked when its value is bound
      bounds.push_back(fmt::format("{} <= {}", name, *decl->bound));
      over = over || __builtin_mul_overflow(n, *decl->bound, &n) || n > kMaxElements;
    }
    if (over)
      throw Error(fmt::format("{}: a tensor holds at most 2^48 = {} elements, but {} can hold more with {}", what,
                              kMaxElements, t.str(), bounds.empty() ? "its static dims" : fmt::format("{}", fmt::join(bounds, ", "))));
  }
}

std::string Graph::value_name(ValueId v) const {
  const ValueInfo& info = value(v);
  switch (info.kind) {
    case ValueKind::input: return inputs_[info.owner].name;
    case ValueKind::param: return params_[info.owner].name;
    case ValueKind::result: return fmt::format("%{}", v);
  }
  return "?";
}

}  // namespace weft
