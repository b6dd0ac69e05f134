/** \file
 * Decomposition: expands every composite op (softmax, layer_norm, attention, the losses, dropout,
 * one_hot, embedding) into the core ops of its `OpDef::decompose`.
 *
 * Fusion groups core ops only (a composite is opaque to it), so a backend that compiles regions runs
 * this first. The expansion is recursive: a decomposition that emits another composite (attention
 * emits a softmax, cross_entropy a log_softmax) is expanded again until no composite remains. The
 * emitted nodes carry the scope and source location of the node they replace, so an error or a NaN
 * trap inside a decomposed softmax still names the user's line. Scan bodies are decomposed too;
 * fusion bodies are left as they are (a region is already final).
 *
 * `decompose_except` keeps the composites a predicate names (the pipeline keeps attention for a
 * provider that compiles it as one region: passes/fuse_attention.h); they are not expanded, nor is
 * anything inside them.
 *
 * Needs: a verified graph. Guarantees: a verified graph with the same signature, outputs and state
 * updates, computing the same values, in which no node outside a fusion body is a composite op
 * (but those `keep` accepts, with decompose_except).
 */
#pragma once

#include <functional>

#include "ir/graph.h"

namespace weft {

Graph decompose(const Graph& graph);

/// Whether a composite node (of the graph given) is kept as it is.
using KeepComposite = std::function<bool(const Graph&, const Node&)>;
Graph decompose_except(const Graph& graph, const KeepComposite& keep);

/// Whether `graph` (or a scan body in it) still has a composite node.
bool has_composites(const Graph& graph);

}  // namespace weft
