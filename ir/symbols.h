/** \file
 * Which symbols a graph's shapes name: what a region's or a body's code takes as sizes, and what a
 * new body must declare.
 */
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace weft {

/// The symbols `graph`'s value types and shape-valued attributes use, sorted. Only its own nodes:
/// the body of a fusion or scan in it is a graph of its own.
std::vector<std::string> symbols_used(const Graph& graph);

}  // namespace weft
