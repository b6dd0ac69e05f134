/** \file
 * Shape inference: recomputes every node's result types from the op table.
 *
 * Walks the nodes in order and re-runs each op's rule on the operand types as they now stand, so a
 * change anywhere (an input's type edited by hand in a `.weft` file, a node replaced by a pass)
 * propagates to everything downstream. It also normalizes attributes (fills defaults, turns ints
 * into floats where floats are declared) and recurses into bodies first, since a scan's or a
 * fusion's result types come from its body.
 *
 * Needs: invariants 1-5 of the verifier (ids in range, each defined once, topological order, ops
 * defined with the right operand counts, bodies where ops take them). Guarantees: invariants 6 and 7
 * (normalized attributes, result types equal the rules' results); a graph that already satisfied
 * them comes back unchanged. A rule violation is a weft::Error naming the node and its location.
 */
#pragma once

#include "ir/graph.h"

namespace weft {

Graph infer_shapes(const Graph& graph);

}  // namespace weft
