#include "passes/autodiff.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_map>

#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "passes/dce.h"

namespace weft {

namespace {

using Grads = std::vector<std::optional<ValueId>>;

/// The values standing for a graph's leaves: its inputs, then its parameters.
std::vector<ValueId> leaves_of(const Graph& g) {
  std::vector<ValueId> out;
  for (const InputDecl& in : g.inputs()) out.push_back(in.value);
  for (const ParamDecl& p : g.params()) out.push_back(p.value);
  return out;
}

/// Which nodes of `g` lie on a gradient path: differentiable, reading a value that depends on a leaf
/// flagged in `wrt` (inputs then parameters), and read, directly or not, by an output flagged in `seeded`.
std::vector<bool> nodes_on_path(const Graph& g, const std::vector<bool>& wrt, const std::vector<bool>& seeded) {
  std::vector<bool> active(g.num_values(), false), live(g.num_values(), false);
  std::vector<ValueId> leaves = leaves_of(g);
  for (size_t i = 0; i < leaves.size(); ++i) active[leaves[i]] = wrt[i] && is_float(g.type(leaves[i]).dtype);
  const auto& nodes = g.nodes();
  std::vector<bool> reads_active(nodes.size(), false);
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (!op_def(nodes[n].op).differentiable) continue;
    for (ValueId v : nodes[n].operands) reads_active[n] = reads_active[n] || active[v];
    if (reads_active[n])
      for (ValueId r : nodes[n].results) active[r] = is_float(g.type(r).dtype);
  }
  for (size_t o = 0; o < g.outputs().size(); ++o)
    if (seeded[o]) live[g.outputs()[o].value] = true;
  std::vector<bool> on_path(nodes.size(), false);
  for (size_t n = nodes.size(); n-- > 0;) {
    if (!reads_active[n]) continue;
    for (ValueId r : nodes[n].results) on_path[n] = on_path[n] || (live[r] && active[r]);
    if (on_path[n])
      for (ValueId v : nodes[n].operands) live[v] = live[v] || active[v];
  }
  return on_path;
}

std::string where(const SourceLoc& loc) { return loc.empty() ? std::string("an unknown location") : loc.str(); }

std::string describe(const Node& node, const std::string& context) {
  return fmt::format("  {} in scope \"{}\" at {}{}", op_name(node.op), node.scope, where(node.loc), context);
}

/// Appends to `missing` each node on a gradient path of `g` (or of a body or decomposition it
/// holds) whose op has neither a gradient rule nor a decomposition.
void collect_missing_rules(const Graph& g, const std::vector<bool>& wrt, const std::vector<bool>& seeded,
                           const std::string& context, std::vector<std::string>& missing) {
  std::vector<bool> on_path = nodes_on_path(g, wrt, seeded);
  for (size_t n = 0; n < g.nodes().size(); ++n) {
    if (!on_path[n]) continue;
    const Node& node = g.nodes()[n];
    const OpDef& def = op_def(node.op);
    if (def.gradient && node.body) {
      // A body's every float input may carry a gradient (carries loop), and every float output may bring one.
      const Graph& body = *node.body;
      std::vector<bool> body_wrt, body_seeded;
      for (const InputDecl& in : body.inputs()) body_wrt.push_back(is_float(body.type(in.value).dtype));
      for (const OutputDecl& out : body.outputs()) body_seeded.push_back(is_float(body.type(out.value).dtype));
      std::string inside = fmt::format(" (in the body of the {} at {})", def.name, where(node.loc));
      collect_missing_rules(body, body_wrt, body_seeded, inside + context, missing);
    } else if (!def.gradient && def.decompose) {
      // Differentiated through its decomposition: check the ops it expands into.
      Graph expansion(def.name);
      std::vector<ValueId> args;
      std::vector<bool> args_wrt;
      for (size_t i = 0; i < node.operands.size(); ++i) {
        args.push_back(expansion.add_input(fmt::format("x{}", i), g.type(node.operands[i])));
        args_wrt.push_back(true);
      }
      GraphBuilder b(expansion);
      b.set_scope(node.scope);
      b.set_loc(node.loc);
      for (ValueId r : def.decompose(b, args, node.attrs)) expansion.add_output(fmt::format("y{}", expansion.outputs().size()), r);
      collect_missing_rules(expansion, args_wrt, std::vector<bool>(expansion.outputs().size(), true), context, missing);
    } else if (!def.gradient) {
      missing.push_back(describe(node, context));
    }
  }
}

/// The reverse pass over a range of nodes of the graph being built.
class Reverse {
 public:
  explicit Reverse(GraphBuilder& b) : b_(b) {
    body_vjp_ = [](GraphBuilder& builder, const Graph& body, const std::vector<ValueId>& inputs,
                   const std::vector<std::optional<ValueId>>& cotangents, const std::vector<bool>& wrt,
                   const KnownValues& known) {
      Reverse inner(builder);
      std::vector<bool> seeded;
      for (const auto& c : cotangents) seeded.push_back(c.has_value());
      std::vector<ValueId> map = inner.copy_forward(body, inputs, wrt, seeded, known);
      for (size_t o = 0; o < cotangents.size(); ++o)
        if (cotangents[o]) inner.seed(map[body.outputs()[o].value], *cotangents[o]);
      inner.backward();
      Grads grads;
      for (size_t i = 0; i < inputs.size(); ++i) grads.push_back(wrt[i] ? inner.grad(inputs[i]) : std::nullopt);
      return grads;
    };
  }

