/** \file
 * The blocked GEMM's packing routines (matmul_codegen.h): copying a block of op(A) or op(B) into
 * the micro-kernel's panels, and the task that packs the whole of op(B) once per call into a
 * buffer every compute task shares (or into GemmArgs::packed_b, a weight kept packed).
 *
 * A panel holds `panel` elements of the block's extent (rows of op(A), columns of op(B)) for every
 * depth d (k), contiguous per d. When the extent is the operand's contiguous direction (op(B) of an
 * untransposed B) each copy is one vector load and store. When the depth is contiguous instead —
 * x·Wᵀ's weight, an untransposed A — a panel is a transpose: the routine loads VW rows of VW
 * depths each (contiguous vector loads), transposes the VW×VW block in registers and stores VW
 * vectors, rather than gathering every element with a scalar load at the operand's row stride
 * (which cost the x·Wᵀ shape ~15% of its time when every task packed all of B that way).
 */
#include <fmt/format.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <vector>

#include "backends/llvm/ir_util.h"
#include "backends/llvm/matmul_layout.h"

namespace weft::llvm_backend::gemm_detail {
namespace {

llvm::Value* c64(llvm::IRBuilderBase& b, int64_t v) { return b.getInt64(static_cast<uint64_t>(v)); }

// The transpose of n×n values held as n vectors of n lanes (n a power of two): log2(n) rounds of
// interleaving row i with row i + n/2 (low halves to 2i, high halves to 2i + 1). Each round is a
// perfect shuffle of the rows' index bits, so after log2(n) rounds row r holds lane r of every input.
std::vector<llvm::Value*> transpose_square(llvm::IRBuilderBase& b, std::vector<llvm::Value*> rows) {
  const int n = static_cast<int>(rows.size());
  std::vector<int> lo, hi;
  for (int i = 0; i < n / 2; ++i) {
    lo.insert(lo.end(), {i, n + i});
    hi.insert(hi.end(), {n / 2 + i, n + n / 2 + i});
  }
  for (int width = 1; width < n; width *= 2) {
    std::vector<llvm::Value*> next(n);
    for (int i = 0; i < n / 2; ++i) {
      next[2 * i] = b.CreateShuffleVector(rows[i], rows[i + n / 2], lo);
      next[2 * i + 1] = b.CreateShuffleVector(rows[i], rows[i + n / 2], hi);
    }
    rows = std::move(next);
  }
  return rows;
}

bool is_power_of_two(int x) { return x > 0 && (x & (x - 1)) == 0; }

}  // namespace

llvm::Function* emit_pack(llvm::Module& module, const std::string& name, const GemmBlocking& g, int panel,
                          bool unit_inner) {
  llvm::LLVMContext& ctx = module.getContext();
  auto* f32 = llvm::Type::getFloatTy(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, i64, i64, i64, i64, ptr}, false);
  auto* f = llvm::Function::Create(type, llvm::Function::InternalLinkage, name, module);
  f->addFnAttr(llvm::Attribute::NoUnwind);
  set_vector_width_attributes(*f, g.vector_floats * 32);
  auto arg = f->arg_begin();
  llvm::Value* src = &*arg++;
  llvm::Value* row_stride = &*arg++;
  llvm::Value* col_stride = &*arg++;
  llvm::Value* extent = &*arg++;
  llvm::Value* depth = &*arg++;
  llvm::Value* dst = &*arg++;
  f->addParamAttr(0, llvm::Attribute::NoAlias);
  f->addParamAttr(5, llvm::Attribute::NoAlias);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", f));
  if (unit_inner)
    row_stride = c64(b, 1);
  else
    col_stride = c64(b, 1);
  const int vw = g.vector_floats;
  auto* vec = llvm::FixedVectorType::get(f32, vw);

