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
 * Needs: a verified graph. Guarantees: a verified graph with the same signature, outputs and state
 * updates, computing the same values, in which no node outside a fusion body is a composite op.
 */
#pragma once

#include "ir/graph.h"

namespace weft {

Graph decompose(const Graph& graph);

/// Whether `graph` (or a scan body in it) still has a composite node.
bool has_composites(const Graph& graph);

}  // namespace weft
