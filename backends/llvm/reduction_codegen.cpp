/** \file
 * Reduction regions: row-wise reductions (softmax, layer_norm, a loss's sums, a bias gradient's
 * column sums) with the elementwise ops around them.
 *
 *   name(buffers, dims)   entry: splits the rows (kept axes) across tasks
 *   name.task(ctx, t)     per row: one pass over the reduced axes per stage of reductions, then
 *                         one pass writing the full-level outputs, then the row-level outputs
 *
 * The lanes of a vector walk one of two axes, chosen from the inputs' strides:
 *  - the last reduced axis, when rows are contiguous (softmax over the last axis): a pass keeps one
 *    vector accumulator per reduction, combined across lanes at the end of the pass in a fixed tree
 *    order;
 *  - the last kept axis, when that is the contiguous one (a sum over axis 0 of [N, D]): a vector
 *    holds `lanes` neighbouring rows, and a pass walks the reduced elements one at a time, each
 *    step one contiguous load per input, with no combining across lanes at the end.
 * Results are deterministic either way (they depend on the sizes, never on the thread count); they
 * differ from the interpreter's left-to-right sums by rounding only.
 *
 * Three things bring a row's passes close to the speed of memory (bench/bandwidth_bench.cpp
 * measures them against a copy):
 *  - a reduction pass over contiguous lanes keeps `kAccumulators` independent accumulators (vector
 *    u of an unrolled step goes to accumulator u), merged pairwise after the pass: one
 *    accumulator would make every vector wait for the previous one's add (or max);
 *  - a last-stage operand that a full-level output also uses and that is costly to compute
 *    (softmax's exp(x - max), summed in stage 2 and divided by the sum in the output) is stored
 *    into that output during its pass and loaded back by the write pass, instead of being computed
 *    twice. The row of the output is still in cache when the write pass reads it. This is done only
 *    when no output of the write pass reads the region's inputs at the full level, so it stays
 *    correct even if an output shared an input's memory;
 *  - when a call's rows stream from memory (more bytes than the last-level cache), one pass
 *    prefetches the next row, so that memory works while the core computes (plan_prefetch).
 */
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <algorithm>
#include <functional>
#include <map>
#include <vector>

#include "backends/llvm/host_cache.h"
#include "backends/llvm/ir_util.h"
#include "backends/llvm/region_codegen.h"
#include "backends/llvm/term_codegen.h"
#include "ir/error.h"
#include "ir/ops.h"

