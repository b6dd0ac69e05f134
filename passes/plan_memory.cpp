#include "passes/plan_memory.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "ir/graph_builder.h"
#include "ir/ops.h"

namespace weft {

namespace {

/// The run-time index check of a gather or scatter_add call (ir/program.h IndexCheck).
std::optional<IndexCheck> index_check_of(const KernelCall& call) {
  IndexCheck check;
  if (call.op == OpKind::gather)
    check.bounded = 0;
  else if (call.op == OpKind::scatter_add)
    check.bounded = call.num_inputs;  // the result, whose shape is the `shape` attribute
  else
    return std::nullopt;
  WEFT_CHECK(call.num_inputs == 2 && call.operands.size() == 3,
             fmt::format("{} call with {} operands", op_name(call.op), call.operands.size()));
  check.axis = normalize_axis(call.attrs.get_int("axis"), call.operands[check.bounded].type.rank(),
                              std::string(op_name(call.op)));
  check.wrap = call.op != OpKind::gather || !call.attrs.has("wrap") || call.attrs.get_bool("wrap");
  return check;
}

/// Every reduce_max, reduce_min and argmax of `node` and of its body, recursively, in order.
void collect_empty_axis_checks(const Graph& g, const Node& node, std::vector<EmptyAxisCheck>& out) {
  if (node.op == OpKind::reduce_max || node.op == OpKind::reduce_min || node.op == OpKind::argmax) {
    EmptyAxisCheck check{node.op, g.type(node.operands[0]), 0, node.loc};
    const int rank = check.operand.rank();
    if (node.op == OpKind::argmax) {
      check.reduced |= uint64_t{1} << normalize_axis(node.attrs.get_int("axis"), rank, "argmax");
    } else {
      const std::vector<int64_t>& axes = node.attrs.get_ints("axes");
      for (int64_t a : axes) check.reduced |= uint64_t{1} << normalize_axis(a, rank, std::string(op_name(node.op)));
      if (axes.empty()) check.reduced = rank >= 64 ? ~uint64_t{0} : (uint64_t{1} << rank) - 1;
    }
    out.push_back(std::move(check));
  }
  // A scan's body runs as a program of its own, which checks its own calls.
  if (node.body && node.op != OpKind::scan)
    for (const Node& inner : node.body->nodes()) collect_empty_axis_checks(*node.body, inner, out);
}


int64_t align_up(int64_t n) { return (n + Program::alignment - 1) / Program::alignment * Program::alignment; }

Dim bytes_of(const TensorType& t) { return Dim(static_cast<int64_t>(dtype_size(t.dtype))) * num_elements(t.shape); }

/// Whether a loop region (or a lone elementwise node) that writes result `k` over operand `j` only
/// reads that operand at the result's own linear index: every op reading it, or anything computed
/// from it, is elementwise without broadcasting that operand, or a reshape (which keeps the order).
bool reads_only_own_index(const Node& node, size_t j, size_t k, const Graph& graph) {
  if (node.op != OpKind::fusion) {
    if (op_def(node.op).fusion != FusionKind::elementwise) return false;
    return graph.type(node.operands[j]).shape == graph.type(node.results[k]).shape;
  }
  if (!node.body || node.attrs.get_string("kind") != "loop") return false;
  const Graph& body = *node.body;
  std::vector<bool> from_operand(body.num_values(), false);
  from_operand[body.inputs()[j].value] = true;
  for (const Node& n : body.nodes()) {
    bool reads = false;
    for (ValueId v : n.operands) {
      if (!from_operand[v]) continue;
      reads = true;
      bool same_index = n.op == OpKind::reshape || (op_def(n.op).fusion == FusionKind::elementwise &&
                                                    body.type(v).shape == body.type(n.results[0]).shape);
      if (!same_index) return false;
    }
    if (reads)
      for (ValueId r : n.results) from_operand[r] = true;
  }
  return true;
}

/// One arena slot: the values it holds one after another (a chain of in-place results) and when.
struct Slot {
  std::vector<ValueId> values;
  Dim bytes;
  int64_t size = 0;  // at the bounds, aligned
  int32_t first = 0, last = 0;
  int64_t offset = 0;
};

class Planner {
 public:
  Planner(const Graph& graph, const PlanOptions& options) : g_(graph), options_(options) {
    for (const SymbolDecl& s : g_.symbols())
      if (s.bound) bounds_[s.name] = *s.bound;
    end_ = static_cast<int32_t>(g_.nodes().size());
    last_.assign(g_.num_values(), -1);
    slot_of_.assign(g_.num_values(), -1);
    param_home_.assign(g_.num_values(), -1);
    in_place_operand_.resize(g_.nodes().size());
  }

