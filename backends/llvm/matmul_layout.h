/** \file
 * What the generated GEMM's task kinds share (matmul_codegen.cpp, matmul_skinny_codegen.cpp):
 * the field order of GemmArgs' IR struct, the task context the core builds for
 * weft_parallel_for, and the signature of a tile epilogue. Internal to the GEMM generator.
 */
#pragma once

#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <string>

#include "backends/llvm/matmul_codegen.h"

namespace weft::llvm_backend::gemm_detail {

/// Field indices of GemmArgs in its IR struct (gemm_args_type).
enum ArgField : unsigned {
  kA,
  kB,
  kC,
  kM,
  kN,
  kK,
  kLda,
  kLdb,
  kLdc,
  kBatch,
  kStrideA,
  kStrideB,
  kStrideC,
  kEpilogueData,
  kPackedB,
  kPackedBValid
};

/// The task context the core builds on its stack: args, the tile's rows and columns, how many
/// tiles cover one batch element's rows and columns, the tile epilogue (null for none), and op(B)
/// already packed for every task (null: the blocked task packs its own).
enum TaskField : unsigned {
  kTaskArgs,
  kTaskRows,
  kTaskCols,
  kTaskRowTiles,
  kTaskColTiles,
  kTaskEpilogue,
  kTaskPackedB
};

inline llvm::StructType* task_struct(llvm::LLVMContext& c) {
  auto* ptr = llvm::PointerType::getUnqual(c);
  auto* i64 = llvm::Type::getInt64Ty(c);
  return llvm::StructType::get(c, {ptr, i64, i64, i64, i64, ptr, ptr});
}

/// The context of the task that packs op(B) for every compute task (emit_pack_b_task): args, the
/// destination, how many KC blocks cover K, and how many chunks of how many columns cover N.
enum PackTaskField : unsigned { kPackArgs, kPackDst, kPackKBlocks, kPackChunks, kPackChunkCols };

inline llvm::StructType* pack_task_struct(llvm::LLVMContext& c) {
  auto* ptr = llvm::PointerType::getUnqual(c);
  auto* i64 = llvm::Type::getInt64Ty(c);
  return llvm::StructType::get(c, {ptr, ptr, i64, i64, i64});
}

/// epilogue(data, batch, row, col, c, ldc, m_rem, n_rem): rewrites the m_rem × n_rem tile at c
/// (any number of rows, at most NR columns) in place.
inline llvm::FunctionType* tile_epilogue_type(llvm::LLVMContext& c) {
  auto* ptr = llvm::PointerType::getUnqual(c);
  auto* i64 = llvm::Type::getInt64Ty(c);
  return llvm::FunctionType::get(llvm::Type::getVoidTy(c), {ptr, i64, i64, i64, ptr, i64, i64, i64}, false);
}

/// Emits `pack(src, row_stride, col_stride, extent, depth, dst)` (matmul_pack_codegen.cpp): copies
/// an `extent` × `depth` block, element (e, d) at src[e*row_stride + d*col_stride], into panels of
/// `panel` elements of e: dst[(p*depth + d)*panel + e % panel] for panel p = e / panel, zero-padding
/// the last panel. `unit_inner` says e is the contiguous direction (row_stride is taken as 1), else
/// d is (col_stride is taken as 1). For A the extent is rows of op(A); for B, columns of op(B).
llvm::Function* emit_pack(llvm::Module& module, const std::string& name, const GemmBlocking& g, int panel,
                          bool unit_inner);

/// Emits `<core>.pack_b.task(ctx, index)`: packs one chunk of columns of one KC block of op(B) of one
/// batch element into the shared layout of packed_b_offset (context: pack_task_struct).
llvm::Function* emit_pack_b_task(llvm::Module& module, const std::string& core, const GemmBlocking& g,
                                 llvm::Function* pack_b, bool transpose_b);

/// Emits, at the core's entry, the packing of all of op(B) for every compute task when the blocked
/// path takes the product (`blocked`) and either several row tiles would pack the same columns or
/// the caller keeps B packed (GemmArgs::packed_b); stores the packed copy's address (or null) in
/// the task context's kTaskPackedB. `task_scratch_floats` is what each blocked task asks of its
/// thread's scratch (matmul_pack_codegen.cpp says how the copy shares the caller's).
void emit_shared_pack(llvm::IRBuilderBase& b, const GemmBlocking& g, llvm::Value* args, llvm::Value* task,
                      llvm::Function* pack_b_task, llvm::Value* blocked, llvm::Value* row_tiles, llvm::Value* tasks,
                      llvm::Value* parallel, llvm::Value* target, int64_t task_scratch_floats);

/// Where op(B)'s packed panels for batch element `batch`, the KC block at depth `pc` (of depth `kc`)
/// and columns from `col0` (a multiple of NR) start, in floats: batch elements of K × padded N, then
/// KC blocks of KC × padded N, then NR-column panels of kc × NR. The layout GemmArgs::packed_b holds.
llvm::Value* packed_b_offset(llvm::IRBuilderBase& b, const GemmBlocking& g, llvm::Value* n, llvm::Value* k,
                             llvm::Value* batch, llvm::Value* pc, llvm::Value* kc, llvm::Value* col0);
/// N rounded up to whole NR panels.
llvm::Value* packed_b_padded_n(llvm::IRBuilderBase& b, const GemmBlocking& g, llvm::Value* n);

/// Emits `<core>.dot.task(ctx, index)`, the task of the dot-product path
/// (matmul_skinny_codegen.cpp) for a GEMM whose op(A) rows and op(B) columns are contiguous
/// along k, and its kernels.
llvm::Function* emit_dot_task(llvm::Module& module, const std::string& core, const GemmBlocking& g, bool transpose_b,
                              bool accumulate);

/// Emits `<core>.row.task(ctx, index)`, the task of the row path (matmul_skinny_codegen.cpp) for
/// a GEMM whose B is not transposed, and its kernels.
llvm::Function* emit_row_task(llvm::Module& module, const std::string& core, const GemmBlocking& g, bool transpose_a,
                              bool accumulate);

}  // namespace weft::llvm_backend::gemm_detail
