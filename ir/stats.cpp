#include "ir/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "ir/graph_builder.h"
#include "ir/ops.h"

namespace weft {

// --- SymbolicCount ---

void SymbolicCount::add(const Dim& monomial, int64_t factor) {
  int64_t c = monomial.coefficient() * factor;
  if (c == 0) return;
  int64_t& slot = terms_[monomial.symbols()];
  slot += c;
  if (slot == 0) terms_.erase(monomial.symbols());
}

void SymbolicCount::add(const SymbolicCount& other, const Dim& times) {
  for (const auto& [symbols, coeff] : other.terms_) {
    std::vector<std::string> s = symbols;
    s.insert(s.end(), times.symbols().begin(), times.symbols().end());
    std::sort(s.begin(), s.end());
    int64_t c = coeff * times.coefficient();
    if (c == 0) continue;
    int64_t& slot = terms_[s];
    slot += c;
    if (slot == 0) terms_.erase(s);
  }
}

std::optional<double> SymbolicCount::evaluate(const std::map<std::string, int64_t>& bounds) const {
  double total = 0;
  for (const auto& [symbols, coeff] : terms_) {
    double term = static_cast<double>(coeff);
    for (const auto& s : symbols) {
      auto it = bounds.find(s);
      if (it == bounds.end()) return std::nullopt;
      term *= static_cast<double>(it->second);
    }
    total += term;
  }
  return total;
}

std::vector<std::string> SymbolicCount::unbound_symbols(const std::map<std::string, int64_t>& bounds) const {
  std::vector<std::string> out;
  for (const auto& [symbols, coeff] : terms_)
    for (const auto& s : symbols)
      if (!bounds.count(s) && std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  std::sort(out.begin(), out.end());
  return out;
}

std::string SymbolicCount::str() const {
  if (terms_.empty()) return "0";
  std::string out;
  auto append = [&](const std::vector<std::string>& symbols, int64_t coeff) {
    if (!out.empty())
      out += coeff < 0 ? " - " : " + ";
    else if (coeff < 0)
      out += "-";
    int64_t mag = coeff < 0 ? -coeff : coeff;
    std::string term = (mag != 1 || symbols.empty()) ? std::to_string(mag) : "";
    for (const auto& s : symbols) term += (term.empty() ? "" : "*") + s;
    out += term;
  };
  // Symbolic terms first (the map orders the constant term, with no symbols, first).
  for (const auto& [symbols, coeff] : terms_)
    if (!symbols.empty()) append(symbols, coeff);
  auto constant = terms_.find({});
  if (constant != terms_.end()) append({}, constant->second);
  return out;
}

// --- FLOPs ---

namespace {

SymbolicCount graph_flops(const Graph& graph) {
  SymbolicCount total;
  for (const Node& n : graph.nodes()) total.add(node_flops(graph, n));
  return total;
}

/// A composite's FLOPs: those of its decomposition, built for the node's operand types.
SymbolicCount composite_flops(const Graph& graph, const Node& node, const OpDef& def) {
  Graph g(def.name);
  std::vector<ValueId> args;
  for (size_t i = 0; i < node.operands.size(); ++i)
    args.push_back(g.add_input(fmt::format("x{}", i), graph.type(node.operands[i])));
  GraphBuilder b(g);
  try {
    def.decompose(b, args, node.attrs);
  } catch (const std::exception&) {
    // A decomposition that cannot be built at these (symbolic) types gives no estimate; stats are
    // a report, not a check, so this is not an error.
    return {};
  }
  return graph_flops(g);
}

}  // namespace

SymbolicCount node_flops(const Graph& graph, const Node& node) {
  const OpDef& def = op_def(node.op);
  SymbolicCount f;
  switch (def.fusion) {
    case FusionKind::elementwise:
      for (ValueId r : node.results) f.add(num_elements(graph.type(r).shape));
      break;
    case FusionKind::reduction:
      f.add(num_elements(graph.type(node.operands[0]).shape));
      break;
    case FusionKind::matmul: {
      const TensorType& a = graph.type(node.operands[0]);
      bool transpose_a = node.attrs.has("transpose_a") && node.attrs.get_bool("transpose_a");
      const Dim& k = a.shape[a.rank() - (transpose_a ? 2 : 1)];
      f.add(num_elements(graph.type(node.results[0]).shape) * k, 2);
      break;
    }
    case FusionKind::composite:
      if (def.decompose) f = composite_flops(graph, node, def);
      break;
    case FusionKind::injective:
    case FusionKind::source:
    case FusionKind::opaque:
      break;
  }
  if (node.body) {
    SymbolicCount body = graph_flops(*node.body);
    if (node.op == OpKind::scan) {
      int64_t first_seq = node.attrs.get_int("num_carry");
      const TensorType& seq = graph.type(node.operands[first_seq]);
      int axis = normalize_axis(node.attrs.get_int("time_axis"), seq.rank(), "scan time_axis");
      f.add(body, seq.shape[axis]);
    } else {
      f.add(body);
    }
  }
  return f;
}

// --- stats ---

namespace {

void count_ops(const Graph& graph, GraphStats& stats) {
  for (const Node& n : graph.nodes()) {
    ++stats.op_counts[std::string(op_name(n.op))];
    ++stats.num_nodes;
    if (n.body) count_ops(*n.body, stats);
  }
}

}  // namespace

GraphStats compute_stats(const Graph& graph) {
  GraphStats s;
  for (const auto& sym : graph.symbols())
    if (sym.bound) s.bounds[sym.name] = *sym.bound;
  count_ops(graph, s);
  for (const auto& p : graph.params()) {
    const TensorType& t = graph.type(p.value);
    ++s.num_params;
    SymbolicCount n(num_elements(t.shape));
    // Parameters are static (the builder and verifier insist); a symbolic one counts at its bounds.
    double elements = n.evaluate(s.bounds).value_or(0);
    s.param_elements += static_cast<int64_t>(elements);
    s.param_bytes += static_cast<int64_t>(elements) * static_cast<int64_t>(dtype_size(t.dtype));
  }
  s.flops = graph_flops(graph);
  // Results are named %0, %1, ... in order of definition, as the text IR prints them.
  std::vector<std::string> names(graph.num_values());
  for (const auto& in : graph.inputs()) names[in.value] = in.name;
  for (const auto& p : graph.params()) names[p.value] = p.name;
  int counter = 0;
  for (const Node& n : graph.nodes())
    for (ValueId r : n.results) names[r] = fmt::format("%{}", counter++);
  auto add_value = [&](ValueId id) {
    const TensorType& t = graph.type(id);
    ValueSize vs{id, names[id], t, SymbolicCount(num_elements(t.shape), static_cast<int64_t>(dtype_size(t.dtype)))};
    s.value_bytes.add(vs.bytes);
    s.values.push_back(std::move(vs));
  };
  for (const auto& in : graph.inputs()) add_value(in.value);
  for (const auto& p : graph.params()) add_value(p.value);
  for (const Node& n : graph.nodes())
    for (ValueId r : n.results) add_value(r);
  return s;
}

namespace {

/// "1.67 G" style, for reading large numbers at a glance.
std::string human(double v, const char* unit, double base = 1000.0) {
  static const char* kPrefixes[] = {"", "k", "M", "G", "T", "P", "E"};
  static const char* kBinary[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  int i = 0;
  double x = v;
  while (std::abs(x) >= base && i < 6) {
    x /= base;
    ++i;
  }
  const char* prefix = base == 1024.0 ? kBinary[i] : kPrefixes[i];
  if (i == 0) return fmt::format("{:.0f} {}", x, unit);
  return fmt::format("{:.2f} {}{}", x, prefix, unit);
}

/// "406528*B = 1628200 (1.63 MFLOP)" at bounds, or the polynomial and the unbounded symbols.
std::string describe(const SymbolicCount& c, const std::map<std::string, int64_t>& bounds, const char* unit,
                     double base = 1000.0) {
  std::optional<double> v = c.evaluate(bounds);
  std::string poly = c.str();
  if (!v) {
    auto unbound = c.unbound_symbols(bounds);
    std::string names;
    for (const auto& s : unbound) names += (names.empty() ? "" : ", ") + s;
    return fmt::format("{} (unbounded: {})", poly, names);
  }
  bool symbolic = poly.find_first_not_of("0123456789") != std::string::npos;
  std::string value = fmt::format("{:.0f} ({})", *v, human(*v, unit, base));
  return symbolic ? fmt::format("{} = {}", poly, value) : value;
}

}  // namespace

std::string format_stats(const Graph& graph, const GraphStats& s) {
  std::string out = fmt::format("graph {}: {} nodes, {} parameters\n", graph.name(), s.num_nodes, s.num_params);
  if (!graph.symbols().empty()) {
    std::string syms;
    for (const auto& sym : graph.symbols())
      syms += (syms.empty() ? "" : ", ") + (sym.bound ? fmt::format("{}<={}", sym.name, *sym.bound) : sym.name);
    out += fmt::format("symbols: {} (counts below are at the bounds)\n", syms);
  }
  size_t width = 4;
  for (const auto& [name, n] : s.op_counts) width = std::max(width, name.size());
  out += "\nops:\n";
  for (const auto& [name, n] : s.op_counts) out += fmt::format("  {:<{}}  {}\n", name, width, n);
  out += fmt::format("\nparameters: {} elements, {} bytes ({})\n", s.param_elements, s.param_bytes,
                     human(static_cast<double>(s.param_bytes), "B", 1024.0));
  out += fmt::format("flops: {}\n", describe(s.flops, s.bounds, "FLOP"));
  size_t name_width = 5, type_width = 4;
  for (const auto& v : s.values) {
    name_width = std::max(name_width, v.name.size());
    type_width = std::max(type_width, v.type.str().size());
  }
  out += "\nvalue bytes:\n";
  for (const auto& v : s.values)
    out += fmt::format("  {:<{}}  {:<{}}  {}\n", v.name, name_width, v.type.str(), type_width,
                       describe(v.bytes, s.bounds, "B", 1024.0));
  out += fmt::format("  {:<{}}  {:<{}}  {}\n", "total", name_width, "", type_width,
                     describe(s.value_bytes, s.bounds, "B", 1024.0));
  return out;
}

}  // namespace weft
