/** \file
 * Attention regions. See fuse_attention.h.
 */
#include "passes/fuse_attention.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "ir/ops.h"
#include "ir/symbols.h"
#include "passes/dce.h"
#include "passes/rewrite.h"

namespace weft {

namespace {

/// The largest head dim (d or dv) a region takes: the kernel keeps a row of each in registers.
constexpr int64_t kMaxHeadDim = 1024;

bool is_core(OpKind op) { return op == OpKind::attention || op == OpKind::attention_backward; }

int32_t producer_index(const Graph& g, ValueId v) {
  const ValueInfo& info = g.value(v);
  return info.kind == ValueKind::result ? info.owner : -1;
}

/// A transpose swapping the two axes before the last: [..., T, H, D] <-> [..., H, T, D].
bool is_head_swap(const Graph& g, const Node& n) {
  if (n.op != OpKind::transpose) return false;
  const std::vector<int64_t>& perm = n.attrs.get_ints("perm");
  const int r = g.type(n.results[0]).rank();
  if (r < 3 || static_cast<int>(perm.size()) != r) return false;
  for (int i = 0; i < r; ++i) {
    int64_t p = perm[i] < 0 ? perm[i] + r : perm[i];
    int64_t want = i == r - 3 ? r - 2 : i == r - 2 ? r - 3 : i;
    if (p != want) return false;
  }
  return true;
}

bool is_cheap_transpose(const Graph& g, const Node& n) {
  const std::vector<int64_t>& perm = n.attrs.get_ints("perm");
  const int64_t r = g.type(n.results[0]).rank();
  if (perm.empty()) return r <= 1;
  return (perm.back() < 0 ? perm.back() + r : perm.back()) == r - 1;
}

/// The operands of attention (q, k, v, [mask]) and attention_backward (q, k, v, [mask], g, [o, lse]).
enum class Role : uint8_t { q, k, v, mask, g, o, lse };

Role operand_role(const Node& core, size_t k) {
  if (k < 3) return static_cast<Role>(k);
  if (core.op == OpKind::attention) return Role::mask;
  const size_t n = core.operands.size();
  const size_t stats = core.attrs.get_bool("with_stats") ? 2 : 0;
  if (stats && k == n - 1) return Role::lse;
  if (stats && k == n - 2) return Role::o;
  return k == n - stats - 1 ? Role::g : Role::mask;
}

const char* role_name(Role r) {
  static const char* names[] = {"q", "k", "v", "mask", "g", "o", "lse"};
  return names[static_cast<int>(r)];
}

/// Which operands are read through a head split: q, k, v, g and o.
bool is_viewed_operand(const Node& core, size_t k) {
  Role r = operand_role(core, k);
  return r != Role::mask && r != Role::lse;
}

/// The nodes, source first, through which operand `v` reads a value: reshape, head swap, both
/// (transpose(reshape(x))), or none. Each keeps every axis one stride of its source (a view).
std::vector<int32_t> operand_chain(const Graph& g, ValueId v) {
  std::vector<int32_t> chain;
  int32_t p = producer_index(g, v);
  if (p >= 0 && is_head_swap(g, g.nodes()[p])) {
    chain.insert(chain.begin(), p);
    p = producer_index(g, g.nodes()[p].operands[0]);
  }
  if (p >= 0 && g.nodes()[p].op == OpKind::reshape) chain.insert(chain.begin(), p);
  return chain;
}

struct Plan {
  std::vector<std::vector<int32_t>> operand_chains;  // per operand
  std::vector<std::vector<int32_t>> result_chains;   // per result: the nodes writing it, in order
};

class AttentionFuser {
 public:
  explicit AttentionFuser(const Graph& g) : g_(g), readers_(g.num_values()), is_output_(g.num_values(), false) {
    for (const OutputDecl& o : g_.outputs()) is_output_[o.value] = true;
    for (const StateUpdate& u : g_.updates()) is_output_[u.value] = true;
    for (size_t i = 0; i < g_.nodes().size(); ++i)
      for (ValueId v : g_.nodes()[i].operands) readers_[v].push_back(static_cast<int32_t>(i));
  }

