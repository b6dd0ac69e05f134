/** \file
 * The reference interpreter's kernels: one plain, obviously correct C++ function per op.
 *
 * Kernels receive concrete tensors and the node (for attributes); symbolic dims in attributes are
 * evaluated with `ctx.bindings`. Composite ops need no kernel: the interpreter evaluates their
 * decomposition. Kernel families register themselves in `kernel_table()` like the op table does.
 */
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "ir/graph.h"
#include "runtime/tensor.h"

namespace weft::interp {

struct KernelContext {
  const Node& node;
  const SymbolBindings& bindings;
  /// Evaluates a sub-graph (scan bodies) on the given inputs; its parameters are not used.
  std::function<std::vector<Tensor>(const Graph&, std::span<const Tensor>)> run_subgraph;
  /// The graph holding `node`, for kernels whose run-time checks depend on declared (symbolic) types.
  const Graph* graph = nullptr;
};

using Kernel = std::function<std::vector<Tensor>(const KernelContext&, std::span<const Tensor> operands)>;

/// Kernel for `op`, or null when the op has none (composites are then decomposed).
const Kernel* find_kernel(OpKind op);

// Shape helpers shared by kernel families.
std::vector<int64_t> broadcast_concrete(const std::vector<int64_t>& a, const std::vector<int64_t>& b);
/// Row-major strides of `shape`.
std::vector<int64_t> strides_of(const std::vector<int64_t>& shape);
/// Flat index into a tensor of `shape`, broadcast to `out_shape`, for the output multi-index `idx`.
int64_t broadcast_index(const std::vector<int64_t>& idx, const std::vector<int64_t>& shape,
                        const std::vector<int64_t>& out_shape);

using KernelTable = std::vector<Kernel>;  // indexed by OpKind
void register_elementwise_kernels(KernelTable& t);
void register_reduction_kernels(KernelTable& t);
void register_movement_kernels(KernelTable& t);
void register_compute_kernels(KernelTable& t);
void register_composite_kernels(KernelTable& t);
void register_control_kernels(KernelTable& t);
void register_collective_kernels(KernelTable& t);

}  // namespace weft::interp
