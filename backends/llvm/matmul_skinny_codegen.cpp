/** \file
 * The GEMM's skinny paths: products with few rows (or columns) and matrix–vector products,
 * computed without packing.
 *
 * When M or N is small, the blocked path (matmul_codegen.cpp) spends more time packing op(B)
 * (or op(A)), each element of which is used only M (or N) times, than multiplying. These paths
 * read both operands in place and stream the larger one once; the core (emit_core) picks them.
 *
 * **The dot path**, when op(A)'s rows and op(B)'s columns are both contiguous along k — x·Wᵀ
 * with W a Linear or LSTM weight stored [N, K], a score against one query (N = 1): every output
 * element is a dot product of two contiguous rows.
 *
 *   <core>.dot.task(ctx, index)      one tile of one batch element: depth blocks of at most DKC,
 *                                    column chunks of 2·DNR, row blocks of DMR, the kernels
 *                                    across the chunk, and after the last depth block the tile
 *                                    epilogue on the finished block (still in L1)
 *   <core>.dot.<r>x<c>(k, a, lda, b, ldb, c, ldc, load_c)
 *                                    C[i, j] (+)= Σ_k a[i·lda + k]·b[j·ldb + k] for i < r, j < c:
 *                                    r × c vector accumulators along k (masked at the k tail),
 *                                    summed across lanes once at the end (sum_lanes)
 *
 * Kernels: DMR × DNR (the body), 1 × DNR (rows left over, and M = 1: a decode step streams W
 * once), DMR × 1 (columns left over, and N = 1) and 1 × 1.
 *
 * **The row path**, when op(B)'s rows are contiguous along n (B not transposed: x·W, the
 * backward pass's dy·W) and M is small: the blocked path's broadcast-and-FMA form, but reading
 * A (either layout) and B where they are, with masked loads and stores at the right edge.
 *
 *   <core>.row.task(ctx, index)      depth blocks of RKC, column chunks of RNV vectors, row
 *                                    blocks of RMR
 *   <core>.row.<r>x<v>(k, a, a_rs, a_cs, b, ldb, c, ldc, n_rem, load_c)
 *                                    C[i, 0:n_rem] (+)= Σ_k A(i, k)·b[k·ldb + 0:n_rem] for i < r,
 *                                    in r × v vector accumulators
 *   <core>.row.axpy(...)             one leftover row (and M = 1, x·W) across the whole tile
 *
 * The dot path's thin kernels keep two or four sets of accumulators along k, so that enough FMAs
 * are in flight to cover their latency. Tiles start at whole register blocks and depth blocks
 * depend on K alone, so which kernel sums an element, and in what order, depends on the shape
 * and never on the number of threads.
 */
#include <fmt/format.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>

#include <functional>
#include <vector>

#include "backends/llvm/ir_util.h"
#include "backends/llvm/matmul_layout.h"
#include "ir/error.h"

namespace weft::llvm_backend::gemm_detail {

namespace {

// What both paths' emitters share: types, function creation, and the task's tile.
class SkinnyEmitter {
 public:
  SkinnyEmitter(llvm::Module& module, std::string prefix, const GemmBlocking& g, bool transpose_a, bool transpose_b,
                bool accumulate)
      : module_(module),
        ctx_(module.getContext()),
        prefix_(std::move(prefix)),
        g_(g),
        transpose_a_(transpose_a),
        transpose_b_(transpose_b),
        accumulate_(accumulate) {
    f32_ = llvm::Type::getFloatTy(ctx_);
    i32_ = llvm::Type::getInt32Ty(ctx_);
    i64_ = llvm::Type::getInt64Ty(ctx_);
    ptr_ = llvm::PointerType::getUnqual(ctx_);
    vec_ = llvm::FixedVectorType::get(f32_, g.vector_floats);
  }

 protected:
  llvm::Value* c64(int64_t v) { return llvm::ConstantInt::get(i64_, v); }

  llvm::Function* new_function(const std::string& name, std::vector<llvm::Type*> params) {
    auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx_), params, false);
    auto* f = llvm::Function::Create(type, llvm::Function::InternalLinkage, name, module_);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    set_vector_width_attributes(*f, g_.vector_floats * 32);
    return f;
  }

