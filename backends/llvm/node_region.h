/** \file
 * What the LLVM backend compiles, shared by the JIT (llvm_backend.cpp) and the AOT emitter (aot.h):
 * the pass pipeline that turns a graph into the fused graph it generates code for, and, for each
 * top-level node of that graph, the region (a body and a kind) that node runs as.
 */
#pragma once

#include <optional>
#include <string>

#include "ir/graph.h"

namespace weft::llvm_backend {

/// Decompose composites, the standard passes (infer shapes, fold constants, CSE, DCE), then fuse.
Graph compile_pipeline(const Graph& graph);

struct NodeRegion {
  Graph body;
  std::string kind;  // "loop", "reduction", "matmul", "concat", "gather", "scatter_add", "rng_uniform"
};

/// The region top-level node `node` of fused graph `g` runs as, as the op table's LLVM column
/// (`OpDef::llvm`) says: a fusion's own body, or a lone transpose, slice, concat, gather,
/// scatter_add or rng_uniform wrapped as a one-node region. Empty (with `*why`) for a node the
/// generators do not take (a scan is driven by its caller: its body is a graph of its own).
std::optional<NodeRegion> node_region(const Graph& g, const Node& node, std::string* why);

}  // namespace weft::llvm_backend
