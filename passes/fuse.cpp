#include "passes/fuse.h"

#include <fmt/format.h>

#include <algorithm>
#include <queue>
#include <set>
#include <unordered_map>

#include "ir/ops.h"
#include "passes/dce.h"
#include "passes/fuse_attention.h"
#include "passes/fuse_rules.h"
#include "passes/rewrite.h"

namespace weft {

namespace {

using fusion::RegionKind;
using fusion::RegionView;
using fusion::Role;

void sorted_unique(std::vector<int32_t>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

/// Groups the nodes of one graph into regions and rebuilds the graph with a fusion node per region.
///
/// Scalar nodes (`copied_`) are copied into every region reading them: such a read is not an edge
/// between regions. So that copies never create cycles, the dependencies between regions are taken
/// through them: a region reading a copied node depends on what that node reads (`eff_producers_`),
/// and a node is read by every region a copy of its reader lands in (`eff_consumers_`).
class Fuser {
 public:
  Fuser(const Graph& graph, const FuseOptions& options) : g_(graph), options_(options) {
    size_t n = g_.nodes().size();
    role_.resize(n);
    copied_.assign(n, false);
    consumers_.resize(n);
    group_.resize(n);
    members_.resize(n);
    visited_.assign(n, 0);
    in_region_.assign(n, 0);
    copied_in_.assign(n, 0);
    seen_input_.assign(g_.num_values(), 0);
    is_output_.assign(g_.num_values(), false);
    for (const OutputDecl& o : g_.outputs()) is_output_[o.value] = true;
    for (const StateUpdate& u : g_.updates()) is_output_[u.value] = true;
    for (size_t i = 0; i < n; ++i) {
      const Node& node = g_.nodes()[i];
      role_[i] = fusion::role_of(node);
      // Transposes are left out: only loop regions may hold one, and copies go into every kind.
      bool copyable = role_[i] == Role::elementwise || role_[i] == Role::source ||
                      (role_[i] == Role::movement && node.op != OpKind::transpose);
      copied_[i] = copyable && node.results.size() == 1 && fusion::is_scalar(g_.type(node.results[0]));
      group_[i] = static_cast<int32_t>(i);
      members_[i] = {static_cast<int32_t>(i)};
      for (ValueId v : node.operands)
        if (int32_t p = producer(v); p >= 0) consumers_[p].push_back(static_cast<int32_t>(i));
    }
    for (auto& c : consumers_) sorted_unique(c);
    compute_effective_edges();
  }

  void group() {
    for (size_t c = 0; c < g_.nodes().size(); ++c) {
      if (role_[c] == Role::never || role_[c] == Role::matmul) continue;  // a matmul's operands stay inputs
      for (ValueId v : g_.nodes()[c].operands) {
        int32_t p = producer(v);
        if (p < 0 || copied_[p] || role_[p] == Role::never) continue;
        int32_t pg = find(p), cg = find(static_cast<int32_t>(c));
        if (pg != cg && may_merge(pg, cg)) merge(pg, cg);
      }
    }
  }

  Graph build() {
    std::vector<int32_t> order = region_order();
    GraphRewriter rw(g_);
    for (int32_t root : order) {
      const std::vector<int32_t>& nodes = members_[root];
      const Node& first = g_.nodes()[nodes[0]];
      if (nodes.size() == 1 && role_[nodes[0]] == Role::never) {
        if (first.op == OpKind::scan && first.body) {
          std::vector<TensorType> types;
          for (ValueId r : first.results) types.push_back(g_.type(r));
          rw.copy(first, types, std::make_shared<const Graph>(fuse(*first.body, options_)));
        } else {
          rw.copy(first);
        }
        continue;
      }
      Region region = region_of(nodes);
      bool alone = nodes.size() == 1 && region.copies.empty();
      if (alone && !options_.wrap_singletons) {
        rw.copy(first);
        continue;
      }
      emit_region(rw, region);
    }
    return dce(std::move(rw).finish());
  }

 private:
  /// A candidate or final region: its members, the scalar nodes copied in, what it reads and gives.
  struct Region {
    std::vector<int32_t> members;
    std::vector<int32_t> copies;  // node indices, topological
    std::vector<ValueId> inputs;  // in order of first read
    std::vector<ValueId> outputs;
  };

  int32_t producer(ValueId v) const {
    const ValueInfo& info = g_.value(v);
    return info.kind == ValueKind::result ? info.owner : -1;
  }

  /// Whether node `c` reads node `p`'s result through a copy of `p` in its own region.
  bool reads_copy(int32_t p, int32_t c) const {
    return copied_[p] && role_[c] != Role::never && role_[c] != Role::matmul;
  }

  void compute_effective_edges() {
    size_t n = g_.nodes().size();
    // copy_readers[c]: the nodes holding a copy of c, directly or through copies of c's readers.
    std::vector<std::vector<int32_t>> copy_readers(n);
    for (size_t i = n; i-- > 0;) {
      if (!copied_[i]) continue;
      for (int32_t c : consumers_[i])
        if (reads_copy(static_cast<int32_t>(i), c)) {
          copy_readers[i].push_back(c);
          copy_readers[i].insert(copy_readers[i].end(), copy_readers[c].begin(), copy_readers[c].end());
        }
      sorted_unique(copy_readers[i]);
    }
    eff_consumers_.resize(n);
    eff_producers_.resize(n);
    for (size_t m = 0; m < n; ++m) {
      for (int32_t c : consumers_[m]) {
        if (reads_copy(static_cast<int32_t>(m), c)) continue;
        eff_consumers_[m].push_back(c);
        eff_consumers_[m].insert(eff_consumers_[m].end(), copy_readers[c].begin(), copy_readers[c].end());
      }
      sorted_unique(eff_consumers_[m]);
    }
    for (size_t m = 0; m < n; ++m)
      for (int32_t c : eff_consumers_[m]) eff_producers_[c].push_back(static_cast<int32_t>(m));
  }

  int32_t find(int32_t i) {
    while (group_[i] != i) i = group_[i] = group_[group_[i]];
    return i;
  }

  void merge(int32_t a, int32_t b) {
    std::vector<int32_t> all;
    std::merge(members_[a].begin(), members_[a].end(), members_[b].begin(), members_[b].end(), std::back_inserter(all));
    group_[a] = b;
    members_[a].clear();
    members_[b] = std::move(all);
  }

  /// Whether some path leaves region `from`, runs through other regions and enters region `to`:
  /// merging the two would then make the regions' graph cyclic.
  bool path_outside(int32_t from, int32_t to) {
    ++epoch_;
    std::vector<int32_t> stack;
    auto push_successors = [&](int32_t root) {
      for (int32_t m : members_[root])
        for (int32_t c : eff_consumers_[m]) {
          int32_t r = find(c);
          if (r == from || r == to || visited_[r] == epoch_) continue;
          visited_[r] = epoch_;
          stack.push_back(r);
        }
    };
    push_successors(from);
    while (!stack.empty()) {
      int32_t r = stack.back();
      stack.pop_back();
      for (int32_t m : members_[r])
        for (int32_t c : eff_consumers_[m])
          if (find(c) == to) return true;
      push_successors(r);
    }
    return false;
  }

  bool may_merge(int32_t producer_group, int32_t consumer_group) {
    if (members_[producer_group].size() + members_[consumer_group].size() > static_cast<size_t>(options_.max_nodes))
      return false;
    std::vector<int32_t> all;
    std::merge(members_[producer_group].begin(), members_[producer_group].end(), members_[consumer_group].begin(),
               members_[consumer_group].end(), std::back_inserter(all));
    Region region = region_of(all);
    if (static_cast<int>(region.inputs.size()) > options_.max_inputs) return false;
    RegionView view = view_of(region);
    if (!fusion::violation(view, fusion::kind_of(view)).empty()) return false;
    return !path_outside(producer_group, consumer_group);
  }

  Region region_of(const std::vector<int32_t>& members) const {
    Region r;
    r.members = members;
    // Membership marks by epoch, not arrays the size of the graph: this runs once per candidate
    // merge, and must cost time in the region's size only.
    const uint32_t epoch = ++region_epoch_;
    auto in_region = [&](int32_t node) { return in_region_[node] == epoch; };
    for (int32_t m : members) in_region_[m] = epoch;
    auto seen = [&](ValueId v) { return seen_input_[v] == epoch; };
    auto first_sight = [&](ValueId v) {  // marks v as an input; whether it was new
      if (seen_input_[v] == epoch) return false;
      seen_input_[v] = epoch;
      return true;
    };
    // Depth-first over what a node reads, so that copies come out in topological order.
    std::function<void(int32_t)> read_operands = [&](int32_t node) {
      for (ValueId v : g_.nodes()[node].operands) {
        int32_t p = producer(v);
        if (p >= 0 && in_region(p)) continue;
        if (p >= 0 && reads_copy(p, node) && !seen(v)) {
          if (copied_in_[p] == epoch) continue;
          copied_in_[p] = epoch;
          read_operands(p);
          r.copies.push_back(p);
        } else if (first_sight(v)) {
          r.inputs.push_back(v);
        }
      }
    };
    // A matmul reads its operands as inputs, copied scalars included; other readers then share them.
    for (int32_t m : members)
      if (g_.nodes()[m].op == OpKind::matmul)
        for (ValueId v : g_.nodes()[m].operands)
          if (int32_t p = producer(v); (p < 0 || !in_region(p)) && first_sight(v)) r.inputs.push_back(v);
    for (int32_t m : members) read_operands(m);
    // A value is read outside when a node outside reads it, directly or through a copy of a member.
    for (int32_t m : members)
      for (ValueId v : g_.nodes()[m].results) {
        bool used_outside = is_output_[v];
        for (int32_t c : eff_consumers_[m]) used_outside = used_outside || !in_region(c);
        if (used_outside) r.outputs.push_back(v);
      }
    return r;
  }

  /// The region as the rules see it. Its `inside` reads marks of this call: the view is valid
  /// until the next region_of or view_of (each caller uses it at once).
  RegionView view_of(const Region& r) const {
    RegionView view{g_, {}, r.outputs, {}};
    const uint32_t epoch = ++region_epoch_;
    for (int32_t m : r.members) {
      view.nodes.push_back(&g_.nodes()[m]);
      in_region_[m] = epoch;
    }
    view.inside = [this, epoch](ValueId v) {
      int32_t p = producer(v);
      return p >= 0 && in_region_[p] == epoch;
    };
    return view;
  }

  /// The live regions in a topological order of the regions' graph; among the ready ones, the one
  /// whose first node comes first, so the order stays close to the source's.
  std::vector<int32_t> region_order() {
    size_t n = g_.nodes().size();
    std::vector<int32_t> roots;
    std::vector<bool> live(n, false);
    for (size_t i = 0; i < n; ++i) {
      if (find(static_cast<int32_t>(i)) != static_cast<int32_t>(i)) continue;
      // A region nobody reads is dead: it only held scalars that were copied where they are used.
      bool used = false;
      for (int32_t m : members_[i]) {
        for (ValueId v : g_.nodes()[m].results) used = used || is_output_[v];
        for (int32_t c : eff_consumers_[m]) used = used || find(c) != static_cast<int32_t>(i);
      }
      if (used) {
        live[i] = true;
        roots.push_back(static_cast<int32_t>(i));
      }
    }
    std::vector<int32_t> pending(n, 0);
    std::vector<std::vector<int32_t>> successors(n);
    for (int32_t root : roots) {
      std::vector<int32_t> preds;
      for (int32_t m : members_[root])
        for (int32_t p : eff_producers_[m]) {
          int32_t pr = find(p);
          if (pr != root && live[pr]) preds.push_back(pr);
        }
      sorted_unique(preds);
      pending[root] = static_cast<int32_t>(preds.size());
      for (int32_t p : preds) successors[p].push_back(root);
    }
    std::priority_queue<std::pair<int32_t, int32_t>, std::vector<std::pair<int32_t, int32_t>>, std::greater<>> ready;
    for (int32_t root : roots)
      if (pending[root] == 0) ready.emplace(members_[root][0], root);
    std::vector<int32_t> order;
    while (!ready.empty()) {
      int32_t root = ready.top().second;
      ready.pop();
      order.push_back(root);
      for (int32_t s : successors[root])
        if (--pending[s] == 0) ready.emplace(members_[s][0], s);
    }
    WEFT_CHECK(order.size() == roots.size(), fmt::format("fuse: the regions of '{}' form a cycle", g_.name()));
    return order;
  }

  std::string input_name(ValueId v, const Graph& body) const {
    const ValueInfo& info = g_.value(v);
    std::string name = info.kind == ValueKind::input   ? g_.inputs()[info.owner].name
                       : info.kind == ValueKind::param ? g_.params()[info.owner].name
                                                       : fmt::format("t{}", v);
    std::string unique = name;
    for (int k = 1; body.find_input(unique); ++k) unique = fmt::format("{}_{}", name, k);
    return unique;
  }

  void emit_region(GraphRewriter& rw, const Region& r) {
    RegionView view = view_of(r);
    RegionKind kind = fusion::kind_of(view);
    WEFT_CHECK(fusion::violation(view, kind).empty(),
               fmt::format("fuse: a grouped region breaks its rules: {}", fusion::violation(view, kind)));
    // The node naming the region: its matmul, else its last member (a decomposition's final op).
    const Node* named = &g_.nodes()[r.members.back()];
    for (int32_t m : r.members)
      if (g_.nodes()[m].op == OpKind::matmul) named = &g_.nodes()[m];

    auto body = std::make_shared<Graph>(fmt::format("{}{}", fusion::kind_name(kind), region_count_++));
    std::vector<int32_t> nodes = r.copies;
    nodes.insert(nodes.end(), r.members.begin(), r.members.end());
    std::sort(nodes.begin(), nodes.end());
    declare_symbols(*body, r, nodes);
    std::unordered_map<ValueId, ValueId> map;  // graph value -> body value; sized by the region
    for (ValueId v : r.inputs) map[v] = body->add_input(input_name(v, *body), g_.type(v));
    for (int32_t i : nodes) {
      const Node& node = g_.nodes()[i];
      std::vector<ValueId> operands;
      for (ValueId v : node.operands) {
        auto it = map.find(v);
        WEFT_CHECK(it != map.end(), fmt::format("fuse: %{} is not available in the region", v));
        operands.push_back(it->second);
      }
      std::vector<TensorType> types;
      for (ValueId res : node.results) types.push_back(g_.type(res));
      int32_t index = body->add_node(node.op, operands, node.attrs, types, node.scope, node.loc);
      for (size_t k = 0; k < node.results.size(); ++k) map[node.results[k]] = body->nodes()[index].results[k];
    }
    std::vector<TensorType> result_types;
    for (size_t k = 0; k < r.outputs.size(); ++k) {
      body->add_output(fmt::format("out{}", k), map.at(r.outputs[k]));
      result_types.push_back(g_.type(r.outputs[k]));
    }
    int32_t index =
        rw.graph().add_node(OpKind::fusion, rw.map(r.inputs), Attrs{{"kind", std::string(fusion::kind_name(kind))}},
                            result_types, named->scope, named->loc, std::move(body));
    const Node& fused = rw.graph().nodes()[index];
    for (size_t k = 0; k < r.outputs.size(); ++k) rw.replace(r.outputs[k], fused.results[k]);
  }

  /// Declares in `body`, in the graph's order and with its bounds, the symbols the region uses.
  void declare_symbols(Graph& body, const Region& r, const std::vector<int32_t>& nodes) const {
    std::set<std::string> used;
    auto use = [&](const Shape& s) {
      for (const Dim& d : s)
        for (const std::string& name : d.symbols()) used.insert(name);
    };
    for (ValueId v : r.inputs) use(g_.type(v).shape);
    for (int32_t i : nodes) {
      for (ValueId v : g_.nodes()[i].results) use(g_.type(v).shape);
      for (const auto& [name, value] : g_.nodes()[i].attrs.items())
        if (const Shape* s = std::get_if<Shape>(&value)) use(*s);
    }
    for (const SymbolDecl& s : g_.symbols())
      if (used.count(s.name)) body.declare_symbol(s.name, s.bound);
  }

  const Graph& g_;
  FuseOptions options_;
  std::vector<Role> role_;
  std::vector<bool> copied_;
  std::vector<std::vector<int32_t>> consumers_;
  std::vector<std::vector<int32_t>> eff_consumers_, eff_producers_;
  std::vector<int32_t> group_;                 // union-find parent
  std::vector<std::vector<int32_t>> members_;  // sorted, at each root
  std::vector<bool> is_output_;                // value is a graph output or state update
  std::vector<uint32_t> visited_;
  uint32_t epoch_ = 0;
  // region_of's marks: a node is in the region (or copied into it) when its mark is the call's epoch.
  mutable std::vector<uint32_t> in_region_, copied_in_, seen_input_;
  mutable uint32_t region_epoch_ = 0;
  int region_count_ = 0;
};

}  // namespace

Graph fuse(const Graph& graph, const FuseOptions& options) {
  // Dead nodes would join regions and vanish from their bodies afterwards, possibly with the
  // reduction or matmul that gave a region its kind.
  Graph live = dce(graph);
  if (options.attention) live = fuse_attention(live);
  Fuser fuser(live, options);
  fuser.group();
  return fuser.build();
}

std::string region_rule_violation(const Graph& body, const std::string& kind) {
  if (kind == "attention") return attention_region_violation(body);
  RegionKind k{};
  if (!fusion::parse_kind(kind, k))
    return fmt::format("'{}' is not a region kind (loop, reduction, matmul, attention)", kind);
  RegionView view{body, {}, {}, {}};
  for (const Node& n : body.nodes()) view.nodes.push_back(&n);
  for (const OutputDecl& o : body.outputs()) view.outputs.push_back(o.value);
  view.inside = [&body](ValueId v) { return body.value(v).kind == ValueKind::result; };
  return fusion::violation(view, k);
}

RegionCounts count_regions(const Graph& graph) {
  RegionCounts c;
  for (const Node& n : graph.nodes()) {
    if (n.op != OpKind::fusion) {
      ++c.unfused;
      continue;
    }
    ++c.total;
    const std::string& kind = n.attrs.get_string("kind");
    if (kind == "loop") ++c.loop;
    if (kind == "reduction") ++c.reduction;
    if (kind == "matmul") ++c.matmul;
    if (kind == "attention") ++c.attention;
  }
  return c;
}

}  // namespace weft
