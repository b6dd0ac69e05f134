/** \file
 * Reverse-mode automatic differentiation as a graph transform.
 *
 * `differentiate` copies the graph and appends its reverse pass: one generic walk over the nodes in
 * reverse topological order that, for each node on a path from a differentiated value to the loss,
 * asks the op's gradient rule (`OpDef::gradient`, beside the op in ir/ops/) for its operands'
 * gradients and sums the contributions of a value read by several nodes. Values that do not depend
 * on a differentiated value, or that the loss does not depend on, get no gradient nodes. An op
 * without a rule but with a decomposition (kl_div, mse_loss, dropout, embedding) is differentiated
 * through its decomposition, expanded where it stands. A scan is differentiated as a scan
 * (backpropagation through time; see ir/ops/control.cpp and docs/autodiff.md).
 *
 * Needs: a verified graph whose `loss_output` is a floating-point scalar (one element). Before
 * emitting anything, it collects every op on the gradient path (inside scan bodies too) that has
 * neither a rule nor a decomposition, and throws one weft::Error naming each with its scope and
 * source location. Guarantees: a verified graph with the same name, inputs, parameters (with their
 * initializers), outputs and state updates, followed by one output `grad.<name>` per differentiated
 * value, of that value's type (zeros where the loss does not depend on it); dead nodes removed.
 */
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace weft {

/// `graph` that also returns the gradient of its scalar output `loss_output` with respect to each
/// input or parameter named in `wrt`, as outputs `grad.<name>` in `wrt` order. An empty `wrt`
/// differentiates with respect to every floating-point parameter, in declaration order.
Graph differentiate(const Graph& graph, const std::string& loss_output, const std::vector<std::string>& wrt = {});

}  // namespace weft
