/** \file
 * The empty-axis check that runs before a generated region containing reduce_max, reduce_min or
 * argmax.
 *
 * The interpreter (backends/interp/reduction_kernels.cpp) throws weft::Error when one of those
 * reduces an axis of size 0 while it has output elements: the maximum of no elements is undefined.
 * (reduce_sum gives 0 and reduce_mean NaN there, integers 0; generated code already agrees.)
 * Generated code cannot throw, and once fused a reduction's result may not even reach an output
 * (softmax's maximum), so the executable checks every such node of the region's body before the
 * call, with the sizes of that call, and throws the interpreter's error: the same message, at the
 * node's source location. A composite the interpreter runs through its decomposition (softmax,
 * log_softmax, cross_entropy) fails there in its reduce_max, and so does it here.
 */
#pragma once

#include <optional>
#include <string>

#include "ir/graph.h"

namespace weft::llvm_backend {

/// The interpreter's error for the first reduce_max, reduce_min or argmax among node `node` of `g`
/// and the nodes of its body (recursively) that reduces an empty axis into a non-empty result, its
/// shapes evaluated under `bindings`, with that node's location; empty when there is none.
std::optional<std::string> check_empty_reductions(const Graph& g, const Node& node, const SymbolBindings& bindings);

}  // namespace weft::llvm_backend