namespace weft::llvm_backend {

namespace {

/// Independent accumulators per reduction in a pass over contiguous lanes (a power of two). Four
/// cover the latency of a vector add or max (3-4 cycles) at one vector per cycle.
constexpr int kAccumulators = 4;

/// Rows emitted side by side in each pass (RowEmitter::emit_rows), when the lanes walk the one
/// reduced axis. A row is a chain of dependent passes (layer_norm: the mean, then the variance,
/// which needs it, then the output, which needs both); one row at a time, the core idles at each
/// pass boundary and between rows, which short rows feel most (in-cache layer_norm of 128-column
/// rows ran at 0.37 of a copy, of 2048-column rows at 0.65). Two rows' chains overlap (1024 × 512:
/// 0.55 -> 0.62; four rows reached 0.66 but need 16 accumulators, more than the 16 vector registers
/// of AVX2, or fewer per row, which would make a row's sum depend on whether it ran with others).
/// Each row keeps its own kAccumulators, so its result is the same bits either way. Only while the
/// rows fit in half of a 32 KiB L1 together (kRowsTogetherBytes), since the later passes read them
/// from there, and not when the rows stream from memory (the next-row prefetch is planned for one
/// row; 4 rows of 8192 × 2048 together: softmax 0.8 -> 0.55 of a copy).
constexpr int kRowsTogether = 2;
constexpr int64_t kRowsTogetherBytes = 16 << 10;

/// A last-stage reduction operand parked in a full-level output between the two passes that use it.
struct Reuse {
  int term = -1;   // the operand (softmax: exp(x - max))
  int store = -1;  // index into LoweredRegion::stores: the output it is stored into
  int load = -1;   // a load term reading it back through that store's access
};

/// A buffer walked contiguously along the lanes whose next row is fetched ahead (see plan_prefetch).
struct Prefetch {
  int access = -1;
  bool write = false;               // an output (prefetched for writing)
  llvm::Value* base = nullptr;      // the buffer's pointer
  llvm::Value* row_step = nullptr;  // elements from one row to the next
};

struct PrefetchPlan {
  std::vector<Prefetch> buffers;
  llvm::Value* streaming = nullptr;  // i1: the streamed bytes exceed the last-level cache
};

/// How the space is walked: rows (decoded from a flat index), the lane axis (vectorized), and the
/// reduced axes walked one element at a time (decoded from a flat index).
struct Axes {
  bool rows_in_lanes = false;
  std::vector<int> row_axes, loop_axes;
  std::vector<llvm::Value*> row_sizes, loop_sizes;
  llvm::Value* rows = nullptr;        // product of row_sizes
  llvm::Value* loop_count = nullptr;  // product of loop_sizes
  int lane_axis = -1;
  llvm::Value* lane_size = nullptr;
  llvm::Value* reduced = nullptr;  // elements reduced per row
  uint64_t row_mask = 0, loop_mask = 0;
};

/// Whether vectors should hold neighbouring rows: no input is contiguous along the last reduced
/// axis, and some input is along the last kept one. An input that is the same all along the other
/// axis does not count for either: the lanes of the other choice read it as one broadcast value
/// (a splat), not as a gather. So the gradient of an outer product summed over its rows,
/// Σ_t dscore[b, t]·v[a]·(1 − tanh(q[b, a] + k[b, t, a])²), walks a along the lanes, as k wants,
/// though dscore is contiguous along t: dscore and v are the same for every a or every t.
bool rows_in_lanes(const LoweredRegion& r) {
  int last_kept = -1;
  for (size_t d = 0; d < r.space.size(); ++d)
    if (r.axis_class[d] == AxisClass::outer) last_kept = static_cast<int>(d);
  if (last_kept < 0) return false;
  int along_reduced = 0, along_kept = 0;
  for (const Term& t : r.terms) {
    if (t.kind != TermKind::load) continue;
    const Access& a = r.accesses[t.access];
    const Dim& reduced = a.strides.back();
    const Dim& kept = a.strides[last_kept];
    along_reduced += reduced == Dim(1) && kept != Dim(0);
    along_kept += kept == Dim(1) && reduced != Dim(0);
  }
  return along_reduced == 0 && along_kept > 0;
}

Axes axes_of(llvm::IRBuilderBase& b, DimValues& dims, const LoweredRegion& r) {
  WEFT_CHECK(r.axis_class.back() == AxisClass::inner, "a reduction region's last axis is reduced");
  Axes a;
  a.rows_in_lanes = rows_in_lanes(r);
  a.rows = b.getInt64(1);
  a.loop_count = b.getInt64(1);
  a.reduced = b.getInt64(1);
  std::vector<int> kept, reduced;
  for (int d = 0; d < static_cast<int>(r.space.size()); ++d)
    (r.axis_class[d] == AxisClass::outer ? kept : reduced).push_back(d);
  a.lane_axis = a.rows_in_lanes ? kept.back() : reduced.back();
  for (int d : kept)
    if (d != a.lane_axis) a.row_axes.push_back(d);
  for (int d : reduced)
    if (d != a.lane_axis) a.loop_axes.push_back(d);
  for (int d : a.row_axes) {
    a.row_sizes.push_back(dims.get(r.space[d]));
    a.rows = b.CreateMul(a.rows, a.row_sizes.back());
    a.row_mask |= uint64_t{1} << d;
  }
  for (int d : a.loop_axes) {
    a.loop_sizes.push_back(dims.get(r.space[d]));
    a.loop_count = b.CreateMul(a.loop_count, a.loop_sizes.back());
    a.loop_mask |= uint64_t{1} << d;
  }
  a.lane_size = dims.get(r.space[a.lane_axis]);
  for (int d : reduced) a.reduced = b.CreateMul(a.reduced, dims.get(r.space[d]));
  return a;
}

/// Whether a store's output varies along the reduced axes (it is written by the write pass).
bool is_full_store(const LoweredRegion& r, const Store& st) {
  for (size_t d = 0; d < r.space.size(); ++d)
    if (r.axis_class[d] == AxisClass::inner && !(r.accesses[st.access].strides[d] == Dim(0))) return true;
  return false;
}

/// Whether `term`'s DAG reaches a term for which `stop` holds, not looking below terms in `leaves`
/// (each term visited once: terms are shared).
bool reaches(const LoweredRegion& r, int term, const std::vector<int>& leaves, const std::function<bool(int)>& stop) {
  std::vector<char> seen(r.terms.size(), 0);
  std::vector<int> todo = {term};
  while (!todo.empty()) {
    int t = todo.back();
    todo.pop_back();
    if (seen[t] || std::find(leaves.begin(), leaves.end(), t) != leaves.end()) continue;
    seen[t] = 1;
    if (stop(t)) return true;
    for (int o : r.terms[t].operands) todo.push_back(o);
  }
  return false;
}

/// Whether the full-level part of `term` (what varies along reduced axes) evaluates an op of the
/// op table's cost class `expensive`, i.e. costs more than storing it and loading it back.
bool costly(const LoweredRegion& r, int term, uint64_t inner) {
  return reaches(r, term, {}, [&](int k) {
    const Term& t = r.terms[k];
    return (t.depends & inner) && t.kind == TermKind::op && op_def(t.node->op).cost == CostClass::expensive;
  });
}

/// The operands worth parking in an output (see the file comment), with a load term appended to
/// `r` for each. Empty unless rows are walked one at a time with the lanes along the last axis.
std::vector<Reuse> plan_reuse(LoweredRegion& r, bool rows_in_lanes) {
  std::vector<Reuse> out;
  int stages = 0;
  for (const Reduction& red : r.reductions) stages = std::max(stages, red.stage);
  if (rows_in_lanes || stages == 0) return out;
  const uint64_t inner = r.inner_mask();
  const uint64_t lane_bit = uint64_t{1} << (r.space.size() - 1);
  for (const Reduction& red : r.reductions) {
    int t = red.operand;
    const Term& term = r.terms[t];
    if (red.stage != stages || !(term.depends & lane_bit) || !costly(r, t, inner)) continue;
    bool seen = false;
    for (const Reuse& u : out) seen = seen || u.term == t;
    if (seen) continue;
    for (size_t s = 0; s < r.stores.size(); ++s) {
      const Store& st = r.stores[s];
      const Access& a = r.accesses[st.access];
      // Every axis strided (each element of the space has its own slot), contiguous lanes.
      bool dense = a.dtype == term.dtype && a.strides.back() == Dim(1);
      for (const Dim& stride : a.strides) dense = dense && !(stride == Dim(0));
      if (!dense || !is_full_store(r, st) || !reaches(r, st.term, {}, [&](int k) { return k == t; })) continue;
      Term load;
      load.kind = TermKind::load;
      load.dtype = term.dtype;
      load.access = st.access;
      load.depends = term.depends;
      r.terms.push_back(load);
      out.push_back(Reuse{t, static_cast<int>(s), static_cast<int>(r.terms.size()) - 1});
      break;
    }
  }
  // With the parked operands as leaves, the write pass must read no input along the reduced axes:
  // the parking stores must not be able to overwrite what it still reads.
  std::vector<int> leaves;
  for (const Reuse& u : out) leaves.push_back(u.term);
  for (const Store& st : r.stores) {
    if (!is_full_store(r, st)) continue;
    bool reads_input = reaches(r, st.term, leaves, [&](int k) {
      return r.terms[k].kind == TermKind::load && (r.terms[k].depends & inner) != 0;
    });
    if (reads_input) return {};
  }
  return out;
}

/// The buffers whose next row a stage pass prefetches: inputs read, and outputs written, along
/// the reduced axes with contiguous lanes, rows walked one at a time. A row's first pass reads it
/// from memory and the later passes from cache; with no demand misses during those, the hardware
/// prefetcher stops running ahead and memory idles while the core computes. Fetching the next row
/// (an output's for writing: no wait for ownership later) during one of this row's passes keeps
/// memory busy while it computes (RowEmitter::prefetch_stage says which pass). Only when the
/// streamed buffers are larger than the last-level cache (`streaming`, decided per call; that pass
/// has a version without prefetches): below that the rows come from cache anyway, and fetching a
/// row early costs load slots and evicts the current one from L1 (measured on layer_norm: 10%
/// slower on 1024 × 512, 15% faster on 8192 × 2048). A prefetch never faults, so the last row's
/// reaching past its buffer is harmless.
PrefetchPlan plan_prefetch(llvm::IRBuilderBase& b, const LoweredRegion& r, const Axes& axes, DimValues& dims,
                           llvm::Value* buffers) {
  PrefetchPlan plan;
  std::vector<Prefetch>& out = plan.buffers;
  if (axes.rows_in_lanes || axes.row_axes.empty()) return plan;
  const uint64_t inner = r.inner_mask();
  std::vector<int> seen_buffers;  // input i as i, output k as -1 - k
  int64_t bytes_per_element = 0;  // summed over the streamed buffers
  auto consider = [&](int access, bool write) {
    const Access& a = r.accesses[access];
    if (a.constant >= 0 || a.input < 0 || !(a.strides[axes.lane_axis] == Dim(1))) return;
    const Dim& step = a.strides[axes.row_axes.back()];
    int key = write ? -1 - a.input : a.input;
    if (step == Dim(0) || std::find(seen_buffers.begin(), seen_buffers.end(), key) != seen_buffers.end()) return;
    seen_buffers.push_back(key);
    bytes_per_element += static_cast<int64_t>(dtype_size(a.dtype));
    llvm::Type* ptr = llvm::PointerType::getUnqual(b.getContext());
    int slot = write ? r.num_inputs + a.input : a.input;
    llvm::Value* base = b.CreateLoad(ptr, b.CreateGEP(ptr, buffers, b.getInt64(slot)));
    out.push_back(Prefetch{access, write, base, dims.get(step)});
  };
  for (const Term& t : r.terms)
    if (t.kind == TermKind::load && (t.depends & inner)) consider(t.access, false);
  for (const Store& st : r.stores)
    if (is_full_store(r, st)) consider(st.access, true);
  if (out.empty()) return plan;
  llvm::Value* bytes = b.CreateMul(b.CreateMul(axes.rows, axes.reduced), b.getInt64(bytes_per_element));
  plan.streaming = b.CreateICmpSGT(bytes, b.getInt64(last_level_cache_bytes()));
  return plan;
}

void set_indices(EmitContext& ctx, const std::vector<int>& axes, const std::vector<llvm::Value*>& values) {
  for (size_t k = 0; k < axes.size(); ++k) ctx.index[axes[k]] = values[k];
}

/// Emits the code of one row (reductions in lanes) or one vector of rows (rows in lanes).
class RowEmitter {
 public:
  RowEmitter(const LoweredRegion& r, int lanes, TermEmitter& em, DimValues& dims, const Axes& axes,
             const std::vector<Reuse>& reuse, const PrefetchPlan& prefetch)
      : r_(r), lanes_(lanes), em_(em), dims_(dims), axes_(axes), reuse_(reuse), prefetch_(prefetch) {}