  // One depth d of one panel, element by element: rows past `rest` (the last, partial panel) read
  // a valid row (the panel's first) and store zero.
  auto scalar_depth = [&](llvm::Value* src_panel, llvm::Value* dst_panel, llvm::Value* d, llvm::Value* rest) {
    llvm::Value* src_d = b.CreateGEP(f32, src_panel, b.CreateMul(d, col_stride));
    llvm::Value* dst_d = b.CreateGEP(f32, dst_panel, b.CreateMul(d, c64(b, panel)));
    llvm::Value* zero = llvm::ConstantFP::get(f32, 0.0);
    for (int e = 0; e < panel; ++e) {
      llvm::Value* inside = rest ? b.CreateICmpSLT(c64(b, e), rest) : nullptr;
      llvm::Value* row = inside ? b.CreateSelect(inside, c64(b, e), c64(b, 0)) : c64(b, e);
      llvm::Value* x = b.CreateLoad(f32, b.CreateGEP(f32, src_d, b.CreateMul(row, row_stride)));
      b.CreateStore(inside ? b.CreateSelect(inside, x, zero) : x, b.CreateGEP(f32, dst_d, c64(b, e)));
    }
  };

  llvm::Value* full_panels = b.CreateSDiv(extent, c64(b, panel));
  if (unit_inner) {
    // Memory is read in its own order (one vector copy per panel and depth), so hardware
    // prefetchers stream it.
    auto* panel_vec = llvm::FixedVectorType::get(f32, panel);
    emit_for(
        b, c64(b, 0), depth, c64(b, 1),
        [&](llvm::Value* d) {
          llvm::Value* src_d = b.CreateGEP(f32, src, b.CreateMul(d, col_stride));
          emit_for(
              b, c64(b, 0), full_panels, c64(b, 1),
              [&](llvm::Value* p) {
                llvm::Value* x = b.CreateAlignedLoad(panel_vec, b.CreateGEP(f32, src_d, b.CreateMul(p, c64(b, panel))),
                                                     llvm::Align(4));
                llvm::Value* at =
                    b.CreateAdd(b.CreateMul(b.CreateMul(p, depth), c64(b, panel)), b.CreateMul(d, c64(b, panel)));
                b.CreateAlignedStore(x, b.CreateGEP(f32, dst, at), llvm::Align(4));
              },
              "p");
        },
        "d");
  } else {
    // Depth contiguous: VW×VW blocks transposed in registers, for VW depths at a time; the
    // panel's VW-row groups (the last may be partial: MR = 14 of 16 lanes) store masked lanes.
    const bool transpose = g.transpose_packs && is_power_of_two(vw) && vw > 1;
    llvm::Value* depth_main = transpose ? b.CreateMul(b.CreateSDiv(depth, c64(b, vw)), c64(b, vw)) : c64(b, 0);
    emit_for(
        b, c64(b, 0), full_panels, c64(b, 1),
        [&](llvm::Value* p) {
          llvm::Value* src_panel = b.CreateGEP(f32, src, b.CreateMul(b.CreateMul(p, c64(b, panel)), row_stride));
          llvm::Value* dst_panel = b.CreateGEP(f32, dst, b.CreateMul(b.CreateMul(p, depth), c64(b, panel)));
          if (transpose) {
            emit_for(
                b, c64(b, 0), depth_main, c64(b, vw),
                [&](llvm::Value* d0) {
                  for (int group = 0; group * vw < panel; ++group) {
                    const int rows = std::min(vw, panel - group * vw);
                    std::vector<llvm::Value*> r(vw, llvm::ConstantFP::get(vec, 0.0));
                    for (int i = 0; i < rows; ++i) {
                      llvm::Value* at = b.CreateAdd(b.CreateMul(c64(b, group * vw + i), row_stride), d0);
                      r[i] = b.CreateAlignedLoad(vec, b.CreateGEP(f32, src_panel, at), llvm::Align(4));
                    }
                    std::vector<llvm::Value*> t = transpose_square(b, r);
                    std::vector<llvm::Constant*> lanes;
                    for (int l = 0; l < vw; ++l) lanes.push_back(b.getInt1(l < rows));
                    llvm::Value* mask = rows < vw ? llvm::ConstantVector::get(lanes) : nullptr;
                    for (int i = 0; i < vw; ++i) {
                      llvm::Value* at =
                          b.CreateAdd(b.CreateMul(b.CreateAdd(d0, c64(b, i)), c64(b, panel)), c64(b, group * vw));
                      llvm::Value* out = b.CreateGEP(f32, dst_panel, at);
                      if (mask)
                        b.CreateMaskedStore(t[i], out, llvm::Align(4), mask);
                      else
                        b.CreateAlignedStore(t[i], out, llvm::Align(4));
                    }
                  }
                },
                "d0");
          }
          emit_for(
              b, depth_main, depth, c64(b, 1), [&](llvm::Value* d) { scalar_depth(src_panel, dst_panel, d, nullptr); },
              "d");
        },
        "p");
  }
  // The last, partial panel, element by element (zero-padded).
  llvm::Value* rest = b.CreateSub(extent, b.CreateMul(full_panels, c64(b, panel)));
  emit_if(b, b.CreateICmpSGT(rest, c64(b, 0)), [&] {
    llvm::Value* src_panel = b.CreateGEP(f32, src, b.CreateMul(b.CreateMul(full_panels, c64(b, panel)), row_stride));
    llvm::Value* dst_panel = b.CreateGEP(f32, dst, b.CreateMul(b.CreateMul(full_panels, depth), c64(b, panel)));
    emit_for(
        b, c64(b, 0), depth, c64(b, 1), [&](llvm::Value* d) { scalar_depth(src_panel, dst_panel, d, rest); }, "d");
  });
  b.CreateRetVoid();
  return f;
}

