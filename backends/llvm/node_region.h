/** \file
 * What the LLVM provider generates code for, shared by the JIT (llvm_backend.cpp) and the AOT
 * emitter (aot.h): for a program call, the region (a body and a kind) it runs as.
 */
#pragma once

#include <optional>
#include <string>

#include "ir/graph.h"
#include "ir/program.h"

namespace weft::llvm_backend {

struct NodeRegion {
  Graph body;
  std::string kind;  // "loop", "reduction", "matmul", "concat", "gather", "scatter_add", "rng_uniform"
};

/// The region call `call` runs as, as the op table's LLVM column (`OpDef::llvm`) says: a fusion's
/// own body, or a lone transpose, slice, concat, gather, scatter_add or rng_uniform wrapped as a
/// one-node region. Empty (with `*why`) for a call the
/// generators do not take (a scan is driven by its caller: its body is a program of its own).
std::optional<NodeRegion> call_region(const KernelCall& call, std::string* why);

}  // namespace weft::llvm_backend