  /// `row_ctx` binds the kept axes (and the row-value pseudo-axis); `row` is the flat row index.
  void emit_row(llvm::IRBuilderBase& b, EmitContext& row_ctx, llvm::Value* row) { emit_rows(b, {&row_ctx}, {row}); }

  /// Several rows at once (reductions in lanes, one reduced axis): each pass walks the rows side by
  /// side, vector j of every row in the same step, so that one row's chain of dependent work (its
  /// reduction, then the next pass that needs the result) overlaps the others'. A row is a short
  /// chain of dependent passes; one at a time, the core waits at each pass boundary (see
  /// kRowsTogether).
  void emit_rows(llvm::IRBuilderBase& b, const std::vector<EmitContext*>& ctxs, const std::vector<llvm::Value*>& rows) {
    const size_t n = ctxs.size();
    WEFT_CHECK(n == 1 || (!axes_.rows_in_lanes && axes_.loop_axes.empty()), "rows emitted together need one reduced axis");
    std::vector<std::map<int, llvm::Value*>> row_values(n);
    size_t current = 0;  // the row whose terms are being emitted
    em_.row_value = [&](int k) {
      auto it = row_values[current].find(k);
      WEFT_CHECK(it != row_values[current].end(), "a row value read before its stage");
      return it->second;
    };
    int stages = 0;
    for (const Reduction& red : r_.reductions) stages = std::max(stages, red.stage);
    for (int s = 1; s <= stages; ++s) {
      std::vector<int> ks;
      std::vector<llvm::Value*> init;
      std::vector<const Reduction*> slots;  // the reduction of each accumulator
      bool has_argmax = false;
      for (size_t k = 0; k < r_.reductions.size(); ++k) {
        if (r_.reductions[k].stage != s) continue;
        ks.push_back(static_cast<int>(k));
        for (llvm::Value* v : identity(r_.reductions[k])) {
          init.push_back(v);
          slots.push_back(&r_.reductions[k]);
        }
        has_argmax = has_argmax || r_.reductions[k].op == OpKind::argmax;
      }
      // Accumulator copies merge slot by slot; argmax's (value, index) pairs keep one copy, and so
      // does a pass that evaluates a transcendental: its body is long enough to hide one
      // accumulator's latency, and copies of it would only spill the body's constants (softmax's
      // exp pass: 4 copies ran 2x slower than 1, measured).
      bool costly_pass = false;
      for (int k : ks) costly_pass = costly_pass || costly(r_, r_.reductions[k].operand, r_.inner_mask());
      Merge merge_copies;
      if (!has_argmax && !costly_pass)
        merge_copies = [&](llvm::IRBuilderBase& mb, size_t slot, llvm::Value* x, llvm::Value* y) {
          return merge(mb, slots[slot]->op, is_float(slots[slot]->dtype), x, y);
        };
      const bool last = s == stages;
      auto pass = [&](bool prefetch) {
        for (EmitContext* c : ctxs) c->where.block = b.GetInsertBlock();
        std::vector<llvm::Value*> all;
        for (size_t i = 0; i < n; ++i) all.insert(all.end(), init.begin(), init.end());
        return over_reduced(
            b, ctxs, all,
            [&](size_t i, EmitContext& v, llvm::Value* here, std::vector<llvm::Value*> in) {
              current = i;
              size_t at = 0;
              for (int k : ks)
                at = combine(b, r_.reductions[k], em_.emit(r_.reductions[k].operand, v), here, v.mask, in, at);
              if (last)
                for (const Reuse& u : reuse_) em_.store(r_.stores[u.store], em_.emit(u.term, v), v);
              if (prefetch) prefetch_next_row(b, v, static_cast<int64_t>(n));
              return in;
            },
            merge_copies);
      };
      std::vector<llvm::Value*> acc =
          s == prefetch_stage() && prefetch_.streaming ? two_ways(b, ctxs, prefetch_.streaming, pass) : pass(false);
      for (size_t i = 0; i < n; ++i) {
        current = i;
        std::vector<llvm::Value*> mine(acc.begin() + i * init.size(), acc.begin() + (i + 1) * init.size());
        size_t at = 0;
        for (int k : ks) row_values[i][k] = finish(b, r_.reductions[k], mine, at);
      }
    }

    std::vector<const Store*> full, rowwise;
    for (const Store& st : r_.stores) {
      bool varies = false;
      for (size_t d = 0; d < r_.space.size(); ++d)
        varies = varies || (r_.axis_class[d] == AxisClass::inner && !(r_.accesses[st.access].strides[d] == Dim(0)));
      (varies ? full : rowwise).push_back(&st);
    }
    if (!full.empty()) {
      for (EmitContext* c : ctxs) c->where.block = b.GetInsertBlock();
      // Every row's values of a step first, then their stores: with no store between them, the
      // loads the rows share (layer_norm's gamma and beta) are one load (LLVM cannot otherwise
      // tell that a store to an output leaves an input unchanged).
      std::vector<std::vector<std::pair<const Store*, llvm::Value*>>> pending(n);
      over_reduced(
          b, ctxs, {},
          [&](size_t i, EmitContext& v, llvm::Value*, std::vector<llvm::Value*> in) {
            current = i;
            // Parked operands are loaded back, before any store of this step, and stand for their terms.
            for (const Reuse& u : reuse_) v.terms[u.term] = em_.emit(u.load, v);
            pending[i].clear();
            for (const Store* st : full) {
              bool parked = false;  // the output is the parked operand itself: already written
              for (const Reuse& u : reuse_) parked = parked || (&r_.stores[u.store] == st && st->term == u.term);
              if (!parked) pending[i].emplace_back(st, em_.emit(st->term, v));
            }
            return in;
          },
          nullptr,
          [&](std::vector<EmitContext>& vs) {
            for (size_t i = 0; i < n; ++i)
              for (auto& [st, value] : pending[i]) em_.store(*st, value, vs[i]);
          });
    }
    for (size_t i = 0; i < n; ++i) {
      current = i;
      EmitContext& row_ctx = *ctxs[i];
      row_ctx.where.block = b.GetInsertBlock();
      for (const Store* st : rowwise) {
        bool scalar = true;
        for (size_t d = 0; d < r_.space.size(); ++d) scalar = scalar && r_.accesses[st->access].strides[d] == Dim(0);
        llvm::Value* value = em_.emit(st->term, row_ctx);
        if (!scalar || axes_.row_axes.empty() || axes_.rows_in_lanes) {
          em_.store(*st, value, row_ctx);  // a scalar output stored from lanes: every lane holds the same value
          continue;
        }
        // A scalar output (a constant a region copied in) is written by row 0 only.
        emit_if(b, b.CreateICmpEQ(rows[i], b.getInt64(0)), [&] {
          EmitContext once;
          once.parent = &row_ctx;
          once.where = Placement{b.GetInsertBlock(), nullptr};
          once.bound = row_ctx.bound;
          once.index = row_ctx.index;
          em_.store(*st, value, once);
        });
        row_ctx.where.block = b.GetInsertBlock();
      }
    }
    em_.row_value = nullptr;
  }