  Program run(PlanStats* stats) {
    compute_lifetimes();
    if (options_.in_place) pair_in_place();
    make_slots();
    place();
    if (stats) *stats = compute_stats();
    return program();
  }

 private:
  int64_t at_bounds(const Dim& bytes, const Node& node, ValueId v) const {
    for (const std::string& s : bytes.symbols())
      if (!bounds_.count(s))
        throw Error(with_location(
            fmt::format("plan_memory: dim {} has no upper bound; declare it as {}<=N on the input: the result {} of "
                        "{} needs it",
                        s, s, g_.type(v).str(), op_name(node.op)),
            node.loc));
    return bytes.evaluate(bounds_);
  }

  void compute_lifetimes() {
    for (int32_t t = 0; t < end_; ++t) {
      const Node& node = g_.nodes()[t];
      for (ValueId v : node.operands) last_[v] = std::max(last_[v], t);
      for (ValueId r : node.results) last_[r] = std::max(last_[r], t);
    }
    for (const OutputDecl& o : g_.outputs()) last_[o.value] = end_;
    for (const StateUpdate& u : g_.updates()) last_[u.value] = end_;
  }

  ValueId update_of(ValueId param) const {
    const std::string& name = g_.params()[g_.value(param).owner].name;
    for (const StateUpdate& u : g_.updates())
      if (u.param == name) return u.value;
    return kNoValue;
  }

  void pair_in_place() {
    for (int32_t t = 0; t < end_; ++t) {
      const Node& node = g_.nodes()[t];
      bool loop_like = node.op == OpKind::fusion ? node.attrs.get_string("kind") == "loop"
                                                 : op_def(node.op).fusion == FusionKind::elementwise;
      if (!loop_like) continue;
      std::set<ValueId> taken;  // an operand's slot goes to one result (an operand may appear twice)
      for (size_t k = 0; k < node.results.size(); ++k) {
        ValueId out = node.results[k];
        const TensorType& ot = g_.type(out);
        for (size_t j = 0; j < node.operands.size(); ++j) {
          ValueId in = node.operands[j];
          const TensorType& it = g_.type(in);
          if (taken.count(in) || last_[in] != t || dtype_size(it.dtype) != dtype_size(ot.dtype) ||
              num_elements(it.shape) != num_elements(ot.shape))
            continue;
          ValueKind kind = g_.value(in).kind;
          bool fits = kind == ValueKind::result || (kind == ValueKind::param && update_of(in) == out);
          if (!fits || !reads_only_own_index(node, j, k, g_)) continue;
          taken.insert(in);
          in_place_operand_[t].push_back({j, k});
          if (kind == ValueKind::param)
            param_home_[out] = g_.value(in).owner;
          else
            successor_[in] = out;
          break;
        }
      }
    }
  }

  void make_slots() {
    for (int32_t t = 0; t < end_; ++t) {
      const Node& node = g_.nodes()[t];
      for (ValueId r : node.results) {
        if (param_home_[r] >= 0 || slot_of_[r] >= 0) continue;
        Slot s;
        s.first = t;
        // Follow the chain of results written over this one.
        for (ValueId v = r;; v = successor_.at(v)) {
          const Node& producer = g_.nodes()[g_.value(v).owner];
          Dim bytes = bytes_of(g_.type(v));
          int64_t size = align_up(at_bounds(bytes, producer, v));
          if (size > s.size || s.values.empty()) {
            s.size = std::max(s.size, size);
            s.bytes = bytes;
          }
          raw_bytes_ += size;
          s.values.push_back(v);
          slot_of_[v] = static_cast<int32_t>(slots_.size());
          s.last = last_[v];
          if (!successor_.count(v)) break;
        }
        slots_.push_back(std::move(s));
      }
    }
  }

