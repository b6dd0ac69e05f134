/** \file
 * Graph statistics for `weft-dump --stats`: op counts, parameter count and bytes, a FLOP estimate
 * and each value's bytes.
 *
 * Sizes depend on symbolic dims, so counts are polynomials in the symbols (`SymbolicCount`):
 * "401408*B + 5120*B" collapses to "406528*B". They are evaluated at the symbols' declared bounds
 * (the worst case memory planning must hold); a symbol without a bound leaves the count symbolic,
 * and the report says which symbols are unbounded.
 *
 * The FLOP model is deliberately simple and stated once: matmul 2·M·N·K per batch element;
 * elementwise ops 1 per result element; reductions 1 per input element; data movement, sources and
 * casts 0; composite ops the FLOPs of their decomposition; a scan its body's FLOPs times the number
 * of steps; a fusion region its body's.
 */
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace weft {

/// A polynomial in symbolic dims with integer coefficients: sum of coefficient × monomial.
class SymbolicCount {
 public:
  SymbolicCount() = default;
  explicit SymbolicCount(const Dim& d, int64_t factor = 1) { add(d, factor); }

  void add(const Dim& monomial, int64_t factor = 1);
  /// Adds `other` × `times` (a monomial such as a scan's step count).
  void add(const SymbolicCount& other, const Dim& times = Dim(1));

  bool is_zero() const { return terms_.empty(); }
  /// The value with every symbol at its bound; nullopt if a symbol has no bound in `bounds`.
  std::optional<double> evaluate(const std::map<std::string, int64_t>& bounds) const;
  /// Symbols used that have no entry in `bounds`, sorted.
  std::vector<std::string> unbound_symbols(const std::map<std::string, int64_t>& bounds) const;
  /// "406528*B + 1024"; "0" when zero. Terms in a fixed order (by symbols, constant last).
  std::string str() const;

 private:
  std::map<std::vector<std::string>, int64_t> terms_;  // symbols (sorted, repeated for powers) -> coefficient
};

struct ValueSize {
  ValueId value = kNoValue;
  std::string name;  // input/param name, or "%<k>" for the k-th node result
  TensorType type;
  SymbolicCount bytes;
};

struct GraphStats {
  /// Nodes per op name, counting the nodes of sub-graphs (scan and fusion bodies) too.
  std::map<std::string, int64_t> op_counts;
  int64_t num_nodes = 0;
  int64_t num_params = 0;
  int64_t param_elements = 0;
  int64_t param_bytes = 0;
  SymbolicCount flops;
  /// Every value of the top-level graph: inputs, parameters, then node results (named as the text IR
  /// names them: %0, %1, ... in order of definition).
  std::vector<ValueSize> values;
  SymbolicCount value_bytes;
  /// Declared bounds of the graph's symbols (unbounded symbols are absent).
  std::map<std::string, int64_t> bounds;
};

GraphStats compute_stats(const Graph& graph);
/// The FLOP estimate of one node (see the file comment for the model).
SymbolicCount node_flops(const Graph& graph, const Node& node);
/// The report `weft-dump --stats` prints.
std::string format_stats(const Graph& graph, const GraphStats& stats);

}  // namespace weft
