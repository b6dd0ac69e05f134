/** \file
 * The text-IR printer: one canonical text per graph (docs/text-ir.md has the grammar).
 *
 * Canonical means that the text depends only on the graph's structure: node results are renumbered
 * %0, %1, ... in order of definition, attributes equal to their op's default are left out, reals are
 * printed with the shortest digits that round-trip, and a symbol's bound is written inline at its
 * first plain use (`B<=4096`) unless the graph's symbol order or a missing plain use forces a
 * `symbol` line. Sub-graphs (the bodies of fusion regions and scans) are printed nested, by the same
 * code.
 */
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "ir/file_io.h"
#include "ir/ops.h"
#include "ir/text.h"
#include "ir/text_lexer.h"

namespace weft {

namespace {

std::string quoted(const std::string& s) { return attr_value_str(AttrValue{s}); }

/// Names are written bare when they lex as one identifier, quoted otherwise.
std::string name_str(const std::string& name) { return text::is_plain_identifier(name) ? name : quoted(name); }

bool ends_with_line_number(const std::string& file) {
  size_t colon = file.rfind(':');
  if (colon == std::string::npos) return false;
  size_t i = colon + 1;
  if (i < file.size() && file[i] == '-') ++i;
  if (i == file.size()) return false;
  for (; i < file.size(); ++i)
    if (file[i] < '0' || file[i] > '9') return false;
  return true;
}

/// "file:line" or "file:line:col". The parser reads numbers from the right, so a file name that
/// itself ends in ":<digits>" gets an explicit ":0" column to stay unambiguous.
std::string loc_str(const SourceLoc& loc) {
  if (loc.column != 0 || ends_with_line_number(loc.file))
    return fmt::format("{}:{}:{}", loc.file, loc.line, loc.column);
  return fmt::format("{}:{}", loc.file, loc.line);
}

/// Where each symbol's bound is written: a `symbol` line, or inline at one dim of an input or parameter.
struct SymbolPlan {
  std::vector<const SymbolDecl*> lines;                         // printed as `symbol` lines, in order
  std::map<std::pair<ValueId, size_t>, int64_t> inline_bounds;  // (value, dim index) -> bound
};

SymbolPlan plan_symbols(const Graph& g) {
  // The parser declares symbols in this order: `symbol` lines, then the symbols of the inputs (in
  // signature order), then those of the parameters. Find the shortest prefix of the graph's symbol
  // list that, written as `symbol` lines, makes that order equal the graph's.
  std::vector<ValueId> declared;
  for (const auto& in : g.inputs()) declared.push_back(in.value);
  for (const auto& p : g.params()) declared.push_back(p.value);
  std::vector<std::string> natural;
  std::map<std::string, std::pair<ValueId, size_t>> first_plain;
  for (ValueId v : declared) {
    const Shape& shape = g.type(v).shape;
    for (size_t d = 0; d < shape.size(); ++d) {
      for (const auto& s : shape[d].symbols())
        if (std::find(natural.begin(), natural.end(), s) == natural.end()) natural.push_back(s);
      if (shape[d].coefficient() == 1 && shape[d].symbols().size() == 1)
        first_plain.emplace(shape[d].symbols()[0], std::make_pair(v, d));
    }
  }
  const auto& symbols = g.symbols();
  size_t prefix = symbols.size();
  for (size_t k = 0; k <= symbols.size(); ++k) {
    std::set<std::string> in_lines;
    for (size_t i = 0; i < k; ++i) in_lines.insert(symbols[i].name);
    std::vector<std::string> rest;
    for (const auto& s : natural)
      if (!in_lines.count(s)) rest.push_back(s);
    bool ok = rest.size() == symbols.size() - k;
    for (size_t i = k; ok && i < symbols.size(); ++i)
      ok = rest[i - k] == symbols[i].name && (!symbols[i].bound || first_plain.count(symbols[i].name));
    if (ok) {
      prefix = k;
      break;
    }
  }
  SymbolPlan plan;
  for (size_t i = 0; i < symbols.size(); ++i) {
    if (i < prefix)
      plan.lines.push_back(&symbols[i]);
    else if (symbols[i].bound)
      plan.inline_bounds[first_plain.at(symbols[i].name)] = *symbols[i].bound;
  }
  return plan;
}

class Printer {
 public:
  std::string out;

  void graph(const Graph& g, int indent) {
    SymbolPlan plan = plan_symbols(g);
    std::vector<std::string> names(g.num_values());
    for (const auto& in : g.inputs()) set_name(names, in.value, name_str(in.name));
    for (const auto& p : g.params()) set_name(names, p.value, name_str(p.name));
    int counter = 0;
    for (const auto& n : g.nodes())
      for (ValueId r : n.results) set_name(names, r, fmt::format("%{}", counter++));
    auto ref = [&](ValueId v) {
      return v >= 0 && static_cast<size_t>(v) < names.size() ? names[v] : fmt::format("%invalid{}", v);
    };
    std::string pad(indent, ' ');

    out += fmt::format("{}graph {}(", pad, name_str(g.name()));
    for (size_t i = 0; i < g.inputs().size(); ++i)
      out +=
          fmt::format("{}{}: {}", i ? ", " : "", name_str(g.inputs()[i].name), type_str(g, g.inputs()[i].value, plan));
    out += ") -> (";
    for (size_t i = 0; i < g.outputs().size(); ++i)
      out +=
          fmt::format("{}{}: {}", i ? ", " : "", name_str(g.outputs()[i].name), type_str(g, g.outputs()[i].value, {}));
    out += ") {\n";

    for (const SymbolDecl* s : plan.lines)
      out += fmt::format("{}  symbol {}{}\n", pad, s->name, s->bound ? fmt::format("<={}", *s->bound) : "");
    for (const auto& p : g.params())
      out += fmt::format("{}  param {}: {} init={}\n", pad, name_str(p.name), type_str(g, p.value, plan),
                         init_str(p.init));
    for (const auto& n : g.nodes()) node(g, n, ref, indent + 2);
    for (const auto& u : g.updates()) out += fmt::format("{}  update {} = {}\n", pad, name_str(u.param), ref(u.value));
    out += fmt::format("{}  return", pad);
    for (size_t i = 0; i < g.outputs().size(); ++i)
      out += fmt::format("{} {}", i ? "," : "", ref(g.outputs()[i].value));
    out += fmt::format("\n{}}}\n", pad);
  }