  /// Largest slot first, each at the best-fitting gap among the placed slots alive at the same time.
  void place() {
    if (!options_.reuse) {
      int64_t offset = 0;
      for (Slot& s : slots_) {
        s.offset = offset;
        offset += s.size;
      }
      return;
    }
    std::vector<size_t> order(slots_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (slots_[a].size != slots_[b].size) return slots_[a].size > slots_[b].size;
      return slots_[a].first < slots_[b].first;
    });
    std::vector<size_t> placed;
    for (size_t i : order) {
      Slot& s = slots_[i];
      std::vector<const Slot*> overlapping;
      for (size_t p : placed)
        if (slots_[p].first <= s.last && s.first <= slots_[p].last) overlapping.push_back(&slots_[p]);
      std::sort(overlapping.begin(), overlapping.end(),
                [](const Slot* a, const Slot* b) { return a->offset < b->offset; });
      int64_t best = -1, best_gap = std::numeric_limits<int64_t>::max(), end = 0;
      for (const Slot* o : overlapping) {
        int64_t gap = o->offset - end;
        if (gap >= s.size && gap < best_gap) {
          best = end;
          best_gap = gap;
        }
        end = std::max(end, o->offset + o->size);
      }
      s.offset = best >= 0 ? best : end;
      placed.push_back(i);
    }
  }

  PlanStats compute_stats() const {
    PlanStats st;
    std::vector<int64_t> delta(static_cast<size_t>(end_) + 2, 0);
    for (const Slot& s : slots_) {
      st.values += static_cast<int64_t>(s.values.size());
      st.arena_bytes = std::max(st.arena_bytes, s.offset + s.size);
      delta[s.first] += s.size;
      delta[s.last + 1] -= s.size;
    }
    int64_t live = 0;
    for (int64_t d : delta) st.live_peak_bytes = std::max(st.live_peak_bytes, live += d);
    st.bytes_without_reuse = raw_bytes_;
    st.buffers = static_cast<int64_t>(slots_.size());
    for (const auto& pairs : in_place_operand_) st.in_place += static_cast<int64_t>(pairs.size());
    return st;
  }

  int32_t buffer_of(ValueId v) const {
    const ValueInfo& info = g_.value(v);
    if (info.kind == ValueKind::input) return info.owner;
    auto n_inputs = static_cast<int32_t>(g_.inputs().size());
    if (info.kind == ValueKind::param) return n_inputs + info.owner;
    if (param_home_[v] >= 0) return n_inputs + param_home_[v];
    return n_inputs + static_cast<int32_t>(g_.params().size()) + slot_of_[v];
  }

  BufferRef ref(ValueId v, Access access, const Program& p) const {
    int32_t b = buffer_of(v);
    return BufferRef{b, p.buffers[b].offset, bytes_of(g_.type(v)), g_.type(v), access};
  }