  // One task's tile, as the blocked path's task decodes it (matmul_layout.h): the batch element,
  // the first row and column, how many of each, and the arguments.
  struct Tile {
    llvm::Value *a, *b, *c;  // the batch element's operands
    llvm::Value *m, *n, *k, *lda, *ldb, *ldc;
    llvm::Value *batch, *m0, *n0, *rows, *cols;
    llvm::Value *epilogue, *has_epilogue, *data;
  };

  Tile decode_task(llvm::IRBuilderBase& b, llvm::Value* ctx, llvm::Value* index) {
    llvm::StructType* task_type = task_struct(ctx_);
    llvm::StructType* args_type = gemm_args_type(ctx_);
    auto task_field = [&](unsigned i, llvm::Type* t) { return b.CreateLoad(t, b.CreateStructGEP(task_type, ctx, i)); };
    llvm::Value* args = task_field(kTaskArgs, ptr_);
    llvm::Value* tile_rows = task_field(kTaskRows, i64_);
    llvm::Value* tile_cols = task_field(kTaskCols, i64_);
    llvm::Value* row_tiles = task_field(kTaskRowTiles, i64_);
    llvm::Value* col_tiles = task_field(kTaskColTiles, i64_);
    auto field = [&](unsigned i) {
      llvm::Type* t = (i <= kC || i == kEpilogueData) ? static_cast<llvm::Type*>(ptr_) : i64_;
      return b.CreateLoad(t, b.CreateStructGEP(args_type, args, i));
    };
    Tile t;
    t.epilogue = task_field(kTaskEpilogue, ptr_);
    t.has_epilogue = b.CreateIsNotNull(t.epilogue);
    t.m = field(kM), t.n = field(kN), t.k = field(kK);
    t.lda = field(kLda), t.ldb = field(kLdb), t.ldc = field(kLdc);
    t.data = field(kEpilogueData);
    llvm::Value* per_batch = b.CreateMul(row_tiles, col_tiles);
    t.batch = b.CreateSDiv(index, per_batch);
    llvm::Value* in_batch = b.CreateSRem(index, per_batch);
    t.m0 = b.CreateMul(b.CreateSDiv(in_batch, col_tiles), tile_rows);
    t.n0 = b.CreateMul(b.CreateSRem(in_batch, col_tiles), tile_cols);
    t.rows = emit_min(b, tile_rows, b.CreateSub(t.m, t.m0));
    t.cols = emit_min(b, tile_cols, b.CreateSub(t.n, t.n0));
    t.a = b.CreateGEP(f32_, field(kA), b.CreateMul(t.batch, field(kStrideA)));
    t.b = b.CreateGEP(f32_, field(kB), b.CreateMul(t.batch, field(kStrideB)));
    t.c = b.CreateGEP(f32_, field(kC), b.CreateMul(t.batch, field(kStrideC)));
    return t;
  }

  llvm::Module& module_;
  llvm::LLVMContext& ctx_;
  std::string prefix_;
  GemmBlocking g_;
  bool transpose_a_, transpose_b_, accumulate_;
  llvm::Type *f32_, *i32_, *i64_;
  llvm::PointerType* ptr_;
  llvm::FixedVectorType* vec_;
};

class DotEmitter : SkinnyEmitter {
 public:
  DotEmitter(llvm::Module& module, const std::string& core, const GemmBlocking& g, bool transpose_b, bool accumulate)
      : SkinnyEmitter(module, core + ".dot", g, false, transpose_b, accumulate) {
    WEFT_CHECK(g.dot_mr >= 1 && g.dot_nr >= 1 && 2 * g.dot_nr <= g.nr, "the dot blocking must fit the epilogue");
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
    if (cols == 1) {
      llvm::FastMathFlags reassoc;
      reassoc.setAllowReassoc();
      for (int i = 0; i < rows; ++i) {
        llvm::Value* sum = b.CreateFAddReduce(llvm::ConstantFP::get(f32_, -0.0), first[i]);
        llvm::cast<llvm::Instruction>(sum)->setFastMathFlags(reassoc);
        llvm::Value* p = b.CreateGEP(f32_, c, b.CreateMul(c64(i), ldc));
        // C's old value counts only when accumulating (it may hold NaN from before otherwise).
        b.CreateStore(b.CreateSelect(load_c, b.CreateFAdd(b.CreateLoad(f32_, p), sum), sum), p);
      }
    } else {
      store_rows(b, sum_lanes(b, first, rows, cols), rows, cols, c, ldc, load_c);
    }
    b.CreateRetVoid();
    return f;
  }

