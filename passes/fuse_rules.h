/** \file
 * The rules a fused region must satisfy, shared by the fuser (which asks them of candidate groups
 * of nodes in the graph being fused) and by `region_rule_violation` (which asks them of a finished
 * region's body). Internal to passes/fuse.cpp; the rules themselves are stated in passes/fuse.h.
 */
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace weft::fusion {

/// What the fuser may do with a node.
enum class Role : uint8_t {
  elementwise,  // unary, binary, select, cast: one element from the same index of each (broadcast) operand
  movement,     // broadcast, reshape, and a transpose keeping the innermost axis: an index map
  source,       // constant, iota
  reduction,    // reduce_*, argmax
  matmul,
  never,  // a node of its own: scan, gather, scatter_add, concat, slice, rng_uniform, other transposes, fusion,
          // composites
};

enum class RegionKind : uint8_t { loop, reduction, matmul };

Role role_of(const Node& node);
const char* kind_name(RegionKind kind);
bool parse_kind(const std::string& name, RegionKind& kind);

/// At most one element, statically: the values copied into every region that reads them.
bool is_scalar(const TensorType& type);
/// Ops whose per-element cost is well above a load (the op table's cost class `expensive`:
/// transcendentals, sqrt, rsqrt, pow): never recomputed per broadcast copy.
bool is_expensive(OpKind op);

/// A set of nodes viewed as one region: `nodes` in topological order, all of `graph`; `outputs` the
/// values of theirs used outside; `inside(v)` whether a node of the set produces `v`.
struct RegionView {
  const Graph& graph;
  std::vector<const Node*> nodes;
  std::vector<ValueId> outputs;
  std::function<bool(ValueId)> inside;
};

/// The kind the nodes make: matmul if one is a matmul, reduction if one reduces, loop otherwise.
RegionKind kind_of(const RegionView& region);
/// The broken rule of `kind`, in one sentence; empty when the region is legal.
std::string violation(const RegionView& region, RegionKind kind);

}  // namespace weft::fusion