 private:
  /// `body(i, v, here, in)`: row i's vector context, the reduced (flat) index of each lane's
  /// element, and row i's accumulators.
  using Body =
      std::function<std::vector<llvm::Value*>(size_t row, EmitContext&, llvm::Value* here, std::vector<llvm::Value*>)>;
  /// Merges two copies of accumulator `slot`.
  using Merge = std::function<llvm::Value*(llvm::IRBuilderBase&, size_t slot, llvm::Value*, llvm::Value*)>;
  /// Runs after every row's body of one vector step, with the rows' vector contexts.
  using AfterStep = std::function<void(std::vector<EmitContext>&)>;

  EmitContext vector_context(llvm::IRBuilderBase& b, EmitContext& parent, llvm::Value* mask) {
    EmitContext v;
    v.parent = &parent;
    v.where = Placement{nullptr, &b};
    v.vector = true;
    v.mask = mask;
    v.vector_axis = axes_.lane_axis;
    v.index = parent.index;
    v.bound = parent.bound;
    return v;
  }

  /// One pass over the reduced elements of the rows `rows` (several only with one reduced axis,
  /// contiguous lanes); `init` holds each row's accumulators in turn. With `merge`, a pass along
  /// contiguous lanes keeps kAccumulators copies of each row's accumulators and merges them
  /// pairwise at the end.
  std::vector<llvm::Value*> over_reduced(llvm::IRBuilderBase& b, const std::vector<EmitContext*>& rows,
                                         std::vector<llvm::Value*> init, const Body& body, const Merge& merge = nullptr,
                                         const AfterStep& after = nullptr) {
    const size_t n = rows.size();
    if (axes_.rows_in_lanes) {
      EmitContext& row_ctx = *rows[0];
      return emit_for_carried(
          b, b.getInt64(0), axes_.loop_count, b.getInt64(1), init,
          [&](llvm::Value* o, const std::vector<llvm::Value*>& in) {
            std::vector<EmitContext> vs{vector_context(b, row_ctx, row_ctx.mask)};
            set_indices(vs[0], axes_.loop_axes, emit_decode(b, o, axes_.loop_sizes));
            vs[0].bound |= axes_.loop_mask;
            std::vector<llvm::Value*> out = body(0, vs[0], b.CreateVectorSplat(lanes_, o), in);
            if (after) after(vs);
            return out;
          },
          "red");
    }
    const size_t slots = init.size() / n;  // per row
    const int copies = merge && slots > 0 ? kAccumulators : 1;  // per row, however many rows
    const size_t group = n * slots;  // one copy of every row's accumulators
    auto vector_pass = [&](const std::vector<EmitContext*>& parents, std::vector<llvm::Value*> values) {
      auto one_vector = [&](llvm::Value* j, llvm::Value* mask, const std::vector<llvm::Value*>& in) {
        std::vector<llvm::Value*> out;
        llvm::Value* here = b.CreateAdd(b.CreateVectorSplat(lanes_, j), em_.lane_indices());
        std::vector<EmitContext> vs;
        vs.reserve(n);  // body gets references into it
        for (size_t i = 0; i < n; ++i) {
          vs.push_back(vector_context(b, *parents[i], mask));
          vs.back().index[axes_.lane_axis] = j;
          vs.back().bound |= uint64_t{1} << axes_.lane_axis;
          std::vector<llvm::Value*> mine(in.begin() + i * slots, in.begin() + (i + 1) * slots);
          mine = body(i, vs.back(), here, mine);
          out.insert(out.end(), mine.begin(), mine.end());
        }
        if (after) after(vs);
        return out;
      };
      llvm::Value* begin = b.getInt64(0);
      if (copies > 1) {
        // Whole steps of `copies` vectors, vector u into copy u; the rest goes to copy 0.
        llvm::Value* step = b.getInt64(int64_t{copies} * lanes_);
        llvm::Value* whole = b.CreateSub(axes_.lane_size, b.CreateSRem(axes_.lane_size, step));
        values = emit_for_carried(
            b, begin, whole, step, values,
            [&](llvm::Value* j, const std::vector<llvm::Value*>& in) {
              std::vector<llvm::Value*> out;
              for (int u = 0; u < copies; ++u) {
                std::vector<llvm::Value*> copy(in.begin() + u * group, in.begin() + (u + 1) * group);
                copy = one_vector(b.CreateAdd(j, b.getInt64(int64_t{u} * lanes_)), nullptr, copy);
                out.insert(out.end(), copy.begin(), copy.end());
              }
              return out;
            },
            "j.unrolled");
        begin = whole;
      }
      std::vector<llvm::Value*> first(values.begin(), values.begin() + group);
      first = emit_vector_loop(b, begin, axes_.lane_size, lanes_, first, one_vector);
      std::copy(first.begin(), first.end(), values.begin());
      return values;
    };
    std::vector<llvm::Value*> all;
    for (int u = 0; u < copies; ++u) all.insert(all.end(), init.begin(), init.end());
    if (!axes_.loop_axes.empty()) {
      EmitContext& row_ctx = *rows[0];
      all = emit_for_carried(
          b, b.getInt64(0), axes_.loop_count, b.getInt64(1), all,
          [&](llvm::Value* o, const std::vector<llvm::Value*>& in) {
            EmitContext mid;
            mid.parent = &row_ctx;
            mid.where = Placement{b.GetInsertBlock(), nullptr};
            mid.index = row_ctx.index;
            set_indices(mid, axes_.loop_axes, emit_decode(b, o, axes_.loop_sizes));
            mid.bound = row_ctx.bound | axes_.loop_mask;
            return vector_pass({&mid}, in);
          },
          "red");
    } else {
      all = vector_pass(rows, std::move(all));
    }
    // Pairwise, in a fixed order: copy u merges with copy u + width / 2.
    for (int width = copies; width > 1; width /= 2)
      for (int u = 0; u < width / 2; ++u)
        for (size_t k = 0; k < group; ++k)
          all[u * group + k] = merge(b, k % slots, all[u * group + k], all[(u + width / 2) * group + k]);
    all.resize(group);
    return all;
  }

