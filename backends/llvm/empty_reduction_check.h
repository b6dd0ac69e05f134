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
#include <vector>

#include "ir/graph.h"

namespace weft::llvm_backend {

/// A reduce_max, reduce_min or argmax: the node, its operand's type, and its reduced axes (bit d:
/// axis d). The AOT runtime checks the same sites (weft_rt_desc.h, `weft_rt_maximum`).
struct MaximumSite {
  const Node* node = nullptr;
  TensorType operand;
  uint64_t reduced = 0;
};

/// Those among node `node` of `g` and the nodes of its body (recursively), in order.
std::vector<MaximumSite> maximum_sites(const Graph& g, const Node& node);

/// The interpreter's error for `site` when its operand has shape `sizes`: an empty reduced axis and
/// a non-empty result; with the node's location.
std::optional<std::string> empty_axis_error(const MaximumSite& site, const std::vector<int64_t>& sizes);

/// The interpreter's error for the first reduce_max, reduce_min or argmax among node `node` of `g`
/// and the nodes of its body (recursively) that reduces an empty axis into a non-empty result, its
/// shapes evaluated under `bindings`, with that node's location; empty when there is none.
std::optional<std::string> check_empty_reductions(const Graph& g, const Node& node, const SymbolBindings& bindings);

}  // namespace weft::llvm_backend
