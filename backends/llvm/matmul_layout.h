/** \file
 * What the generated GEMM's task kinds share (matmul_codegen.cpp, matmul_skinny_codegen.cpp):
 * the field order of GemmArgs' IR struct, the task context the core builds for
 * weft_parallel_for, and the signature of a tile epilogue. Internal to the GEMM generator.
 */
#pragma once

#include <llvm/IR/DerivedTypes.h>
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
  kEpilogueData
};

/// The task context the core builds on its stack: args, the tile's rows and columns, how many
/// tiles cover one batch element's rows and columns, and the tile epilogue (null for none).
enum TaskField : unsigned { kTaskArgs, kTaskRows, kTaskCols, kTaskRowTiles, kTaskColTiles, kTaskEpilogue };

inline llvm::StructType* task_struct(llvm::LLVMContext& c) {
  auto* ptr = llvm::PointerType::getUnqual(c);
  auto* i64 = llvm::Type::getInt64Ty(c);
  return llvm::StructType::get(c, {ptr, i64, i64, i64, i64, ptr});
}

/// epilogue(data, batch, row, col, c, ldc, m_rem, n_rem): rewrites the m_rem × n_rem tile at c
/// (any number of rows, at most NR columns) in place.
inline llvm::FunctionType* tile_epilogue_type(llvm::LLVMContext& c) {
  auto* ptr = llvm::PointerType::getUnqual(c);
  auto* i64 = llvm::Type::getInt64Ty(c);
  return llvm::FunctionType::get(llvm::Type::getVoidTy(c), {ptr, i64, i64, i64, ptr, i64, i64, i64}, false);
}

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
