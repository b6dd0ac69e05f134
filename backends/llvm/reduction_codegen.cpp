/** \file
 * Reduction regions: row-wise reductions (softmax, layer_norm, a loss's sums) with the elementwise
 * ops around them.
 *
 *   name(buffers, dims)   entry: splits the rows (kept axes) across tasks
 *   name.task(ctx, t)     per row: one pass over the reduced axes per stage of reductions, then
 *                         one pass writing the full-level outputs, then the row-level outputs
 *
 * A pass walks the reduced axes with the last one vectorized (full vectors, then one masked
 * vector) and keeps one vector accumulator per reduction; the lanes are combined at the end of
 * the pass in a fixed tree order, so results are deterministic (they differ from the
 * interpreter's left-to-right sums by rounding only). The full-level values a later pass needs
 * again (softmax's exp(x - max)) are recomputed rather than stored: a pass reads its inputs, which
 * stay in cache for rows of ordinary size, and writes only outputs.
 */
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <limits>

#include "backends/llvm/ir_util.h"
#include "backends/llvm/region_codegen.h"
#include "backends/llvm/term_codegen.h"
#include "ir/error.h"

namespace weft::llvm_backend {

namespace {

enum TaskField : unsigned { kBuffers, kDims, kRowsPerTask };

struct Axes {
  std::vector<llvm::Value*> outer;          // kept axes
  std::vector<llvm::Value*> outer_reduced;  // reduced axes but the last
  llvm::Value* inner = nullptr;             // the last reduced axis: the vector axis
  llvm::Value* rows = nullptr;
  llvm::Value* reduced = nullptr;  // elements reduced per row
  llvm::Value* outer_reduced_count = nullptr;
  uint64_t outer_mask = 0, outer_reduced_mask = 0;
  int vector_axis = -1;
};

Axes axes_of(llvm::IRBuilderBase& b, DimValues& dims, const LoweredRegion& r) {
  Axes a;
  a.rows = b.getInt64(1);
  a.outer_reduced_count = b.getInt64(1);
  a.vector_axis = static_cast<int>(r.space.size()) - 1;
  WEFT_CHECK(r.axis_class.back() == AxisClass::inner, "a reduction region's last axis is reduced");
  for (int d = 0; d < a.vector_axis; ++d) {
    llvm::Value* size = dims.get(r.space[d]);
    if (r.axis_class[d] == AxisClass::outer) {
      a.outer.push_back(size);
      a.rows = b.CreateMul(a.rows, size);
      a.outer_mask |= uint64_t{1} << d;
    } else {
      a.outer_reduced.push_back(size);
      a.outer_reduced_count = b.CreateMul(a.outer_reduced_count, size);
      a.outer_reduced_mask |= uint64_t{1} << d;
    }
  }
  a.inner = dims.get(r.space.back());
  a.reduced = b.CreateMul(a.outer_reduced_count, a.inner);
  return a;
}

/// Emits the per-row code of one task.
class RowEmitter {
 public:
  RowEmitter(llvm::Module& module, const LoweredRegion& r, int lanes, TermEmitter& em, const Axes& axes)
      : module_(module), r_(r), lanes_(lanes), em_(em), axes_(axes) {}

