/** \file
 * The verifier. A well-formed graph satisfies these invariants, checked in this order:
 *
 *  1. Every value id that is used (operand, output, state update) is in range.
 *  2. Every value is defined exactly once (by one input, one parameter, or one result of one node)
 *     and the value table agrees with that definition.
 *  3. Nodes are in topological order: each operand is an input, a parameter, or a result of an
 *     earlier node.
 *  4. Each node's op is defined in the op table, and its operand count is within the op's bounds.
 *  5. A node has a body exactly when its op takes one (scan, fusion), and every body verifies.
 *  6. Attributes are normalized: exactly the op's declared attributes, each of its declared kind
 *     (normalize_attrs changes nothing).
 *  7. Result types are what the op's shape rule gives for the operand types: count and each type.
 *  8. Inputs, parameters and outputs have non-empty names; input and parameter names are unique
 *     together (operands refer to them by name), output names are unique.
 *  9. Symbols are declared once each, any bound is positive, and every symbol used in a value's type
 *     or in a shape attribute is declared.
 * 10. Parameters have static shapes (they are allocated once, before any input is seen).
 * 11. Each state update names an existing parameter, at most once, with a value of its type.
 * 12. Every value has at most kMaxRank dims and at most kMaxElements elements with every symbol at
 *     its declared bound (ir/shape.h), so that no size computed from it can overflow.
 *
 * Graph-wide invariants (1, 2, 8-12) are checked before per-node ones (3-7), so the first message
 * names the most basic breakage.
 */
#include "passes/verify.h"

#include <fmt/format.h>

#include <array>
#include <set>

#include "ir/graph_builder.h"
#include "ir/ops.h"

namespace weft {

namespace {

constexpr std::array<std::string_view, 12> kInvariants = {
    "every value id used is in range",
    "every value is defined exactly once, and the value table agrees with its definition",
    "nodes are in topological order: operands are defined before use",
    "each node's op is defined and its operand count is within the op's bounds",
    "a node has a body exactly when its op takes one, and the body verifies",
    "attributes are normalized: exactly the op's declared attributes, each of its declared kind",
    "result types are what the op's shape rule gives",
    "inputs, parameters and outputs have non-empty, unique names",
    "symbols are declared once, with positive bounds, before any shape uses them",
    "parameters have static shapes",
    "state updates name distinct existing parameters and have their types",
    "every value's size fits: at most 64 dims and 2^48 elements at the symbols' bounds",
};

class Verifier {
 public:
  explicit Verifier(const Graph& g) : g_(g) {}

  void run() {
    check_ranges();
    check_definitions();
    check_names();
    check_symbols();
    check_params();
    check_updates();
    check_sizes();
    for (size_t i = 0; i < g_.nodes().size(); ++i) check_node(static_cast<int32_t>(i));
  }

 private:
  [[noreturn]] void fail(int invariant, const std::string& facts, const SourceLoc& loc = {}) const {
    throw Error(with_location(
        fmt::format("graph '{}' breaks invariant {} ({}): {}", g_.name(), invariant, kInvariants[invariant - 1], facts),
        loc));
  }

  bool in_range(ValueId v) const { return v >= 0 && static_cast<size_t>(v) < g_.num_values(); }

  /// "node 3 (add -> %5)", without touching anything a broken graph may have wrong.
  std::string describe(int32_t index) const {
    const Node& n = g_.nodes()[index];
    std::string op = static_cast<size_t>(n.op) < static_cast<size_t>(kNumOps) ? std::string(op_name(n.op)) : "?";
    std::string results;
    for (ValueId r : n.results) results += (results.empty() ? "" : ", ") + fmt::format("%{}", r);
    return fmt::format("node {} ({} -> {})", index, op, results.empty() ? "nothing" : results);
  }

  void check_ranges() const {
    for (size_t i = 0; i < g_.nodes().size(); ++i) {
      const Node& n = g_.nodes()[i];
      for (ValueId v : n.operands)
        if (!in_range(v))
          fail(1, fmt::format("{} has operand %{}, but the graph has {} values", describe(i), v, g_.num_values()),
               n.loc);
      for (ValueId v : n.results)
        if (!in_range(v))
          fail(1, fmt::format("{} has result %{}, but the graph has {} values", describe(i), v, g_.num_values()),
               n.loc);
    }
    for (const OutputDecl& o : g_.outputs())
      if (!in_range(o.value)) fail(1, fmt::format("output '{}' is %{}, which does not exist", o.name, o.value));
    for (const StateUpdate& u : g_.updates())
      if (!in_range(u.value)) fail(1, fmt::format("the update of '{}' is %{}, which does not exist", u.param, u.value));
    for (const InputDecl& in : g_.inputs())
      if (!in_range(in.value)) fail(1, fmt::format("input '{}' is %{}, which does not exist", in.name, in.value));
    for (const ParamDecl& p : g_.params())
      if (!in_range(p.value)) fail(1, fmt::format("parameter '{}' is %{}, which does not exist", p.name, p.value));
  }

