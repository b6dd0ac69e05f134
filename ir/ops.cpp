#include "ir/ops.h"

#include <fmt/format.h>

#include <algorithm>

namespace weft {

namespace {

std::vector<OpDef> build_table() {
  std::vector<OpDef> defs;
  ops_detail::register_elementwise_ops(defs);
  ops_detail::register_reduction_ops(defs);
  ops_detail::register_movement_ops(defs);
  ops_detail::register_compute_ops(defs);
  ops_detail::register_composite_ops(defs);
  ops_detail::register_control_ops(defs);
  ops_detail::register_collective_ops(defs);
  ops_detail::attach_reduction_gradients(defs);
  ops_detail::attach_movement_gradients(defs);
  ops_detail::attach_compute_gradients(defs);

  std::vector<OpDef> table(kNumOps);
  std::vector<bool> seen(kNumOps, false);
  for (auto& d : defs) {
    auto i = static_cast<size_t>(d.kind);
    WEFT_CHECK(!seen[i], "op '" + d.name + "' defined twice");
    seen[i] = true;
    table[i] = std::move(d);
  }
  static constexpr const char* kNames[] = {
#define WEFT_OP_NAME(name, text) text,
      WEFT_OP_LIST(WEFT_OP_NAME)
#undef WEFT_OP_NAME
  };
  for (size_t i = 0; i < table.size(); ++i) {
    if (!seen[i]) {
      // Declared in op_kind.h but not yet defined: keep the name so diagnostics can say so.
      table[i].kind = static_cast<OpKind>(i);
      table[i].name = kNames[i];
    }
    WEFT_CHECK(table[i].name == kNames[i], "op table name mismatch for " + table[i].name);
  }
  return table;
}

const std::vector<OpDef>& table() {
  static const std::vector<OpDef> t = build_table();
  return t;
}

}  // namespace

const OpDef& op_def(OpKind kind) {
  auto i = static_cast<size_t>(kind);
  WEFT_CHECK(i < table().size(), "op kind out of range");
  return table()[i];
}

std::optional<OpKind> op_by_name(std::string_view name) {
  for (const auto& d : table())
    if (d.name == name) return d.kind;
  return std::nullopt;
}

std::string_view op_name(OpKind kind) { return op_def(kind).name; }

std::vector<const OpDef*> all_ops() {
  std::vector<const OpDef*> out;
  for (const auto& d : table()) out.push_back(&d);
  return out;
}

std::string_view cost_class_name(CostClass cost) {
  switch (cost) {
    case CostClass::cheap:
      return "cheap";
    case CostClass::expensive:
      return "expensive";
    case CostClass::reduction:
      return "reduction";
    case CostClass::matmul:
      return "matmul";
    case CostClass::movement:
      return "movement";
    case CostClass::control:
      return "control";
    case CostClass::composite:
      return "composite";
  }
  return "?";
}

std::string_view provider_impl_name(ProviderImpl impl) {
  switch (impl) {
    case ProviderImpl::fused:
      return "fused";
    case ProviderImpl::fused_or_alone:
      return "fused or alone";
    case ProviderImpl::alone:
      return "alone";
    case ProviderImpl::region:
      return "region";
    case ProviderImpl::interpreter:
      return "interpreter";
    case ProviderImpl::decomposed:
      return "decomposed";
  }
  return "?";
}

Attrs normalize_attrs(const OpDef& def, const Attrs& attrs) {
  Attrs out;
  for (const auto& [name, value] : attrs.items()) {
    auto spec = std::find_if(def.attrs.begin(), def.attrs.end(), [&](const AttrSpec& s) { return s.name == name; });
    if (spec == def.attrs.end()) {
      std::string known;
      for (const auto& s : def.attrs) known += (known.empty() ? "" : ", ") + s.name;
      throw Error(fmt::format("{}: unknown attribute '{}' (it takes: {})", def.name, name,
                              known.empty() ? "no attributes" : known));
    }
    AttrValue v = value;
    AttrKind got = attr_kind(v);
    if (got != spec->kind) {
      // Integers are accepted where reals are declared (and int lists for real lists / shapes).
      if (got == AttrKind::integer && spec->kind == AttrKind::real) {
        v = static_cast<double>(std::get<int64_t>(value));
      } else if (got == AttrKind::integers && spec->kind == AttrKind::reals) {
        const auto& xs = std::get<std::vector<int64_t>>(value);
        v = std::vector<double>(xs.begin(), xs.end());
      } else if (got == AttrKind::integers && spec->kind == AttrKind::shape) {
        v = static_shape(std::get<std::vector<int64_t>>(value));
      } else {
        throw Error(fmt::format("{}: attribute '{}' must be a {}, but got a {} ({})", def.name, name,
                                attr_kind_name(spec->kind), attr_kind_name(got), attr_value_str(value)));
      }
    }
    out.set(name, std::move(v));
  }
  for (const auto& spec : def.attrs) {
    if (out.has(spec.name)) continue;
    if (!spec.default_value) throw Error(fmt::format("{}: missing required attribute '{}'", def.name, spec.name));
    out.set(spec.name, *spec.default_value);
  }
  return out;
}

Shape broadcast_shapes(const std::string& op, const TensorType& a, const TensorType& b) {
  size_t rank = std::max(a.shape.size(), b.shape.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Align from the right, as NumPy does.
    const Dim* da = i < rank - a.shape.size() ? nullptr : &a.shape[i - (rank - a.shape.size())];
    const Dim* db = i < rank - b.shape.size() ? nullptr : &b.shape[i - (rank - b.shape.size())];
    if (!da) out[i] = *db;
    else if (!db) out[i] = *da;
    else if (*da == *db) out[i] = *da;
    else if (*da == Dim(1)) out[i] = *db;
    else if (*db == Dim(1)) out[i] = *da;
    else
      throw Error(fmt::format("{}: shapes must be broadcast-compatible (each dim equal, or 1), but got {} and {} "
                              "(dim {} vs {})",
                              op, a.str(), b.str(), da->str(), db->str()));
  }
  return out;
}

}  // namespace weft
