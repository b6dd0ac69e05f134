/** \file
 * The index check that runs before a generated gather or scatter_add kernel.
 *
 * The interpreter throws weft::Error for an index outside [-n, n); generated code cannot throw, so
 * the kernels (index_codegen.cpp) only stay in bounds — a gather writes zeros for such a row, a
 * scatter_add drops such an update — and the caller validates the indices first, with this check,
 * giving the interpreter's error. The JIT executable calls it before every such call; the AOT
 * runtime (C) does the same from its call table, so the contract is spelled out here:
 *
 *   op           indices (i32 or i64)   n = dim `axis` of          valid index i
 *   gather       call operand 1         call operand 0 (x)         -n <= i < n
 *   scatter_add  call operand 1         call operand 2 (result)    -n <= i < n
 *
 * where call operands are the node's operands then its results (ir/program.h), `axis` is the
 * node's `axis` attribute normalized to [0, rank of that operand), and a negative i means i + n
 * (numpy.take) — except for a gather with wrap=false (cross_entropy's class labels), where the
 * valid indices are 0 <= i < n. An empty index tensor is always valid; with n = 0 any index is out
 * of range.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/program.h"

namespace weft::llvm_backend {

/// Where a call's indices are and what bounds them (the table above).
struct IndexOperands {
  int indices = 1;  // the call operand holding the indices
  int bounded = 0;  // the call operand whose dim `axis` is n
  int axis = 0;     // normalized
  bool wrap = true; // negative indices count from the end; false: 0 <= i < n
};

/// The index operands of a gather or scatter_add call; empty for every other op.
std::optional<IndexOperands> index_operands(const KernelCall& call);

/// The interpreter's message for the first index outside [-n, n) of `count` indices of `dtype`
/// (i32 or i64) at `data`, e.g. "gather: index 7 (at flat position 2 of the indices) is out of
/// range for axis 0 of size 5 (valid: -5 to 4)"; empty when all are valid.
std::optional<std::string> check_indices(std::string_view op, const void* data, DType dtype, int64_t count, int axis,
                                         int64_t n, bool wrap = true);

/// check_indices for a call whose operands are at `buffers` (call operand order), its shapes
/// evaluated under `bindings`; empty for ops without indices.
std::optional<std::string> check_call_indices(const KernelCall& call, const std::vector<void*>& buffers,
                                              const SymbolBindings& bindings);

}  // namespace weft::llvm_backend
