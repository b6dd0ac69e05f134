/** \file
 * The low-level graph builder: appends nodes to a graph after checking them against the op table.
 *
 * `emit` normalizes attributes, runs the op's shape rule and appends the node with the current
 * scope path and source location. A rule violation becomes a `weft::Error` whose message ends with
 * the location, so a user sees the rule, the facts, and their own line. The DSL (frontend/) sets the
 * location per call; passes (decompositions, gradients) inherit the location of the node they expand.
 */
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/ops.h"

namespace weft {

class GraphBuilder {
 public:
  explicit GraphBuilder(Graph& graph) : graph_(graph) {}

  Graph& graph() { return graph_; }
  const Graph& graph() const { return graph_; }

  void set_scope(std::string scope) { scope_ = std::move(scope); }
  const std::string& scope() const { return scope_; }
  void set_loc(SourceLoc loc) { loc_ = std::move(loc); }
  const SourceLoc& loc() const { return loc_; }

  std::vector<ValueId> emit(OpKind op, std::vector<ValueId> operands, const Attrs& attrs = {},
                            std::shared_ptr<const Graph> body = nullptr);
  /// For single-result ops.
  ValueId emit1(OpKind op, std::vector<ValueId> operands, const Attrs& attrs = {});

  const TensorType& type(ValueId v) const { return graph_.type(v); }

  // Conveniences used by decompositions and gradient rules.
  ValueId constant(double value, DType dtype);  // a scalar
  ValueId unary(OpKind op, ValueId x) { return emit1(op, {x}); }
  ValueId binary(OpKind op, ValueId a, ValueId b) { return emit1(op, {a, b}); }
  ValueId reduce(OpKind op, ValueId x, std::vector<int64_t> axes, bool keepdims);
  ValueId reshape(ValueId x, Shape shape);
  ValueId broadcast_to(ValueId x, Shape shape);
  ValueId transpose(ValueId x, std::vector<int64_t> perm);
  ValueId cast(ValueId x, DType dtype);

 private:
  Graph& graph_;
  std::string scope_;
  SourceLoc loc_;
};

}  // namespace weft
