/** \file
 * Inlining fusion nodes: every `fusion` node is replaced by the nodes of its body.
 *
 * A graph read from a file may already hold fusion nodes — written by hand, or by `weft-dump
 * --stage fused` — and their bodies may nest further fusions, which no code generator takes. The
 * backends' pipeline starts by inlining them so that `fuse` decides the regions itself, under the
 * backend's own rules: the result computes the same values (a region's semantics are its body's).
 * A body node keeps its own scope and location, and takes the fusion node's where it has none.
 *
 * Needs: a verified graph. Guarantees: no fusion node remains, at any depth (scan bodies are
 * inlined too); outputs, updates and the signature are unchanged; the verifier's invariants hold.
 */
#pragma once

#include "ir/graph.h"

namespace weft {

Graph inline_fusions(const Graph& graph);

}  // namespace weft
