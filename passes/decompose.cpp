#include "passes/decompose.h"

#include <fmt/format.h>

#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "passes/rewrite.h"

namespace weft {

namespace {

bool is_expandable(const Graph& graph, const Node& node, const KeepComposite& keep) {
  const OpDef& def = op_def(node.op);
  return def.fusion == FusionKind::composite && (static_cast<bool>(def.decompose) || node.body) &&
         !(keep && keep(graph, node));
}

/// A composite that carries its decomposition as its body (lstm_backward): the body's nodes, on
/// the node's operands.
std::vector<ValueId> inline_body(GraphRewriter& rw, const Node& node) {
  const Graph& body = *node.body;
  std::vector<ValueId> map(body.num_values(), kNoValue);
  for (size_t i = 0; i < body.inputs().size(); ++i) map[body.inputs()[i].value] = rw.map(node.operands[i]);
  for (const Node& inner : body.nodes()) {
    std::vector<ValueId> operands;
    for (ValueId v : inner.operands) operands.push_back(map[v]);
    std::vector<TensorType> types;
    for (ValueId r : inner.results) types.push_back(body.type(r));
    int32_t index = rw.graph().add_node(inner.op, operands, inner.attrs, types, inner.scope, inner.loc, inner.body);
    for (size_t k = 0; k < inner.results.size(); ++k) map[inner.results[k]] = rw.graph().nodes()[index].results[k];
  }
  std::vector<ValueId> results;
  for (const OutputDecl& o : body.outputs()) results.push_back(map[o.value]);
  return results;
}

/// One sweep: every composite expanded once (what its decomposition emits may hold composites again).
Graph expand_once(const Graph& graph, const KeepComposite& keep, bool& expanded) {
  GraphRewriter rw(graph);
  for (const Node& node : graph.nodes()) {
    if (node.op == OpKind::scan && node.body) {
      std::vector<TensorType> types;
      for (ValueId r : node.results) types.push_back(graph.type(r));
      rw.copy(node, types, std::make_shared<const Graph>(decompose_except(*node.body, keep)));
      continue;
    }
    if (!is_expandable(graph, node, keep)) {
      rw.copy(node);
      continue;
    }
    expanded = true;
    GraphBuilder b(rw.graph());
    b.set_scope(node.scope);
    b.set_loc(node.loc);
    std::vector<ValueId> results =
        node.body ? inline_body(rw, node) : op_def(node.op).decompose(b, rw.map(node.operands), node.attrs);
    WEFT_CHECK(results.size() == node.results.size(),
               fmt::format("decompose: {} gave {} results, the op has {}", op_name(node.op), results.size(),
                           node.results.size()));
    for (size_t i = 0; i < results.size(); ++i) {
      WEFT_CHECK(rw.graph().type(results[i]) == graph.type(node.results[i]),
                 fmt::format("decompose: result {} of {}'s decomposition is {}, the op gives {}", i, op_name(node.op),
                             rw.graph().type(results[i]).str(), graph.type(node.results[i]).str()));
      rw.replace(node.results[i], results[i]);
    }
  }
  return std::move(rw).finish();
}

bool has_expandable(const Graph& graph, const KeepComposite& keep) {
  for (const Node& node : graph.nodes())
    if (is_expandable(graph, node, keep) || (node.op == OpKind::scan && node.body && has_expandable(*node.body, keep)))
      return true;
  return false;
}

}  // namespace

Graph decompose(const Graph& graph) { return decompose_except(graph, {}); }

Graph decompose_except(const Graph& graph, const KeepComposite& keep) {
  // Each sweep lowers the nesting depth of composites by one; the op table nests them two deep at most
  // (attention -> softmax), so a long chain of sweeps means a decomposition that emits itself.
  constexpr int kMaxSweeps = 16;
  Graph current = graph;
  for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
    bool expanded = false;
    current = expand_once(current, keep, expanded);
    if (!expanded || !has_expandable(current, keep)) return current;
  }
  WEFT_CHECK(false,
             fmt::format("decompose: graph '{}' still has composites after {} sweeps", graph.name(), kMaxSweeps));
  return current;
}

bool has_composites(const Graph& graph) {
  for (const Node& node : graph.nodes()) {
    if (op_def(node.op).fusion == FusionKind::composite) return true;
    if (node.op == OpKind::scan && node.body && has_composites(*node.body)) return true;
  }
  return false;
}

}  // namespace weft