  Graph run() {
    std::vector<bool> absorbed(g_.nodes().size(), false);
    std::map<int32_t, Plan> plans;
    for (size_t i = 0; i < g_.nodes().size(); ++i) {
      const Node& node = g_.nodes()[i];
      if (!is_fusible_attention(g_, node)) continue;
      Plan plan;
      for (size_t k = 0; k < node.operands.size(); ++k)
        plan.operand_chains.push_back(is_viewed_operand(node, k) ? operand_chain(g_, node.operands[k])
                                                                 : std::vector<int32_t>{});
      for (size_t k = 0; k < node.results.size(); ++k) {
        // The output may also be read by the gradient's region (as its o), which then reads it
        // back through the merge, as a view.
        plan.result_chains.push_back(result_chain(node.results[k], k == 0 && node.op == OpKind::attention));
        for (int32_t c : plan.result_chains.back()) absorbed[c] = true;
        if (k == 0 && node.op == OpKind::attention && !plan.result_chains.back().empty())
          merged_[node.results[0]] = plan.result_chains.back();
      }
      plans.emplace(static_cast<int32_t>(i), std::move(plan));
    }
    if (plans.empty()) return g_;
    GraphRewriter rw(g_);
    for (size_t i = 0; i < g_.nodes().size(); ++i) {
      if (absorbed[i]) continue;  // written by its region, whose output stands for its result
      auto it = plans.find(static_cast<int32_t>(i));
      if (it == plans.end())
        rw.copy(g_.nodes()[i]);
      else
        emit_region(rw, g_.nodes()[i], it->second);
    }
    return dce(std::move(rw).finish());
  }

 private:
  /// The single reader of `v`, when it has exactly one and `v` is not an output; else -1. With
  /// `but_gradients`, fusible attention_backward nodes reading `v` as their o are not counted.
  int32_t only_reader(ValueId v, bool but_gradients = false) const {
    if (is_output_[v]) return -1;
    int32_t found = -1;
    for (int32_t n : readers_[v]) {
      const Node& node = g_.nodes()[n];
      if (but_gradients && reads_as_o(node, v)) continue;
      if (found >= 0) return -1;
      found = n;
    }
    return found;
  }

  bool reads_as_o(const Node& node, ValueId v) const {
    if (node.op != OpKind::attention_backward || !is_fusible_attention(g_, node)) return false;
    for (size_t k = 0; k < node.operands.size(); ++k)
      if (node.operands[k] == v && operand_role(node, k) != Role::o) return false;
    return true;
  }

  /// The head merge after result `r`: a head swap, a reshape, or both, each the only reader of its operand.
  std::vector<int32_t> result_chain(ValueId r, bool but_gradients) const {
    std::vector<int32_t> chain;
    int32_t c = only_reader(r, but_gradients);
    if (c >= 0 && is_head_swap(g_, g_.nodes()[c])) {
      chain.push_back(c);
      c = only_reader(g_.nodes()[c].results[0]);
    }
    if (c >= 0 && g_.nodes()[c].op == OpKind::reshape) chain.push_back(c);
    return chain;
  }

