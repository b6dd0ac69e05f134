#include "passes/fuse_rules.h"

#include <fmt/format.h>

#include <algorithm>

#include "ir/ops.h"

namespace weft::fusion {

namespace {

/// A reduction's operand shape and its reduced axes (normalized, sorted).
struct Signature {
  Shape full;
  std::vector<int> axes;
  bool operator==(const Signature&) const = default;
};

Signature signature_of(const Graph& g, const Node& n) {
  Signature s{g.type(n.operands[0]).shape, {}};
  int rank = static_cast<int>(s.full.size());
  if (n.op == OpKind::argmax) {
    s.axes.push_back(normalize_axis(n.attrs.get_int("axis"), rank, "argmax"));
    return s;
  }
  const std::vector<int64_t>& axes = n.attrs.get_ints("axes");
  if (axes.empty())
    for (int i = 0; i < rank; ++i) s.axes.push_back(i);
  for (int64_t a : axes) s.axes.push_back(normalize_axis(a, rank, op_def(n.op).name));
  std::sort(s.axes.begin(), s.axes.end());
  return s;
}

/// Whether `s` broadcasts to `target` (aligned right, each dim equal or 1).
bool broadcasts_to(const Shape& s, const Shape& target) {
  if (s.size() > target.size()) return false;
  size_t offset = target.size() - s.size();
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] != target[i + offset] && s[i] != Dim(1)) return false;
  return true;
}

bool is_cheap_transpose(const Node& n) {
  const std::vector<int64_t>& perm = n.attrs.get_ints("perm");
  if (perm.empty()) return true;
  auto rank = static_cast<int64_t>(perm.size());
  int64_t last = perm.back() < 0 ? perm.back() + rank : perm.back();
  return last == rank - 1;  // the innermost axis stays innermost: reads stay contiguous
}

std::string describe(const Graph& g, const Node& n) {
  return fmt::format("{} -> {}", op_name(n.op), n.results.empty() ? std::string("()") : g.type(n.results[0]).str());
}

std::string loop_violation(const RegionView& r) {
  const Graph& g = r.graph;
  for (const Node* n : r.nodes) {
    Role role = role_of(*n);
    if (role != Role::elementwise && role != Role::movement && role != Role::source)
      return fmt::format("a loop region holds only elementwise, movement and source ops, not {}", describe(g, *n));
    if (n->op == OpKind::transpose && !is_cheap_transpose(*n))
      return fmt::format("a loop region holds only transposes that keep the innermost axis, not {}", describe(g, *n));
  }
  if (r.outputs.empty()) return {};
  const Shape& space = g.type(r.outputs[0]).shape;
  for (ValueId o : r.outputs)
    if (g.type(o).shape != space)
      return fmt::format("the outputs of a loop region share one shape, but {} and {} differ", shape_str(space),
                         shape_str(g.type(o).shape));
  Dim size = num_elements(space);
  for (const Node* n : r.nodes) {
    const TensorType& t = g.type(n->results[0]);
    if (is_expensive(n->op) && !is_scalar(t) && num_elements(t.shape) != size)
      return fmt::format(
          "an expensive op is computed once per output element, so not at a smaller shape: {} in a "
          "region over {}",
          describe(g, *n), shape_str(space));
  }
  return {};
}

enum class Level : uint8_t { full, row, scalar, broadcast, none };

std::string reduction_violation(const RegionView& r) {
  const Graph& g = r.graph;
  const Node* first = nullptr;
  for (const Node* n : r.nodes)
    if (role_of(*n) == Role::reduction) {
      first = n;
      break;
    }
  if (!first) return "a reduction region has a reduction";
  Signature sig = signature_of(g, *first);
  Shape row, row_keep;
  for (int i = 0; i < static_cast<int>(sig.full.size()); ++i) {
    bool reduced = std::find(sig.axes.begin(), sig.axes.end(), i) != sig.axes.end();
    if (!reduced) row.push_back(sig.full[i]);
    row_keep.push_back(reduced ? Dim(1) : sig.full[i]);
  }
  auto level = [&](const TensorType& t) {
    if (t.shape == sig.full) return Level::full;
    if (t.shape == row || t.shape == row_keep) return Level::row;
    if (is_scalar(t)) return Level::scalar;
    if (broadcasts_to(t.shape, sig.full)) return Level::broadcast;
    return Level::none;
  };
  for (const Node* n : r.nodes) {
    Role role = role_of(*n);
    if (role == Role::reduction) {
      if (!(signature_of(g, *n) == sig))
        return fmt::format(
            "the reductions of a region share one operand shape and reduced axes, but {} reduces {} "
            "and {} reduces {}",
            op_name(first->op), g.type(first->operands[0]).str(), op_name(n->op), g.type(n->operands[0]).str());
      continue;
    }
    if ((role != Role::elementwise && role != Role::movement && role != Role::source) || n->op == OpKind::transpose)
      return fmt::format(
          "a reduction region holds only reductions, elementwise ops, broadcasts, reshapes and sources, "
          "not {}",
          describe(g, *n));
    Level l = level(g.type(n->results[0]));
    if (l == Level::none)
      return fmt::format(
          "every value of a reduction region over {} is at the full shape, the row shape {} or {}, a "
          "scalar, or broadcasts to the full shape, but {} is none",
          shape_str(sig.full), shape_str(row), shape_str(row_keep), describe(g, *n));
    if (l == Level::broadcast && is_expensive(n->op))
      return fmt::format(
          "an expensive op in a reduction region is at the full or the row shape, so that it is not "
          "recomputed per broadcast copy, but {} is neither",
          describe(g, *n));
  }
  for (ValueId o : r.outputs) {
    Level l = level(g.type(o));
    if (l == Level::broadcast || l == Level::none)
      return fmt::format(
          "the outputs of a reduction region are at the full shape {}, the row shape or scalars, but "
          "one is {}",
          shape_str(sig.full), g.type(o).str());
  }
  return {};
}