  void check_definitions() const {
    std::vector<int> defs(g_.num_values(), 0);
    auto define = [&](ValueId v, ValueKind kind, int32_t owner, int32_t result, const std::string& who,
                      const SourceLoc& loc) {
      if (++defs[v] > 1) fail(2, fmt::format("%{} is defined a second time, by {}", v, who), loc);
      const ValueInfo& info = g_.value(v);
      if (info.kind != kind || info.owner != owner || info.result != result)
        fail(2, fmt::format("%{} is defined by {}, but the value table records another definer", v, who), loc);
    };
    for (size_t i = 0; i < g_.inputs().size(); ++i)
      define(g_.inputs()[i].value, ValueKind::input, static_cast<int32_t>(i), 0,
             fmt::format("input '{}'", g_.inputs()[i].name), {});
    for (size_t i = 0; i < g_.params().size(); ++i)
      define(g_.params()[i].value, ValueKind::param, static_cast<int32_t>(i), 0,
             fmt::format("parameter '{}'", g_.params()[i].name), {});
    for (size_t i = 0; i < g_.nodes().size(); ++i) {
      const Node& n = g_.nodes()[i];
      for (size_t r = 0; r < n.results.size(); ++r)
        define(n.results[r], ValueKind::result, static_cast<int32_t>(i), static_cast<int32_t>(r),
               fmt::format("result {} of {}", r, describe(i)), n.loc);
    }
    for (size_t v = 0; v < defs.size(); ++v)
      if (defs[v] == 0) fail(2, fmt::format("%{} is defined by nothing", v));
  }

  void check_names() const {
    std::set<std::string> seen;
    auto check = [&](const std::string& name, const char* what) {
      if (name.empty()) fail(8, fmt::format("an {} has an empty name", what));
      if (!seen.insert(name).second)
        fail(8, fmt::format("the name '{}' is declared twice (the second as {})", name, what));
    };
    for (const InputDecl& in : g_.inputs()) check(in.name, "input");
    for (const ParamDecl& p : g_.params()) check(p.name, "parameter");
    seen.clear();
    for (const OutputDecl& o : g_.outputs()) check(o.name, "output");
  }

  void check_shape_symbols(const Shape& shape, const std::string& where, const SourceLoc& loc) const {
    for (const Dim& d : shape)
      for (const std::string& s : d.symbols())
        if (!g_.find_symbol(s))
          fail(9,
               fmt::format("{} uses the symbol '{}' in {}, but the graph declares no such symbol", where, s,
                           shape_str(shape)),
               loc);
  }

  void check_symbols() const {
    std::set<std::string> seen;
    for (const SymbolDecl& s : g_.symbols()) {
      if (!seen.insert(s.name).second) fail(9, fmt::format("the symbol '{}' is declared twice", s.name));
      if (s.bound && *s.bound < 1) fail(9, fmt::format("the symbol '{}' has the bound {}", s.name, *s.bound));
    }
    for (size_t v = 0; v < g_.num_values(); ++v)
      check_shape_symbols(g_.type(static_cast<ValueId>(v)).shape, g_.value_name(static_cast<ValueId>(v)) + "'s type",
                          {});
    for (size_t i = 0; i < g_.nodes().size(); ++i) {
      const Node& n = g_.nodes()[i];
      for (const auto& [name, value] : n.attrs.items())
        if (const Shape* s = std::get_if<Shape>(&value))
          check_shape_symbols(*s, fmt::format("attribute '{}' of {}", name, describe(i)), n.loc);
    }
  }

  void check_params() const {
    for (const ParamDecl& p : g_.params()) {
      const TensorType& t = g_.type(p.value);
      for (const Dim& d : t.shape)
        if (!d.is_static()) fail(10, fmt::format("parameter '{}' has the type {}", p.name, t.str()));
    }
  }

  void check_sizes() const {
    for (size_t v = 0; v < g_.num_values(); ++v) {
      const ValueInfo& info = g_.value(static_cast<ValueId>(v));
      try {
        check_tensor_size(g_, info.type, g_.value_name(static_cast<ValueId>(v)));
      } catch (const Error& e) {
        SourceLoc loc = info.kind == ValueKind::result ? g_.nodes()[info.owner].loc : SourceLoc{};
        fail(12, e.what(), loc);
      }
    }
  }

