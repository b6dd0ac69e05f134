#include "passes/outer_products.h"

#include "ir/graph_builder.h"
#include "passes/rewrite.h"

namespace weft {

namespace {

/// `shape` with its last two dims swapped: a [..., 1, M] operand read as [..., M, 1].
Shape swap_last_two(Shape shape) {
  std::swap(shape[shape.size() - 2], shape[shape.size() - 1]);
  return shape;
}

}  // namespace

Graph outer_products(const Graph& graph) {
  Graph with_bodies = map_bodies(graph, outer_products);
  GraphRewriter rw(with_bodies);
  bool any = false;
  for (const Node& node : with_bodies.nodes()) {
    if (node.op != OpKind::matmul) {
      rw.copy(node);
      continue;
    }
    const TensorType& a = with_bodies.type(node.operands[0]);
    const TensorType& b = with_bodies.type(node.operands[1]);
    const bool ta = node.attrs.get_bool("transpose_a");
    const bool tb = node.attrs.get_bool("transpose_b");
    const Dim& k = a.shape[a.rank() - (ta ? 2 : 1)];
    if (k != Dim(1)) {
      rw.copy(node);
      continue;
    }
    GraphBuilder gb(rw.graph());
    gb.set_scope(node.scope);
    gb.set_loc(node.loc);
    ValueId column = rw.map(node.operands[0]);  // [..., M, 1]
    if (ta) column = gb.reshape(column, swap_last_two(a.shape));
    ValueId row = rw.map(node.operands[1]);  // [..., 1, N]
    if (tb) row = gb.reshape(row, swap_last_two(b.shape));
    ValueId product = gb.binary(OpKind::mul, column, row);
    WEFT_CHECK(gb.type(product) == with_bodies.type(node.results[0]),
               "an outer product has the matmul's type (" + gb.type(product).str() + " vs " +
                   with_bodies.type(node.results[0]).str() + ")");
    rw.replace(node.results[0], product);
    any = true;
  }
  return any ? std::move(rw).finish() : with_bodies;
}

}  // namespace weft