  llvm::Type* vec(DType t) const { return llvm::FixedVectorType::get(em_.scalar_type(t), lanes_); }

  /// The accumulator's initial vectors: the op's identity (argmax: value and index -1).
  std::vector<llvm::Value*> identity(const Reduction& red) {
    llvm::Type* t = vec(red.dtype);
    bool f = is_float(red.dtype);
    unsigned bits = t->getScalarSizeInBits();
    llvm::Value* low = f ? llvm::ConstantFP::getInfinity(t, true) : llvm::ConstantInt::get(t, llvm::APInt::getSignedMinValue(bits));
    llvm::Value* high = f ? llvm::ConstantFP::getInfinity(t, false) : llvm::ConstantInt::get(t, llvm::APInt::getSignedMaxValue(bits));
    switch (red.op) {
      case OpKind::reduce_sum:
      case OpKind::reduce_mean: return {llvm::Constant::getNullValue(t)};
      case OpKind::reduce_max: return {low};
      case OpKind::reduce_min: return {high};
      case OpKind::argmax: return {low, llvm::Constant::getAllOnesValue(vec(DType::i64))};
      default: break;
    }
    throw InternalError("a reduction region with an unknown reduction");
  }

  /// Folds the vector `x` into the accumulator(s) at `values[at]`; returns the next slot.
  size_t combine(llvm::IRBuilderBase& b, const Reduction& red, llvm::Value* x, llvm::Value* here, llvm::Value* mask,
                 std::vector<llvm::Value*>& values, size_t at) {
    bool f = is_float(red.dtype);
    if (red.op == OpKind::argmax) {
      llvm::Value*& best = values[at];
      llvm::Value*& index = values[at + 1];
      llvm::Value* better = f ? b.CreateFCmpOGT(x, best) : b.CreateICmpSGT(x, best);
      if (f) better = b.CreateOr(better, b.CreateAnd(b.CreateFCmpUNO(x, x), b.CreateFCmpORD(best, best)));
      better = b.CreateOr(better, b.CreateICmpSLT(index, llvm::Constant::getNullValue(index->getType())));
      if (mask) better = b.CreateAnd(better, mask);
      best = b.CreateSelect(better, x, best);
      index = b.CreateSelect(better, here, index);
      return at + 2;
    }
    if (mask) x = b.CreateSelect(mask, x, identity(red)[0]);
    values[at] = merge(b, red.op, f, values[at], x);
    return at + 1;
  }