llvm::Function* emit_pack_b_task(llvm::Module& module, const std::string& core, const GemmBlocking& g,
                                 llvm::Function* pack_b, bool transpose_b) {
  llvm::LLVMContext& ctx = module.getContext();
  auto* f32 = llvm::Type::getFloatTy(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, i64}, false);
  auto* f = llvm::Function::Create(type, llvm::Function::InternalLinkage, core + ".pack_b.task", module);
  f->addFnAttr(llvm::Attribute::NoUnwind);
  set_vector_width_attributes(*f, g.vector_floats * 32);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", f));
  llvm::Value* task = f->getArg(0);
  llvm::Value* index = f->getArg(1);
  llvm::StructType* task_type = pack_task_struct(ctx);
  llvm::StructType* args_type = gemm_args_type(ctx);
  auto task_field = [&](unsigned i, llvm::Type* t) { return b.CreateLoad(t, b.CreateStructGEP(task_type, task, i)); };
  llvm::Value* args = task_field(kPackArgs, ptr);
  llvm::Value* packed = task_field(kPackDst, ptr);
  llvm::Value* k_blocks = task_field(kPackKBlocks, i64);
  llvm::Value* chunks = task_field(kPackChunks, i64);
  llvm::Value* chunk_cols = task_field(kPackChunkCols, i64);
  auto field = [&](unsigned i, llvm::Type* t) { return b.CreateLoad(t, b.CreateStructGEP(args_type, args, i)); };
  llvm::Value* src = field(kB, ptr);
  llvm::Value* n = field(kN, i64);
  llvm::Value* k = field(kK, i64);
  llvm::Value* ldb = field(kLdb, i64);

  // index = (batch · k_blocks + k block) · chunks + chunk.
  llvm::Value* chunk = b.CreateSRem(index, chunks);
  llvm::Value* outer = b.CreateSDiv(index, chunks);
  llvm::Value* kb = b.CreateSRem(outer, k_blocks);
  llvm::Value* batch = b.CreateSDiv(outer, k_blocks);
  llvm::Value* pc = b.CreateMul(kb, c64(b, g.kc));
  llvm::Value* kc = emit_min(b, c64(b, g.kc), b.CreateSub(k, pc));
  llvm::Value* col0 = b.CreateMul(chunk, chunk_cols);
  llvm::Value* cols = emit_min(b, chunk_cols, b.CreateSub(n, col0));
  llvm::Value* b_rs = transpose_b ? c64(b, 1) : ldb;  // along k
  llvm::Value* b_cs = transpose_b ? ldb : c64(b, 1);  // along n
  src = b.CreateGEP(f32, src, b.CreateMul(batch, field(kStrideB, i64)));
  src = b.CreateGEP(f32, src, b.CreateAdd(b.CreateMul(pc, b_rs), b.CreateMul(col0, b_cs)));
  llvm::Value* dst = b.CreateGEP(f32, packed, packed_b_offset(b, g, n, k, batch, pc, kc, col0));
  emit_if(b, b.CreateICmpSGT(cols, c64(b, 0)), [&] { b.CreateCall(pack_b, {src, b_cs, b_rs, cols, kc, dst}); });
  b.CreateRetVoid();
  return f;
}

