/** \file
 * A generated SGEMM: C[M,N] (+)= op(A)[M,K] · op(B)[K,N], batched, emitted with IRBuilder.
 *
 * The structure is the one BLIS made standard. The output is cut into tiles of at most MC rows by
 * NC columns (times the batch); tiles are the tasks handed to `weft_parallel_for`, so the cores
 * share work dynamically. A task walks K in blocks of KC: it packs its KC×NC slice of op(B) into
 * NR-wide column panels (unless the entry packed all of op(B) once for every task, or the caller
 * keeps it packed: GemmArgs::packed_b) and its MC×KC slice of op(A) into MR-high row panels
 * (zero-padded, in the order the micro-kernel reads them; matmul_pack_codegen.cpp), then runs the
 * MR×NR micro-kernel over every panel pair. The
 * micro-kernel keeps its MR×NR accumulators in vector registers (MR × NR/VW of them) and does one
 * broadcast-and-FMA per row per vector per k. Transposes are absorbed by the packing routines,
 * which read through (row stride, column stride) pairs; the micro-kernel never sees them.
 *
 * The vector width comes from the target (8 floats for AVX2, 16 for AVX-512), and so do MR and NR
 * (`GemmBlocking::for_target`): NR is two vectors (four with 32 registers), MR as many rows as the
 * remaining registers hold.
 * Tiles at the bottom and right edges use masked loads and stores; K needs no tail (the k loop
 * counts to the block's actual depth).
 *
 * Products with few rows or columns take one of the skinny paths instead (matmul_skinny_codegen.cpp),
 * which read the operands where they are rather than packing one whose elements would each be
 * used only M (or N) times; the core picks the path from the shape at run time.
 *
 * An optional epilogue rewrites each output vector once, after its last K block: the micro-kernel
 * stores the finished MR×NR tile, and a per-GEMM epilogue function reloads it (still in L1),
 * applies the epilogue vector by vector and stores it again. Bias adds, activations and residual
 * adds of a fused region plug in here. Keeping the epilogue out of the micro-kernel lets every GEMM
 * with the same transposes and blocking share one compiled core (matmul_codegen.cpp).
 */
#pragma once

#include <llvm/IR/IRBuilder.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>

#include "backends/llvm/jit.h"

namespace weft::llvm_backend {

/// Arguments of a generated GEMM, passed by pointer; its layout is mirrored by an IR struct.
/// Element (i, k) of op(A) is a[i*lda + k], or a[k*lda + i] when A is transposed; likewise for B
/// (b[k*ldb + j], or b[j*ldb + k] transposed); C(i, j) is c[i*ldc + j]. Batch b adds
/// b*batch_stride_* to each base pointer.
struct GemmArgs {
  const float* a = nullptr;
  const float* b = nullptr;
  float* c = nullptr;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t batch = 1;
  int64_t batch_stride_a = 0, batch_stride_b = 0, batch_stride_c = 0;
  // Handed to the epilogue's IR (e.g. a region's buffer and dims tables). It, and the pointers and
  // 64-bit integers the epilogue reads through it or through a pointer read from it, must not
  // change during the call: the epilogue loads them as invariant (matmul_codegen.cpp).
  const void* epilogue_data = nullptr;
  // op(B) kept packed between calls (a weight used by many calls): a 64-byte-aligned buffer of
  // GemmBlocking::packed_b_floats(n, k, batch) floats, and a flag the caller owns. The blocked path
  // reads op(B) from packed_b, packing it there first when *packed_b_valid is 0 (and setting it to
  // 1); the caller sets the flag to 0 whenever B changes. The skinny paths, which read B in place,
  // ignore both. Null: B is packed afresh on each call.
  float* packed_b = nullptr;
  int64_t* packed_b_valid = nullptr;
};

using GemmFunction = void (*)(const GemmArgs*);

/// Register tile and cache blocks. All sizes in elements.
struct GemmBlocking {
  int vector_floats = 8;  // VW: floats per vector register
  int mr = 6;             // micro-tile rows
  int nr = 16;            // micro-tile columns, a multiple of VW
  int kc = 256;           // depth of a packed block
  int mc = 144;           // rows per task (packed A block MC×KC stays in L2), a multiple of MR
  int nc = 1024;          // columns per task (packed B block KC×NC lives in L2/L3), multiple of NR
  int k_unroll = 4;       // micro-kernel k-loop unroll factor
  // Whether the blocked path packs op(B) once per call for all its tasks (else each task packs the
  // columns it covers), and whether packing a panel whose depth is the contiguous direction
  // transposes VW×VW blocks in registers (else it reads element by element). Off only to measure
  // what they gain (bench_matmul's "before" column).
  bool share_packed_b = true;
  bool transpose_packs = true;
  // The largest op(B) (floats, times the batch) packed once for all tasks; a larger one is packed
  // per task, since the shared copy lives in the calling thread's scratch for good (16 MiB).
  int64_t shared_pack_max_floats = int64_t{1} << 22;
  // The skinny paths (matmul_skinny_codegen.cpp), which read the operands in place where the
  // blocked path would pack one whose elements are each used only M (or N) times. The dot path
  // (op(A) rows and op(B) columns contiguous along k) has a register block of DMR rows × DNR
  // columns (2·DNR ≤ NR) and takes M ≤ dot_max_rows or N ≤ dot_max_cols; the row path (B not
  // transposed) takes M ≤ dot_max_rows.
  int dot_mr = 4;
  int dot_nr = 6;
  int dot_kc = 512;  // the dot path's deepest depth block
  int dot_max_rows = 64;
  int dot_max_cols = 8;
  // The row path's register block: RMR rows × RNV vectors, over depth blocks of RKC.
  int row_mr = 4;
  int row_nv = 4;
  int row_kc = 128;