  // Smallest power of two ≥ cols: each row's sums take that many lanes of the summed vectors.
  static int padded_cols(int cols) {
    int p = 1;
    while (p < cols) p *= 2;
    return p;
  }

  // The lane sums of rows × cols accumulators (row-major), as vectors holding them in order, each
  // row padded to padded_cols lanes: a transposing tree, where each step adds the two halves of
  // every group of lanes of a pair of vectors (log2 VW steps, one add and two shuffles per pair)
  // instead of reducing every vector on its own (log2 VW adds and shuffles each).
  std::vector<llvm::Value*> sum_lanes(llvm::IRBuilderBase& b, const std::vector<llvm::Value*>& acc, int rows,
                                      int cols) {
    const int vw = g_.vector_floats, cp = padded_cols(cols);
    llvm::Value* zero = llvm::ConstantFP::get(vec_, 0.0);
    std::vector<llvm::Value*> list;
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cp; ++j) list.push_back(j < cols ? acc[i * cols + j] : zero);
    while (list.size() % vw != 0) list.push_back(zero);
    for (int group = vw; group > 1; group /= 2) {
      // Each vector holds vw/group sums of `group` partial sums; a pair becomes one vector of
      // 2·vw/group sums of group/2.
      std::vector<int> lo, hi;
      for (int q = 0; q < 2 * vw / group; ++q) {
        for (int l = 0; l < group / 2; ++l) {
          lo.push_back(q * group + l);
          hi.push_back(q * group + group / 2 + l);
        }
      }
      std::vector<llvm::Value*> next;
      for (size_t t = 0; t + 1 < list.size(); t += 2) {
        next.push_back(b.CreateFAdd(b.CreateShuffleVector(list[t], list[t + 1], lo),
                                    b.CreateShuffleVector(list[t], list[t + 1], hi)));
      }
      list = std::move(next);
    }
    return list;
  }

  // Stores each row's `cols` sums (lanes i·cp.. of the summed vectors), added to C when load_c.
  void store_rows(llvm::IRBuilderBase& b, const std::vector<llvm::Value*>& sums, int rows, int cols, llvm::Value* c,
                  llvm::Value* ldc, llvm::Value* load_c) {
    const int vw = g_.vector_floats, cp = padded_cols(cols);
    auto* row_type = llvm::FixedVectorType::get(f32_, cp);
    std::vector<llvm::Constant*> lanes;
    for (int j = 0; j < cp; ++j) lanes.push_back(llvm::ConstantInt::getBool(ctx_, j < cols));
    llvm::Value* mask = llvm::ConstantVector::get(lanes);
    llvm::Value* zero = llvm::ConstantFP::get(row_type, 0.0);
    for (int i = 0; i < rows; ++i) {
      std::vector<int> pick;
      for (int j = 0; j < cp; ++j) pick.push_back((i * cp) % vw + j);
      llvm::Value* sum = b.CreateShuffleVector(sums[(i * cp) / vw], pick);
      llvm::Value* p = b.CreateGEP(f32_, c, b.CreateMul(c64(i), ldc));
      llvm::Value* old = cols == cp ? static_cast<llvm::Value*>(b.CreateAlignedLoad(row_type, p, llvm::Align(4)))
                                    : b.CreateMaskedLoad(row_type, p, llvm::Align(4), mask, zero);
      // C's old value counts only when accumulating (it may hold NaN from before otherwise).
      llvm::Value* value = b.CreateSelect(load_c, b.CreateFAdd(old, sum), sum);
      if (cols == cp)
        b.CreateAlignedStore(value, p, llvm::Align(4));
      else
        b.CreateMaskedStore(value, p, llvm::Align(4), mask);
    }
  }

  // task(ctx, index): the tile `index` (decoded as the blocked path's task does), column chunks
  // of JC = 2·DNR, row blocks of DMR inside each.
  llvm::Function* emit_task(llvm::Function* body, llvm::Function* row_kernel, llvm::Function* col_kernel,
                            llvm::Function* one) {
    llvm::Function* f = new_function(prefix_ + ".task", {ptr_, i64_});
    llvm::Value* ctx = f->getArg(0);
    llvm::Value* index = f->getArg(1);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", f));
    Tile t = decode_task(b, ctx, index);
    llvm::Value *k = t.k, *lda = t.lda, *ldc = t.ldc, *rows = t.rows, *cols = t.cols;
    llvm::Value *m0 = t.m0, *n0 = t.n0, *batch = t.batch, *epilogue = t.epilogue, *data = t.data;
    // Column j of op(B) starts at b + j·ldb when B is stored transposed; otherwise the core
    // takes this path only for N = 1 with ldb = 1, a single contiguous column.
    llvm::Value* b_col_stride = transpose_b_ ? t.ldb : c64(0);
    llvm::Value* a = b.CreateGEP(f32_, t.a, b.CreateMul(m0, lda));
    llvm::Value* bm = b.CreateGEP(f32_, t.b, b.CreateMul(n0, b_col_stride));
    llvm::Value* c = b.CreateGEP(f32_, t.c, b.CreateAdd(b.CreateMul(m0, ldc), n0));

    const int mr = g_.dot_mr, nr = g_.dot_nr, jc_width = 2 * g_.dot_nr;
    // Depth blocks: K in one block up to DKC, else in equal blocks of at most DKC (whole
    // vectors), so that a chunk's rows of B stay in L1 while the row blocks pass over it; the
    // later blocks add to C. The cut depends on K alone, so every element's sum is in the same
    // order whatever the tiling. K = 0 still runs one (empty) block, so that C is written.
    llvm::Value* k_end = emit_max(b, k, c64(1));
    llvm::Value* blocks = emit_ceil_div(b, k_end, c64(g_.dot_kc));
    llvm::Value* kb =
        b.CreateMul(emit_ceil_div(b, emit_ceil_div(b, k_end, blocks), c64(g_.vector_floats)), c64(g_.vector_floats));
    emit_for(
        b, c64(0), k_end, kb,
        [&](llvm::Value* pc) {
          llvm::Value* kc = emit_min(b, kb, b.CreateSub(k, pc));
          llvm::Value* load_c = accumulate_ ? b.getTrue() : b.CreateICmpSGT(pc, c64(0));
          llvm::Value* last = b.CreateICmpSGE(b.CreateAdd(pc, kb), k);
          llvm::Value* a_depth = b.CreateGEP(f32_, a, pc);
          llvm::Value* b_depth = b.CreateGEP(f32_, bm, pc);
          // The kernels across `width` columns of one block of rows: whole DNR groups, then one at a time.
          auto across = [&](llvm::Function* wide, llvm::Function* narrow, llvm::Value* a_rows, llvm::Value* b_cols,
                            llvm::Value* c_rows, llvm::Value* width) {
            llvm::Value* whole = b.CreateMul(b.CreateSDiv(width, c64(nr)), c64(nr));
            auto call = [&](llvm::Function* kernel, llvm::Value* j) {
              b.CreateCall(kernel, {kc, a_rows, lda, b.CreateGEP(f32_, b_cols, b.CreateMul(j, b_col_stride)),
                                    b_col_stride, b.CreateGEP(f32_, c_rows, j), ldc, load_c});
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
                llvm::Value* b_chunk = b.CreateGEP(f32_, b_depth, b.CreateMul(jc, b_col_stride));
                emit_for(
                    b, c64(0), rows, c64(mr),
                    [&](llvm::Value* ic) {
                      llvm::Value* height = emit_min(b, c64(mr), b.CreateSub(rows, ic));
                      llvm::Value* a_block = b.CreateGEP(f32_, a_depth, b.CreateMul(ic, lda));
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
                      emit_if(b, b.CreateAnd(last, t.has_epilogue), [&] {
                        b.CreateCall(
                            tile_epilogue_type(ctx_), epilogue,
                            {data, batch, b.CreateAdd(m0, ic), b.CreateAdd(n0, jc), c_block, ldc, height, width});
                      });
                    },
                    "ic");
              },
              "jc");
        },
        "pc");
    b.CreateRetVoid();
    return f;
  }
};

