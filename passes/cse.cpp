#include "passes/cse.h"

#include <fmt/format.h>

#include <unordered_map>

#include "ir/ops.h"
#include "ir/text.h"
#include "passes/rewrite.h"

namespace weft {

namespace {

/// Everything that determines a node's results, as one string; operands are ids of the new graph.
std::string computation_key(const Node& node, const std::vector<ValueId>& operands, const Graph& source) {
  std::string key(op_name(node.op));
  key += '(';
  for (ValueId v : operands) key += fmt::format("{},", v);
  key += ')';
  for (const auto& [name, value] : node.attrs.items()) key += fmt::format(" {}={}", name, attr_value_str(value));
  key += " :";
  for (ValueId r : node.results) key += ' ' + source.type(r).str();
  if (node.body) key += '\n' + print_graph(*node.body);
  return key;
}

}  // namespace

Graph cse(const Graph& graph) {
  Graph with_clean_bodies = map_bodies(graph, cse);
  GraphRewriter rw(with_clean_bodies);
  std::unordered_map<std::string, std::vector<ValueId>> seen;  // key -> results in the new graph
  for (const Node& node : with_clean_bodies.nodes()) {
    std::string key = computation_key(node, rw.map(node.operands), with_clean_bodies);
    auto it = seen.find(key);
    if (it == seen.end()) {
      seen.emplace(std::move(key), rw.copy(node));
      continue;
    }
    for (size_t i = 0; i < node.results.size(); ++i) rw.replace(node.results[i], it->second[i]);
  }
  return std::move(rw).finish();
}

}  // namespace weft
