#include "ir/symbols.h"

#include <set>
#include <variant>

namespace weft {

std::vector<std::string> symbols_used(const Graph& graph) {
  std::set<std::string> used;
  auto use = [&](const Shape& s) {
    for (const Dim& d : s)
      for (const std::string& name : d.symbols()) used.insert(name);
  };
  for (size_t v = 0; v < graph.num_values(); ++v) use(graph.type(static_cast<ValueId>(v)).shape);
  for (const Node& n : graph.nodes())
    for (const auto& [name, value] : n.attrs.items())
      if (const Shape* s = std::get_if<Shape>(&value)) use(*s);
  return {used.begin(), used.end()};
}

}  // namespace weft