  static llvm::Value* merge(llvm::IRBuilderBase& b, OpKind op, bool f, llvm::Value* x, llvm::Value* y) {
    switch (op) {
      case OpKind::reduce_max: return b.CreateBinaryIntrinsic(f ? llvm::Intrinsic::maximum : llvm::Intrinsic::smax, x, y);
      case OpKind::reduce_min: return b.CreateBinaryIntrinsic(f ? llvm::Intrinsic::minimum : llvm::Intrinsic::smin, x, y);
      default: return f ? b.CreateFAdd(x, y) : b.CreateAdd(x, y);
    }
  }

  /// The row value(s) from the accumulator(s) at `values[at]`: lanes combined (reductions in
  /// lanes) or as they are (rows in lanes); advances `at`.
  llvm::Value* finish(llvm::IRBuilderBase& b, const Reduction& red, const std::vector<llvm::Value*>& values, size_t& at) {
    bool f = is_float(red.dtype);
    if (red.op == OpKind::argmax) {
      llvm::Value* index = axes_.rows_in_lanes ? values[at + 1] : combine_argmax(b, f, values[at], values[at + 1]);
      at += 2;
      return b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, index, llvm::Constant::getNullValue(index->getType()));
    }
    llvm::Value* v = values[at++];
    if (!axes_.rows_in_lanes) {
      std::vector<llvm::Value*> lane;
      for (int i = 0; i < lanes_; ++i) lane.push_back(b.CreateExtractElement(v, uint64_t(i)));
      for (size_t w = lane.size(); w > 1; w /= 2)
        for (size_t i = 0; i < w / 2; ++i) lane[i] = merge(b, red.op, f, lane[i], lane[i + w / 2]);
      v = lane[0];
    }
    if (red.op != OpKind::reduce_mean) return v;
    auto splat = [&](llvm::Value* s) { return v->getType()->isVectorTy() ? b.CreateVectorSplat(lanes_, s) : s; };
    if (f) return b.CreateFDiv(v, splat(b.CreateSIToFP(axes_.reduced, v->getType()->getScalarType())));  // 0/0 = NaN
    llvm::Value* wide = b.CreateSExt(v, v->getType()->getWithNewType(b.getInt64Ty()));
    llvm::Value* q = b.CreateSDiv(wide, splat(emit_max(b, axes_.reduced, b.getInt64(1))));
    q = b.CreateSelect(b.CreateICmpEQ(axes_.reduced, b.getInt64(0)), llvm::Constant::getNullValue(q->getType()), q);
    return b.CreateTrunc(q, v->getType());
  }

  /// The first index of the maximum across lanes; NaN counts as the maximum (the interpreter's rule).
  llvm::Value* combine_argmax(llvm::IRBuilderBase& b, bool f, llvm::Value* values, llvm::Value* indices) {
    llvm::Value* best = b.CreateExtractElement(values, uint64_t{0});
    llvm::Value* index = b.CreateExtractElement(indices, uint64_t{0});
    for (int i = 1; i < lanes_; ++i) {
      llvm::Value* x = b.CreateExtractElement(values, uint64_t(i));
      llvm::Value* xi = b.CreateExtractElement(indices, uint64_t(i));
      llvm::Value* valid = b.CreateICmpSGE(xi, b.getInt64(0));
      llvm::Value* none = b.CreateICmpSLT(index, b.getInt64(0));
      llvm::Value* earlier = b.CreateICmpSLT(xi, index);
      llvm::Value* greater = f ? b.CreateFCmpOGT(x, best) : b.CreateICmpSGT(x, best);
      llvm::Value* equal = f ? b.CreateFCmpOEQ(x, best) : b.CreateICmpEQ(x, best);
      if (f) {
        llvm::Value* x_nan = b.CreateFCmpUNO(x, x);
        llvm::Value* best_nan = b.CreateFCmpUNO(best, best);
        greater = b.CreateSelect(best_nan, b.getFalse(), b.CreateOr(greater, x_nan));
        equal = b.CreateOr(equal, b.CreateAnd(x_nan, best_nan));
      }
      llvm::Value* take = b.CreateAnd(valid, b.CreateOr(none, b.CreateOr(greater, b.CreateAnd(equal, earlier))));
      best = b.CreateSelect(take, x, best);
      index = b.CreateSelect(take, xi, index);
    }
    return index;
  }