  /// Copies `src`'s nodes into the builder's graph, with `leaves` standing for its inputs then
  /// parameters; the leaves flagged in `wrt` are differentiated. A node on a gradient path whose op
  /// has a `save` rule is copied through it. A result in `known` maps to its known value: the
  /// node's copy stays (the reverse pass takes its gradient, with the known value's), unread.
  /// Returns the map from `src` values to new values.
  std::vector<ValueId> copy_forward(const Graph& src, const std::vector<ValueId>& leaves, const std::vector<bool>& wrt,
                                    const std::vector<bool>& seeded, const KnownValues& known = {}) {
    Graph& out = b_.graph();
    std::vector<ValueId> map(src.num_values(), kNoValue);
    std::vector<ValueId> src_leaves = leaves_of(src);
    WEFT_CHECK(src_leaves.size() == leaves.size(), "autodiff: one value per leaf expected");
    for (size_t i = 0; i < leaves.size(); ++i) {
      map[src_leaves[i]] = leaves[i];
      if (wrt[i] && is_float(out.type(leaves[i]).dtype)) set_active(leaves[i]);
    }
    std::vector<bool> on_path = nodes_on_path(src, wrt, seeded);
    first_ = static_cast<int32_t>(out.nodes().size());
    for (size_t n = 0; n < src.nodes().size(); ++n) {
      const Node& node = src.nodes()[n];
      const OpDef& def = op_def(node.op);
      Node copy = node;
      for (ValueId& v : copy.operands) v = map[v];
      std::vector<ValueId> results;
      if (on_path[n] && def.save) {
        b_.set_scope(node.scope);
        b_.set_loc(node.loc);
        results = def.save(b_, copy);
        int32_t index = out.value(results[0]).owner;
        saved_[index].assign(results.begin() + static_cast<std::ptrdiff_t>(node.results.size()), results.end());
      } else {
        std::vector<TensorType> types;
        for (ValueId r : node.results) types.push_back(src.type(r));
        int32_t index = out.add_node(node.op, copy.operands, node.attrs, types, node.scope, node.loc, node.body);
        results = out.nodes()[index].results;
      }
      for (size_t r = 0; r < node.results.size(); ++r) map[node.results[r]] = results[r];
      mark_results(out.value(results[0]).owner);
      for (const auto& [value, given] : known) {
        auto r = std::find(node.results.begin(), node.results.end(), value);
        if (r == node.results.end()) continue;
        ValueId copy_result = results[static_cast<size_t>(r - node.results.begin())];
        WEFT_CHECK(out.type(given) == out.type(copy_result), "autodiff: a known value has its value's type");
        map[value] = given;
        known_[copy_result] = given;
        if (is_active(copy_result)) set_active(given);
      }
    }
    end_ = static_cast<int32_t>(out.nodes().size());
    return map;
  }

  void seed(ValueId v, ValueId grad) { accumulate(v, grad); }

  /// Walks the copied nodes in reverse, calling each node's gradient rule.
  void backward() { walk(first_, end_); }

  std::optional<ValueId> grad(ValueId v) const {
    if (auto k = known_.find(v); k != known_.end()) v = k->second;  // read through the known value
    auto it = grads_.find(v);
    return it == grads_.end() ? std::nullopt : std::optional(it->second);
  }

 private:
  bool is_active(ValueId v) const { return static_cast<size_t>(v) < active_.size() && active_[v]; }
  void set_active(ValueId v) {
    if (static_cast<size_t>(v) >= active_.size()) active_.resize(b_.graph().num_values(), false);
    active_[v] = true;
  }

