#include "backends/backend.h"

namespace weft {

Signature signature_of(const Graph& graph) {
  Signature sig;
  sig.graph = graph.name();
  for (const auto& in : graph.inputs()) sig.inputs.push_back({in.name, graph.type(in.value)});
  for (const auto& out : graph.outputs()) sig.outputs.push_back({out.name, graph.type(out.value)});
  for (const auto& p : graph.params()) sig.state.push_back({p.name, graph.type(p.value)});
  for (const auto& s : graph.symbols()) sig.symbols.push_back({s.name, s.bound});
  return sig;
}

}  // namespace weft
