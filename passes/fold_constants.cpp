#include "passes/fold_constants.h"

#include <fmt/format.h>

#include <bit>

#include "ir/ops.h"
#include "passes/rewrite.h"

namespace weft {

namespace {

/// The number of elements of `type`, or nullopt when its shape is symbolic.
std::optional<int64_t> static_size(const TensorType& type) {
  int64_t n = 1;
  for (const Dim& d : type.shape) {
    if (!d.is_static()) return std::nullopt;
    n *= d.value();
  }
  return n;
}

/// Whether all values are the same bits (so -0.0 and 0.0 differ); a constant then holds one value.
bool is_splat(const std::vector<double>& values) {
  for (double v : values)
    if (std::bit_cast<uint64_t>(v) != std::bit_cast<uint64_t>(values[0])) return false;
  return !values.empty();
}

/// The graph handed to the evaluator: copies of the constant nodes defining `operands` (values of
/// `graph`), then `node` applied to them, giving `types`.
Graph evaluation_graph(const Node& node, const std::vector<ValueId>& node_operands, const Graph& graph,
                       const std::vector<TensorType>& types) {
  Graph g(fmt::format("fold_{}", op_name(node.op)));
  std::vector<ValueId> operands;
  std::vector<std::pair<ValueId, ValueId>> copied;  // (value in `graph`, value in g)
  for (ValueId v : node_operands) {
    ValueId mapped = kNoValue;
    for (const auto& [from, to] : copied)
      if (from == v) mapped = to;
    if (mapped == kNoValue) {
      const Node* c = graph.producer(v);
      int32_t index = g.add_node(c->op, {}, c->attrs, {graph.type(v)});
      mapped = g.nodes()[index].results[0];
      copied.emplace_back(v, mapped);
    }
    operands.push_back(mapped);
  }
  int32_t index = g.add_node(node.op, operands, node.attrs, types);
  for (size_t i = 0; i < types.size(); ++i) g.add_output(fmt::format("y{}", i), g.nodes()[index].results[i]);
  return g;
}

}  // namespace

bool is_foldable_op(const Node& node) {
  return !node.operands.empty() && !node.body && node.op != OpKind::rng_uniform && node.op != OpKind::dropout &&
         node.op != OpKind::all_reduce;  // its value is known only once the ranks exchange it
}

Graph fold_constants(const Graph& graph, const ConstantEvaluator& evaluate, const FoldOptions& options) {
  WEFT_CHECK(static_cast<bool>(evaluate), "fold_constants needs an evaluator");
  Graph with_folded_bodies =
      map_bodies(graph, [&](const Graph& body) { return fold_constants(body, evaluate, options); });
  GraphRewriter rw(with_folded_bodies);
  for (const Node& node : with_folded_bodies.nodes()) {
    // Operands are looked up in the new graph, where earlier folds have already become constants.
    bool candidate = is_foldable_op(node);
    for (size_t i = 0; candidate && i < node.operands.size(); ++i) {
      const Node* p = rw.graph().producer(rw.map(node.operands[i]));
      candidate = p && p->op == OpKind::constant;
    }
    for (size_t i = 0; candidate && i < node.results.size(); ++i) {
      std::optional<int64_t> n = static_size(with_folded_bodies.type(node.results[i]));
      candidate = n && *n <= options.max_elements;
    }
    std::optional<std::vector<std::vector<double>>> values;
    if (candidate) {
      std::vector<TensorType> types;
      for (ValueId r : node.results) types.push_back(with_folded_bodies.type(r));
      try {
        values = evaluate(evaluation_graph(node, rw.map(node.operands), rw.graph(), types));
      } catch (const Error&) {
        values = std::nullopt;  // it fails at run time instead, where the inputs are known
      }
    }
    if (!values) {
      rw.copy(node);
      continue;
    }
    WEFT_CHECK(values->size() == node.results.size(),
               fmt::format("constant evaluator gave {} results for {}, which has {}", values->size(), op_name(node.op),
                           node.results.size()));
    for (size_t i = 0; i < node.results.size(); ++i) {
      const TensorType& type = with_folded_bodies.type(node.results[i]);
      WEFT_CHECK(static_cast<int64_t>((*values)[i].size()) == *static_size(type),
                 fmt::format("constant evaluator gave {} values for {}", (*values)[i].size(), type.str()));
      std::vector<double>& value = (*values)[i];
      if (is_splat(value)) value.resize(1);
      Attrs attrs = normalize_attrs(op_def(OpKind::constant),
                                    Attrs{{"value", std::move(value)}, {"dtype", type.dtype}, {"shape", type.shape}});
      int32_t index = rw.graph().add_node(OpKind::constant, {}, std::move(attrs), {type}, node.scope, node.loc);
      rw.replace(node.results[i], rw.graph().nodes()[index].results[0]);
    }
  }
  return std::move(rw).finish();
}

}  // namespace weft
