/** \file
 * Structural equality of graphs, for the text-IR round-trip tests.
 *
 * Two graphs are equal when every field a user can observe is equal: names, symbols with bounds (in
 * order), inputs, parameters with their initializers, nodes (op, operands, attributes, result types,
 * scope, source location, sub-graph), outputs and state updates. Values are compared by what they
 * are (input i, parameter i, result j of node i), not by their ValueId, because the numbering of
 * values is private to a Graph. Reals are compared by their exact text (`real_str`), so -0.0 and 0.0
 * differ.
 */
#pragma once

#include <string>

#include "ir/graph.h"

namespace weft::testing {

/// Empty when `a` and `b` are structurally equal; otherwise the first difference, e.g.
/// "graph 'mlp': node 3 (add): scope 'fc1' vs ''".
std::string graph_difference(const Graph& a, const Graph& b);

inline bool graphs_equal(const Graph& a, const Graph& b) { return graph_difference(a, b).empty(); }

}  // namespace weft::testing
