/** \file
 * Dead-code elimination: removes the nodes whose results reach no output and no state update.
 *
 * Liveness flows backwards from the outputs and the state updates. Every op is pure (rng ops are
 * functions of their seed attribute), so a node nothing reads can go. Inputs and parameters are
 * never removed even when unused: they are the graph's signature, which callers bind by position.
 * Bodies are cleaned too, against their own outputs. Dead nodes left behind by other passes
 * (constant folding, CSE) are what this pass is for.
 *
 * Needs: a verified graph (invariants 1-3 at least). Guarantees: every remaining node has a result
 * that an output or update depends on; surviving nodes keep their order, and values are renumbered
 * densely. The verifier's invariants are preserved.
 */
#pragma once

#include "ir/graph.h"

namespace weft {

Graph dce(const Graph& graph);

}  // namespace weft
