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
 * Results are deterministic either way; they differ from the interpreter's left-to-right sums by
 * rounding only. The full-level values a later pass needs again (softmax's exp(x - max)) are
 * recomputed rather than stored: a pass reads its inputs and writes only outputs.
 */
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include "backends/llvm/ir_util.h"
#include "backends/llvm/region_codegen.h"
#include "backends/llvm/term_codegen.h"
#include "ir/error.h"

namespace weft::llvm_backend {

namespace {

enum TaskField : unsigned { kBuffers, kDims, kRowsPerTask, kColsPerTask, kColTasks };

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
/// axis, and some input is along the last kept one.
bool rows_in_lanes(const LoweredRegion& r) {
  int last_kept = -1;
  for (size_t d = 0; d < r.space.size(); ++d)
    if (r.axis_class[d] == AxisClass::outer) last_kept = static_cast<int>(d);
  if (last_kept < 0) return false;
  int along_reduced = 0, along_kept = 0;
  for (const Term& t : r.terms) {
    if (t.kind != TermKind::load) continue;
    const Access& a = r.accesses[t.access];
    along_reduced += a.strides.back() == Dim(1);
    along_kept += a.strides[last_kept] == Dim(1);
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

void set_indices(EmitContext& ctx, const std::vector<int>& axes, const std::vector<llvm::Value*>& values) {
  for (size_t k = 0; k < axes.size(); ++k) ctx.index[axes[k]] = values[k];
}

/// Emits the code of one row (reductions in lanes) or one vector of rows (rows in lanes).
class RowEmitter {
 public:
  RowEmitter(const LoweredRegion& r, int lanes, TermEmitter& em, const Axes& axes)
      : r_(r), lanes_(lanes), em_(em), axes_(axes) {}

  /// `row_ctx` binds the kept axes (and the row-value pseudo-axis); `row` is the flat row index.
  void emit_row(llvm::IRBuilderBase& b, EmitContext& row_ctx, llvm::Value* row) {
    std::map<int, llvm::Value*> row_values;
    em_.row_value = [&](int k) {
      auto it = row_values.find(k);
      WEFT_CHECK(it != row_values.end(), "a row value read before its stage");
      return it->second;
    };
    int stages = 0;
    for (const Reduction& red : r_.reductions) stages = std::max(stages, red.stage);
    for (int s = 1; s <= stages; ++s) {
      std::vector<int> ks;
      std::vector<llvm::Value*> init;
      for (size_t k = 0; k < r_.reductions.size(); ++k) {
        if (r_.reductions[k].stage != s) continue;
        ks.push_back(static_cast<int>(k));
        for (llvm::Value* v : identity(r_.reductions[k])) init.push_back(v);
      }
      row_ctx.where.block = b.GetInsertBlock();
      std::vector<llvm::Value*> acc =
          over_reduced(b, row_ctx, init, [&](EmitContext& v, llvm::Value* here, std::vector<llvm::Value*> in) {
            size_t at = 0;
            for (int k : ks) at = combine(b, r_.reductions[k], em_.emit(r_.reductions[k].operand, v), here, v.mask, in, at);
            return in;
          });
      size_t at = 0;
      for (int k : ks) row_values[k] = finish(b, r_.reductions[k], acc, at);
    }

    std::vector<const Store*> full, rowwise;
    for (const Store& st : r_.stores) {
      bool varies = false;
      for (size_t d = 0; d < r_.space.size(); ++d)
        varies = varies || (r_.axis_class[d] == AxisClass::inner && !(r_.accesses[st.access].strides[d] == Dim(0)));
      (varies ? full : rowwise).push_back(&st);
    }
    if (!full.empty()) {
      row_ctx.where.block = b.GetInsertBlock();
      over_reduced(b, row_ctx, {}, [&](EmitContext& v, llvm::Value*, std::vector<llvm::Value*> in) {
        std::vector<llvm::Value*> values;
        for (const Store* st : full) values.push_back(em_.emit(st->term, v));
        for (size_t k = 0; k < full.size(); ++k) em_.store(*full[k], values[k], v);
        return in;
      });
    }
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
      emit_if(b, b.CreateICmpEQ(row, b.getInt64(0)), [&] {
        EmitContext once;
        once.parent = &row_ctx;
        once.where = Placement{b.GetInsertBlock(), nullptr};
        once.bound = row_ctx.bound;
        once.index = row_ctx.index;
        em_.store(*st, value, once);
      });
      row_ctx.where.block = b.GetInsertBlock();
    }
    em_.row_value = nullptr;
  }

 private:
  using Body = std::function<std::vector<llvm::Value*>(EmitContext&, llvm::Value* here, std::vector<llvm::Value*>)>;

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

  /// One pass over the reduced elements of the row(s); `body` gets each vector's context and the
  /// reduced (flat) index of each lane's element.
  std::vector<llvm::Value*> over_reduced(llvm::IRBuilderBase& b, EmitContext& row_ctx, std::vector<llvm::Value*> init,
                                         const Body& body) {
    if (axes_.rows_in_lanes) {
      return emit_for_carried(
          b, b.getInt64(0), axes_.loop_count, b.getInt64(1), init,
          [&](llvm::Value* o, const std::vector<llvm::Value*>& in) {
            EmitContext v = vector_context(b, row_ctx, row_ctx.mask);
            set_indices(v, axes_.loop_axes, emit_decode(b, o, axes_.loop_sizes));
            v.bound |= axes_.loop_mask;
            return body(v, b.CreateVectorSplat(lanes_, o), in);
          },
          "red");
    }
    auto vector_pass = [&](EmitContext& parent, std::vector<llvm::Value*> values) {
      return emit_vector_loop(b, b.getInt64(0), axes_.lane_size, lanes_, values,
                              [&](llvm::Value* j, llvm::Value* mask, const std::vector<llvm::Value*>& in) {
                                EmitContext v = vector_context(b, parent, mask);
                                v.index[axes_.lane_axis] = j;
                                v.bound |= uint64_t{1} << axes_.lane_axis;
                                return body(v, b.CreateAdd(b.CreateVectorSplat(lanes_, j), em_.lane_indices()), in);
                              });
    };
    if (axes_.loop_axes.empty()) return vector_pass(row_ctx, std::move(init));
    return emit_for_carried(
        b, b.getInt64(0), axes_.loop_count, b.getInt64(1), init,
        [&](llvm::Value* o, const std::vector<llvm::Value*>& in) {
          EmitContext mid;
          mid.parent = &row_ctx;
          mid.where = Placement{b.GetInsertBlock(), nullptr};
          mid.index = row_ctx.index;
          set_indices(mid, axes_.loop_axes, emit_decode(b, o, axes_.loop_sizes));
          mid.bound = row_ctx.bound | axes_.loop_mask;
          return vector_pass(mid, in);
        },
        "red");
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

  const LoweredRegion& r_;
  int lanes_;
  TermEmitter& em_;
  const Axes& axes_;
};

llvm::Function* emit_task(llvm::Module& module, const std::string& name, const LoweredRegion& r, int lanes) {
  llvm::LLVMContext& c = module.getContext();
  auto* ptr = llvm::PointerType::getUnqual(c);
  FunctionFrame f = new_frame(module, name + ".task", {ptr, llvm::Type::getInt64Ty(c)}, false);
  llvm::Value* task_ctx = f.function->getArg(0);
  llvm::Value* t = f.function->getArg(1);
  llvm::IRBuilder<> e(f.entry->getTerminator());
  llvm::StructType* ctx_type = task_context_type(c);
  auto field = [&](unsigned i, llvm::Type* type) { return e.CreateLoad(type, e.CreateStructGEP(ctx_type, task_ctx, i)); };
  llvm::Value* buffers = field(kBuffers, ptr);
  llvm::Value* dims_ptr = field(kDims, ptr);
  llvm::Value* rows_per_task = field(kRowsPerTask, e.getInt64Ty());
  llvm::Value* cols_per_task = field(kColsPerTask, e.getInt64Ty());
  llvm::Value* col_tasks = field(kColTasks, e.getInt64Ty());

  Placement root{f.entry, nullptr};
  DimValues dims(r.symbols, dims_ptr, root);
  TermEmitter em(module, r, lanes, dims, buffers, root);
  llvm::IRBuilder<> b(f.body);
  Axes axes = axes_of(b, dims, r);
  llvm::Value* r0 = b.CreateMul(b.CreateSDiv(t, col_tasks), rows_per_task);
  llvm::Value* r1 = emit_min(b, axes.rows, b.CreateAdd(r0, rows_per_task));
  EmitContext top;
  top.where = root;
  top.index.assign(r.space.size(), nullptr);
  RowEmitter rows(r, lanes, em, axes);
  emit_for(
      b, r0, r1, b.getInt64(1),
      [&](llvm::Value* row) {
        EmitContext row_ctx;
        row_ctx.parent = &top;
        row_ctx.where = Placement{b.GetInsertBlock(), nullptr};
        row_ctx.index = top.index;
        set_indices(row_ctx, axes.row_axes, emit_decode(b, row, axes.row_sizes));
        row_ctx.bound = axes.row_mask;
        if (!axes.rows_in_lanes) {
          row_ctx.bound |= kRowValueBit;
          rows.emit_row(b, row_ctx, row);
          return;
        }
        // Rows in lanes: this task's block of the lane axis, a vector of rows at a time.
        llvm::Value* c0 = b.CreateMul(b.CreateSRem(t, col_tasks), cols_per_task);
        llvm::Value* c1 = emit_min(b, axes.lane_size, b.CreateAdd(c0, cols_per_task));
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

llvm::Function* emit_reduction_region(llvm::Module& module, const std::string& name, const LoweredRegion& r,
                                      int lanes) {
  llvm::Function* task = emit_task(module, name, r, lanes);
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
  llvm::StructType* ctx_type = task_context_type(c);
  llvm::Value* ctx = b.CreateAlloca(ctx_type);
  b.CreateStore(buffers, b.CreateStructGEP(ctx_type, ctx, kBuffers));
  b.CreateStore(dims_ptr, b.CreateStructGEP(ctx_type, ctx, kDims));
  b.CreateStore(rows_per_task, b.CreateStructGEP(ctx_type, ctx, kRowsPerTask));
  b.CreateStore(cols_per_task, b.CreateStructGEP(ctx_type, ctx, kColsPerTask));
  b.CreateStore(col_tasks, b.CreateStructGEP(ctx_type, ctx, kColTasks));
  emit_dispatch(b, module, task, ctx, tasks);
  b.CreateRetVoid();
  return f.function;
}

}  // namespace weft::llvm_backend
