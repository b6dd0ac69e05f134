/** \file
 * The GEMM's dot-product path: skinny products and matrix–vector products without packing.
 *
 * When op(A)'s rows and op(B)'s columns are both contiguous along k — x·Wᵀ with W a Linear or
 * LSTM weight stored [N, K], a score against one query (N = 1) — every output element is a dot
 * product of two contiguous rows. When M or N is small, the blocked path (matmul_codegen.cpp)
 * spends more time packing op(B) (or op(A)), each element used only M (or N) times, than
 * multiplying; this path reads both operands in place, streaming the larger once:
 *
 *   <core>.dot.task(ctx, index)      one tile of one batch element: column chunks of JC, then
 *                                    row blocks of DMR, the kernels across the chunk, and the
 *                                    tile epilogue on the finished DMR × JC block (still in L1)
 *   <core>.dot.<r>x<c>(k, a, lda, b, ldb, c, ldc, load_c)
 *                                    C[i, j] (+)= Σ_k a[i·lda + k]·b[j·ldb + k] for i < r, j < c:
 *                                    r × c vector accumulators along k (masked at the k tail),
 *                                    summed across lanes once at the end
 *
 * Kernels: DMR × DNR (the body), 1 × DNR (rows left over, and M = 1: a decode step streams W
 * once), DMR × 1 (columns left over, and N = 1) and 1 × 1. The thin ones keep two or four sets
 * of accumulators along k, so that enough FMAs are in flight to cover their latency. Shapes
 * from the core's choice (emit_core in matmul_codegen.cpp): this path runs when M or N is at most
 * GemmBlocking::dot_max_rows / dot_max_cols.
 */
#include <fmt/format.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>

#include <vector>

#include "backends/llvm/ir_util.h"
#include "backends/llvm/matmul_layout.h"
#include "ir/error.h"

namespace weft::llvm_backend::gemm_detail {

namespace {

class DotEmitter {
 public:
  DotEmitter(llvm::Module& module, std::string core, const GemmBlocking& g, bool transpose_b, bool accumulate)
      : module_(module),
        ctx_(module.getContext()),
        prefix_(std::move(core) + ".dot"),
        g_(g),
        transpose_b_(transpose_b),
        accumulate_(accumulate) {
    WEFT_CHECK(g.dot_mr >= 1 && g.dot_nr >= 1 && 2 * g.dot_nr <= g.nr, "the dot blocking must fit the epilogue");
    f32_ = llvm::Type::getFloatTy(ctx_);
    i32_ = llvm::Type::getInt32Ty(ctx_);
    i64_ = llvm::Type::getInt64Ty(ctx_);
    ptr_ = llvm::PointerType::getUnqual(ctx_);
    vec_ = llvm::FixedVectorType::get(f32_, g.vector_floats);
  }

  llvm::Function* emit() {
    const int mr = g_.dot_mr, nr = g_.dot_nr;
    llvm::Function* body = emit_kernel(mr, nr, 1);
    llvm::Function* row = emit_kernel(1, nr, 2);
    llvm::Function* col = emit_kernel(mr, 1, 2);
    llvm::Function* one = emit_kernel(1, 1, 4);
    return emit_task(body, row, col, one);
  }

 private:
  llvm::Value* c64(int64_t v) { return llvm::ConstantInt::get(i64_, v); }

  llvm::Function* new_function(const std::string& name, std::vector<llvm::Type*> params) {
    auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx_), params, false);
    auto* f = llvm::Function::Create(type, llvm::Function::InternalLinkage, name, module_);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    set_vector_width_attributes(*f, g_.vector_floats * 32);
    return f;
  }

