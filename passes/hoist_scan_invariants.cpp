#include "passes/hoist_scan_invariants.h"

#include <fmt/format.h>

#include "ir/ops.h"
#include "passes/dce.h"
#include "passes/rewrite.h"

namespace weft {

namespace {

/// An op worth computing once: anything but data movement and sources.
bool does_work(OpKind op) {
  FusionKind kind = op_def(op).fusion;
  return kind != FusionKind::injective && kind != FusionKind::source;
}

struct Hoisted {
  Graph body;                       // the new body, with the hoisted values as trailing const inputs
  std::vector<ValueId> body_roots;  // the old body's values the new const inputs stand for
};

/// Which of `body`'s values are invariant, given that inputs from `first_const` on are consts.
std::vector<bool> invariant_values(const Graph& body, size_t first_const) {
  std::vector<bool> invariant(body.num_values(), false);
  for (size_t i = first_const; i < body.inputs().size(); ++i) invariant[body.inputs()[i].value] = true;
  for (const Node& node : body.nodes()) {
    bool all = !node.body;
    for (ValueId v : node.operands) all = all && invariant[v];
    for (ValueId r : node.results) invariant[r] = all;
  }
  return invariant;
}

/// The values to hoist: invariant, computed by a working single-result op, and needed in the body —
/// read by a variant node or a body output, or by invariant data movement that stays in the body
/// because it is needed there (a reshape of the projected keys).
std::vector<ValueId> hoist_roots(const Graph& body, const std::vector<bool>& invariant) {
  std::vector<bool> needed(body.num_values(), false);
  for (const OutputDecl& o : body.outputs()) needed[o.value] = true;
  for (size_t i = body.nodes().size(); i-- > 0;) {
    const Node& node = body.nodes()[i];
    bool stays = !invariant[node.results[0]];  // variant nodes stay; so do needed invariant movement ops
    if (!stays) {
      bool read = false;
      for (ValueId r : node.results) read = read || needed[r];
      stays = read && !(node.results.size() == 1 && does_work(node.op));
    }
    if (stays)
      for (ValueId v : node.operands) needed[v] = true;
  }
  std::vector<ValueId> roots;
  for (const Node& node : body.nodes())
    if (node.results.size() == 1 && invariant[node.results[0]] && needed[node.results[0]] && does_work(node.op))
      roots.push_back(node.results[0]);
  return roots;
}

/// The body reading `roots` from new trailing const inputs (the computations only they needed removed).
Graph rewrite_body(const Graph& body, const std::vector<ValueId>& roots) {
  GraphRewriter rw(body);
  std::vector<bool> is_root(body.num_values(), false);
  for (size_t i = 0; i < roots.size(); ++i) {
    is_root[roots[i]] = true;
    rw.replace(roots[i], rw.graph().add_input(fmt::format("hoisted.{}", i), body.type(roots[i])));
  }
  for (const Node& node : body.nodes())
    if (!(node.results.size() == 1 && is_root[node.results[0]])) rw.copy(node);
  return dce(std::move(rw).finish());
}

Graph hoist_in(const Graph& graph) {
  bool any = false;
  GraphRewriter rw(graph);
  for (const Node& node : graph.nodes()) {
    if (node.op != OpKind::scan || !node.body) {
      rw.copy(node);
      continue;
    }
    const Graph& body = *node.body;
    const auto n_carry = static_cast<size_t>(node.attrs.get_int("num_carry"));
    const auto n_seq = static_cast<size_t>(node.attrs.get_int("num_seq"));
    const bool has_lengths = node.attrs.get_bool("has_lengths");
    const size_t first_const = n_carry + n_seq;
    std::vector<ValueId> roots = hoist_roots(body, invariant_values(body, first_const));
    if (roots.empty()) {
      rw.copy(node);
      continue;
    }
    any = true;
    // Copy the roots' invariant sub-graph in front of the scan: body value -> outer value.
    std::vector<ValueId> outer(body.num_values(), kNoValue);
    for (size_t i = first_const; i < body.inputs().size(); ++i)
      outer[body.inputs()[i].value] = rw.map(node.operands[i]);
    std::vector<bool> needed(body.num_values(), false);
    for (ValueId r : roots) needed[r] = true;
    for (size_t i = body.nodes().size(); i-- > 0;) {
      const Node& n = body.nodes()[i];
      bool want = false;
      for (ValueId r : n.results) want = want || needed[r];
      if (want)
        for (ValueId v : n.operands) needed[v] = true;
    }
    for (const SymbolDecl& s : body.symbols())
      if (!rw.graph().find_symbol(s.name)) rw.graph().declare_symbol(s.name, s.bound);
    for (const Node& n : body.nodes()) {
      bool want = false;
      for (ValueId r : n.results) want = want || needed[r];
      if (!want) continue;
      std::vector<ValueId> operands;
      for (ValueId v : n.operands) operands.push_back(outer[v]);
      std::vector<TensorType> types;
      for (ValueId r : n.results) types.push_back(body.type(r));
      int32_t index = rw.graph().add_node(n.op, operands, n.attrs, types, n.scope, n.loc, n.body);
      const Node& copy = rw.graph().nodes()[static_cast<size_t>(index)];
      for (size_t k = 0; k < n.results.size(); ++k) outer[n.results[k]] = copy.results[k];
    }
    // The scan: its consts, then the hoisted values, then the lengths.
    std::vector<ValueId> operands = rw.map(node.operands);
    ValueId lengths = has_lengths ? operands.back() : kNoValue;
    if (has_lengths) operands.pop_back();
    for (ValueId r : roots) operands.push_back(outer[r]);
    if (has_lengths) operands.push_back(lengths);
    std::vector<TensorType> types;
    for (ValueId r : node.results) types.push_back(graph.type(r));
    auto new_body = std::make_shared<const Graph>(hoist_scan_invariants(rewrite_body(body, roots)));
    int32_t index = rw.graph().add_node(node.op, operands, node.attrs, types, node.scope, node.loc, new_body);
    const Node& scan = rw.graph().nodes()[static_cast<size_t>(index)];
    for (size_t k = 0; k < node.results.size(); ++k) rw.replace(node.results[k], scan.results[k]);
  }
  return any ? std::move(rw).finish() : graph;
}

}  // namespace

Graph hoist_scan_invariants(const Graph& graph) {
  // Bodies nested in bodies first, then this graph's scans.
  return hoist_in(map_bodies(graph, hoist_scan_invariants));
}

}  // namespace weft
