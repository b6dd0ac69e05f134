/** \file
 * A graph as Graphviz DOT, for `weft-dump --format dot|svg`.
 *
 * One DOT node per op (labelled with the op name and its non-default attributes), one per input,
 * parameter, output and state update; edges carry the value's type (`f32[B, 256]`). Nodes are
 * grouped into nested `subgraph "cluster_<scope path>"` clusters by their scope path, so a layer is
 * a box on the page and Graphviz lets a viewer collapse it; a parameter sits in the cluster of its
 * name's prefix (`fc1.weight` in `fc1`). A node that owns a sub-graph (scan, fusion) is drawn as a
 * cluster holding the node and its body.
 *
 * `depth` folds: every scope with at least `depth` components is drawn as one box per scope at
 * depth `depth` (labelled with the scope path and how many ops it holds), so `depth = 3` turns each
 * `encoder.layers.<i>` of a Transformer into a single node while keeping the edges between layers.
 * Components are counted below the model's root scope (model_root_scope: a model whose every
 * parameter is under `transformer.encoder` or `transformer.decoder` folds
 * `transformer.encoder.layers.<i>` at depth 3 too), and a node whose
 * scope ends with a parameter's name (an optimizer's `adam.<param>`) folds into that parameter's
 * layer, so a train step folds as its model does.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ir/graph.h"

namespace weft {

struct DotOptions {
  /// Fold scopes of at least this many components into one box each; nullopt draws everything.
  /// Must be >= 1 (weft::Error otherwise).
  std::optional<int> depth;
};

std::string graph_to_dot(const Graph& graph, const DotOptions& options = {});

/// How many DOT nodes graph_to_dot draws with `options` (ops, inputs, parameters, outputs, updates,
/// folded boxes; bodies included): what Graphviz's layout time grows with.
int64_t dot_node_count(const Graph& graph, const DotOptions& options = {});

/// The first component shared by every parameter when the parameters split into at least two
/// scopes right below it ("transformer" for transformer.encoder.* and transformer.decoder.*), else "".
std::string model_root_scope(const Graph& graph);

/// The first `depth` components of a dotted scope path ("a.b.c", 2 -> "a.b"); the whole path if shorter.
std::string scope_prefix(const std::string& scope, int depth);
/// Number of components of a scope path ("" has 0, "a.b" has 2).
int scope_depth(const std::string& scope);

}  // namespace weft
