/** \file
 * Collectives: ops whose result depends on every rank of a data-parallel run.
 *
 * all_reduce(x) is the element-wise sum (`reduce="sum"`) or mean (`reduce="mean"`) of x over the
 * ranks of the communicator group named by `group` (runtime/communicator.h); on one process, or
 * with no communicator registered for the group, it is x. Every rank runs the same graph, so every
 * rank reaches each all_reduce in the same order.
 *
 * Gradient: with y = Σ_s x_s (or its mean) on every rank s and a loss L = Σ_s L_s, the gradient of
 * x_r is Σ_s ∂L_s/∂y_s (or its mean): the all_reduce of the incoming gradient, with the same
 * `reduce` over the same group. The op is opaque to fusion and never folded as a constant: its
 * value is not known until the ranks exchange it.
 */
#include <fmt/format.h>

#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "ir/ops/emit.h"

namespace weft::ops_detail {

namespace {

OpDef all_reduce() {
  OpDef d;
  d.kind = OpKind::all_reduce;
  d.name = "all_reduce";
  d.min_operands = d.max_operands = 1;
  d.attrs = {AttrSpec{"reduce", AttrKind::string, AttrValue{std::string("sum")}},
             AttrSpec{"group", AttrKind::string, AttrValue{std::string("world")}}};
  d.fusion = FusionKind::opaque;
  d.cost = CostClass::movement;  // data moved between ranks
  d.llvm = {ProviderImpl::interpreter,
            "the interpreter's kernel calls the group's communicator (runtime/communicator.h); a shared object "
            "has none"};
  d.summary = "the element-wise sum or mean (`reduce`) of the operand over the ranks of communicator `group`";
  d.infer = [](const ShapeQuery& q) {
    const TensorType& x = q.operands[0];
    if (x.dtype != DType::f32 && x.dtype != DType::f64)
      throw Error(fmt::format("all_reduce: the operand must be f32 or f64, but got {}", x.str()));
    const std::string& reduce = q.attrs.get_string("reduce");
    if (reduce != "sum" && reduce != "mean")
      throw Error(fmt::format("all_reduce: 'reduce' must be \"sum\" or \"mean\", but got \"{}\"", reduce));
    if (q.attrs.get_string("group").empty())
      throw Error("all_reduce: 'group' must name a communicator group (e.g. \"world\"), but it is empty");
    return std::vector<TensorType>{x};
  };
  d.gradient = [](const GradQuery& q) {
    std::vector<std::optional<ValueId>> out(1);
    if (q.result_grads[0]) out[0] = q.builder.emit1(OpKind::all_reduce, {*q.result_grads[0]}, q.node.attrs);
    return out;
  };
  return d;
}

}  // namespace

void register_collective_ops(std::vector<OpDef>& t) { t.push_back(all_reduce()); }

}  // namespace weft::ops_detail
