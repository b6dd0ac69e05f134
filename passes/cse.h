/** \file
 * Common-subexpression elimination: merges nodes that compute the same thing.
 *
 * Two nodes are the same computation when they have the same op, the same operands (after earlier
 * merges, so chains of duplicates collapse in one walk), the same attributes (compared as the text
 * IR prints them, so 0.0 and -0.0 stay apart) and the same body (compared as printed text). Every op
 * is pure, rng ops included (their values are a function of the seed attribute), so all of them
 * qualify. The first node is kept, with its scope and location; uses of the others are redirected to
 * it. Commutative operands are not canonicalized: add(a, b) and add(b, a) stay apart.
 *
 * Needs: a verified graph. Guarantees: no two nodes are the same computation (also inside each
 * body); outputs and updates are unchanged in meaning; the verifier's invariants are preserved.
 */
#pragma once

#include "ir/graph.h"

namespace weft {

Graph cse(const Graph& graph);

}  // namespace weft