  Program program() const {
    Program p;
    p.name = g_.name();
    p.symbols = g_.symbols();
    auto external = [&](BufferStorage storage, int32_t index, const std::string& name, ValueId v) {
      Buffer b{storage, index, name, 0, bytes_of(g_.type(v)), 0};
      bool bounded = std::all_of(b.bytes.symbols().begin(), b.bytes.symbols().end(),
                                 [&](const std::string& s) { return bounds_.count(s) > 0; });
      if (bounded) b.max_bytes = b.bytes.evaluate(bounds_);
      p.buffers.push_back(std::move(b));
    };
    for (size_t i = 0; i < g_.inputs().size(); ++i)
      external(BufferStorage::input, static_cast<int32_t>(i), g_.inputs()[i].name, g_.inputs()[i].value);
    for (size_t i = 0; i < g_.params().size(); ++i)
      external(BufferStorage::param, static_cast<int32_t>(i), g_.params()[i].name, g_.params()[i].value);
    for (const Slot& s : slots_) {
      p.buffers.push_back(Buffer{BufferStorage::arena, -1, {}, s.offset, s.bytes, s.size});
      p.arena_bytes = std::max(p.arena_bytes, s.offset + s.size);
    }
    for (int32_t t = 0; t < end_; ++t) {
      const Node& node = g_.nodes()[t];
      KernelCall call{node.op,    node.attrs, node.body, {}, static_cast<int32_t>(node.operands.size()),
                      node.scope, node.loc};
      for (ValueId v : node.operands) call.operands.push_back(ref(v, Access::in, p));
      for (ValueId r : node.results) call.operands.push_back(ref(r, Access::out, p));
      for (auto [j, k] : in_place_operand_[t]) {
        call.operands[j].access = Access::inout;
        call.operands[node.operands.size() + k].access = Access::inout;
      }
      call.index_check = index_check_of(call);
      collect_empty_axis_checks(g_, node, call.empty_axis_checks);
      p.calls.push_back(std::move(call));
    }
    for (Buffer& b : p.buffers) b.space = options_.space;
    for (const InputDecl& in : g_.inputs())
      p.inputs.push_back(ProgramValue{in.name, g_.type(in.value), buffer_of(in.value)});
    for (const ParamDecl& pr : g_.params())
      p.params.push_back(ProgramParam{pr.name, g_.type(pr.value), pr.init, buffer_of(pr.value)});
    for (const OutputDecl& o : g_.outputs())
      p.outputs.push_back(ProgramValue{o.name, g_.type(o.value), buffer_of(o.value)});
    for (const StateUpdate& u : g_.updates()) {
      const ParamDecl* param = g_.find_param(u.param);
      WEFT_CHECK(param != nullptr, "plan_memory: a state update names no parameter");
      p.updates.push_back(ProgramUpdate{u.param, buffer_of(param->value), buffer_of(u.value)});
    }
    return p;
  }

  const Graph& g_;
  PlanOptions options_;
  SymbolBindings bounds_;
  int32_t end_ = 0;
  std::vector<int32_t> last_;             // per value: the last call reading it (end_: read after the run)
  std::vector<int32_t> slot_of_;          // per value: its arena slot, -1 if none
  std::vector<int32_t> param_home_;       // per value: the parameter it is written into, -1 if none
  std::map<ValueId, ValueId> successor_;  // operand -> the result written over it
  std::vector<std::vector<std::pair<size_t, size_t>>> in_place_operand_;  // per call: (operand, result)
  std::vector<Slot> slots_;
  int64_t raw_bytes_ = 0;
};

std::string human_bytes(int64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

}  // namespace


Program plan_memory(const Graph& graph, const PlanOptions& options, PlanStats* stats) {
  // Every size below is computed at the bounds: first make sure none can overflow (ir/shape.h).
  for (size_t v = 0; v < graph.num_values(); ++v) {
    const ValueInfo& info = graph.value(static_cast<ValueId>(v));
    try {
      check_tensor_size(graph, info.type, graph.value_name(static_cast<ValueId>(v)));
    } catch (const Error& e) {
      throw Error(with_location(fmt::format("plan_memory: graph '{}': {}", graph.name(), e.what()),
                                info.kind == ValueKind::result ? graph.nodes()[info.owner].loc : SourceLoc{}));
    }
  }
  return Planner(graph, options).run(stats);
}

PlanStats plan_stats(const Graph& graph, const PlanOptions& options) {
  PlanStats stats;
  plan_memory(graph, options, &stats);
  return stats;
}

std::string memory_summary(const Graph& graph) {
  PlanStats s;
  try {
    s = plan_stats(graph);
  } catch (const Error& e) {
    return fmt::format("memory: not planned: {}\n", e.what());
  }
  std::string out = fmt::format("memory ({} temporaries, sized at the bounds, 64-byte slots):\n", s.values);
  out +=
      fmt::format("  without reuse  {:>12} bytes  ({})\n", s.bytes_without_reuse, human_bytes(s.bytes_without_reuse));
  out += fmt::format("  planned arena  {:>12} bytes  ({}; {} slots, {} results in place)\n", s.arena_bytes,
                     human_bytes(s.arena_bytes), s.buffers, s.in_place);
  out += fmt::format("  live peak      {:>12} bytes  ({}; the least any arena needs)\n", s.live_peak_bytes,
                     human_bytes(s.live_peak_bytes));
  return out;
}

}  // namespace weft
