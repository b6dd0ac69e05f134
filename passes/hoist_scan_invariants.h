/** \file
 * Loop-invariant code motion for `scan`: computes once, before the loop, what a scan's body computes
 * from its consts alone, and passes the result in as a new const.
 *
 * A body value is invariant when it is a const input or the result of a node (without a body of its
 * own) whose operands are all invariant. An invariant value computed by an op that does work (not a
 * reshape, transpose, broadcast, slice, concat or source such as a constant) and read by the rest of
 * the body is hoisted: its invariant sub-graph is copied in front of the scan, with the body's const
 * inputs replaced by the scan's const operands, and the body reads a new const input instead. The
 * classic case is Bahdanau attention written as the papers draw it, `vᵀ tanh(W·s + U·keys)` inside
 * the decoder step: `U·keys` is the same at every step. Data movement stays in the body, where it is
 * free to fuse, rather than being materialized outside.
 *
 * Runs before autodiff too (make_train_step calls it), so a hoisted value's gradient is accumulated
 * over the steps and flows back through the hoisted computation once, as if the user had hoisted it.
 *
 * Needs: a verified graph. Guarantees: the same outputs; every scan body computes no invariant
 * value by a working op (bodies nested in bodies included); new const inputs follow the old ones,
 * named `hoisted.<n>`; the verifier's invariants are preserved.
 */
#pragma once

#include "ir/graph.h"

namespace weft {

Graph hoist_scan_invariants(const Graph& graph);

}  // namespace weft
