#include "passes/dce.h"

#include "passes/rewrite.h"

namespace weft {

Graph dce(const Graph& graph) {
  std::vector<bool> live_value(graph.num_values(), false);
  for (const OutputDecl& o : graph.outputs()) live_value[o.value] = true;
  for (const StateUpdate& u : graph.updates()) live_value[u.value] = true;

  std::vector<bool> keep(graph.nodes().size(), false);
  for (size_t i = graph.nodes().size(); i-- > 0;) {
    const Node& node = graph.nodes()[i];
    for (ValueId r : node.results) keep[i] = keep[i] || live_value[r];
    if (!keep[i]) continue;
    for (ValueId v : node.operands) live_value[v] = true;
  }
  return map_bodies(keep_nodes(graph, keep), dce);
}

}  // namespace weft