  void emit_row(llvm::IRBuilderBase& b, EmitContext& top, llvm::Value* row) {
    EmitContext row_ctx;
    row_ctx.parent = &top;
    row_ctx.where = Placement{b.GetInsertBlock(), nullptr};
    std::vector<llvm::Value*> decoded = emit_decode(b, row, axes_.outer);
    row_ctx.index.assign(r_.space.size(), nullptr);
    for (size_t d = 0, k = 0; d < r_.space.size(); ++d)
      if (axes_.outer_mask >> d & 1) row_ctx.index[d] = decoded[k++];
    row_ctx.bound = axes_.outer_mask | kRowValueBit;

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
        for (llvm::Value* v : identity(b, r_.reductions[k])) init.push_back(v);
      }
      row_ctx.where.block = b.GetInsertBlock();
      std::vector<llvm::Value*> acc =
          over_reduced(b, row_ctx, init, [&](EmitContext& v, llvm::Value* j, std::vector<llvm::Value*> in) {
            size_t at = 0;
            for (int k : ks) {
              const Reduction& red = r_.reductions[k];
              llvm::Value* x = em_.emit(red.operand, v);
              at = combine(b, red, x, j, v.mask, in, at);
            }
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
      if (!scalar || axes_.outer.empty()) {
        em_.store(*st, value, row_ctx);
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
  using Body = std::function<std::vector<llvm::Value*>(EmitContext&, llvm::Value* j, std::vector<llvm::Value*>)>;

  /// Loops over the reduced axes of one row, the last one vectorized.
  std::vector<llvm::Value*> over_reduced(llvm::IRBuilderBase& b, EmitContext& row_ctx, std::vector<llvm::Value*> init,
                                         const Body& body) {
    auto vector_pass = [&](EmitContext& parent, std::vector<llvm::Value*> values) {
      return emit_vector_loop(b, b.getInt64(0), axes_.inner, lanes_, values,
                              [&](llvm::Value* j, llvm::Value* mask, const std::vector<llvm::Value*>& in) {
                                EmitContext v;
                                v.parent = &parent;
                                v.where = Placement{nullptr, &b};
                                v.vector = true;
                                v.mask = mask;
                                v.vector_axis = axes_.vector_axis;
                                v.index = parent.index;
                                v.index[axes_.vector_axis] = j;
                                v.bound = parent.bound | uint64_t{1} << axes_.vector_axis;
                                return body(v, j, in);
                              });
    };
    if (axes_.outer_reduced.empty()) return vector_pass(row_ctx, std::move(init));
    return emit_for_carried(
        b, b.getInt64(0), axes_.outer_reduced_count, b.getInt64(1), init,
        [&](llvm::Value* o, const std::vector<llvm::Value*>& in) {
          EmitContext mid;
          mid.parent = &row_ctx;
          mid.where = Placement{b.GetInsertBlock(), nullptr};
          mid.index = row_ctx.index;
          std::vector<llvm::Value*> decoded = emit_decode(b, o, axes_.outer_reduced);
          for (size_t d = 0, k = 0; d < r_.space.size(); ++d)
            if (axes_.outer_reduced_mask >> d & 1) mid.index[d] = decoded[k++];
          mid.bound = row_ctx.bound | axes_.outer_reduced_mask;
          return vector_pass(mid, in);
        },
        "red");
  }

  llvm::Type* vec(DType t) const { return llvm::FixedVectorType::get(em_.scalar_type(t), lanes_); }

  /// The accumulator's initial vectors: the op's identity (argmax: value and index -1).
  std::vector<llvm::Value*> identity(llvm::IRBuilderBase& b, const Reduction& red) {
    llvm::Type* t = vec(red.dtype);
    bool f = is_float(red.dtype);
    llvm::Value* low = f ? llvm::ConstantFP::getInfinity(t, true) : llvm::ConstantInt::get(t, llvm::APInt::getSignedMinValue(t->getScalarSizeInBits()));
    llvm::Value* high = f ? llvm::ConstantFP::getInfinity(t, false) : llvm::ConstantInt::get(t, llvm::APInt::getSignedMaxValue(t->getScalarSizeInBits()));
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
  size_t combine(llvm::IRBuilderBase& b, const Reduction& red, llvm::Value* x, llvm::Value* j, llvm::Value* mask,
                 std::vector<llvm::Value*>& values, size_t at) {
    bool f = is_float(red.dtype);
    if (red.op == OpKind::argmax) {
      llvm::Value*& best = values[at];
      llvm::Value*& index = values[at + 1];
      llvm::Value* here = b.CreateAdd(b.CreateVectorSplat(lanes_, j), em_.lane_indices());
      llvm::Value* better = f ? b.CreateFCmpOGT(x, best) : b.CreateICmpSGT(x, best);
      if (f) better = b.CreateOr(better, b.CreateAnd(b.CreateFCmpUNO(x, x), b.CreateFCmpORD(best, best)));
      better = b.CreateOr(better, b.CreateICmpSLT(index, llvm::Constant::getNullValue(index->getType())));
      if (mask) better = b.CreateAnd(better, mask);
      best = b.CreateSelect(better, x, best);
      index = b.CreateSelect(better, here, index);
      return at + 2;
    }
    llvm::Value* id = identity(b, red)[0];
    if (mask) x = b.CreateSelect(mask, x, id);
    llvm::Value*& acc = values[at];
    acc = merge(b, red.op, f, acc, x);
    return at + 1;
  }

  static llvm::Value* merge(llvm::IRBuilderBase& b, OpKind op, bool f, llvm::Value* x, llvm::Value* y) {
    switch (op) {
      case OpKind::reduce_max:
        return b.CreateBinaryIntrinsic(f ? llvm::Intrinsic::maximum : llvm::Intrinsic::smax, x, y);
      case OpKind::reduce_min:
        return b.CreateBinaryIntrinsic(f ? llvm::Intrinsic::minimum : llvm::Intrinsic::smin, x, y);
      default:
        return f ? b.CreateFAdd(x, y) : b.CreateAdd(x, y);
    }
  }

  /// Combines the lanes of the accumulator(s) at `values[at]` into the row's value; advances `at`.
  llvm::Value* finish(llvm::IRBuilderBase& b, const Reduction& red, const std::vector<llvm::Value*>& values,
                      size_t& at) {
    bool f = is_float(red.dtype);
    std::vector<llvm::Value*> lane;
    for (int i = 0; i < lanes_; ++i) lane.push_back(b.CreateExtractElement(values[at], uint64_t(i)));
    if (red.op == OpKind::argmax) {
      // The first index of the maximum; NaN counts as the maximum (the interpreter's rule).
      llvm::Value* best = lane[0];
      llvm::Value* index = b.CreateExtractElement(values[at + 1], uint64_t{0});
      for (int i = 1; i < lanes_; ++i) {
        llvm::Value* x = lane[i];
        llvm::Value* xi = b.CreateExtractElement(values[at + 1], uint64_t(i));
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
      at += 2;
      return emit_max(b, index, b.getInt64(0));
    }
    for (size_t w = lane.size(); w > 1; w /= 2)
      for (size_t i = 0; i < w / 2; ++i) lane[i] = merge(b, red.op, f, lane[i], lane[i + w / 2]);
    at += 1;
    llvm::Value* v = lane[0];
    if (red.op != OpKind::reduce_mean) return v;
    if (f) return b.CreateFDiv(v, b.CreateSIToFP(axes_.reduced, v->getType()));  // 0 / 0 = NaN on an empty axis
    llvm::Value* wide = b.CreateSExt(v, b.getInt64Ty());
    llvm::Value* count = emit_max(b, axes_.reduced, b.getInt64(1));
    llvm::Value* q = b.CreateSelect(b.CreateICmpEQ(axes_.reduced, b.getInt64(0)), b.getInt64(0), b.CreateSDiv(wide, count));
    return b.CreateTrunc(q, v->getType());
  }

  llvm::Module& module_;
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

  Placement root{f.entry, nullptr};
  DimValues dims(r.symbols, dims_ptr, root);
  TermEmitter em(module, r, lanes, dims, buffers, root);
  llvm::IRBuilder<> b(f.body);
  Axes axes = axes_of(b, dims, r);
  llvm::Value* r0 = b.CreateMul(t, rows_per_task);
  llvm::Value* r1 = emit_min(b, axes.rows, b.CreateAdd(r0, rows_per_task));
  EmitContext top;
  top.where = root;
  top.index.assign(r.space.size(), nullptr);
  RowEmitter rows(module, r, lanes, em, axes);
  emit_for(b, r0, r1, b.getInt64(1), [&](llvm::Value* row) { rows.emit_row(b, top, row); }, "row");
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
  llvm::Value* total = b.CreateMul(axes.rows, axes.reduced);
  llvm::Value* threads = b.CreateCall(declare_num_threads(module));
  llvm::Value* parallel = b.CreateAnd(b.CreateAnd(b.CreateICmpSGT(threads, one), b.CreateICmpSGT(axes.rows, one)),
                                      b.CreateICmpSGE(total, b.getInt64(kParallelThreshold)));
  llvm::Value* target = b.CreateSelect(parallel, b.CreateMul(threads, b.getInt64(4)), one);
  llvm::Value* rows1 = emit_max(b, axes.rows, one);
  llvm::Value* rows_per_task = emit_ceil_div(b, rows1, target);
  llvm::Value* tasks = b.CreateSelect(b.CreateICmpSGT(axes.rows, b.getInt64(0)), emit_ceil_div(b, rows1, rows_per_task),
                                      b.getInt64(0));
  llvm::StructType* ctx_type = task_context_type(c);
  llvm::Value* ctx = b.CreateAlloca(ctx_type);
  b.CreateStore(buffers, b.CreateStructGEP(ctx_type, ctx, kBuffers));
  b.CreateStore(dims_ptr, b.CreateStructGEP(ctx_type, ctx, kDims));
  b.CreateStore(rows_per_task, b.CreateStructGEP(ctx_type, ctx, kRowsPerTask));
  emit_dispatch(b, module, task, ctx, tasks);
  b.CreateRetVoid();
  return f.function;
}

}  // namespace weft::llvm_backend
