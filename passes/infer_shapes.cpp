#include "passes/infer_shapes.h"

#include <fmt/format.h>

#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "passes/rewrite.h"
#include "passes/verify.h"

namespace weft {

Graph infer_shapes(const Graph& graph) {
  GraphRewriter rw(graph);
  for (size_t i = 0; i < graph.nodes().size(); ++i) {
    const Node& node = graph.nodes()[i];
    const OpDef& def = op_def(node.op);
    std::shared_ptr<const Graph> body = node.body ? std::make_shared<const Graph>(infer_shapes(*node.body)) : nullptr;
    std::vector<ValueId> operands = rw.map(node.operands);
    Node renewed = node;
    std::vector<TensorType> types;
    try {
      if (!def.infer) throw Error(fmt::format("{}: this op is declared but not defined yet", def.name));
      int n = static_cast<int>(operands.size());
      if (n < def.min_operands || (def.max_operands >= 0 && n > def.max_operands))
        throw Error(fmt::format("{}: takes {} operand(s), but got {}", def.name, operand_count_str(def), n));
      if (def.has_body != (body != nullptr))
        throw Error(fmt::format("{}: {}", def.name, def.has_body ? "needs a body graph" : "takes no body graph"));
      renewed.attrs = normalize_attrs(def, node.attrs);
      std::vector<TensorType> operand_types;
      for (ValueId v : operands) operand_types.push_back(rw.graph().type(v));
      types = def.infer(ShapeQuery{operand_types, renewed.attrs, body.get()});
      if (types.size() != node.results.size())
        throw Error(fmt::format("{}: gives {} result(s), but the node declares {}", def.name, types.size(),
                                node.results.size()));
    } catch (const Error& e) {
      throw Error(with_location(fmt::format("infer-shapes: node {} ({}): {}", i, def.name, e.what()), node.loc));
    }
    rw.copy(renewed, types, std::move(body));
  }
  return std::move(rw).finish();
}

}  // namespace weft
