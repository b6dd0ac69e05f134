#include "ir/graph_builder.h"

#include <fmt/format.h>

namespace weft {

std::vector<ValueId> GraphBuilder::emit(OpKind op, std::vector<ValueId> operands, const Attrs& attrs,
                                        std::shared_ptr<const Graph> body) {
  const OpDef& def = op_def(op);
  std::vector<TensorType> types;
  Attrs normalized;
  try {
    if (!def.infer) throw Error(fmt::format("{}: this op is declared but not defined yet", def.name));
    int n = static_cast<int>(operands.size());
    if (n < def.min_operands || (def.max_operands >= 0 && n > def.max_operands)) {
      std::string want = def.max_operands < 0 ? fmt::format("at least {}", def.min_operands)
                         : def.min_operands == def.max_operands
                             ? fmt::format("{}", def.min_operands)
                             : fmt::format("{} to {}", def.min_operands, def.max_operands);
      throw Error(fmt::format("{}: takes {} operand(s), but got {}", def.name, want, n));
    }
    if (def.has_body && !body) throw Error(fmt::format("{}: needs a body graph", def.name));
    if (!def.has_body && body) throw Error(fmt::format("{}: takes no body graph", def.name));
    normalized = normalize_attrs(def, attrs);
    std::vector<TensorType> operand_types;
    operand_types.reserve(operands.size());
    for (ValueId v : operands) operand_types.push_back(graph_.type(v));
    types = def.infer(ShapeQuery{operand_types, normalized, body.get()});
    for (const TensorType& t : types) check_tensor_size(graph_, t, fmt::format("{}: its result", def.name));
  } catch (const Error& e) {
    throw Error(with_location(e.what(), loc_));
  }
  int32_t index = graph_.add_node(op, std::move(operands), std::move(normalized), types, scope_, loc_, std::move(body));
  return graph_.nodes()[index].results;
}

ValueId GraphBuilder::emit1(OpKind op, std::vector<ValueId> operands, const Attrs& attrs) {
  auto results = emit(op, std::move(operands), attrs);
  WEFT_CHECK(results.size() == 1, fmt::format("{} has {} results, expected 1", op_name(op), results.size()));
  return results[0];
}

ValueId GraphBuilder::constant(double value, DType dtype) {
  return emit1(OpKind::constant, {}, Attrs{{"value", std::vector<double>{value}}, {"dtype", dtype}, {"shape", Shape{}}});
}

ValueId GraphBuilder::reduce(OpKind op, ValueId x, std::vector<int64_t> axes, bool keepdims) {
  return emit1(op, {x}, Attrs{{"axes", std::move(axes)}, {"keepdims", keepdims}});
}

ValueId GraphBuilder::reshape(ValueId x, Shape shape) { return emit1(OpKind::reshape, {x}, Attrs{{"shape", std::move(shape)}}); }

ValueId GraphBuilder::broadcast_to(ValueId x, Shape shape) {
  if (graph_.type(x).shape == shape) return x;
  return emit1(OpKind::broadcast, {x}, Attrs{{"shape", std::move(shape)}});
}

ValueId GraphBuilder::transpose(ValueId x, std::vector<int64_t> perm) {
  return emit1(OpKind::transpose, {x}, Attrs{{"perm", std::move(perm)}});
}

ValueId GraphBuilder::cast(ValueId x, DType dtype) {
  if (graph_.type(x).dtype == dtype) return x;
  return emit1(OpKind::cast, {x}, Attrs{{"dtype", dtype}});
}

}  // namespace weft
