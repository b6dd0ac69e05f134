/** \file
 * The text IR (`.weft` files): a printer and a parser that round-trip exactly.
 *
 * `print_graph(parse_graph(print_graph(g))) == print_graph(g)`, and the parsed graph is structurally
 * equal to `g` (names, types, symbols with bounds, parameters with initializers, attributes, scopes,
 * source locations, sub-graphs). A malformed file gives a `weft::Error` naming file, line and column.
 * The grammar is documented in docs/text-ir.md.
 */
#pragma once

#include <string>
#include <string_view>

#include "ir/graph.h"

namespace weft {

/// The whole file, starting with the version header `weft 1`.
std::string print_graph(const Graph& graph);
/// Parses what print_graph writes. `filename` is used in error messages only.
Graph parse_graph(std::string_view text, const std::string& filename = "<input>");
/// Reads and parses a file; errors name the file.
Graph read_graph_file(const std::string& path);
/// Writes atomically (temp file, then rename).
void write_graph_file(const std::string& path, const Graph& graph);

}  // namespace weft
