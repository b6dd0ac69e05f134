/** \file
 * A thin wrapper over GraphBuilder that keeps decompositions and gradient rules reading like their
 * formulas (`e.div(e.exp(x), s)`). Internal to the op definitions.
 */
#pragma once

#include <fmt/format.h>

#include "ir/graph_builder.h"
#include "ir/ops.h"

namespace weft::ops_detail {

struct Emit {
  GraphBuilder& b;
  ValueId c(double v, DType t) { return b.constant(v, t); }
  ValueId add(ValueId x, ValueId y) { return b.binary(OpKind::add, x, y); }
  ValueId sub(ValueId x, ValueId y) { return b.binary(OpKind::sub, x, y); }
  ValueId mul(ValueId x, ValueId y) { return b.binary(OpKind::mul, x, y); }
  ValueId div(ValueId x, ValueId y) { return b.binary(OpKind::div, x, y); }
  ValueId exp(ValueId x) { return b.unary(OpKind::exp, x); }
  ValueId log(ValueId x) { return b.unary(OpKind::log, x); }
  ValueId neg(ValueId x) { return b.unary(OpKind::neg, x); }
  ValueId sum(ValueId x, std::vector<int64_t> axes, bool keep) { return b.reduce(OpKind::reduce_sum, x, axes, keep); }
  ValueId mean(ValueId x, std::vector<int64_t> axes, bool keep) { return b.reduce(OpKind::reduce_mean, x, axes, keep); }
  ValueId max(ValueId x, std::vector<int64_t> axes, bool keep) { return b.reduce(OpKind::reduce_max, x, axes, keep); }
  ValueId select(ValueId cond, ValueId x, ValueId y) { return b.emit1(OpKind::select, {cond, x, y}); }
  ValueId cast(ValueId x, DType t) { return b.cast(x, t); }
  const TensorType& type(ValueId v) { return b.type(v); }
};

inline void require_float(const std::string& op, const TensorType& t, const char* what) {
  if (!is_float(t.dtype)) throw Error(fmt::format("{}: {} must be floating-point, but got {}", op, what, t.str()));
}

/// An op defined by its decomposition.
inline OpDef composite(OpKind kind, const char* name, int min_ops, int max_ops, const char* summary) {
  OpDef d;
  d.kind = kind;
  d.name = name;
  d.min_operands = min_ops;
  d.max_operands = max_ops;
  d.fusion = FusionKind::composite;
  d.cost = CostClass::composite;
  d.llvm = {ProviderImpl::decomposed, {}};
  d.summary = summary;
  return d;
}

}  // namespace weft::ops_detail
