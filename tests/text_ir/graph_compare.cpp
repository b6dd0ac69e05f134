#include "tests/text_ir/graph_compare.h"

#include <fmt/format.h>

#include "ir/ops.h"

namespace weft::testing {

namespace {

/// What a value is, independent of its ValueId.
std::string role(const Graph& g, ValueId v) {
  if (v < 0 || static_cast<size_t>(v) >= g.num_values()) return fmt::format("invalid value {}", v);
  const ValueInfo& info = g.value(v);
  switch (info.kind) {
    case ValueKind::input:
      return fmt::format("input {}", info.owner);
    case ValueKind::param:
      return fmt::format("param {}", info.owner);
    case ValueKind::result:
      return fmt::format("node {} result {}", info.owner, info.result);
  }
  return "?";
}

std::string init_str(const Initializer& init) {
  std::string s = init.kind + "(";
  for (const auto& [name, value] : init.args) s += name + "=" + real_str(value) + ",";
  return s + fmt::format("seed={})", init.seed);
}

std::string attrs_str(const Attrs& attrs) {
  std::string s;
  for (const auto& [name, value] : attrs.items())
    s += fmt::format("{}:{}={};", name, attr_kind_name(attr_kind(value)), attr_value_str(value));
  return s;
}

std::string symbols_str(const Graph& g) {
  std::string s;
  for (const auto& sym : g.symbols()) s += sym.name + (sym.bound ? fmt::format("<={}", *sym.bound) : "") + " ";
  return s;
}

std::string diff(const std::string& where, const std::string& a, const std::string& b) {
  return a == b ? "" : fmt::format("{}: '{}' vs '{}'", where, a, b);
}

std::string node_difference(const Graph& ga, const Node& a, const Graph& gb, const Node& b, const std::string& where) {
  std::string d;
  if (a.op != b.op) return diff(where + ": op", std::string(op_name(a.op)), std::string(op_name(b.op)));
  if (!(d = diff(where + ": operand count", std::to_string(a.operands.size()), std::to_string(b.operands.size())))
           .empty())
    return d;
  for (size_t i = 0; i < a.operands.size(); ++i)
    if (!(d = diff(fmt::format("{}: operand {}", where, i), role(ga, a.operands[i]), role(gb, b.operands[i]))).empty())
      return d;
  if (!(d = diff(where + ": attributes", attrs_str(a.attrs), attrs_str(b.attrs))).empty()) return d;
  if (!(d = diff(where + ": result count", std::to_string(a.results.size()), std::to_string(b.results.size()))).empty())
    return d;
  for (size_t i = 0; i < a.results.size(); ++i)
    if (!(d = diff(fmt::format("{}: result {} type", where, i), ga.type(a.results[i]).str(),
                   gb.type(b.results[i]).str()))
             .empty())
      return d;
  if (!(d = diff(where + ": scope", a.scope, b.scope)).empty()) return d;
  if (!(d = diff(where + ": loc file", a.loc.file, b.loc.file)).empty()) return d;
  if (!(d = diff(where + ": loc line:column", fmt::format("{}:{}", a.loc.line, a.loc.column),
                 fmt::format("{}:{}", b.loc.line, b.loc.column)))
           .empty())
    return d;
  if (!a.body != !b.body) return diff(where + ": body", a.body ? "present" : "absent", b.body ? "present" : "absent");
  if (a.body) {
    d = graph_difference(*a.body, *b.body);
    if (!d.empty()) return where + ": body: " + d;
  }
  return "";
}

}  // namespace

std::string graph_difference(const Graph& a, const Graph& b) {
  std::string where = fmt::format("graph '{}'", a.name());
  std::string d;
  if (!(d = diff(where + ": name", a.name(), b.name())).empty()) return d;
  if (!(d = diff(where + ": symbols", symbols_str(a), symbols_str(b))).empty()) return d;

  if (!(d = diff(where + ": input count", std::to_string(a.inputs().size()), std::to_string(b.inputs().size())))
           .empty())
    return d;
  for (size_t i = 0; i < a.inputs().size(); ++i) {
    const auto &x = a.inputs()[i], &y = b.inputs()[i];
    if (!(d = diff(fmt::format("{}: input {}", where, i), x.name + ": " + a.type(x.value).str(),
                   y.name + ": " + b.type(y.value).str()))
             .empty())
      return d;
  }
  if (!(d = diff(where + ": param count", std::to_string(a.params().size()), std::to_string(b.params().size())))
           .empty())
    return d;
  for (size_t i = 0; i < a.params().size(); ++i) {
    const auto &x = a.params()[i], &y = b.params()[i];
    if (!(d = diff(fmt::format("{}: param {}", where, i),
                   x.name + ": " + a.type(x.value).str() + " " + init_str(x.init),
                   y.name + ": " + b.type(y.value).str() + " " + init_str(y.init)))
             .empty())
      return d;
  }
  if (!(d = diff(where + ": node count", std::to_string(a.nodes().size()), std::to_string(b.nodes().size()))).empty())
    return d;
  for (size_t i = 0; i < a.nodes().size(); ++i) {
    d = node_difference(a, a.nodes()[i], b, b.nodes()[i],
                        fmt::format("{}: node {} ({})", where, i, op_name(a.nodes()[i].op)));
    if (!d.empty()) return d;
  }
  if (!(d = diff(where + ": output count", std::to_string(a.outputs().size()), std::to_string(b.outputs().size())))
           .empty())
    return d;
  for (size_t i = 0; i < a.outputs().size(); ++i) {
    const auto &x = a.outputs()[i], &y = b.outputs()[i];
    if (!(d = diff(fmt::format("{}: output {}", where, i), x.name + " = " + role(a, x.value),
                   y.name + " = " + role(b, y.value)))
             .empty())
      return d;
  }
  if (!(d = diff(where + ": update count", std::to_string(a.updates().size()), std::to_string(b.updates().size())))
           .empty())
    return d;
  for (size_t i = 0; i < a.updates().size(); ++i) {
    const auto &x = a.updates()[i], &y = b.updates()[i];
    if (!(d = diff(fmt::format("{}: update {}", where, i), x.param + " = " + role(a, x.value),
                   y.param + " = " + role(b, y.value)))
             .empty())
      return d;
  }
  return "";
}

}  // namespace weft::testing