  void check_updates() const {
    std::set<std::string> seen;
    for (const StateUpdate& u : g_.updates()) {
      const ParamDecl* p = g_.find_param(u.param);
      if (!p) fail(11, fmt::format("an update names '{}', which is not a parameter", u.param));
      if (!seen.insert(u.param).second) fail(11, fmt::format("parameter '{}' is updated twice", u.param));
      const TensorType& want = g_.type(p->value);
      const TensorType& got = g_.type(u.value);
      if (!(want == got))
        fail(11,
             fmt::format("parameter '{}' is {}, but its update %{} is {}", u.param, want.str(), u.value, got.str()));
    }
  }

  void check_node(int32_t index) const {
    const Node& n = g_.nodes()[index];
    for (ValueId v : n.operands) {
      const ValueInfo& info = g_.value(v);
      if (info.kind == ValueKind::result && info.owner >= index)
        fail(3, fmt::format("{} uses %{}, which is defined by node {}", describe(index), v, info.owner), n.loc);
    }

    if (static_cast<size_t>(n.op) >= static_cast<size_t>(kNumOps))
      fail(4, fmt::format("{} has the op number {}, which is not an op", describe(index), static_cast<int>(n.op)),
           n.loc);
    const OpDef& def = op_def(n.op);
    if (!def.infer) fail(4, fmt::format("{}: '{}' is declared but not defined yet", describe(index), def.name), n.loc);
    int count = static_cast<int>(n.operands.size());
    if (count < def.min_operands || (def.max_operands >= 0 && count > def.max_operands))
      fail(4,
           fmt::format("{} has {} operand(s), but {} takes {}", describe(index), count, def.name,
                       operand_count_str(def)),
           n.loc);

    if (def.has_body != (n.body != nullptr))
      fail(5,
           fmt::format("{} {} a body, but {} {}", describe(index), n.body ? "has" : "has no", def.name,
                       def.has_body ? "needs one" : "takes none"),
           n.loc);
    if (n.body) {
      try {
        verify(*n.body);
      } catch (const Error& e) {
        fail(5, fmt::format("the body of {}: {}", describe(index), e.what()), n.loc);
      }
    }

    Attrs normalized;
    try {
      normalized = normalize_attrs(def, n.attrs);
    } catch (const Error& e) {
      fail(6, fmt::format("{}: {}", describe(index), e.what()), n.loc);
    }
    if (!(normalized == n.attrs)) {
      for (const auto& [name, value] : normalized.items())
        if (!n.attrs.has(name))
          fail(6,
               fmt::format("{} lacks the attribute '{}' (its default is {})", describe(index), name,
                           attr_value_str(value)),
               n.loc);
      fail(6, fmt::format("{} has an attribute of the wrong kind (an int where a float is declared?)", describe(index)),
           n.loc);
    }

    std::vector<TensorType> operand_types;
    for (ValueId v : n.operands) operand_types.push_back(g_.type(v));
    std::vector<TensorType> want;
    try {
      want = def.infer(ShapeQuery{operand_types, n.attrs, n.body.get()});
    } catch (const Error& e) {
      fail(7, fmt::format("{}: {}", describe(index), e.what()), n.loc);
    }
    if (want.size() != n.results.size())
      fail(
          7,
          fmt::format("{} has {} result(s), but {} gives {}", describe(index), n.results.size(), def.name, want.size()),
          n.loc);
    for (size_t r = 0; r < want.size(); ++r) {
      const TensorType& got = g_.type(n.results[r]);
      if (!(got == want[r]))
        fail(7,
             fmt::format("{} records %{} as {}, but the shape rule gives {}", describe(index), n.results[r], got.str(),
                         want[r].str()),
             n.loc);
    }
  }

  const Graph& g_;
};

}  // namespace

void verify(const Graph& graph) { Verifier(graph).run(); }

int num_invariants() { return static_cast<int>(kInvariants.size()); }

std::string operand_count_str(const OpDef& def) {
  if (def.max_operands < 0) return fmt::format("at least {}", def.min_operands);
  if (def.min_operands == def.max_operands) return fmt::format("{}", def.min_operands);
  return fmt::format("{} to {}", def.min_operands, def.max_operands);
}

std::string_view invariant_statement(int number) {
  WEFT_CHECK(number >= 1 && number <= num_invariants(), fmt::format("no invariant {}", number));
  return kInvariants[number - 1];
}

}  // namespace weft
