#include "passes/rewrite.h"

#include <fmt/format.h>

namespace weft {

GraphRewriter::GraphRewriter(const Graph& source)
    : source_(source), out_(source.name()), map_(source.num_values(), kNoValue) {
  for (const SymbolDecl& s : source.symbols()) out_.declare_symbol(s.name, s.bound);
  for (const InputDecl& in : source.inputs()) map_[in.value] = out_.add_input(in.name, source.type(in.value));
  for (const ParamDecl& p : source.params()) map_[p.value] = out_.add_param(p.name, source.type(p.value), p.init);
}

ValueId GraphRewriter::map(ValueId v) const {
  WEFT_CHECK(v >= 0 && static_cast<size_t>(v) < map_.size(), fmt::format("rewrite: value %{} out of range", v));
  WEFT_CHECK(map_[v] != kNoValue,
             fmt::format("rewrite: nothing stands for %{} of '{}' (its producer was dropped)", v, source_.name()));
  return map_[v];
}

std::vector<ValueId> GraphRewriter::map(const std::vector<ValueId>& vs) const {
  std::vector<ValueId> out;
  out.reserve(vs.size());
  for (ValueId v : vs) out.push_back(map(v));
  return out;
}

bool GraphRewriter::is_mapped(ValueId v) const {
  return v >= 0 && static_cast<size_t>(v) < map_.size() && map_[v] != kNoValue;
}

void GraphRewriter::replace(ValueId v, ValueId replacement) {
  WEFT_CHECK(v >= 0 && static_cast<size_t>(v) < map_.size(), fmt::format("rewrite: value %{} out of range", v));
  WEFT_CHECK(replacement >= 0 && static_cast<size_t>(replacement) < out_.num_values(),
             fmt::format("rewrite: replacement %{} is not a value of the new graph", replacement));
  map_[v] = replacement;
}

std::vector<ValueId> GraphRewriter::copy(const Node& node) {
  std::vector<TensorType> types;
  types.reserve(node.results.size());
  for (ValueId r : node.results) types.push_back(source_.type(r));
  return copy(node, types, node.body);
}

std::vector<ValueId> GraphRewriter::copy(const Node& node, const std::vector<TensorType>& result_types,
                                         std::shared_ptr<const Graph> body) {
  int32_t index =
      out_.add_node(node.op, map(node.operands), node.attrs, result_types, node.scope, node.loc, std::move(body));
  const std::vector<ValueId>& results = out_.nodes()[index].results;
  // A node may gain or lose results only through infer_shapes on a malformed graph; map what both have.
  for (size_t i = 0; i < node.results.size() && i < results.size(); ++i) map_[node.results[i]] = results[i];
  return results;
}

Graph GraphRewriter::finish() && {
  for (const OutputDecl& o : source_.outputs()) out_.add_output(o.name, map(o.value));
  for (const StateUpdate& u : source_.updates()) out_.add_update(u.param, map(u.value));
  return std::move(out_);
}

Graph keep_nodes(const Graph& graph, const std::vector<bool>& keep) {
  WEFT_CHECK(keep.size() == graph.nodes().size(), "keep_nodes: one flag per node expected");
  GraphRewriter rw(graph);
  for (size_t i = 0; i < graph.nodes().size(); ++i)
    if (keep[i]) rw.copy(graph.nodes()[i]);
  return std::move(rw).finish();
}

}  // namespace weft