  void emit_region(GraphRewriter& rw, const Node& core, const Plan& plan) {
    auto body = std::make_shared<Graph>(fmt::format("attention{}", count_++));
    std::map<ValueId, ValueId> map;  // graph value -> body value
    std::vector<ValueId> inputs;     // graph values, in the body's input order
    std::set<std::string> names;
    auto input = [&](ValueId v, const char* role) {
      if (auto it = map.find(v); it != map.end()) return it->second;
      std::string name = role;
      for (int k = 1; names.count(name); ++k) name = fmt::format("{}_{}", role, k);
      names.insert(name);
      inputs.push_back(v);
      return map[v] = body->add_input(name, g_.type(v));
    };
    auto copy_node = [&](const Node& n) {
      std::vector<ValueId> ops;
      for (ValueId v : n.operands) ops.push_back(map.at(v));
      std::vector<TensorType> types;
      for (ValueId r : n.results) types.push_back(g_.type(r));
      int32_t index = body->add_node(n.op, ops, n.attrs, types, n.scope, n.loc);
      for (size_t k = 0; k < n.results.size(); ++k) map[n.results[k]] = body->nodes()[index].results[k];
    };
    for (size_t k = 0; k < core.operands.size(); ++k) {
      const char* role = role_name(operand_role(core, k));
      if (auto merged = merged_.find(core.operands[k]);
          operand_role(core, k) == Role::o && merged != merged_.end() && !map.count(core.operands[k])) {
        // The forward's region wrote its output merged: read it back through the inverse ops.
        const std::vector<int32_t>& chain = merged->second;
        ValueId v = input(g_.nodes()[chain.back()].results[0], role);
        for (size_t c = chain.size(); c-- > 0;) {
          const Node& n = g_.nodes()[chain[c]];
          const TensorType& t = g_.type(n.operands[0]);
          Attrs attrs;
          if (n.op == OpKind::reshape) {
            attrs = Attrs{{"shape", t.shape}};
          } else {
            std::vector<int64_t> perm = n.attrs.get_ints("perm"), inverse(perm.size());
            for (size_t i = 0; i < perm.size(); ++i)
              inverse[perm[i] < 0 ? perm[i] + static_cast<int64_t>(perm.size()) : perm[i]] = static_cast<int64_t>(i);
            attrs = Attrs{{"perm", inverse}};
          }
          int32_t index = body->add_node(n.op, {v}, attrs, {t}, core.scope, core.loc);
          v = body->nodes()[index].results[0];
        }
        map[core.operands[k]] = v;
        continue;
      }
      const std::vector<int32_t>& chain = plan.operand_chains[k];
      ValueId source = chain.empty() ? core.operands[k] : g_.nodes()[chain[0]].operands[0];
      input(source, role);
      for (int32_t c : chain)
        if (!map.count(g_.nodes()[c].results[0])) copy_node(g_.nodes()[c]);
    }
    copy_node(core);
    std::vector<ValueId> outputs;  // graph values the region's outputs stand for
    for (size_t k = 0; k < core.results.size(); ++k) {
      for (int32_t c : plan.result_chains[k]) copy_node(g_.nodes()[c]);
      outputs.push_back(plan.result_chains[k].empty() ? core.results[k]
                                                      : g_.nodes()[plan.result_chains[k].back()].results[0]);
    }
    declare_symbols(*body);
    std::vector<TensorType> types;
    for (size_t k = 0; k < outputs.size(); ++k) {
      body->add_output(fmt::format("out{}", k), map.at(outputs[k]));
      types.push_back(g_.type(outputs[k]));
    }
    int32_t index = rw.graph().add_node(OpKind::fusion, rw.map(inputs), Attrs{{"kind", std::string("attention")}},
                                        types, core.scope, core.loc, std::move(body));
    const Node& fused = rw.graph().nodes()[index];
    for (size_t k = 0; k < outputs.size(); ++k) rw.replace(outputs[k], fused.results[k]);
  }

  /// Declares in `body`, in the graph's order and with its bounds, the symbols its types and shape attributes use.
  void declare_symbols(Graph& body) const {
    const std::vector<std::string> used = symbols_used(body);
    for (const SymbolDecl& s : g_.symbols())
      if (std::binary_search(used.begin(), used.end(), s.name)) body.declare_symbol(s.name, s.bound);
  }

  const Graph& g_;
  std::vector<std::vector<int32_t>> readers_;  // per value: the nodes reading it
  /// An attention output written merged by its region: the nodes of the merge (written by the
  /// region), by the output's graph value.
  std::map<ValueId, std::vector<int32_t>> merged_;
  std::vector<bool> is_output_;
  int count_ = 0;
};

}  // namespace

bool is_fusible_attention(const Graph& graph, const Node& node) {
  if (!is_core(node.op) || node.operands.size() < 3) return false;
  if (node.op == OpKind::attention && node.attrs.get_bool("with_weights")) return false;
  const TensorType& q = graph.type(node.operands[0]);
  const TensorType& v = graph.type(node.operands[2]);
  if (q.dtype != DType::f32 || q.rank() < 2 || v.rank() < 2) return false;
  const Dim& d = q.shape.back();
  const Dim& dv = v.shape.back();
  return d.is_static() && dv.is_static() && d.value() >= 1 && dv.value() >= 1 && d.value() <= kMaxHeadDim &&
         dv.value() <= kMaxHeadDim;
}

Graph fuse_attention(const Graph& graph) { return AttentionFuser(graph).run(); }

std::string attention_region_violation(const Graph& body) {
  int cores = 0;
  for (const Node& n : body.nodes()) {
    if (is_core(n.op)) {
      ++cores;
      if (!is_fusible_attention(body, n))
        return "an attention region's attention is f32, without a weights output, with static head dims up to 1024";
      continue;
    }
    if (n.op == OpKind::reshape || (n.op == OpKind::transpose && is_cheap_transpose(body, n))) continue;
    return fmt::format(
        "an attention region holds its attention and reshapes and transposes keeping the innermost "
        "axis, not {}",
        op_name(n.op));
  }
  if (cores != 1) return "an attention region has exactly one attention or attention_backward";
  return {};
}

}  // namespace weft