 private:
  static void set_name(std::vector<std::string>& names, ValueId v, std::string name) {
    if (v >= 0 && static_cast<size_t>(v) < names.size()) names[v] = std::move(name);
  }

  static std::string type_str(const Graph& g, ValueId v, const SymbolPlan& plan) {
    if (v < 0 || static_cast<size_t>(v) >= g.num_values()) return "<invalid>";
    const TensorType& t = g.type(v);
    std::string s = fmt::format("{}[", dtype_name(t.dtype));
    for (size_t d = 0; d < t.shape.size(); ++d) {
      s += (d ? ", " : "") + t.shape[d].str();
      auto bound = plan.inline_bounds.find({v, d});
      if (bound != plan.inline_bounds.end()) s += fmt::format("<={}", bound->second);
    }
    return s + "]";
  }

  static std::string init_str(const Initializer& init) {
    std::string s = name_str(init.kind);
    if (init.args.empty() && init.seed == 0) return s;
    s += "(";
    bool first = true;
    for (const auto& [name, value] : init.args) {
      s += (first ? "" : ", ") + (name.empty() ? "" : name_str(name) + "=") + real_str(value);
      first = false;
    }
    if (init.seed != 0) s += fmt::format("{}seed={}", first ? "" : ", ", init.seed);
    return s + ")";
  }

  template <typename Ref>
  void node(const Graph& g, const Node& n, const Ref& ref, int indent) {
    const OpDef& def = op_def(n.op);
    std::string line(indent, ' ');
    for (size_t i = 0; i < n.results.size(); ++i) line += (i ? ", " : "") + ref(n.results[i]);
    if (!n.results.empty()) line += " = ";
    line += name_str(def.name) + "(";
    std::vector<std::string> args;
    for (ValueId v : n.operands) args.push_back(ref(v));
    // Attributes in the op's declared order, leaving out defaults; any the op does not declare last.
    for (const auto& spec : def.attrs) {
      if (!n.attrs.has(spec.name)) continue;
      const AttrValue& v = n.attrs.at(spec.name);
      // Compared by kind and text, so that -0.0 is not mistaken for a default of 0.0.
      if (spec.default_value && attr_kind(*spec.default_value) == attr_kind(v) &&
          attr_value_str(*spec.default_value) == attr_value_str(v))
        continue;
      args.push_back(fmt::format("{}={}", spec.name, attr_value_str(v)));
    }
    for (const auto& [name, v] : n.attrs.items()) {
      bool declared =
          std::any_of(def.attrs.begin(), def.attrs.end(), [&](const AttrSpec& s) { return s.name == name; });
      if (!declared) args.push_back(fmt::format("{}={}", name_str(name), attr_value_str(v)));
    }
    for (size_t i = 0; i < args.size(); ++i) line += (i ? ", " : "") + args[i];
    line += ") : ";
    if (n.results.empty()) line += "()";
    for (size_t i = 0; i < n.results.size(); ++i) line += (i ? ", " : "") + type_str(g, n.results[i], {});
    if (!n.scope.empty() || !n.loc.empty()) line += " ";
    if (!n.scope.empty()) line += " scope=" + quoted(n.scope);
    if (!n.loc.empty()) line += " loc=" + quoted(loc_str(n.loc));
    out += line + "\n";
    if (n.body) graph(*n.body, indent + 2);
  }
};

}  // namespace

std::string print_graph(const Graph& graph) {
  Printer p;
  p.out = "weft 1\n";
  p.graph(graph, 0);
  return p.out;
}

void write_graph_file(const std::string& path, const Graph& graph) {
  std::string text = print_graph(graph);
  if (must_write_through(path)) {  // /dev/null, a FIFO: renaming over it would replace it
    write_through(path, std::as_bytes(std::span(text)));
    return;
  }
  // Write beside the target and rename, so a reader never sees half a file.
  std::string tmp = fmt::format("{}.tmp{:08x}", path, std::random_device{}());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(fmt::format("cannot write '{}': cannot create the temporary file '{}'", path, tmp));
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    f.close();
    if (!f) {
      std::remove(tmp.c_str());
      throw Error(fmt::format("cannot write '{}': writing the temporary file '{}' failed", path, tmp));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw Error(fmt::format("cannot write '{}': renaming '{}' failed: {}", path, tmp, ec.message()));
  }
}

}  // namespace weft