  /// The stage whose pass prefetches the next row: the first that evaluates a transcendental (a
  /// long pass, over which the fetches spread: softmax's exp pass; issued in its short max pass,
  /// they wait for each other and hide nothing, measured), else the first.
  int prefetch_stage() const {
    const uint64_t inner = r_.inner_mask();
    int best = 0;
    for (const Reduction& red : r_.reductions)
      if (costly(r_, red.operand, inner) && (best == 0 || red.stage < best)) best = red.stage;
    return best == 0 ? 1 : best;
  }

  /// `code(true)` if `cond`, else `code(false)`; the values both return, merged. Code emitted into
  /// the row contexts on either path (row-level terms, offsets) is forgotten after it, so that
  /// nothing later uses a value of one path only.
  std::vector<llvm::Value*> two_ways(llvm::IRBuilderBase& b, const std::vector<EmitContext*>& ctxs, llvm::Value* cond,
                                     const std::function<std::vector<llvm::Value*>(bool)>& code) {
    llvm::Function* f = b.GetInsertBlock()->getParent();
    llvm::LLVMContext& c = b.getContext();
    auto* then_block = llvm::BasicBlock::Create(c, "streaming", f);
    auto* else_block = llvm::BasicBlock::Create(c, "cached", f);
    auto* merge_block = llvm::BasicBlock::Create(c, "merged", f);
    b.CreateCondBr(cond, then_block, else_block);
    std::vector<EmitContext> saved;
    for (EmitContext* ctx : ctxs) saved.push_back(*ctx);
    std::vector<llvm::Value*> values[2];
    llvm::BasicBlock* ends[2];
    for (int way = 0; way < 2; ++way) {
      b.SetInsertPoint(way == 0 ? then_block : else_block);
      values[way] = code(way == 0);
      ends[way] = b.GetInsertBlock();
      b.CreateBr(merge_block);
      for (size_t i = 0; i < ctxs.size(); ++i) {
        ctxs[i]->terms = saved[i].terms;
        ctxs[i]->splats = saved[i].splats;
        ctxs[i]->offsets = saved[i].offsets;
      }
    }
    b.SetInsertPoint(merge_block);
    for (EmitContext* ctx : ctxs) ctx->where.block = merge_block;
    std::vector<llvm::Value*> out;
    for (size_t i = 0; i < values[0].size(); ++i) {
      llvm::PHINode* phi = b.CreatePHI(values[0][i]->getType(), 2);
      phi->addIncoming(values[0][i], ends[0]);
      phi->addIncoming(values[1][i], ends[1]);
      out.push_back(phi);
    }
    return out;
  }

  /// Prefetches, for each planned buffer, the element `ahead` rows after this vector's first lane
  /// (the rows emitted together: the first row after them).
  void prefetch_next_row(llvm::IRBuilderBase& b, const EmitContext& v, int64_t ahead) {
    for (const Prefetch& p : prefetch_.buffers) {
      const Access& a = r_.accesses[p.access];
      llvm::Value* offset = b.CreateMul(p.row_step, b.getInt64(ahead));
      for (const Dim& d : a.offset) offset = b.CreateAdd(offset, dims_.get(d));
      for (size_t d = 0; d < a.strides.size(); ++d)
        if (!(a.strides[d] == Dim(0))) offset = b.CreateAdd(offset, b.CreateMul(dims_.get(a.strides[d]), v.index[d]));
      llvm::Type* elem = a.dtype == DType::boolean ? b.getInt8Ty() : em_.scalar_type(a.dtype);  // bools are bytes
      llvm::Value* address = b.CreateGEP(elem, p.base, offset);
      b.CreateIntrinsic(llvm::Intrinsic::prefetch, {address->getType()},
                        {address, b.getInt32(p.write ? 1 : 0), b.getInt32(3), b.getInt32(1)});
    }
  }