  /// Marks the float results of node `index` active when it is differentiable and reads an active value.
  void mark_results(int32_t index) {
    const Node& node = b_.graph().nodes()[index];
    if (!op_def(node.op).differentiable) return;
    if (std::none_of(node.operands.begin(), node.operands.end(), [&](ValueId v) { return is_active(v); })) return;
    for (ValueId r : node.results)
      if (is_float(b_.graph().type(r).dtype)) set_active(r);
  }

  void accumulate(ValueId v, ValueId grad) {
    WEFT_CHECK(b_.type(grad) == b_.type(v),
               fmt::format("autodiff: a gradient of {} has type {}", b_.type(v).str(), b_.type(grad).str()));
    auto it = grads_.find(v);
    if (it == grads_.end()) grads_.emplace(v, grad);
    else it->second = b_.binary(OpKind::add, it->second, grad);
  }

  void walk(int32_t begin, int32_t end) {
    for (int32_t i = end; i-- > begin;) {
      const Node node = b_.graph().nodes()[i];  // a copy: rules append nodes
      const OpDef& def = op_def(node.op);
      if (!def.differentiable) continue;
      Grads result_grads;
      for (ValueId r : node.results) result_grads.push_back(grad(r));
      if (std::none_of(result_grads.begin(), result_grads.end(), [](const auto& g) { return g.has_value(); })) continue;
      std::vector<bool> wanted;
      for (ValueId v : node.operands) wanted.push_back(is_active(v));
      if (std::none_of(wanted.begin(), wanted.end(), [](bool w) { return w; })) continue;
      b_.set_scope(node.scope);
      b_.set_loc(node.loc);
      if (def.gradient) {
        static const std::vector<ValueId> kNothingSaved;
        auto saved = saved_.find(i);
        GradQuery q{b_, node, result_grads, wanted, saved == saved_.end() ? kNothingSaved : saved->second, &body_vjp_};
        Grads grads = def.gradient(q);
        WEFT_CHECK(grads.size() == node.operands.size(),
                   fmt::format("autodiff: the {} rule returned {} gradients for {} operands", def.name, grads.size(),
                               node.operands.size()));
        for (size_t k = 0; k < grads.size(); ++k)
          if (wanted[k] && grads[k]) accumulate(node.operands[k], *grads[k]);
      } else {
        WEFT_CHECK(static_cast<bool>(def.decompose), "autodiff: " + def.name + " has no rule (the check missed it)");
        expand(node, def, result_grads);
      }
    }
  }

  /// Differentiates `node` through its decomposition, emitted (again) where the reverse pass is.
  void expand(const Node& node, const OpDef& def, const Grads& result_grads) {
    auto begin = static_cast<int32_t>(b_.graph().nodes().size());
    std::vector<ValueId> results = def.decompose(b_, node.operands, node.attrs);
    auto end = static_cast<int32_t>(b_.graph().nodes().size());
    for (int32_t i = begin; i < end; ++i) mark_results(i);
    for (size_t r = 0; r < results.size(); ++r)
      if (result_grads[r]) accumulate(results[r], *result_grads[r]);
    walk(begin, end);
  }

  GraphBuilder& b_;
  BodyVjp body_vjp_;
  std::vector<bool> active_;                       // by value: depends on a differentiated value
  std::unordered_map<ValueId, ValueId> grads_;     // by value: its gradient so far
  std::map<int32_t, std::vector<ValueId>> saved_;  // by node: what its save rule returned
  std::unordered_map<ValueId, ValueId> known_;     // a copied result whose readers read a known value instead
  int32_t first_ = 0, end_ = 0;
};

std::string names_of_outputs(const Graph& g) {
  std::string s;
  for (const OutputDecl& o : g.outputs()) s += (s.empty() ? "" : ", ") + o.name;
  return s.empty() ? "none" : s;
}

/// The leaf index (inputs, then parameters) of each name in `wrt`, or of every float parameter.
std::vector<size_t> resolve_wrt(const Graph& graph, const std::vector<std::string>& wrt) {
  std::vector<size_t> out;
  size_t n_in = graph.inputs().size();
  if (wrt.empty()) {
    for (size_t p = 0; p < graph.params().size(); ++p)
      if (is_float(graph.type(graph.params()[p].value).dtype)) out.push_back(n_in + p);
    if (out.empty())
      throw Error(fmt::format("differentiate: with no names given, autodiff differentiates with respect to every "
                              "floating-point parameter, but graph '{}' has none; name the inputs to differentiate "
                              "with respect to",
                              graph.name()));
    return out;
  }
  for (const std::string& name : wrt) {
    std::optional<size_t> leaf;
    for (size_t i = 0; i < n_in && !leaf; ++i)
      if (graph.inputs()[i].name == name) leaf = i;
    for (size_t p = 0; p < graph.params().size() && !leaf; ++p)
      if (graph.params()[p].name == name) leaf = n_in + p;
    if (!leaf)
      throw Error(fmt::format("differentiate: can only differentiate with respect to an input or parameter, but "
                              "graph '{}' has none named '{}'",
                              graph.name(), name));
    const TensorType& t = graph.type(leaves_of(graph)[*leaf]);
    if (!is_float(t.dtype))
      throw Error(fmt::format("differentiate: can only differentiate with respect to a floating-point value, but "
                              "'{}' is {}",
                              name, t.str()));
    if (std::find(out.begin(), out.end(), *leaf) != out.end())
      throw Error(fmt::format("differentiate: each value may be named once, but '{}' is named twice", name));
    out.push_back(*leaf);
  }
  return out;
}

}  // namespace