std::string matmul_violation(const RegionView& r) {
  const Graph& g = r.graph;
  const Node* mm = nullptr;
  for (const Node* n : r.nodes) {
    if (n->op != OpKind::matmul) continue;
    if (mm) return "a matmul region has exactly one matmul";
    mm = n;
  }
  if (!mm) return "a matmul region has a matmul";
  for (ValueId v : mm->operands)
    if (r.inside(v)) return "the operands of a matmul region's matmul are region inputs, not computed in the region";
  const Shape& out = g.type(mm->results[0]).shape;
  for (const Node* n : r.nodes) {
    if (n == mm) continue;
    Role role = role_of(*n);
    if ((role != Role::elementwise && role != Role::movement && role != Role::source) || n->op == OpKind::transpose)
      return fmt::format(
          "a matmul region's epilogue holds only elementwise ops, broadcasts, reshapes and sources, not "
          "{}",
          describe(g, *n));
    const TensorType& t = g.type(n->results[0]);
    if (t.shape == out || is_scalar(t)) continue;
    if (!broadcasts_to(t.shape, out))
      return fmt::format(
          "a matmul region's epilogue computes at the matmul's shape {} (or broadcasts to it), but {} "
          "does not",
          shape_str(out), describe(g, *n));
    if (is_expensive(n->op))
      return fmt::format("an expensive op in a matmul epilogue is at the matmul's shape {}, but {} is not",
                         shape_str(out), describe(g, *n));
  }
  for (ValueId o : r.outputs)
    if (g.type(o).shape != out)
      return fmt::format("the outputs of a matmul region have the matmul's shape {}, but one is {}", shape_str(out),
                         g.type(o).str());
  return {};
}

}  // namespace

Role role_of(const Node& node) {
  switch (node.op) {
    case OpKind::broadcast:
    case OpKind::reshape:
      return Role::movement;
    case OpKind::transpose:
      // One that moves the innermost axis reads with a stride: a copy kernel of its own.
      return is_cheap_transpose(node) ? Role::movement : Role::never;
    case OpKind::constant:
    case OpKind::iota:
      return Role::source;
    case OpKind::matmul:
      return Role::matmul;
    default:
      break;
  }
  switch (op_def(node.op).fusion) {
    case FusionKind::elementwise:
      return Role::elementwise;
    case FusionKind::reduction:
      return Role::reduction;
    default:
      return Role::never;
  }
}

const char* kind_name(RegionKind kind) {
  switch (kind) {
    case RegionKind::loop:
      return "loop";
    case RegionKind::reduction:
      return "reduction";
    case RegionKind::matmul:
      return "matmul";
  }
  return "?";
}

bool parse_kind(const std::string& name, RegionKind& kind) {
  for (RegionKind k : {RegionKind::loop, RegionKind::reduction, RegionKind::matmul})
    if (name == kind_name(k)) {
      kind = k;
      return true;
    }
  return false;
}

bool is_scalar(const TensorType& type) {
  Dim n = num_elements(type.shape);
  return n.is_static() && n.value() <= 1;
}

bool is_expensive(OpKind op) { return op_def(op).cost == CostClass::expensive; }

RegionKind kind_of(const RegionView& region) {
  bool reduces = false;
  for (const Node* n : region.nodes) {
    if (n->op == OpKind::matmul) return RegionKind::matmul;
    reduces = reduces || role_of(*n) == Role::reduction;
  }
  return reduces ? RegionKind::reduction : RegionKind::loop;
}

std::string violation(const RegionView& region, RegionKind kind) {
  for (const Node* n : region.nodes)
    if (n->results.size() != 1) return fmt::format("a region holds single-result ops only, not {}", op_name(n->op));
  switch (kind) {
    case RegionKind::loop:
      return loop_violation(region);
    case RegionKind::reduction:
      return reduction_violation(region);
    case RegionKind::matmul:
      return matmul_violation(region);
  }
  return "unknown region kind";
}

}  // namespace weft::fusion