class RowEmitter : SkinnyEmitter {
 public:
  RowEmitter(llvm::Module& module, const std::string& core, const GemmBlocking& g, bool transpose_a, bool accumulate)
      : SkinnyEmitter(module, core + ".row", g, transpose_a, false, accumulate) {}

  llvm::Function* emit() {
    WEFT_CHECK(g_.row_mr >= 1 && g_.row_nv >= 1 && g_.row_kc >= 1, "the row blocking must be positive");
    llvm::Function* body = emit_kernel(g_.row_mr, g_.row_nv, 1);
    return emit_task(body, emit_axpy());
  }

 private:
  // <prefix>.axpy(k, a, a_cs, b, ldb, c, n, load_c): one row, C[0:n] = (load_c ? C : 0) +
  // Σ_k a[k·a_cs]·b[k·ldb + 0:n], eight k at a time over the whole row (C stays in L1, and the
  // eight rows of B are read in memory order, as streams the prefetchers follow). For the rows
  // left over below a whole register block, and so for M = 1: a matrix–vector product x·W.
  llvm::Function* emit_axpy() {
    llvm::Function* f =
        new_function(prefix_ + ".axpy", {i64_, ptr_, i64_, ptr_, i64_, ptr_, i64_, llvm::Type::getInt1Ty(ctx_)});
    auto arg = f->arg_begin();
    llvm::Value* k = &*arg++;
    llvm::Value* a = &*arg++;
    llvm::Value* a_cs = &*arg++;
    llvm::Value* bm = &*arg++;
    llvm::Value* ldb = &*arg++;
    llvm::Value* c = &*arg++;
    llvm::Value* n = &*arg++;
    llvm::Value* load_c = &*arg++;
    f->addParamAttr(5, llvm::Attribute::NoAlias);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", f));
    const int vw = g_.vector_floats;
    llvm::Value* zero = llvm::ConstantFP::get(vec_, 0.0);
    llvm::Value* full = b.CreateMul(b.CreateSDiv(n, c64(vw)), c64(vw));
    std::vector<llvm::Constant*> lanes;
    for (int l = 0; l < vw; ++l) lanes.push_back(llvm::ConstantInt::get(i32_, l));
    llvm::Value* tail_mask = b.CreateICmpSLT(llvm::ConstantVector::get(lanes),
                                             b.CreateVectorSplat(vw, b.CreateTrunc(b.CreateSub(n, full), i32_)));
    // Each vector of C (`mask` null: a whole one) through `body`.
    auto each_vector =
        [&](const std::function<llvm::Value*(llvm::Value * j, llvm::Value * mask, llvm::Value * x)>& body) {
          auto one = [&](llvm::Value* j, llvm::Value* mask) {
            llvm::Value* p = b.CreateGEP(f32_, c, j);
            llvm::Value* x = mask ? static_cast<llvm::Value*>(b.CreateMaskedLoad(vec_, p, llvm::Align(4), mask, zero))
                                  : b.CreateAlignedLoad(vec_, p, llvm::Align(4));
            llvm::Value* y = body(j, mask, x);
            if (mask)
              b.CreateMaskedStore(y, p, llvm::Align(4), mask);
            else
              b.CreateAlignedStore(y, p, llvm::Align(4));
          };
          emit_for(
              b, c64(0), full, c64(vw), [&](llvm::Value* j) { one(j, nullptr); }, "j");
          emit_if(b, b.CreateICmpSLT(full, n), [&] { one(full, tail_mask); });
        };
    // C's old value counts only when accumulating (it may hold NaN from before otherwise).
    emit_if(b, b.CreateNot(load_c),
            [&] { each_vector([&](llvm::Value*, llvm::Value*, llvm::Value*) { return zero; }); });
    auto steps = [&](llvm::Value* k0, int count) {
      std::vector<llvm::Value*> splats, rows;
      for (int s = 0; s < count; ++s) {
        llvm::Value* kk = b.CreateAdd(k0, c64(s));
        splats.push_back(b.CreateVectorSplat(vw, b.CreateLoad(f32_, b.CreateGEP(f32_, a, b.CreateMul(kk, a_cs)))));
        rows.push_back(b.CreateGEP(f32_, bm, b.CreateMul(kk, ldb)));
      }
      each_vector([&](llvm::Value* j, llvm::Value* mask, llvm::Value* x) {
        for (int s = 0; s < count; ++s) {
          llvm::Value* p = b.CreateGEP(f32_, rows[s], j);
          llvm::Value* y = mask ? static_cast<llvm::Value*>(b.CreateMaskedLoad(vec_, p, llvm::Align(4), mask, zero))
                                : b.CreateAlignedLoad(vec_, p, llvm::Align(4));
          x = b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vec_}, {splats[s], y, x});
        }
        return x;
      });
    };
    llvm::Value* k8 = b.CreateMul(b.CreateSDiv(k, c64(8)), c64(8));
    emit_for(
        b, c64(0), k8, c64(8), [&](llvm::Value* kk) { steps(kk, 8); }, "k");
    emit_for(
        b, k8, k, c64(1), [&](llvm::Value* kk) { steps(kk, 1); }, "kr");
    b.CreateRetVoid();
    return f;
  }

  // <prefix>.<rows>x<vectors>(k, a, a_rs, a_cs, b, ldb, c, ldc, n_rem, load_c): rows × vectors
  // accumulators, `sets` of them taking turns along k.
  llvm::Function* emit_kernel(int rows, int vectors, int sets) {
    llvm::Function* f =
        new_function(fmt::format("{}.{}x{}", prefix_, rows, vectors),
                     {i64_, ptr_, i64_, i64_, ptr_, i64_, ptr_, i64_, i64_, llvm::Type::getInt1Ty(ctx_)});
    auto arg = f->arg_begin();
    llvm::Value* k = &*arg++;
    llvm::Value* a = &*arg++;
    llvm::Value* a_rs = &*arg++;
    llvm::Value* a_cs = &*arg++;
    llvm::Value* bm = &*arg++;
    llvm::Value* ldb = &*arg++;
    llvm::Value* c = &*arg++;
    llvm::Value* ldc = &*arg++;
    llvm::Value* n_rem = &*arg++;
    llvm::Value* load_c = &*arg++;
    f->addParamAttr(6, llvm::Attribute::NoAlias);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", f));
    const int vw = g_.vector_floats;
    const size_t per_set = static_cast<size_t>(rows) * vectors;
    llvm::Value* zero = llvm::ConstantFP::get(vec_, 0.0);

    // Lanes of each vector inside C (all of them but at the right edge).
    std::vector<llvm::Value*> masks;
    llvm::Value* n_rem32 = b.CreateTrunc(emit_min(b, n_rem, c64(int64_t{vw} * vectors)), i32_);
    for (int v = 0; v < vectors; ++v) {
      std::vector<llvm::Constant*> lanes;
      for (int l = 0; l < vw; ++l) lanes.push_back(llvm::ConstantInt::get(i32_, v * vw + l));
      masks.push_back(b.CreateICmpSLT(llvm::ConstantVector::get(lanes), b.CreateVectorSplat(vw, n_rem32)));
    }
    std::vector<llvm::Value*> a_rows;
    for (int i = 0; i < rows; ++i) a_rows.push_back(b.CreateGEP(f32_, a, b.CreateMul(c64(i), a_rs)));

    auto step = [&](llvm::Value* kk, std::vector<llvm::Value*>& acc, size_t set) {
      llvm::Value* b_row = b.CreateGEP(f32_, bm, b.CreateMul(kk, ldb));
      std::vector<llvm::Value*> bv;
      for (int v = 0; v < vectors; ++v)
        bv.push_back(b.CreateMaskedLoad(vec_, b.CreateGEP(f32_, b_row, c64(v * vw)), llvm::Align(4), masks[v], zero));
      for (int i = 0; i < rows; ++i) {
        llvm::Value* x = b.CreateLoad(f32_, b.CreateGEP(f32_, a_rows[i], b.CreateMul(kk, a_cs)));
        llvm::Value* splat = b.CreateVectorSplat(vw, x);
        for (int v = 0; v < vectors; ++v) {
          llvm::Value*& y = acc[set * per_set + i * vectors + v];
          y = b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vec_}, {splat, bv[v], y});
        }
      }
    };
    std::vector<llvm::Value*> acc(per_set * sets, zero);
    llvm::Value* k_sets = b.CreateMul(b.CreateSDiv(k, c64(sets)), c64(sets));
    acc = emit_for_carried(
        b, c64(0), k_sets, c64(sets), acc,
        [&](llvm::Value* kk, const std::vector<llvm::Value*>& in) {
          std::vector<llvm::Value*> out = in;
          for (int s = 0; s < sets; ++s) step(b.CreateAdd(kk, c64(s)), out, s);
          return out;
        },
        "k");
    std::vector<llvm::Value*> sum(acc.begin(), acc.begin() + static_cast<std::ptrdiff_t>(per_set));
    for (int s = 1; s < sets; ++s)
      for (size_t x = 0; x < per_set; ++x) sum[x] = b.CreateFAdd(sum[x], acc[s * per_set + x]);
    sum = emit_for_carried(
        b, k_sets, k, c64(1), sum,
        [&](llvm::Value* kk, const std::vector<llvm::Value*>& in) {
          std::vector<llvm::Value*> out = in;
          step(kk, out, 0);
          return out;
        },
        "kr");
    for (int i = 0; i < rows; ++i) {
      llvm::Value* c_row = b.CreateGEP(f32_, c, b.CreateMul(c64(i), ldc));
      for (int v = 0; v < vectors; ++v) {
        llvm::Value* p = b.CreateGEP(f32_, c_row, c64(v * vw));
        llvm::Value* value = sum[i * vectors + v];
        // C's old value counts only when accumulating (it may hold NaN from before otherwise).
        llvm::Value* old = b.CreateMaskedLoad(vec_, p, llvm::Align(4), masks[v], zero);
        value = b.CreateSelect(load_c, b.CreateFAdd(old, value), value);
        b.CreateMaskedStore(value, p, llvm::Align(4), masks[v]);
      }
    }
    b.CreateRetVoid();
    return f;
  }

  // task(ctx, index): depth blocks of RKC (so that a chunk of B, RKC × RNV vectors, stays in
  // L1 while every row block passes over it), column chunks of RNV vectors, whole row blocks of
  // RMR; then the rows left over, each by `axpy` across all the tile's columns. After the last
  // depth block, the epilogue on each finished block, NR columns at a time.
  llvm::Function* emit_task(llvm::Function* body, llvm::Function* axpy) {
    llvm::Function* f = new_function(prefix_ + ".task", {ptr_, i64_});
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", f));
    Tile t = decode_task(b, f->getArg(0), f->getArg(1));
    // (row stride, column stride) of op(A).
    llvm::Value* a_rs = transpose_a_ ? c64(1) : t.lda;
    llvm::Value* a_cs = transpose_a_ ? t.lda : c64(1);
    llvm::Value* a = b.CreateGEP(f32_, t.a, b.CreateMul(t.m0, a_rs));
    llvm::Value* bm = b.CreateGEP(f32_, t.b, t.n0);
    llvm::Value* c = b.CreateGEP(f32_, t.c, b.CreateAdd(b.CreateMul(t.m0, t.ldc), t.n0));
    const int mr = g_.row_mr;
    const int64_t chunk = int64_t{g_.row_nv} * g_.vector_floats;
    // Tiles start at whole row blocks, so which rows are left over depends on M alone.
    llvm::Value* whole_rows = b.CreateMul(b.CreateSDiv(t.rows, c64(mr)), c64(mr));
    // The epilogue over `height` rows from `row` (of the tile) and `width` columns from `col`.
    auto epilogue = [&](llvm::Value* row, llvm::Value* col, llvm::Value* height, llvm::Value* width) {
      llvm::Value* c_block = b.CreateGEP(f32_, c, b.CreateAdd(b.CreateMul(row, t.ldc), col));
      emit_for(
          b, c64(0), width, c64(g_.nr),
          [&](llvm::Value* h) {
            b.CreateCall(
                tile_epilogue_type(ctx_), t.epilogue,
                {t.data, t.batch, b.CreateAdd(t.m0, row), b.CreateAdd(b.CreateAdd(t.n0, col), h),
                 b.CreateGEP(f32_, c_block, h), t.ldc, height, emit_min(b, c64(g_.nr), b.CreateSub(width, h))});
          },
          "h");
    };
    // K = 0 still runs one (empty) block, so that C is written (zeros, or C, through the epilogue).
    llvm::Value* k_end = emit_max(b, t.k, c64(1));
    emit_for(
        b, c64(0), k_end, c64(g_.row_kc),
        [&](llvm::Value* pc) {
          llvm::Value* kc = emit_min(b, c64(g_.row_kc), b.CreateSub(t.k, pc));
          llvm::Value* load_c = accumulate_ ? b.getTrue() : b.CreateICmpSGT(pc, c64(0));
          llvm::Value* last = b.CreateAnd(b.CreateICmpSGE(b.CreateAdd(pc, c64(g_.row_kc)), t.k), t.has_epilogue);
          llvm::Value* a_block = b.CreateGEP(f32_, a, b.CreateMul(pc, a_cs));
          llvm::Value* b_block = b.CreateGEP(f32_, bm, b.CreateMul(pc, t.ldb));
          emit_for(
              b, c64(0), t.cols, c64(chunk),
              [&](llvm::Value* jc) {
                llvm::Value* width = emit_min(b, c64(chunk), b.CreateSub(t.cols, jc));
                llvm::Value* b_chunk = b.CreateGEP(f32_, b_block, jc);
                emit_for(
                    b, c64(0), whole_rows, c64(mr),
                    [&](llvm::Value* ic) {
                      llvm::Value* a_rows = b.CreateGEP(f32_, a_block, b.CreateMul(ic, a_rs));
                      llvm::Value* c_block = b.CreateGEP(f32_, c, b.CreateAdd(b.CreateMul(ic, t.ldc), jc));
                      b.CreateCall(body, {kc, a_rows, a_rs, a_cs, b_chunk, t.ldb, c_block, t.ldc, width, load_c});
                      emit_if(b, last, [&] { epilogue(ic, jc, c64(mr), width); });
                    },
                    "ic");
              },
              "jc");
          emit_for(
              b, whole_rows, t.rows, c64(1),
              [&](llvm::Value* i) {
                b.CreateCall(axpy, {kc, b.CreateGEP(f32_, a_block, b.CreateMul(i, a_rs)), a_cs, b_block, t.ldb,
                                    b.CreateGEP(f32_, c, b.CreateMul(i, t.ldc)), t.cols, load_c});
              },
              "i1");
          emit_if(b, b.CreateAnd(last, b.CreateICmpSLT(whole_rows, t.rows)),
                  [&] { epilogue(whole_rows, c64(0), b.CreateSub(t.rows, whole_rows), t.cols); });
        },
        "pc");
    b.CreateRetVoid();
    return f;
  }
};

}  // namespace

llvm::Function* emit_dot_task(llvm::Module& module, const std::string& core, const GemmBlocking& g, bool transpose_b,
                              bool accumulate) {
  return DotEmitter(module, core, g, transpose_b, accumulate).emit();
}

llvm::Function* emit_row_task(llvm::Module& module, const std::string& core, const GemmBlocking& g, bool transpose_a,
                              bool accumulate) {
  return RowEmitter(module, core, g, transpose_a, accumulate).emit();
}

}  // namespace weft::llvm_backend::gemm_detail
