#include "ir/dot.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "ir/ops.h"

namespace weft {

int scope_depth(const std::string& scope) {
  if (scope.empty()) return 0;
  return 1 + static_cast<int>(std::count(scope.begin(), scope.end(), '.'));
}

std::string scope_prefix(const std::string& scope, int depth) {
  size_t pos = 0;
  for (int i = 0; i < depth; ++i) {
    pos = scope.find('.', pos);
    if (pos == std::string::npos) return scope;
    if (i + 1 < depth) ++pos;
  }
  return scope.substr(0, pos);
}

namespace {

/// A DOT double-quoted string. Labels use "\n" line breaks, which callers insert after escaping.
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string quoted(const std::string& s) { return "\"" + escape(s) + "\""; }

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\\n") + escape(l);
  return "\"" + out + "\"";
}

std::string parent_scope(const std::string& scope) {
  size_t dot = scope.rfind('.');
  return dot == std::string::npos ? "" : scope.substr(0, dot);
}

std::string last_component(const std::string& scope) {
  size_t dot = scope.rfind('.');
  return dot == std::string::npos ? scope : scope.substr(dot + 1);
}

const char* fill_color(FusionKind kind) {
  switch (kind) {
    case FusionKind::matmul:
      return "#f4b183";
    case FusionKind::elementwise:
      return "#ffffff";
    case FusionKind::reduction:
      return "#c5e0b4";
    case FusionKind::injective:
      return "#deebf7";
    case FusionKind::source:
      return "#eeeeee";
    case FusionKind::composite:
      return "#f8cbad";
    case FusionKind::opaque:
      return "#d9d2e9";
  }
  return "#ffffff";
}

/// "op" then its attributes that differ from the op's defaults, one per line, kept short.
std::vector<std::string> op_label(const Node& node) {
  const OpDef& def = op_def(node.op);
  std::vector<std::string> lines{def.name};
  bool is_source = def.fusion == FusionKind::source;
  for (const auto& [name, value] : node.attrs.items()) {
    // A source's shape and dtype are its result type, which the outgoing edge already shows.
    if (is_source && (name == "shape" || name == "dtype")) continue;
    auto spec = std::find_if(def.attrs.begin(), def.attrs.end(), [&](const AttrSpec& s) { return s.name == name; });
    if (spec != def.attrs.end() && spec->default_value && *spec->default_value == value) continue;
    std::string text = attr_value_str(value);
    if (text.size() > 32) text = text.substr(0, 29) + "...";
    lines.push_back(name == "value" && node.op == OpKind::constant ? text : name + "=" + text);
  }
  return lines;
}

/// Writes one graph's nodes, clusters and edges; `prefix` keeps the ids of a sub-graph distinct.
class DotWriter {
 public:
  DotWriter(const Graph& graph, std::string prefix, std::optional<int> depth)
      : g_(graph), prefix_(std::move(prefix)), depth_(depth) {
    if (depth_) {
      root_ = model_root_scope(g_);
      for (const ParamDecl& p : g_.params()) params_.insert(p.name);
    }
  }

  /// DOT nodes written (ops, inputs, parameters, outputs, updates, folded boxes), bodies included.
  int64_t drawn() const { return drawn_; }

  std::string write(int indent) {
    for (size_t i = 0; i < g_.inputs().size(); ++i) add_input(i);
    for (size_t i = 0; i < g_.params().size(); ++i) add_param(i);
    for (size_t i = 0; i < g_.nodes().size(); ++i) add_node(i);
    for (size_t i = 0; i < g_.outputs().size(); ++i) add_output(i);
    for (size_t i = 0; i < g_.updates().size(); ++i) add_update(i);
    for (const auto& [box, count] : box_counts_) {
      ++drawn_;
      std::string label = fmt::format("{}\\n{} op{}", escape(box), count, count == 1 ? "" : "s");
      member(parent_scope(box),
             fmt::format("{} [label=\"{}\", shape=box3d, fillcolor=\"#e2f0d9\"];", box_id(box), label));
    }
    std::string out;
    emit_cluster("", indent, out);
    for (const auto& e : edges_) out += std::string(indent, ' ') + e + "\n";
    return out;
  }

 private:
  std::string id(const std::string& local) const { return quoted(prefix_ + local); }
  std::string box_id(const std::string& box) const { return id("box:" + box); }