  /// Floats of GemmArgs::packed_b for op(B) of K × N (times the batch): K × N rounded up to whole
  /// NR-column panels, at least one row.
  int64_t packed_b_floats(int64_t n, int64_t k, int64_t batch = 1) const {
    return batch * std::max<int64_t>(k, 1) * ((n + nr - 1) / nr * nr);
  }

  /// The blocking for a machine with `vector_floats`-wide vectors and `vector_registers` of them.
  static GemmBlocking for_target(int vector_floats, int vector_registers);
  static GemmBlocking for_host();
};

/// What the epilogue's IR sees for one output vector.
struct EpilogueContext {
  llvm::IRBuilderBase& builder;
  llvm::Value* batch;  // i64 batch index
  llvm::Value* row;    // i64 row of C
  llvm::Value* col;    // i64 column of the vector's first lane
  llvm::Value* mask;   // <VW x i1> lanes inside C, or nullptr when every lane is
  llvm::Value* data;   // ptr: GemmArgs::epilogue_data
};

/// Emits IR that maps a final output vector (<VW x float>) to the value to store.
using GemmEpilogue = std::function<llvm::Value*(const EpilogueContext&, llvm::Value* value)>;

struct GemmSpec {
  bool transpose_a = false;
  bool transpose_b = false;
  bool accumulate = false;  // C += op(A)·op(B) instead of C = op(A)·op(B)
  GemmEpilogue epilogue;    // optional; applied to the final value of every output element
};

/// The IR struct type mirroring GemmArgs.
llvm::StructType* gemm_args_type(llvm::LLVMContext& context);

/// Emits `void name(const GemmArgs*)` (external linkage) and its internal helpers into `module`:
/// its epilogue, and the shared core unless `module` already defines the one for this spec's
/// transposes, accumulation and blocking.
llvm::Function* emit_gemm(llvm::Module& module, const std::string& name, const GemmSpec& spec,
                          const GemmBlocking& blocking);

/// A GEMM compiled for the host: emit, optimize, JIT.
class GemmKernel {
 public:
  static GemmKernel compile(const GemmSpec& spec, const GemmBlocking& blocking = GemmBlocking::for_host(),
                            Jit& jit = Jit::global());

  /// Checks the arguments (throws weft::Error naming the bad one) and runs.
  void operator()(const GemmArgs& args) const;
  /// Runs without checks.
  void run_unchecked(const GemmArgs& args) const { function_(&args); }

  const GemmSpec& spec() const { return spec_; }
  const GemmBlocking& blocking() const { return blocking_; }

 private:
  GemmSpec spec_;
  GemmBlocking blocking_;
  GemmFunction function_ = nullptr;
};

}  // namespace weft::llvm_backend
