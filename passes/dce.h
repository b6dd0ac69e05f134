/** \file
 * Dead-code elimination: removes the nodes whose results reach no output and no state update.
 *
 * Liveness flows backwards from the outputs and the state updates. Every op is pure (rng ops are
 * functions of their seed attribute), so a node nothing reads can go. Inputs and parameters are
 * never removed even when unused: they are the graph's signature, which callers bind by position.
 * Bodies are cleaned too, against their own outputs. Dead nodes left behind by other passes
 * (constant folding, CSE) are what this pass is for.
 *
 * A scan's interface is trimmed too: a stacked output nothing reads leaves its body's outputs, and a
 * sequence or const its body no longer reads leaves the scan's operands (one sequence always stays:
 * it gives the loop its length). Carries stay. This is what removes a forward scan's saved residual
 * (ir/ops/control.cpp) that the backward step turned out not to read, and the work of making it.
 * Only the scans of the graph itself are trimmed, not those in bodies: a composite's backward body
 * recomputes its forward's saved scan, which CSE merges with the forward's own once decomposition
 * inlines it, and a trimmed copy would no longer merge.
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
