/** \file
 * Loop regions: every output element computed from the inputs at its own index.
 *
 *   name(buffers, dims)   entry: sizes the space, cuts it into tasks, dispatches them
 *   name.task(ctx, t)     rows [r0, r1) × columns [c0, c1) of the space: per row, full vectors
 *                         along the last axis, then one masked vector
 *
 * A task's rows come from the flat row index decoded into the outer axes once per row; what does
 * not vary along the vector axis (a bias, a per-row scale) is computed there, once per row.
 */
#include <llvm/IR/Module.h>

#include "backends/llvm/ir_util.h"
#include "backends/llvm/region_codegen.h"
#include "backends/llvm/term_codegen.h"

namespace weft::llvm_backend {

namespace {

struct Space {
  std::vector<llvm::Value*> outer;  // sizes of the outer axes
  llvm::Value* rows = nullptr;      // their product
  llvm::Value* inner = nullptr;     // size of the vector axis
};

Space sizes(llvm::IRBuilderBase& b, DimValues& dims, const LoweredRegion& r) {
  Space s;
  s.rows = b.getInt64(1);
  for (size_t d = 0; d + 1 < r.space.size(); ++d) {
    s.outer.push_back(dims.get(r.space[d]));
    s.rows = b.CreateMul(s.rows, s.outer.back());
  }
  s.inner = dims.get(r.space.back());
  return s;
}

llvm::Function* emit_task(llvm::Module& module, const std::string& name, const LoweredRegion& r, int lanes) {
  BlockedTask task = open_blocked_task(module, name);
  FunctionFrame& f = task.frame;
  Placement root{f.entry, nullptr};
  DimValues dims(r.symbols, task.dims, root);
  TermEmitter em(module, r, lanes, dims, task.buffers, root);
  llvm::IRBuilder<> b(f.body);
  Space s = sizes(b, dims, r);
  auto [r0, r1] = task.row_range(b, s.rows);
  auto [c0, c1] = task.col_range(b, s.inner);

  const size_t n = r.space.size();
  const int vaxis = static_cast<int>(n) - 1;
  EmitContext top;
  top.where = root;
  top.index.assign(n, nullptr);
  emit_for(
      b, r0, r1, b.getInt64(1),
      [&](llvm::Value* row) {
        EmitContext row_ctx;
        row_ctx.parent = &top;
        row_ctx.where = Placement{b.GetInsertBlock(), nullptr};
        row_ctx.index = emit_decode(b, row, s.outer);
        row_ctx.index.push_back(nullptr);
        row_ctx.bound = (uint64_t{1} << vaxis) - 1;
        emit_vector_loop(b, c0, c1, lanes, {},
                         [&](llvm::Value* j, llvm::Value* mask, const std::vector<llvm::Value*>&) {
                           EmitContext v;
                           v.parent = &row_ctx;
                           v.where = Placement{nullptr, &b};
                           v.vector = true;
                           v.mask = mask;
                           v.vector_axis = vaxis;
                           v.index = row_ctx.index;
                           v.index[vaxis] = j;
                           v.bound = row_ctx.bound | uint64_t{1} << vaxis;
                           std::vector<llvm::Value*> values;
                           for (const Store& st : r.stores) values.push_back(em.emit(st.term, v));
                           for (size_t k = 0; k < r.stores.size(); ++k) em.store(r.stores[k], values[k], v);
                           return std::vector<llvm::Value*>{};
                         });
      },
      "row");
  b.CreateRetVoid();
  return f.function;
}

}  // namespace

llvm::Function* emit_loop_region(llvm::Module& module, const std::string& name, const LoweredRegion& r, int lanes) {
  llvm::Function* task = emit_task(module, name, r, lanes);
  llvm::LLVMContext& c = module.getContext();
  auto* ptr = llvm::PointerType::getUnqual(c);
  FunctionFrame f = new_frame(module, name, {ptr, ptr}, true);
  llvm::Value* buffers = f.function->getArg(0);
  llvm::Value* dims_ptr = f.function->getArg(1);
  DimValues dims(r.symbols, dims_ptr, Placement{f.entry, nullptr});
  llvm::IRBuilder<> b(f.body);
  Space s = sizes(b, dims, r);
  llvm::Value* total = b.CreateMul(s.rows, s.inner);
  auto one = b.getInt64(1);
  // About four tasks per thread, cut from the rows first; columns in whole vectors, at least 16
  // vectors per task, when there are too few rows.
  llvm::Value* threads = b.CreateCall(declare_num_threads(module));
  llvm::Value* parallel = b.CreateAnd(b.CreateICmpSGT(threads, one), b.CreateICmpSGE(total, b.getInt64(kParallelThreshold)));
  llvm::Value* target = b.CreateSelect(parallel, b.CreateMul(threads, b.getInt64(4)), one);
  llvm::Value* rows1 = emit_max(b, s.rows, one);
  llvm::Value* inner1 = emit_max(b, s.inner, one);
  llvm::Value* rows_per_task = emit_ceil_div(b, rows1, target);
  llvm::Value* row_tasks = emit_ceil_div(b, rows1, rows_per_task);
  llvm::Value* want_cols = emit_ceil_div(b, target, row_tasks);
  llvm::Value* col_tasks = emit_min(b, want_cols, emit_max(b, b.CreateSDiv(inner1, b.getInt64(16 * lanes)), one));
  llvm::Value* cols_per_task = b.CreateMul(emit_ceil_div(b, emit_ceil_div(b, inner1, col_tasks), b.getInt64(lanes)),
                                           b.getInt64(lanes));
  col_tasks = emit_ceil_div(b, inner1, cols_per_task);
  llvm::Value* tasks = b.CreateSelect(b.CreateICmpSGT(total, b.getInt64(0)), b.CreateMul(row_tasks, col_tasks),
                                      b.getInt64(0));

  dispatch_blocked(b, module, task, buffers, dims_ptr, rows_per_task, cols_per_task, col_tasks, tasks);
  b.CreateRetVoid();
  return f.function;
}

}  // namespace weft::llvm_backend