  /// The box a scope folds into, or "" when it is drawn in full. Depth counts below the model's
  /// root scope, and a per-parameter scope (`adam.<param>`) folds with its parameter.
  std::string box_of(const std::string& scope) const {
    if (!depth_) return "";
    const std::string s = drawing_scope(scope);
    const int skip = !root_.empty() && (s == root_ || s.starts_with(root_ + ".")) ? scope_depth(root_) : 0;
    if (scope_depth(s) - skip < *depth_) return "";
    return scope_prefix(s, *depth_ + skip);
  }

  /// With folding on: for a scope `X.<param>` (an optimizer's update of that parameter, say), the
  /// parameter's own scope, so that the update folds into the layer's box.
  std::string drawing_scope(const std::string& scope) const {
    if (!depth_) return scope;
    for (size_t dot = scope.find('.'); dot != std::string::npos; dot = scope.find('.', dot + 1))
      if (params_.count(scope.substr(dot + 1))) return parent_scope(scope.substr(dot + 1));
    return scope;
  }

  void member(const std::string& scope, std::string stmt) {
    for (std::string s = scope; !s.empty(); s = parent_scope(s)) clusters_.insert(s);
    members_[scope].push_back(std::move(stmt));
  }

  /// Places a DOT node for an entity in `scope`; returns its id (a box's when folded).
  std::string place(const std::string& scope, const std::string& local, const std::string& attrs, bool is_op) {
    std::string box = box_of(scope);
    if (!box.empty()) {
      int& count = box_counts_[box];
      if (is_op) ++count;
      return box_id(box);
    }
    ++drawn_;
    member(scope, fmt::format("{} [{}];", id(local), attrs));
    return id(local);
  }

  void add_input(size_t i) {
    const InputDecl& in = g_.inputs()[i];
    std::string attrs =
        fmt::format("label={}, shape=ellipse, fillcolor=\"#bdd7ee\"", join_lines({in.name, g_.type(in.value).str()}));
    endpoint_[in.value] = place("", fmt::format("in{}", i), attrs, false);
  }

  void add_param(size_t i) {
    const ParamDecl& p = g_.params()[i];
    std::string attrs = fmt::format("label={}, fillcolor=\"#fff2cc\", style=\"filled\"",
                                    join_lines({last_component(p.name), g_.type(p.value).str()}));
    // An optimizer's state of a parameter (adam.m.<param>) sits with that parameter when folding.
    std::string scope = depth_ ? drawing_scope(p.name) : p.name;
    endpoint_[p.value] = place(scope == p.name ? parent_scope(p.name) : scope, fmt::format("p{}", i), attrs, false);
  }

  void add_node(size_t i) {
    const Node& n = g_.nodes()[i];
    const OpDef& def = op_def(n.op);
    std::string local = fmt::format("n{}", i);
    std::string tooltip = n.scope.empty() ? n.loc.str() : n.scope + (n.loc.empty() ? "" : " at " + n.loc.str());
    std::string attrs = fmt::format("label={}, fillcolor=\"{}\", tooltip={}", join_lines(op_label(n)),
                                    fill_color(def.fusion), quoted(tooltip.empty() ? def.name : tooltip));
    std::string here;
    if (n.body && box_of(n.scope).empty()) {
      // The node and its body share a cluster; edges from outside reach the node itself.
      here = id(local);
      DotWriter inner(*n.body, prefix_ + local + "/", depth_);
      std::string body = inner.write(4);
      drawn_ += 1 + inner.drawn();
      member(n.scope, fmt::format("subgraph {} {{\n    label={}; style=\"rounded,dashed\"; color=\"#7f6fa8\";\n    {} "
                                  "[{}];\n{}  }}",
                                  quoted("cluster_" + prefix_ + local), quoted(def.name + " body"), here, attrs, body));
    } else {
      here = place(n.scope, local, attrs, true);
    }
    for (ValueId v : n.operands) add_edge(v, here);
    for (ValueId r : n.results) endpoint_[r] = here;
  }

  void add_output(size_t i) {
    const OutputDecl& o = g_.outputs()[i];
    std::string here = id(fmt::format("out{}", i));
    ++drawn_;
    member("", fmt::format("{} [label={}, shape=ellipse, fillcolor=\"#c6efce\"];", here, join_lines({o.name})));
    add_edge(o.value, here);
  }