Graph differentiate(const Graph& graph, const std::string& loss_output, const std::vector<std::string>& wrt) {
  auto loss = std::find_if(graph.outputs().begin(), graph.outputs().end(),
                           [&](const OutputDecl& o) { return o.name == loss_output; });
  if (loss == graph.outputs().end())
    throw Error(fmt::format("differentiate: the loss must be an output of the graph, but graph '{}' has no output "
                            "'{}' (its outputs: {})",
                            graph.name(), loss_output, names_of_outputs(graph)));
  const TensorType loss_type = graph.type(loss->value);
  Dim loss_size = num_elements(loss_type.shape);
  if (!is_float(loss_type.dtype) || !loss_size.is_static() || loss_size.value() != 1)
    throw Error(fmt::format("differentiate: the loss must be a floating-point scalar (one element), but '{}' is {}",
                            loss_output, loss_type.str()));
  std::vector<size_t> leaves_wrt = resolve_wrt(graph, wrt);
  std::vector<ValueId> src_leaves = leaves_of(graph);
  std::vector<bool> wrt_flags(src_leaves.size(), false);
  for (size_t leaf : leaves_wrt) wrt_flags[leaf] = true;
  std::vector<bool> seeded(graph.outputs().size(), false);
  seeded[static_cast<size_t>(loss - graph.outputs().begin())] = true;

  std::vector<std::string> missing;
  collect_missing_rules(graph, wrt_flags, seeded, "", missing);
  if (!missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += "\n" + m;
    throw Error(fmt::format("differentiate: every op between the differentiated values and the loss needs a gradient "
                            "rule (or a decomposition), but {} op{} of graph '{}' ha{} none:{}",
                            missing.size(), missing.size() == 1 ? "" : "s", graph.name(),
                            missing.size() == 1 ? "s" : "ve", list));
  }

  Graph out(graph.name());
  for (const SymbolDecl& s : graph.symbols()) out.declare_symbol(s.name, s.bound);
  std::vector<ValueId> leaves;
  for (const InputDecl& in : graph.inputs()) leaves.push_back(out.add_input(in.name, graph.type(in.value)));
  for (const ParamDecl& p : graph.params()) leaves.push_back(out.add_param(p.name, graph.type(p.value), p.init));
  GraphBuilder b(out);
  Reverse reverse(b);
  std::vector<ValueId> map = reverse.copy_forward(graph, leaves, wrt_flags, seeded);
  ValueId loss_value = map[loss->value];
  b.set_scope("");
  b.set_loc({});
  reverse.seed(loss_value, b.broadcast_to(b.constant(1.0, loss_type.dtype), loss_type.shape));
  reverse.backward();

  for (const OutputDecl& o : graph.outputs()) out.add_output(o.name, map[o.value]);
  for (size_t leaf : leaves_wrt) {
    std::string name = leaf < graph.inputs().size() ? graph.inputs()[leaf].name
                                                    : graph.params()[leaf - graph.inputs().size()].name;
    std::string grad_name = "grad." + name;
    if (std::any_of(graph.outputs().begin(), graph.outputs().end(),
                    [&](const OutputDecl& o) { return o.name == grad_name; }))
      throw Error(fmt::format("differentiate: the gradient of '{}' is returned as output '{}', but graph '{}' "
                              "already has an output of that name",
                              name, grad_name, graph.name()));
    std::optional<ValueId> g = reverse.grad(leaves[leaf]);
    const TensorType type = out.type(leaves[leaf]);  // a copy: emitting grows the value table
    out.add_output(grad_name, g ? *g : b.broadcast_to(b.constant(0.0, type.dtype), type.shape));
  }
  for (const StateUpdate& u : graph.updates()) out.add_update(u.param, map[u.value]);
  return dce(out);
}

}  // namespace weft
