/** \file
 * Rebuilding a graph: the value-remapping copier every pass uses to produce its result.
 *
 * A pass that drops, merges or replaces nodes does not edit a graph in place (value ids are dense
 * and each is defined once, so holes and second definitions are not representable). Instead it
 * opens a `GraphRewriter` over the source graph, which declares the same symbols, inputs and
 * parameters in the same order, then walks the source nodes in topological order and, for each,
 * copies it, drops it, or maps its results to values it already has or builds anew. `finish()`
 * carries the outputs and state updates across through the map.
 *
 * Needs: the source graph in topological order (verify invariant 3). Guarantees: the new graph's
 * values are numbered densely in definition order (inputs, parameters, then node results), so a
 * graph that goes through a rewriter unchanged prints identically whenever it was already in that
 * order. Autodiff and fusion build their graphs with it too.
 */
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace weft {

class GraphRewriter {
 public:
  explicit GraphRewriter(const Graph& source);

  const Graph& source() const { return source_; }
  /// The graph being built. Appending to it directly (e.g. with a GraphBuilder) is fine; such
  /// values are not mapped from anything until `replace` says so.
  Graph& graph() { return out_; }

  /// The new value standing for source value `v`; internal error if nothing stands for it (its
  /// producer was dropped and no replacement was given).
  ValueId map(ValueId v) const;
  std::vector<ValueId> map(const std::vector<ValueId>& vs) const;
  bool is_mapped(ValueId v) const;
  /// From now on, source value `v` stands for `replacement`, a value of the new graph.
  void replace(ValueId v, ValueId replacement);

  /// Copies source node `node` with mapped operands; its results map to the copy's results, which
  /// are returned.
  std::vector<ValueId> copy(const Node& node);
  /// The same with other result types and body (infer_shapes recomputes both).
  std::vector<ValueId> copy(const Node& node, const std::vector<TensorType>& result_types,
                            std::shared_ptr<const Graph> body);

  /// Declares the source's outputs and state updates through the map and hands over the graph.
  Graph finish() &&;

 private:
  const Graph& source_;
  Graph out_;
  std::vector<ValueId> map_;  // indexed by source value id; kNoValue where nothing stands for it
};

/// The source graph with only the nodes where `keep[node index]` is true; a kept node's operands
/// must be kept too. Inputs, parameters, outputs and updates are all carried across.
Graph keep_nodes(const Graph& graph, const std::vector<bool>& keep);

/// `graph` with each node's body (scan and fusion sub-graphs) replaced by `transform(body)`;
/// `graph` itself when no node has a body. Passes that also apply inside bodies use it.
template <typename Transform>
Graph map_bodies(const Graph& graph, Transform&& transform) {
  Graph out = graph;
  for (Node& node : out.mutable_nodes())
    if (node.body) node.body = std::make_shared<const Graph>(transform(*node.body));
  return out;
}

}  // namespace weft
