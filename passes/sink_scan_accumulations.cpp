#include "passes/sink_scan_accumulations.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>

#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "passes/dce.h"
#include "passes/rewrite.h"

namespace weft {

namespace {

constexpr size_t kMaxTerms = 4;

/// One outer product Σ_t p_tᵀ·q_t: p [..., K, M] and q [..., K, N] (the same batch dims), summed
/// over K and the steps.
struct Term {
  ValueId p, q;
};

/// A carry whose accumulation moves out of the loop; no terms: a carry the body passes through
/// unchanged (a const's gradient that the step never adds to), whose result is its initial value.
struct Sunk {
  size_t carry;
  std::optional<size_t> add_node;  // the body's `add(acc, X)`, which goes
  std::vector<Term> terms;
};

bool flag(const Attrs& attrs, const std::string& name) { return attrs.has(name) && attrs.get_bool(name); }

/// The graphs whose symbols a scan's body may name: the body's own, then the graph holding the scan.
struct Scopes {
  const Graph& body;
  const Graph& outer;
};

/// `d` with every symbol at its bound (the body's declaration, else the outer graph's); nothing when
/// a symbol has none.
std::optional<int64_t> at_bounds(const Scopes& scopes, const Dim& d) {
  SymbolBindings bounds;
  for (const std::string& s : d.symbols()) {
    const SymbolDecl* decl = scopes.body.find_symbol(s);
    if (decl == nullptr || !decl->bound) decl = scopes.outer.find_symbol(s);
    if (decl == nullptr || !decl->bound) return std::nullopt;
    bounds.emplace(s, *decl->bound);
  }
  return d.evaluate(bounds);
}

/// Whether summing p [.., K, M]ᵀ·q [.., K, N] after the loop moves less memory than in it: in the
/// loop each step reads and writes the [M, N] accumulator; after it, each step writes its K rows of
/// p and q once more, and the product reads them back. Worth it when K·(M + N) <= M·N — the weight
/// of a recurrent layer (K the batch, M·N a matrix of the layer), not the [1, H] weight of an
/// attention score under B·S rows.
bool pays_to_sink(const Scopes& scopes, const Term& term) {
  const Shape& ps = scopes.body.type(term.p).shape;
  const Shape& qs = scopes.body.type(term.q).shape;
  std::optional<int64_t> k = at_bounds(scopes, ps[ps.size() - 2]), m = at_bounds(scopes, ps.back()),
                         n = at_bounds(scopes, qs.back());
  return k && m && n && *k * (*m + *n) <= *m * *n;
}

/// X as a sum of `matmul(p, q, transpose_a)` terms; false when it is anything else.
bool collect_terms(const Scopes& scopes, ValueId x, std::vector<Term>& terms) {
  const Graph& body = scopes.body;
  const Node* n = body.producer(x);
  if (n == nullptr || n->body) return false;
  if (n->op == OpKind::add && n->operands.size() == 2 && body.type(n->operands[0]) == body.type(x) &&
      body.type(n->operands[1]) == body.type(x))
    return collect_terms(scopes, n->operands[0], terms) && collect_terms(scopes, n->operands[1], terms);
  if (n->op != OpKind::matmul || !flag(n->attrs, "transpose_a") || flag(n->attrs, "transpose_b")) return false;
  const ValueId p = n->operands[0], q = n->operands[1];
  const Shape& ps = body.type(p).shape;
  const Shape& qs = body.type(q).shape;
  const size_t rank = body.type(x).shape.size();
  // Batched products stack per batch element: no broadcasting between p and q.
  if (ps.size() != rank || qs.size() != rank || !std::equal(ps.begin(), ps.end() - 2, qs.begin())) return false;
  terms.push_back({p, q});
  return terms.size() <= kMaxTerms && pays_to_sink(scopes, terms.back());
}

/// Where a step value of rank `rank` is stacked along time, counted in the stacked shape.
int64_t stacked_axis(int64_t time_axis, size_t rank) {
  return time_axis < 0 ? time_axis + static_cast<int64_t>(rank) + 1 : time_axis;
}

/// The carries of scan `node` whose accumulation can move out of the loop.
std::vector<Sunk> sinkable_carries(const Graph& graph, const Node& node) {
  const Graph& body = *node.body;
  const auto n_carry = static_cast<size_t>(node.attrs.get_int("num_carry"));
  const int64_t axis = node.attrs.get_int("time_axis");
  if (node.attrs.get_bool("has_lengths") || node.attrs.get_int("num_seq") == 0 || !body.params().empty()) return {};
  std::vector<int> uses(body.num_values(), 0);
  for (const Node& n : body.nodes())
    for (ValueId v : n.operands) ++uses[v];
  for (const OutputDecl& o : body.outputs()) ++uses[o.value];

  std::vector<Sunk> sunk;
  for (size_t c = 0; c < n_carry; ++c) {
    const ValueId acc = body.inputs()[c].value;
    const ValueId next = body.outputs()[c].value;
    if (next == acc && uses[acc] == 1) {
      sunk.push_back(Sunk{c, std::nullopt, {}});
      continue;
    }
    const Node* add = body.producer(next);
    if (uses[acc] != 1 || uses[next] != 1 || add == nullptr || add->op != OpKind::add || add->operands.size() != 2)
      continue;
    const TensorType& type = body.type(acc);
    // A stacked [..., K, M] step must flatten K with time into rows: time just before or after K.
    const int64_t at = stacked_axis(axis, static_cast<size_t>(type.rank()));
    if (!is_float(type.dtype) || type.rank() < 2 || body.type(next) != type ||
        (at != type.rank() - 2 && at != type.rank() - 1))
      continue;
    ValueId x;
    if (add->operands[0] == acc)
      x = add->operands[1];
    else if (add->operands[1] == acc)
      x = add->operands[0];
    else
      continue;
    Sunk s{c, static_cast<size_t>(add - body.nodes().data()), {}};
    if (body.type(x) == type && collect_terms(Scopes{body, graph}, x, s.terms)) sunk.push_back(std::move(s));
  }
  return sunk;
}

/// The body without the sunk carries, emitting each term's p and q as stacked outputs after its own.
Graph rewrite_body(const Graph& body, size_t n_carry, const std::vector<Sunk>& sunk) {
  std::set<size_t> gone_carries, gone_nodes;
  for (const Sunk& s : sunk) {
    gone_carries.insert(s.carry);
    if (s.add_node) gone_nodes.insert(*s.add_node);
  }
  Graph out(body.name());
  for (const SymbolDecl& s : body.symbols()) out.declare_symbol(s.name, s.bound);
  std::vector<ValueId> map(body.num_values(), kNoValue);
  for (size_t i = 0; i < body.inputs().size(); ++i)
    if (!gone_carries.count(i))
      map[body.inputs()[i].value] = out.add_input(body.inputs()[i].name, body.type(body.inputs()[i].value));
  for (size_t k = 0; k < body.nodes().size(); ++k) {
    if (gone_nodes.count(k)) continue;
    const Node& n = body.nodes()[k];
    std::vector<ValueId> operands;
    for (ValueId v : n.operands) operands.push_back(map[v]);
    std::vector<TensorType> types;
    for (ValueId r : n.results) types.push_back(body.type(r));
    const int32_t index = out.add_node(n.op, operands, n.attrs, types, n.scope, n.loc, n.body);
    const Node& copy = out.nodes()[static_cast<size_t>(index)];
    for (size_t r = 0; r < n.results.size(); ++r) map[n.results[r]] = copy.results[r];
  }
  for (size_t k = 0; k < body.outputs().size(); ++k)
    if (k >= n_carry || !gone_carries.count(k)) out.add_output(body.outputs()[k].name, map[body.outputs()[k].value]);
  for (const Sunk& s : sunk)
    for (size_t t = 0; t < s.terms.size(); ++t) {
      const std::string name = fmt::format("{}.{}", body.outputs()[s.carry].name, t);
      out.add_output(name + ".lhs", map[s.terms[t].p]);
      out.add_output(name + ".rhs", map[s.terms[t].q]);
    }
  return dce(out);
}

Graph sink_in(const Graph& graph) {
  bool any = false;
  GraphRewriter rw(graph);
  for (const Node& node : graph.nodes()) {
    std::vector<Sunk> sunk;
    if (node.op == OpKind::scan && node.body) sunk = sinkable_carries(graph, node);
    if (sunk.empty()) {
      rw.copy(node);
      continue;
    }
    any = true;
    const Graph& body = *node.body;
    const auto n_carry = static_cast<size_t>(node.attrs.get_int("num_carry"));
    std::set<size_t> gone;
    for (const Sunk& s : sunk) gone.insert(s.carry);

    // The scan: the kept carries' initial values and every other operand; its outputs, then the
    // terms' operands stacked along the time axis.
    const TensorType& first_seq = graph.type(node.operands[n_carry]);
    const int64_t axis_attr = node.attrs.get_int("time_axis");
    const Dim steps = first_seq.shape[static_cast<size_t>(axis_attr < 0 ? axis_attr + first_seq.rank() : axis_attr)];
    std::vector<ValueId> operands;
    for (size_t i = 0; i < node.operands.size(); ++i)
      if (i >= n_carry || !gone.count(i)) operands.push_back(rw.map(node.operands[i]));
    std::vector<TensorType> types;
    for (size_t k = 0; k < node.results.size(); ++k)
      if (k >= n_carry || !gone.count(k)) types.push_back(graph.type(node.results[k]));
    auto stacked = [&](ValueId step) {
      TensorType t = body.type(step);
      t.shape.insert(t.shape.begin() + stacked_axis(axis_attr, t.shape.size()), steps);
      return t;
    };
    for (const Sunk& s : sunk)
      for (const Term& term : s.terms) types.push_back(stacked(term.p)), types.push_back(stacked(term.q));
    Attrs attrs = node.attrs;
    attrs.set("num_carry", static_cast<int64_t>(n_carry - gone.size()));
    auto new_body = std::make_shared<const Graph>(rewrite_body(body, n_carry, sunk));
    const int32_t index = rw.graph().add_node(OpKind::scan, operands, attrs, types, node.scope, node.loc, new_body);
    const std::vector<ValueId> results = rw.graph().nodes()[static_cast<size_t>(index)].results;

    size_t r = 0;
    for (size_t k = 0; k < node.results.size(); ++k)
      if (k >= n_carry || !gone.count(k)) rw.replace(node.results[k], results[r++]);
    // Each sunk carry: its initial value plus one GEMM per term over all steps' rows.
    GraphBuilder gb(rw.graph());
    gb.set_scope(node.scope);
    gb.set_loc(node.loc);
    // [..., T, K, M] or [..., K, T, M] -> [..., T·K, M]: time and K are the two dims before the last.
    auto rows = [&](ValueId stacked_value) {
      const Shape& s = gb.type(stacked_value).shape;
      Shape flat(s.begin(), s.end() - 3);
      flat.push_back(s[s.size() - 3] * s[s.size() - 2]);
      flat.push_back(s.back());
      return gb.reshape(stacked_value, flat);
    };
    for (const Sunk& s : sunk) {
      ValueId sum = rw.map(node.operands[s.carry]);
      for (size_t t = 0; t < s.terms.size(); ++t, r += 2) {
        ValueId product = gb.emit1(OpKind::matmul, {rows(results[r]), rows(results[r + 1])},
                                   Attrs{{"transpose_a", true}, {"transpose_b", false}});
        sum = gb.binary(OpKind::add, sum, product);
      }
      rw.replace(node.results[s.carry], sum);
    }
  }
  return any ? std::move(rw).finish() : graph;
}

}  // namespace

Graph sink_scan_accumulations(const Graph& graph) {
  // Bodies nested in bodies first, then this graph's scans.
  return sink_in(map_bodies(graph, sink_scan_accumulations));
}

}  // namespace weft
