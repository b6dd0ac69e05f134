/** \file
 * The declarations both levels of the IR share: a symbolic dim's declaration and a parameter's
 * initializer. The graph (ir/graph.h) and the program (ir/program.h) both carry them; the runtime,
 * which never sees a graph, includes this instead.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace weft {

/// A deterministic parameter initializer: `kind(args..., seed=S)`. Kinds and their meaning are in
/// ir/init.h (zeros, ones, constant, uniform, normal, kaiming_uniform, xavier_uniform, ...).
struct Initializer {
  std::string kind = "zeros";
  std::vector<std::pair<std::string, double>> args;
  uint64_t seed = 0;
  bool operator==(const Initializer&) const = default;
};

/// A symbolic dim used by the graph, with its optional upper bound (`T<=512`).
struct SymbolDecl {
  std::string name;
  std::optional<int64_t> bound;
  bool operator==(const SymbolDecl&) const = default;
};

}  // namespace weft