// The blocked path packs op(B) once for all its tasks when more than one task would otherwise
// pack the same columns (row_tiles > 1: each row tile's task packed all of its columns of B, so
// a 1024-row product on 2 threads packed B four times), or when the caller keeps B packed
// (GemmArgs::packed_b: packed here only while *packed_b_valid is 0). Packing is itself a
// parallel loop over (batch, KC block, column chunk); the compute tasks then read B's panels
// from the shared copy (kTaskPackedB). The shared copy lives in the caller's scratch behind the
// caller's own task scratch: a task on the calling thread asks for task_scratch_floats() and
// gets the same buffer back (weft_thread_scratch keeps a buffer that is large enough), whose
// packed-B part it never touches.
void emit_shared_pack(llvm::IRBuilderBase& b, const GemmBlocking& g, llvm::Value* args, llvm::Value* task,
                      llvm::Function* pack_b_task, llvm::Value* blocked, llvm::Value* row_tiles, llvm::Value* tasks,
                      llvm::Value* parallel, llvm::Value* target, int64_t task_scratch_floats) {
  llvm::Module& module = *b.GetInsertBlock()->getModule();
  llvm::LLVMContext& ctx = module.getContext();
  auto* f32 = llvm::Type::getFloatTy(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  auto c64 = [&](int64_t v) { return b.getInt64(static_cast<uint64_t>(v)); };
  llvm::StructType* args_type = gemm_args_type(ctx);
  auto field = [&](unsigned i, llvm::Type* t) { return b.CreateLoad(t, b.CreateStructGEP(args_type, args, i)); };
  llvm::Value* n = field(kN, i64);
  llvm::Value* k = field(kK, i64);
  llvm::Value* batch = field(kBatch, i64);
  llvm::Value* given = field(kPackedB, ptr);
  llvm::Value* has_given = b.CreateIsNotNull(given);
  // A shared copy larger than GemmBlocking::shared_pack_max_floats is not made: the caller's
  // scratch would keep that much memory for the rest of the thread's life. Such products pack
  // per task as before.
  llvm::Value* fits =
      b.CreateICmpSLE(b.CreateMul(b.CreateMul(batch, emit_max(b, k, c64(1))), packed_b_padded_n(b, g, n)),
                      c64(g.shared_pack_max_floats));
  llvm::Value* duplicated = g.share_packed_b ? b.CreateAnd(fits, b.CreateICmpSGT(row_tiles, c64(1))) : b.getFalse();
  llvm::Value* share =
      b.CreateAnd(b.CreateAnd(blocked, b.CreateICmpSGT(tasks, c64(0))), b.CreateOr(has_given, duplicated));
  llvm::StructType* pack_type = pack_task_struct(ctx);
  llvm::Value* pack_ctx = b.CreateAlloca(pack_type);
  auto run_pack = [&](llvm::Value* dst) {
    llvm::Value* k_blocks = emit_ceil_div(b, k, c64(g.kc));
    llvm::Value* panels = emit_ceil_div(b, n, c64(g.nr));
    llvm::Value* per_chunk = b.CreateMul(batch, k_blocks);
    llvm::Value* chunks =
        emit_min(b, panels, emit_max(b, c64(1), emit_ceil_div(b, target, emit_max(b, per_chunk, c64(1)))));
    llvm::Value* chunk_panels = emit_ceil_div(b, panels, chunks);
    chunks = emit_ceil_div(b, panels, chunk_panels);
    b.CreateStore(args, b.CreateStructGEP(pack_type, pack_ctx, kPackArgs));
    b.CreateStore(dst, b.CreateStructGEP(pack_type, pack_ctx, kPackDst));
    b.CreateStore(k_blocks, b.CreateStructGEP(pack_type, pack_ctx, kPackKBlocks));
    b.CreateStore(chunks, b.CreateStructGEP(pack_type, pack_ctx, kPackChunks));
    b.CreateStore(b.CreateMul(chunk_panels, c64(g.nr)), b.CreateStructGEP(pack_type, pack_ctx, kPackChunkCols));
    llvm::Value* pack_tasks = b.CreateMul(per_chunk, chunks);
    llvm::FunctionType* task_fn = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, i64}, false);
    emit_if_else(
        b, parallel,
        [&] {
          b.CreateCall(declare_parallel_for(module), {pack_ctx, pack_tasks, pack_b_task});
        },
        [&] {
          emit_for(b, c64(0), pack_tasks, c64(1), [&](llvm::Value* i) {
            b.CreateCall(task_fn, pack_b_task, {pack_ctx, i});
          });
        });
  };
  llvm::Value* slot = b.CreateStructGEP(task_struct(ctx), task, kTaskPackedB);
  emit_if(b, share, [&] {
    emit_if_else(
        b, has_given,
        [&] {
          b.CreateStore(given, slot);
          llvm::Value* valid = field(kPackedBValid, ptr);
          emit_if(b, b.CreateICmpEQ(b.CreateLoad(i64, valid), c64(0)), [&] {
            run_pack(given);
            b.CreateStore(c64(1), valid);
          });
        },
        [&] {
          llvm::Value* padded_n = packed_b_padded_n(b, g, n);
          llvm::Value* packed_floats = b.CreateMul(b.CreateMul(batch, emit_max(b, k, c64(1))), padded_n);
          llvm::Value* bytes = b.CreateMul(b.CreateAdd(packed_floats, c64(task_scratch_floats)), c64(4));
          llvm::Value* scratch = b.CreateCall(declare_thread_scratch(module), {bytes});
          llvm::Value* own = b.CreateGEP(f32, scratch, c64(task_scratch_floats));
          b.CreateStore(own, slot);
          run_pack(own);
        });
  });
}

llvm::Value* packed_b_padded_n(llvm::IRBuilderBase& b, const GemmBlocking& g, llvm::Value* n) {
  return b.CreateMul(emit_ceil_div(b, n, c64(b, g.nr)), c64(b, g.nr));
}

llvm::Value* packed_b_offset(llvm::IRBuilderBase& b, const GemmBlocking& g, llvm::Value* n, llvm::Value* k,
                             llvm::Value* batch, llvm::Value* pc, llvm::Value* kc, llvm::Value* col0) {
  llvm::Value* padded_n = packed_b_padded_n(b, g, n);
  llvm::Value* per_batch = b.CreateMul(emit_max(b, k, c64(b, 1)), padded_n);
  return b.CreateAdd(b.CreateAdd(b.CreateMul(batch, per_batch), b.CreateMul(pc, padded_n)), b.CreateMul(col0, kc));
}

}  // namespace weft::llvm_backend::gemm_detail
