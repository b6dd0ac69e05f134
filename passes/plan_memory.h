/** \file
 * Memory planning: the lowering from a graph to a `Program` (ir/program.h), with every temporary in
 * one arena.
 *
 * Each top-level node becomes one kernel call, in the graph's order. A value produced by a node lives
 * from that call to its last reader's call (to the end for graph outputs and state updates). Every
 * value is sized at the symbols' declared bounds; a value whose size has an unbounded symbol is a
 * weft::Error (memory is never planned on a guess). Slots are then placed greedily, largest first,
 * each at the offset of the smallest gap that fits among the slots whose lifetimes overlap its own
 * (best fit), aligned to 64 bytes; the arena is as large as the highest slot end.
 *
 * In-place reuse: a result of a loop region (or of a lone elementwise node) takes over the slot of an
 * operand of the same size that dies at that call, when the region reads that operand only at the
 * output's own index (elementwise ops without broadcasting it, reshapes). A parameter's state update
 * is likewise written straight into the parameter when the parameter has no later reader (an
 * optimizer step then needs no copy). Graph inputs are never written.
 *
 * Needs: a verified graph (typically decomposed and fused; any graph plans, one call per node).
 * Guarantees: no two buffers whose lifetimes overlap share a byte of the arena; a program whose
 * calls, inputs, parameters, outputs and updates mirror the graph's.
 */
#pragma once

#include <cstdint>
#include <string>

#include "ir/graph.h"
#include "ir/program.h"

namespace weft {

struct PlanOptions {
  /// Share slots between values whose lifetimes do not overlap; off gives each value its own slot.
  bool reuse = true;
  /// Write results over dying operands (and state updates over their parameters).
  bool in_place = true;
  /// Where the arena and the parameters live: a device provider plans in device memory, and the
  /// executor stages the inputs and outputs (ir/program.h MemorySpace).
  MemorySpace space = MemorySpace::host;
};

/// What planning achieved, in bytes at the bounds.
struct PlanStats {
  int64_t values = 0;               // temporaries planned (node results)
  int64_t bytes_without_reuse = 0;  // every temporary in a slot of its own: the sum of their sizes
  int64_t live_peak_bytes = 0;      // the most bytes live during one call: no arena can be smaller
  int64_t arena_bytes = 0;          // the planned arena
  int64_t buffers = 0;              // arena slots after in-place merging
  int64_t in_place = 0;             // results written over an operand or a parameter
};

Program plan_memory(const Graph& graph, const PlanOptions& options = {}, PlanStats* stats = nullptr);

/// The stats of planning `graph` with `options`.
PlanStats plan_stats(const Graph& graph, const PlanOptions& options = {});

/// A few lines for `weft-dump --stats`: the peak memory without reuse and with the planned arena. A
/// graph that cannot be planned (an unbounded dim) gets one line saying why instead of an error.
std::string memory_summary(const Graph& graph);

}  // namespace weft
