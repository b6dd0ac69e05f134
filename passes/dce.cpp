#include "passes/dce.h"

#include <algorithm>

#include "passes/rewrite.h"

namespace weft {

namespace {

Graph dead_nodes_removed(const Graph& graph);

/// Bodies keep their interfaces' scans whole: a composite's body (lstm_backward's) recomputes its
/// forward's saved scan, and CSE merges the two only once decomposition has inlined it, so trimming
/// the copy in the body first would keep both.
Graph bodies_cleaned(const Graph& graph) { return map_bodies(graph, dead_nodes_removed); }

/// Liveness from the outputs flagged in `roots` (all when null) and the updates: which values they
/// depend on (`live`), and which nodes compute one of those (the result).
std::vector<bool> live_nodes(const Graph& graph, const std::vector<bool>* roots, std::vector<bool>& live) {
  live.assign(graph.num_values(), false);
  for (size_t o = 0; o < graph.outputs().size(); ++o)
    if (!roots || (*roots)[o]) live[graph.outputs()[o].value] = true;
  for (const StateUpdate& u : graph.updates()) live[u.value] = true;
  std::vector<bool> keep(graph.nodes().size(), false);
  for (size_t i = graph.nodes().size(); i-- > 0;) {
    const Node& node = graph.nodes()[i];
    for (ValueId r : node.results) keep[i] = keep[i] || live[r];
    if (!keep[i]) continue;
    for (ValueId v : node.operands) live[v] = true;
  }
  return keep;
}

/// The nodes whose results reach an output or update, recursively in bodies.
Graph dead_nodes_removed(const Graph& graph) {
  std::vector<bool> live;
  return bodies_cleaned(keep_nodes(graph, live_nodes(graph, nullptr, live)));
}

/// `body` with only the inputs and outputs flagged (its symbols, and nodes, copied; then cleaned).
Graph body_subset(const Graph& body, const std::vector<bool>& keep_input, const std::vector<bool>& keep_output) {
  Graph out(body.name());
  for (const SymbolDecl& s : body.symbols()) out.declare_symbol(s.name, s.bound);
  std::vector<ValueId> map(body.num_values(), kNoValue);
  for (size_t i = 0; i < body.inputs().size(); ++i)
    if (keep_input[i]) map[body.inputs()[i].value] = out.add_input(body.inputs()[i].name, body.type(body.inputs()[i].value));
  for (const Node& node : body.nodes()) {
    std::vector<ValueId> operands;
    bool readable = true;
    for (ValueId v : node.operands) {
      readable = readable && map[v] != kNoValue;
      operands.push_back(map[v]);
    }
    if (!readable) continue;  // reads a dropped input: dead, since only unread inputs are dropped
    std::vector<TensorType> types;
    for (ValueId r : node.results) types.push_back(body.type(r));
    int32_t index = out.add_node(node.op, operands, node.attrs, types, node.scope, node.loc, node.body);
    for (size_t r = 0; r < node.results.size(); ++r) map[node.results[r]] = out.nodes()[index].results[r];
  }
  for (size_t o = 0; o < body.outputs().size(); ++o)
    if (keep_output[o]) out.add_output(body.outputs()[o].name, map[body.outputs()[o].value]);
  return dead_nodes_removed(out);
}

/// Every scan with its unread stacked outputs and unread sequences and consts dropped; `changed`
/// tells whether any was.
Graph trim_scans(const Graph& graph, bool& changed) {
  std::vector<bool> read(graph.num_values(), false);
  for (const OutputDecl& o : graph.outputs()) read[o.value] = true;
  for (const StateUpdate& u : graph.updates()) read[u.value] = true;
  for (const Node& node : graph.nodes())
    for (ValueId v : node.operands) read[v] = true;

  GraphRewriter rw(graph);
  for (const Node& node : graph.nodes()) {
    if (node.op != OpKind::scan) {
      rw.copy(node);
      continue;
    }
    const Graph& body = *node.body;
    const int64_t n_carry = node.attrs.get_int("num_carry");
    const int64_t n_seq = node.attrs.get_int("num_seq");
    const bool has_lengths = node.attrs.get_bool("has_lengths");
    std::vector<bool> keep_output(body.outputs().size(), true);
    for (size_t o = static_cast<size_t>(n_carry); o < node.results.size(); ++o) keep_output[o] = read[node.results[o]];
    // Which body inputs the kept outputs still depend on.
    std::vector<bool> used;
    live_nodes(body, &keep_output, used);
    std::vector<bool> keep_input(body.inputs().size(), true);
    int64_t seqs_kept = 0;
    for (size_t i = static_cast<size_t>(n_carry); i < body.inputs().size(); ++i) {
      keep_input[i] = used[body.inputs()[i].value];
      if (static_cast<int64_t>(i) < n_carry + n_seq && keep_input[i]) ++seqs_kept;
    }
    if (seqs_kept == 0) keep_input[static_cast<size_t>(n_carry)] = true;  // the loop's length
    const bool same = std::all_of(keep_output.begin(), keep_output.end(), [](bool k) { return k; }) &&
                      std::all_of(keep_input.begin(), keep_input.end(), [](bool k) { return k; });
    if (same) {
      rw.copy(node);
      continue;
    }
    changed = true;
    auto new_body = std::make_shared<Graph>(body_subset(body, keep_input, keep_output));
    std::vector<ValueId> operands;
    for (size_t i = 0; i < body.inputs().size(); ++i)
      if (keep_input[i]) operands.push_back(rw.map(node.operands[i]));
    if (has_lengths) operands.push_back(rw.map(node.operands.back()));
    int64_t new_seq = 0;
    for (int64_t i = n_carry; i < n_carry + n_seq; ++i) new_seq += keep_input[static_cast<size_t>(i)] ? 1 : 0;
    Attrs attrs = node.attrs;
    attrs.set("num_seq", new_seq);
    std::vector<TensorType> types;
    for (size_t o = 0; o < node.results.size(); ++o)
      if (keep_output[o]) types.push_back(graph.type(node.results[o]));
    int32_t index = rw.graph().add_node(OpKind::scan, operands, attrs, types, node.scope, node.loc, new_body);
    const std::vector<ValueId>& results = rw.graph().nodes()[static_cast<size_t>(index)].results;
    for (size_t o = 0, r = 0; o < node.results.size(); ++o)
      if (keep_output[o]) rw.replace(node.results[o], results[r++]);
  }
  return std::move(rw).finish();
}

}  // namespace

Graph dce(const Graph& graph) {
  Graph out = dead_nodes_removed(graph);
  for (;;) {
    bool changed = false;
    Graph trimmed = trim_scans(out, changed);
    if (!changed) return out;
    out = dead_nodes_removed(trimmed);
  }
}

}  // namespace weft