  // <prefix>.<rows>x<cols>(k, a, lda, b, ldb, c, ldc, load_c). `sets` independent accumulator
  // sets take turns along k (k advances VW·sets per iteration), then are added together.
  llvm::Function* emit_kernel(int rows, int cols, int sets) {
    llvm::Function* f = new_function(fmt::format("{}.{}x{}", prefix_, rows, cols),
                                     {i64_, ptr_, i64_, ptr_, i64_, ptr_, i64_, llvm::Type::getInt1Ty(ctx_)});
    auto arg = f->arg_begin();
    llvm::Value* k = &*arg++;
    llvm::Value* a = &*arg++;
    llvm::Value* lda = &*arg++;
    llvm::Value* bm = &*arg++;
    llvm::Value* ldb = &*arg++;
    llvm::Value* c = &*arg++;
    llvm::Value* ldc = &*arg++;
    llvm::Value* load_c = &*arg++;
    f->addParamAttr(5, llvm::Attribute::NoAlias);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", f));
    const int vw = g_.vector_floats;
    const size_t per_set = static_cast<size_t>(rows) * cols;

    std::vector<llvm::Value*> a_rows, b_cols;
    for (int i = 0; i < rows; ++i) a_rows.push_back(b.CreateGEP(f32_, a, b.CreateMul(c64(i), lda)));
    for (int j = 0; j < cols; ++j) b_cols.push_back(b.CreateGEP(f32_, bm, b.CreateMul(c64(j), ldb)));
    llvm::Value* zero = llvm::ConstantFP::get(vec_, 0.0);

    // One vector of k at `kk` into accumulator set `set`; `mask` (or null) says which lanes are
    // inside k. Each A vector is loaded once and meets every B vector.
    auto step = [&](llvm::Value* kk, llvm::Value* mask, std::vector<llvm::Value*>& acc, size_t set) {
      auto load = [&](llvm::Value* base) -> llvm::Value* {
        llvm::Value* p = b.CreateGEP(f32_, base, kk);
        if (mask) return b.CreateMaskedLoad(vec_, p, llvm::Align(4), mask, zero);
        return b.CreateAlignedLoad(vec_, p, llvm::Align(4));
      };
      std::vector<llvm::Value*> av;
      for (int i = 0; i < rows; ++i) av.push_back(load(a_rows[i]));
      for (int j = 0; j < cols; ++j) {
        llvm::Value* bv = load(b_cols[j]);
        for (int i = 0; i < rows; ++i) {
          llvm::Value*& x = acc[set * per_set + i * cols + j];
          x = b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vec_}, {av[i], bv, x});
        }
      }
    };
    std::vector<llvm::Value*> acc(per_set * sets, zero);
    const int64_t stride = int64_t{vw} * sets;
    llvm::Value* k_sets = b.CreateMul(b.CreateSDiv(k, c64(stride)), c64(stride));
    acc = emit_for_carried(
        b, c64(0), k_sets, c64(stride), acc,
        [&](llvm::Value* kk, const std::vector<llvm::Value*>& in) {
          std::vector<llvm::Value*> out = in;
          for (int s = 0; s < sets; ++s) step(b.CreateAdd(kk, c64(s * vw)), nullptr, out, s);
          return out;
        },
        "k");
    std::vector<llvm::Value*> first(acc.begin(), acc.begin() + static_cast<std::ptrdiff_t>(per_set));
    for (int s = 1; s < sets; ++s)
      for (size_t x = 0; x < per_set; ++x) first[x] = b.CreateFAdd(first[x], acc[s * per_set + x]);
    llvm::Value* k_vectors = b.CreateMul(b.CreateSDiv(k, c64(vw)), c64(vw));
    first = emit_for_carried(
        b, k_sets, k_vectors, c64(vw), first,
        [&](llvm::Value* kk, const std::vector<llvm::Value*>& in) {
          std::vector<llvm::Value*> out = in;
          step(kk, nullptr, out, 0);
          return out;
        },
        "kv");
    // The k tail (fewer than VW left): one masked step, as a loop that runs at most once.
    first = emit_for_carried(
        b, k_vectors, k, c64(vw), first,
        [&](llvm::Value* kk, const std::vector<llvm::Value*>& in) {
          std::vector<llvm::Constant*> lanes;
          for (int l = 0; l < vw; ++l) lanes.push_back(llvm::ConstantInt::get(i32_, l));
          llvm::Value* left = b.CreateVectorSplat(vw, b.CreateTrunc(b.CreateSub(k, kk), i32_));
          llvm::Value* mask = b.CreateICmpSLT(llvm::ConstantVector::get(lanes), left);
          std::vector<llvm::Value*> out = in;
          step(kk, mask, out, 0);
          return out;
        },
        "kt");

    // Lanes summed in any order (the sum of a dot product's partial sums; the blocked path sums
    // along k in order, so the two differ by rounding).
    llvm::FastMathFlags reassoc;
    reassoc.setAllowReassoc();
    for (int i = 0; i < rows; ++i) {
      llvm::Value* c_row = b.CreateGEP(f32_, c, b.CreateMul(c64(i), ldc));
      for (int j = 0; j < cols; ++j) {
        llvm::Value* sum = b.CreateFAddReduce(llvm::ConstantFP::get(f32_, -0.0), first[i * cols + j]);
        llvm::cast<llvm::Instruction>(sum)->setFastMathFlags(reassoc);
        llvm::Value* p = b.CreateGEP(f32_, c_row, c64(j));
        // C's old value counts only when accumulating (it may hold NaN from before otherwise).
        llvm::Value* value = b.CreateSelect(load_c, b.CreateFAdd(b.CreateLoad(f32_, p), sum), sum);
        b.CreateStore(value, p);
      }
    }
    b.CreateRetVoid();
    return f;
  }

  // task(ctx, index): the tile `index` (decoded as the blocked path's task does), column chunks
  // of JC = 2·DNR, row blocks of DMR inside each.
  llvm::Function* emit_task(llvm::Function* body, llvm::Function* row_kernel, llvm::Function* col_kernel,
                            llvm::Function* one) {
    llvm::Function* f = new_function(prefix_ + ".task", {ptr_, i64_});
    llvm::Value* ctx = f->getArg(0);
    llvm::Value* index = f->getArg(1);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", f));
    llvm::StructType* task_type = task_struct(ctx_);
    llvm::StructType* args_type = gemm_args_type(ctx_);
    auto task_field = [&](unsigned i, llvm::Type* t) { return b.CreateLoad(t, b.CreateStructGEP(task_type, ctx, i)); };
    llvm::Value* args = task_field(kTaskArgs, ptr_);
    llvm::Value* tile_rows = task_field(kTaskRows, i64_);
    llvm::Value* tile_cols = task_field(kTaskCols, i64_);
    llvm::Value* row_tiles = task_field(kTaskRowTiles, i64_);
    llvm::Value* col_tiles = task_field(kTaskColTiles, i64_);
    llvm::Value* epilogue = task_field(kTaskEpilogue, ptr_);
    llvm::Value* has_epilogue = b.CreateIsNotNull(epilogue);
    auto field = [&](unsigned i) {
      llvm::Type* t = (i <= kC || i == kEpilogueData) ? static_cast<llvm::Type*>(ptr_) : i64_;
      return b.CreateLoad(t, b.CreateStructGEP(args_type, args, i));
    };
    llvm::Value *a = field(kA), *bm = field(kB), *c = field(kC);
    llvm::Value *m = field(kM), *n = field(kN), *k = field(kK);
    llvm::Value *lda = field(kLda), *ldc = field(kLdc);
    // Column j of op(B) starts at b + j·ldb when B is stored transposed; otherwise the core
    // takes this path only for N = 1 with ldb = 1, a single contiguous column.
    llvm::Value* b_col_stride = transpose_b_ ? field(kLdb) : c64(0);
    llvm::Value* data = field(kEpilogueData);

    llvm::Value* per_batch = b.CreateMul(row_tiles, col_tiles);
    llvm::Value* batch = b.CreateSDiv(index, per_batch);
    llvm::Value* in_batch = b.CreateSRem(index, per_batch);
    llvm::Value* m0 = b.CreateMul(b.CreateSDiv(in_batch, col_tiles), tile_rows);
    llvm::Value* n0 = b.CreateMul(b.CreateSRem(in_batch, col_tiles), tile_cols);
    llvm::Value* rows = emit_min(b, tile_rows, b.CreateSub(m, m0));
    llvm::Value* cols = emit_min(b, tile_cols, b.CreateSub(n, n0));
    a = b.CreateGEP(f32_, a, b.CreateAdd(b.CreateMul(batch, field(kStrideA)), b.CreateMul(m0, lda)));
    bm = b.CreateGEP(f32_, bm, b.CreateAdd(b.CreateMul(batch, field(kStrideB)), b.CreateMul(n0, b_col_stride)));
    c = b.CreateGEP(f32_, c, b.CreateAdd(b.CreateMul(batch, field(kStrideC)), b.CreateAdd(b.CreateMul(m0, ldc), n0)));
    llvm::Value* load_c = accumulate_ ? b.getTrue() : b.getFalse();

    const int mr = g_.dot_mr, nr = g_.dot_nr, jc_width = 2 * g_.dot_nr;
    // The kernels across `width` columns of one block of rows: whole DNR groups, then one at a time.
    auto across = [&](llvm::Function* wide, llvm::Function* narrow, llvm::Value* a_rows, llvm::Value* b_cols,
                      llvm::Value* c_rows, llvm::Value* width) {
      llvm::Value* whole = b.CreateMul(b.CreateSDiv(width, c64(nr)), c64(nr));
      auto call = [&](llvm::Function* kernel, llvm::Value* j) {
        b.CreateCall(kernel, {k, a_rows, lda, b.CreateGEP(f32_, b_cols, b.CreateMul(j, b_col_stride)), b_col_stride,
                              b.CreateGEP(f32_, c_rows, j), ldc, load_c});
      };
      emit_for(
          b, c64(0), whole, c64(nr), [&](llvm::Value* j) { call(wide, j); }, "jr");
      emit_for(
          b, whole, width, c64(1), [&](llvm::Value* j) { call(narrow, j); }, "j1");
    };
    emit_for(
        b, c64(0), cols, c64(jc_width),
        [&](llvm::Value* jc) {
          llvm::Value* width = emit_min(b, c64(jc_width), b.CreateSub(cols, jc));
          llvm::Value* b_chunk = b.CreateGEP(f32_, bm, b.CreateMul(jc, b_col_stride));
          emit_for(
              b, c64(0), rows, c64(mr),
              [&](llvm::Value* ic) {
                llvm::Value* height = emit_min(b, c64(mr), b.CreateSub(rows, ic));
                llvm::Value* a_block = b.CreateGEP(f32_, a, b.CreateMul(ic, lda));
                llvm::Value* c_block = b.CreateGEP(f32_, c, b.CreateAdd(b.CreateMul(ic, ldc), jc));
                emit_if_else(
                    b, b.CreateICmpEQ(height, c64(mr)),
                    [&] { across(body, col_kernel, a_block, b_chunk, c_block, width); },
                    [&] {
                      emit_for(
                          b, c64(0), height, c64(1),
                          [&](llvm::Value* i) {
                            across(row_kernel, one, b.CreateGEP(f32_, a_block, b.CreateMul(i, lda)), b_chunk,
                                   b.CreateGEP(f32_, c_block, b.CreateMul(i, ldc)), width);
                          },
                          "i1");
                    });
                emit_if(b, has_epilogue, [&] {
                  b.CreateCall(tile_epilogue_type(ctx_), epilogue,
                               {data, batch, b.CreateAdd(m0, ic), b.CreateAdd(n0, jc), c_block, ldc, height, width});
                });
              },
              "ic");
        },
        "jc");
    b.CreateRetVoid();
    return f;
  }

  llvm::Module& module_;
  llvm::LLVMContext& ctx_;
  std::string prefix_;
  GemmBlocking g_;
  bool transpose_b_, accumulate_;
  llvm::Type *f32_, *i32_, *i64_;
  llvm::PointerType* ptr_;
  llvm::FixedVectorType* vec_;
};

}  // namespace

llvm::Function* emit_dot_task(llvm::Module& module, const std::string& core, const GemmBlocking& g, bool transpose_b,
                              bool accumulate) {
  return DotEmitter(module, core, g, transpose_b, accumulate).emit();
}

}  // namespace weft::llvm_backend::gemm_detail
