#include "passes/inline_fusions.h"

#include <memory>

#include "passes/rewrite.h"

namespace weft {

namespace {

bool has_fusion(const Graph& g) {
  for (const Node& n : g.nodes())
    if (n.op == OpKind::fusion || (n.body && has_fusion(*n.body))) return true;
  return false;
}

/// Appends the nodes of `body` (already free of fusions) to `out`, reading `operands` as its
/// inputs; returns the values standing for its outputs.
std::vector<ValueId> append_body(Graph& out, const Graph& body, const std::vector<ValueId>& operands,
                                 const Node& outer) {
  std::vector<ValueId> map(body.num_values(), kNoValue);
  for (size_t i = 0; i < body.inputs().size(); ++i) map[body.inputs()[i].value] = operands[i];
  for (const Node& n : body.nodes()) {
    std::vector<ValueId> ops;
    for (ValueId v : n.operands) ops.push_back(map[v]);
    std::vector<TensorType> types;
    for (ValueId r : n.results) types.push_back(body.type(r));
    int32_t index = out.add_node(n.op, std::move(ops), n.attrs, types, n.scope.empty() ? outer.scope : n.scope,
                                 n.loc.empty() ? outer.loc : n.loc, n.body);
    const std::vector<ValueId>& results = out.nodes()[index].results;
    for (size_t r = 0; r < results.size(); ++r) map[n.results[r]] = results[r];
  }
  std::vector<ValueId> outputs;
  for (const OutputDecl& o : body.outputs()) outputs.push_back(map[o.value]);
  return outputs;
}

}  // namespace

Graph inline_fusions(const Graph& graph) {
  if (!has_fusion(graph)) return graph;
  GraphRewriter rw(graph);
  for (const Node& node : graph.nodes()) {
    if (node.op == OpKind::fusion && node.body) {
      Graph body = inline_fusions(*node.body);
      std::vector<ValueId> results = append_body(rw.graph(), body, rw.map(node.operands), node);
      for (size_t r = 0; r < node.results.size(); ++r) rw.replace(node.results[r], results[r]);
    } else if (node.body) {
      std::vector<TensorType> types;
      for (ValueId r : node.results) types.push_back(graph.type(r));
      rw.copy(node, types, std::make_shared<const Graph>(inline_fusions(*node.body)));
    } else {
      rw.copy(node);
    }
  }
  return std::move(rw).finish();
}

}  // namespace weft