  void add_update(size_t i) {
    const StateUpdate& u = g_.updates()[i];
    std::string here = id(fmt::format("upd{}", i));
    ++drawn_;
    member("", fmt::format("{} [label={}, shape=cds, fillcolor=\"#fce4d6\"];", here, join_lines({"update", u.param})));
    add_edge(u.value, here);
  }

  void add_edge(ValueId v, const std::string& to) {
    auto it = endpoint_.find(v);
    if (it == endpoint_.end()) return;  // a malformed graph; the verifier reports it, the drawing skips it
    const std::string& from = it->second;
    if (from == to) return;  // inside one folded box
    if (!seen_.insert({from, to, v}).second) return;
    const ValueInfo& info = g_.value(v);
    std::string label = g_.type(v).str();
    if (info.kind == ValueKind::result && g_.nodes()[info.owner].results.size() > 1)
      label = fmt::format("#{} {}", info.result, label);
    edges_.push_back(fmt::format("{} -> {} [label={}];", from, to, quoted(label)));
  }

  void emit_cluster(const std::string& scope, int indent, std::string& out) {
    std::string pad(indent, ' ');
    for (const auto& m : members_[scope]) out += pad + m + "\n";
    for (const auto& child : clusters_) {
      if (parent_scope(child) != scope) continue;
      out +=
          fmt::format("{}subgraph {} {{\n{}  label={}; style=\"rounded\"; color=\"#8c8c8c\"; fontcolor=\"#404040\";\n",
                      pad, quoted("cluster_" + prefix_ + child), pad, quoted(last_component(child)));
      emit_cluster(child, indent + 2, out);
      out += pad + "}\n";
    }
  }

  const Graph& g_;
  std::string prefix_;
  std::optional<int> depth_;
  std::string root_;              // model_root_scope, when folding
  std::set<std::string> params_;  // parameter names, when folding
  int64_t drawn_ = 0;
  std::map<ValueId, std::string> endpoint_;
  std::map<std::string, std::vector<std::string>> members_;
  std::set<std::string> clusters_;
  std::map<std::string, int> box_counts_;
  std::set<std::tuple<std::string, std::string, ValueId>> seen_;
  std::vector<std::string> edges_;
};

}  // namespace

namespace {

/// Whether `name` ends with ".<another parameter's name>": an optimizer's state of that parameter.
bool is_state_of_a_param(const std::string& name, const std::set<std::string>& params) {
  for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1))
    if (params.count(name.substr(dot + 1))) return true;
  return false;
}

}  // namespace

std::string model_root_scope(const Graph& graph) {
  // One wrapping component: every parameter of the model (not an optimizer's state of one) under
  // the same first component, which splits into at least two scopes right below it
  // (transformer.encoder / transformer.decoder). A component with one child (encoder.layers) is a
  // layer of the model, and counts.
  std::set<std::string> names;
  for (const ParamDecl& p : graph.params()) names.insert(p.name);
  std::optional<std::string> first;
  std::set<std::string> children;
  for (const ParamDecl& p : graph.params()) {
    if (is_state_of_a_param(p.name, names)) continue;
    const std::string scope = parent_scope(p.name);
    if (scope_depth(scope) < 2) return "";
    const std::string head = scope_prefix(scope, 1);
    if (first && *first != head) return "";
    first = head;
    children.insert(scope_prefix(scope, 2));
  }
  return first && children.size() >= 2 ? *first : "";
}

int64_t dot_node_count(const Graph& graph, const DotOptions& options) {
  DotWriter writer(graph, "", options.depth);
  writer.write(2);
  return writer.drawn();
}

std::string graph_to_dot(const Graph& graph, const DotOptions& options) {
  if (options.depth && *options.depth < 1)
    throw Error(
        fmt::format("dot: the folding depth must be at least 1 (scope components), but got {}", *options.depth));
  std::string out = fmt::format("digraph {} {{\n", quoted(graph.name()));
  out += "  rankdir=TB; compound=true; newrank=true;\n";
  out += "  graph [fontname=\"Helvetica\", fontsize=11];\n";
  out += "  node [fontname=\"Helvetica\", fontsize=10, shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\"];\n";
  out += "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n";
  out += DotWriter(graph, "", options.depth).write(2);
  out += "}\n";
  return out;
}

}  // namespace weft