  const LoweredRegion& r_;
  int lanes_;
  TermEmitter& em_;
  DimValues& dims_;
  const Axes& axes_;
  const std::vector<Reuse>& reuse_;
  const PrefetchPlan& prefetch_;
};

llvm::Function* emit_task(llvm::Module& module, const std::string& name, const LoweredRegion& r,
                          const std::vector<Reuse>& reuse, int lanes) {
  BlockedTask task = open_blocked_task(module, name);
  FunctionFrame& f = task.frame;
  llvm::Value* buffers = task.buffers;
  Placement root{f.entry, nullptr};
  DimValues dims(r.symbols, task.dims, root);
  TermEmitter em(module, r, lanes, dims, buffers, root);
  llvm::IRBuilder<> b(f.body);
  Axes axes = axes_of(b, dims, r);
  auto [r0, r1] = task.row_range(b, axes.rows);
  EmitContext top;
  top.where = root;
  top.index.assign(r.space.size(), nullptr);
  PrefetchPlan prefetch = plan_prefetch(b, r, axes, dims, buffers);
  RowEmitter rows(r, lanes, em, dims, axes, reuse, prefetch);
  auto row_context = [&](llvm::Value* row) {
    EmitContext row_ctx;
    row_ctx.parent = &top;
    row_ctx.where = Placement{b.GetInsertBlock(), nullptr};
    row_ctx.index = top.index;
    set_indices(row_ctx, axes.row_axes, emit_decode(b, row, axes.row_sizes));
    row_ctx.bound = axes.row_mask;
    return row_ctx;
  };
  if (!axes.rows_in_lanes && axes.loop_axes.empty()) {
    // kRowsTogether rows at a time, then the rest one by one; all one by one when the rows stream
    // from memory (the next-row prefetch is planned for one row) or would not fit in L1 together.
    int64_t widest = 1;
    for (const Access& a : r.accesses) widest = std::max<int64_t>(widest, static_cast<int64_t>(dtype_size(a.dtype)));
    llvm::Value* bytes = b.CreateMul(axes.reduced, b.getInt64(widest * kRowsTogether));
    llvm::Value* use = b.CreateICmpSLE(bytes, b.getInt64(kRowsTogetherBytes));
    if (prefetch.streaming) use = b.CreateAnd(use, b.CreateNot(prefetch.streaming));
    llvm::Value* count = emit_max(b, b.CreateSub(r1, r0), b.getInt64(0));
    llvm::Value* whole = b.CreateSub(count, b.CreateSRem(count, b.getInt64(kRowsTogether)));
    llvm::Value* together_end = b.CreateAdd(r0, b.CreateSelect(use, whole, b.getInt64(0)));
    emit_for(
        b, r0, together_end, b.getInt64(kRowsTogether),
        [&](llvm::Value* row) {
          std::vector<EmitContext> ctxs;
          std::vector<llvm::Value*> ids;
          for (int i = 0; i < kRowsTogether; ++i) {
            ids.push_back(b.CreateAdd(row, b.getInt64(i)));
            ctxs.push_back(row_context(ids.back()));
            ctxs.back().bound |= kRowValueBit;
          }
          std::vector<EmitContext*> pointers;
          for (EmitContext& ctx : ctxs) pointers.push_back(&ctx);
          rows.emit_rows(b, pointers, ids);
        },
        "rows");
    r0 = together_end;
  }
  emit_for(
      b, r0, r1, b.getInt64(1),
      [&](llvm::Value* row) {
        EmitContext row_ctx = row_context(row);
        if (!axes.rows_in_lanes) {
          row_ctx.bound |= kRowValueBit;
          rows.emit_row(b, row_ctx, row);
          return;
        }
        // Rows in lanes: this task's block of the lane axis, a vector of rows at a time.
        auto [c0, c1] = task.col_range(b, axes.lane_size);
        emit_vector_loop(b, c0, c1, lanes, {}, [&](llvm::Value* j, llvm::Value* mask, const std::vector<llvm::Value*>&) {
          EmitContext group;
          group.parent = &row_ctx;
          group.where = Placement{b.GetInsertBlock(), nullptr};
          group.vector = true;
          group.mask = mask;
          group.vector_axis = axes.lane_axis;
          group.index = row_ctx.index;
          group.index[axes.lane_axis] = j;
          group.bound = row_ctx.bound | uint64_t{1} << axes.lane_axis | kRowValueBit;
          rows.emit_row(b, group, row);
          return std::vector<llvm::Value*>{};
        });
      },
      "row");
  b.CreateRetVoid();
  return f.function;
}

}  // namespace

llvm::Function* emit_reduction_region(llvm::Module& module, const std::string& name, const LoweredRegion& region,
                                      int lanes) {
  LoweredRegion r = region;  // plus the load terms of the parked operands
  std::vector<Reuse> reuse = plan_reuse(r, rows_in_lanes(r));
  llvm::Function* task = emit_task(module, name, r, reuse, lanes);
  llvm::LLVMContext& c = module.getContext();
  auto* ptr = llvm::PointerType::getUnqual(c);
  FunctionFrame f = new_frame(module, name, {ptr, ptr}, true);
  llvm::Value* buffers = f.function->getArg(0);
  llvm::Value* dims_ptr = f.function->getArg(1);
  DimValues dims(r.symbols, dims_ptr, Placement{f.entry, nullptr});
  llvm::IRBuilder<> b(f.body);
  Axes axes = axes_of(b, dims, r);
  auto one = b.getInt64(1);
  // Rows in lanes: the lane axis is cut into blocks of whole vectors too (a column sum over [N, D]
  // has one row of D lanes).
  llvm::Value* lane_rows = axes.rows_in_lanes ? axes.lane_size : one;
  llvm::Value* all_rows = b.CreateMul(axes.rows, lane_rows);
  llvm::Value* total = b.CreateMul(all_rows, axes.reduced);
  llvm::Value* threads = b.CreateCall(declare_num_threads(module));
  llvm::Value* parallel = b.CreateAnd(b.CreateAnd(b.CreateICmpSGT(threads, one), b.CreateICmpSGT(all_rows, one)),
                                      b.CreateICmpSGE(total, b.getInt64(kParallelThreshold)));
  llvm::Value* target = b.CreateSelect(parallel, b.CreateMul(threads, b.getInt64(4)), one);
  llvm::Value* rows1 = emit_max(b, axes.rows, one);
  llvm::Value* rows_per_task = emit_ceil_div(b, rows1, target);
  llvm::Value* row_tasks = emit_ceil_div(b, rows1, rows_per_task);
  llvm::Value* cols_per_task = one;
  llvm::Value* col_tasks = one;
  if (axes.rows_in_lanes) {
    llvm::Value* cols1 = emit_max(b, axes.lane_size, one);
    col_tasks = emit_min(b, emit_ceil_div(b, target, row_tasks), emit_ceil_div(b, cols1, b.getInt64(lanes)));
    cols_per_task = b.CreateMul(emit_ceil_div(b, emit_ceil_div(b, cols1, col_tasks), b.getInt64(lanes)), b.getInt64(lanes));
    col_tasks = emit_ceil_div(b, cols1, cols_per_task);
  }
  llvm::Value* tasks = b.CreateSelect(b.CreateICmpSGT(all_rows, b.getInt64(0)), b.CreateMul(row_tasks, col_tasks),
                                      b.getInt64(0));
  dispatch_blocked(b, module, task, buffers, dims_ptr, rows_per_task, cols_per_task, col_tasks, tasks);
  b.CreateRetVoid();
  return f.function;
}

}  // namespace weft::llvm_backend
