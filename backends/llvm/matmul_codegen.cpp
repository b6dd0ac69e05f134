/** \file
 * IR generation for the blocked, register-tiled SGEMM described in matmul_codegen.h.
 *
 * Emitted functions (all internal except the entry):
 *   name(args)                       entry: calls the core with this GEMM's epilogue (or null)
 *   name.epilogue(...)               the spec's epilogue over one stored micro-tile, in place
 *   core(args, epilogue)             picks the path and the tiling, calls weft_parallel_for
 *   core.task(ctx, index)            one output tile of one batch: loop over K blocks
 *   core.pack_a / core.pack_b        copy a block of op(A) / op(B) into micro-panels
 *   core.kernel(...)                 MR×NR micro-kernel with its store
 *   core.dot.* / core.row.*          the skinny paths' tasks and kernels (matmul_skinny_codegen.cpp)
 *
 * `core` is "weft.gemm.<ta><tb>[a].v<VW>.<MR>x<NR>.k<KC>.m<MC>.n<NC>.u<unroll>" followed by the
 * skinny paths' blocking (".d<DMR>x<DNR>.<DKC>.<max rows>.<max cols>.r<RMR>x<RNV>.<RKC>"): it and its
 * helpers depend only on the transposes, accumulation and blocking, never on the epilogue, so a
 * module holds one copy however many GEMMs it has (an AOT shared object), and the JIT compiles it
 * once per process (it carries kJitSharedAttribute; see Jit::add_module). That is what keeps a
 * matmul region's compile time down: the region's own code is its entry and its epilogue.
 */
#include "backends/llvm/matmul_codegen.h"

#include <fmt/format.h>
#include <llvm/Analysis/ValueTracking.h>
#include <llvm/IR/InstIterator.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "backends/llvm/ir_util.h"
#include "backends/llvm/matmul_layout.h"
#include "ir/error.h"

namespace weft::llvm_backend {

GemmBlocking GemmBlocking::for_target(int vector_floats, int vector_registers) {
  GemmBlocking g;
  g.vector_floats = vector_floats;
  if (vector_registers >= 32) {
    // AVX-512: 6 rows × 4 vectors (6×64) of accumulators, plus 4 vectors of B and one broadcast
    // of A. Each broadcast feeds 4 FMAs, so a k step loads 10 values for 24 FMAs (14×32 loaded 16
    // for 28): with KC = 512 B's micro-panel streams from L2 rather than sitting in L1, and the
    // fewer loads per FMA measured 6–10% more GFLOP per CPU-second than 14×32 on Sapphire Rapids
    // (docs/performance.md, "Large products"). KC = 512 also writes C once for K ≤ 512 (every
    // Linear of a d512 model) instead of reloading it after each block.
    g.nr = 4 * vector_floats;
    g.mr = std::clamp((vector_registers - 5) / 4, 1, 14);
    g.kc = 512;
    g.mc = g.mr * 28;
    g.nc = g.nr * 32;
  } else {
    // MR rows × 2 vectors of accumulators, plus 2 vectors of B and one broadcast of A.
    g.nr = 2 * vector_floats;
    g.mr = std::clamp((vector_registers - 3) / 2, 1, 14);
    g.kc = 256;
    g.mc = g.mr * 24;
    g.nc = g.nr * 64;
  }
  g.k_unroll = 4;
  // DMR × DNR accumulators, DMR vectors of A and one of B in registers.
  g.dot_mr = vector_registers >= 32 ? 4 : 3;
  g.dot_nr = std::min(vector_registers >= 32 ? 6 : 3, g.nr / 2);
  // RMR × RNV accumulators, RNV vectors of B and one broadcast of A.
  g.row_mr = 4;
  g.row_nv = vector_registers >= 32 ? 4 : 2;
  g.row_kc = 128;
  return g;
}

GemmBlocking GemmBlocking::for_host() {
  const HostTarget& host = host_target();
  return for_target(host.vector_floats(), host.vector_registers);
}

llvm::StructType* gemm_args_type(llvm::LLVMContext& context) {
  auto* ptr = llvm::PointerType::getUnqual(context);
  auto* i64 = llvm::Type::getInt64Ty(context);
  // a, b, c, m, n, k, lda, ldb, ldc, batch, stride_a, stride_b, stride_c, epilogue_data, packed_b,
  // packed_b_valid
  return llvm::StructType::get(context,
                               {ptr, ptr, ptr, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, ptr, ptr, ptr});
}

namespace {

using namespace gemm_detail;

class GemmEmitter {
 public:
  GemmEmitter(llvm::Module& module, std::string name, const GemmSpec& spec, const GemmBlocking& g)
      : module_(module), ctx_(module.getContext()), name_(std::move(name)), spec_(spec), g_(g) {
    core_ = fmt::format("weft.gemm.{}{}{}.v{}.{}x{}.k{}.m{}.n{}.u{}{}{}.s{}.d{}x{}.{}.{}.{}.r{}x{}.{}",
                        spec.transpose_a ? 't' : 'n', spec.transpose_b ? 't' : 'n', spec.accumulate ? "a" : "",
                        g.vector_floats, g.mr, g.nr, g.kc, g.mc, g.nc, g.k_unroll, g.share_packed_b ? "" : ".ps",
                        g.transpose_packs ? "" : ".pt", g.shared_pack_max_floats, g.dot_mr, g.dot_nr, g.dot_kc,
                        g.dot_max_rows, g.dot_max_cols, g.row_mr, g.row_nv, g.row_kc);
    WEFT_CHECK(g.vector_floats >= 1 && g.nr % g.vector_floats == 0, "NR must be whole vectors");
    WEFT_CHECK(g.mc % g.mr == 0 && g.nc % g.nr == 0, "MC and NC must be whole micro-tiles");
    WEFT_CHECK(g.kc >= 1 && g.k_unroll >= 1, "KC and the unroll factor must be positive");
    f32_ = llvm::Type::getFloatTy(ctx_);
    i1_ = llvm::Type::getInt1Ty(ctx_);
    i32_ = llvm::Type::getInt32Ty(ctx_);
    i64_ = llvm::Type::getInt64Ty(ctx_);
    ptr_ = llvm::PointerType::getUnqual(ctx_);
    vec_ = llvm::FixedVectorType::get(f32_, g.vector_floats);
    nv_ = g.nr / g.vector_floats;
  }

  llvm::Function* emit() {
    llvm::Function* core = module_.getFunction(core_);
    if (core == nullptr || core->isDeclaration()) {
      llvm::Function* pack_a = emit_pack(module_, core_ + ".pack_a", g_, g_.mr, /*unit_inner=*/spec_.transpose_a);
      llvm::Function* pack_b = emit_pack(module_, core_ + ".pack_b", g_, g_.nr, /*unit_inner=*/!spec_.transpose_b);
      llvm::Function* pack_b_task = emit_pack_b_task(module_, core_, g_, pack_b, spec_.transpose_b);
      llvm::Function* kernel = emit_kernel();
      llvm::Function* task = emit_task(pack_a, pack_b, kernel);
      // The dot path reads op(A)'s rows along k, which only an untransposed A has; the row path
      // reads op(B)'s rows along n, which only an untransposed B has.
      llvm::Function* dot_task =
          spec_.transpose_a ? nullptr : emit_dot_task(module_, core_, g_, spec_.transpose_b, spec_.accumulate);
      llvm::Function* row_task =
          spec_.transpose_b ? nullptr : emit_row_task(module_, core_, g_, spec_.transpose_a, spec_.accumulate);
      core = emit_core(task, pack_b_task, dot_task, row_task);
    }
    llvm::Function* epilogue = spec_.epilogue ? emit_epilogue() : nullptr;
    return emit_entry(core, epilogue);
  }

 private:
  llvm::Value* c64(int64_t v) { return llvm::ConstantInt::get(i64_, v); }
  llvm::Value* c32(int32_t v) { return llvm::ConstantInt::get(i32_, v); }

  llvm::Function* new_function(const std::string& name, llvm::Type* ret, std::vector<llvm::Type*> params,
                               bool external) {
    auto* type = llvm::FunctionType::get(ret, params, false);
    auto* f = llvm::Function::Create(type, external ? llvm::Function::ExternalLinkage : llvm::Function::InternalLinkage,
                                     name, module_);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    set_vector_width_attributes(*f, g_.vector_floats * 32);
    return f;
  }

  // kernel(kc, ap, bp, c, ldc, m_rem, n_rem, load_c): C[0:m_rem, 0:n_rem] = (load_c ? C : 0) + Ap·Bp.
  llvm::Function* emit_kernel() {
    llvm::Function* f = new_function(core_ + ".kernel", llvm::Type::getVoidTy(ctx_),
                                     {i64_, ptr_, ptr_, ptr_, i64_, i64_, i64_, i1_}, false);
    auto arg = f->arg_begin();
    llvm::Value* kc = &*arg++;
    llvm::Value* ap = &*arg++;
    llvm::Value* bp = &*arg++;
    llvm::Value* c = &*arg++;
    llvm::Value* ldc = &*arg++;
    llvm::Value* m_rem = &*arg++;
    llvm::Value* n_rem = &*arg++;
    llvm::Value* load_c = &*arg++;
    for (unsigned i : {1u, 2u, 3u}) f->addParamAttr(i, llvm::Attribute::NoAlias);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", f));

    const int mr = g_.mr, nv = nv_, vw = g_.vector_floats, nr = g_.nr;
    llvm::Align b_align(std::min(vw * 4, 64));
    std::vector<llvm::Value*> zeros(mr * nv, llvm::ConstantFP::get(vec_, 0.0));

    // One step of k: NR/VW vector loads of B, MR broadcasts of A, MR×NR/VW FMAs.
    auto step = [&](llvm::Value* k, std::vector<llvm::Value*> acc) {
      llvm::Value* b_row = b.CreateGEP(f32_, bp, b.CreateMul(k, c64(nr)));
      llvm::Value* a_col = b.CreateGEP(f32_, ap, b.CreateMul(k, c64(mr)));
      std::vector<llvm::Value*> bv(nv);
      for (int v = 0; v < nv; ++v) {
        bv[v] = b.CreateAlignedLoad(vec_, b.CreateGEP(f32_, b_row, c64(v * vw)), b_align);
      }
      for (int i = 0; i < mr; ++i) {
        llvm::Value* a = b.CreateLoad(f32_, b.CreateGEP(f32_, a_col, c64(i)));
        llvm::Value* a_splat = b.CreateVectorSplat(vw, a);
        for (int v = 0; v < nv; ++v) {
          acc[i * nv + v] = b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vec_}, {a_splat, bv[v], acc[i * nv + v]});
        }
      }
      return acc;
    };
    // Touch the C tile now, so that its lines arrive while the k loop runs (C is read or
    // written only after it; BLIS kernels do the same).
    for (int i = 0; i < mr; ++i) {
      llvm::Value* row = b.CreateGEP(f32_, c, b.CreateMul(c64(i), ldc));
      for (int offset : {0, nr - 1}) {
        b.CreateIntrinsic(llvm::Intrinsic::prefetch, {ptr_},
                          {b.CreateGEP(f32_, row, c64(offset)), c32(1), c32(3), c32(1)});
      }
    }
    // Unrolled main loop, then the remainder one k at a time.
    const int u = g_.k_unroll;
    llvm::Value* k_main = b.CreateMul(b.CreateSDiv(kc, c64(u)), c64(u));
    std::vector<llvm::Value*> acc = emit_for_carried(
        b, c64(0), k_main, c64(u), zeros,
        [&](llvm::Value* k, const std::vector<llvm::Value*>& in) {
          std::vector<llvm::Value*> out = in;
          for (int j = 0; j < u; ++j) out = step(b.CreateAdd(k, c64(j)), out);
          return out;
        },
        "k");
    acc = emit_for_carried(
        b, k_main, kc, c64(1), acc, [&](llvm::Value* k, const std::vector<llvm::Value*>& in) { return step(k, in); },
        "kr");

    // Stores: a fast path for whole tiles, masked stores at the edges; load_c is decided per
    // call, so each combination gets its own straight-line code.
    llvm::Value* full = b.CreateAnd(b.CreateICmpEQ(m_rem, c64(mr)), b.CreateICmpEQ(n_rem, c64(nr)));
    emit_if_else(
        b, full,
        [&] {
          emit_if_else(
              b, load_c, [&] { store_full(b, acc, c, ldc, true); }, [&] { store_full(b, acc, c, ldc, false); });
        },
        [&] {
          emit_if_else(
              b, load_c, [&] { store_edge(b, acc, c, ldc, m_rem, n_rem, true); },
              [&] { store_edge(b, acc, c, ldc, m_rem, n_rem, false); });
        });
    b.CreateRetVoid();
    return f;
  }

  void store_full(llvm::IRBuilderBase& b, const std::vector<llvm::Value*>& acc, llvm::Value* c, llvm::Value* ldc,
                  bool load_c) {
    for (int i = 0; i < g_.mr; ++i) {
      llvm::Value* row = b.CreateGEP(f32_, c, b.CreateMul(c64(i), ldc));
      for (int v = 0; v < nv_; ++v) {
        llvm::Value* p = b.CreateGEP(f32_, row, c64(v * g_.vector_floats));
        llvm::Value* value = acc[i * nv_ + v];
        if (load_c) value = b.CreateFAdd(b.CreateAlignedLoad(vec_, p, llvm::Align(4)), value);
        b.CreateAlignedStore(value, p, llvm::Align(4));
      }
    }
  }

  void store_edge(llvm::IRBuilderBase& b, const std::vector<llvm::Value*>& acc, llvm::Value* c, llvm::Value* ldc,
                  llvm::Value* m_rem, llvm::Value* n_rem, bool load_c) {
    const int vw = g_.vector_floats;
    std::vector<llvm::Value*> masks = column_masks(b, n_rem);
    llvm::Value* zero = llvm::ConstantFP::get(vec_, 0.0);
    for (int i = 0; i < g_.mr; ++i) {
      emit_if(b, b.CreateICmpSLT(c64(i), m_rem), [&] {
        llvm::Value* row = b.CreateGEP(f32_, c, b.CreateMul(c64(i), ldc));
        for (int v = 0; v < nv_; ++v) {
          llvm::Value* p = b.CreateGEP(f32_, row, c64(v * vw));
          llvm::Value* value = acc[i * nv_ + v];
          if (load_c) {
            value = b.CreateFAdd(b.CreateMaskedLoad(vec_, p, llvm::Align(4), masks[v], zero), value);
          }
          b.CreateMaskedStore(value, p, llvm::Align(4), masks[v]);
        }
      });
    }
  }

  // task(ctx, index): one output tile of one batch element, computed with the BLIS loops: column
  // blocks of NC, depth blocks of KC (pack B), row blocks of MC (pack A), then NR and MR panels.
  llvm::Function* emit_task(llvm::Function* pack_a, llvm::Function* pack_b, llvm::Function* kernel) {
    llvm::Function* f = new_function(core_ + ".task", llvm::Type::getVoidTy(ctx_), {ptr_, i64_}, false);
    llvm::Value* ctx = f->getArg(0);
    llvm::Value* index = f->getArg(1);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", f));
    llvm::StructType* task_type = task_struct();
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
    llvm::Value *lda = field(kLda), *ldb = field(kLdb), *ldc = field(kLdc);
    llvm::Value* data = field(kEpilogueData);

    llvm::Value* per_batch = b.CreateMul(row_tiles, col_tiles);
    llvm::Value* batch = b.CreateSDiv(index, per_batch);
    llvm::Value* in_batch = b.CreateSRem(index, per_batch);
    llvm::Value* m0 = b.CreateMul(b.CreateSDiv(in_batch, col_tiles), tile_rows);
    llvm::Value* n0 = b.CreateMul(b.CreateSRem(in_batch, col_tiles), tile_cols);
    llvm::Value* rows = emit_min(b, tile_rows, b.CreateSub(m, m0));
    llvm::Value* cols = emit_min(b, tile_cols, b.CreateSub(n, n0));

    a = b.CreateGEP(f32_, a, b.CreateMul(batch, field(kStrideA)));
    bm = b.CreateGEP(f32_, bm, b.CreateMul(batch, field(kStrideB)));
    c = b.CreateGEP(f32_, c, b.CreateMul(batch, field(kStrideC)));
    // (row stride, column stride) of op(A) and op(B).
    llvm::Value* a_rs = spec_.transpose_a ? c64(1) : lda;
    llvm::Value* a_cs = spec_.transpose_a ? lda : c64(1);
    llvm::Value* b_rs = spec_.transpose_b ? c64(1) : ldb;  // along k
    llvm::Value* b_cs = spec_.transpose_b ? ldb : c64(1);  // along n

    // Packed A (MC × KC) then packed B (KC × NC), in this thread's scratch (task_scratch_floats);
    // the core may have packed all of op(B) for every task already (shared_b, not null).
    llvm::Value* shared_b = task_field(kTaskPackedB, ptr_);
    llvm::Value* ap = b.CreateCall(declare_thread_scratch(module_), {c64(task_scratch_floats() * 4)});
    llvm::Value* own_bp = b.CreateGEP(f32_, ap, c64(a_scratch_floats()));
    llvm::Value* has_shared_b = b.CreateIsNotNull(shared_b);

    // K = 0 still runs one (empty) block, so that C is written (zeros, or C, through the epilogue).
    llvm::Value* k_end = emit_max(b, k, c64(1));
    emit_for(
        b, c64(0), cols, c64(g_.nc),
        [&](llvm::Value* jc) {
          llvm::Value* nc = emit_min(b, c64(g_.nc), b.CreateSub(cols, jc));
          llvm::Value* col0 = b.CreateAdd(n0, jc);
          llvm::Value* b_block = b.CreateGEP(f32_, bm, b.CreateMul(col0, b_cs));
          emit_for(
              b, c64(0), k_end, c64(g_.kc),
              [&](llvm::Value* pc) {
                llvm::Value* kc = emit_min(b, c64(g_.kc), b.CreateSub(k, pc));
                llvm::Value* bp = b.CreateSelect(
                    has_shared_b, b.CreateGEP(f32_, shared_b, packed_b_offset(b, g_, n, k, batch, pc, kc, col0)),
                    own_bp);
                emit_if(b, b.CreateNot(has_shared_b), [&] {
                  b.CreateCall(pack_b, {b.CreateGEP(f32_, b_block, b.CreateMul(pc, b_rs)), b_cs, b_rs, nc, kc, bp});
                });
                llvm::Value* load_c = spec_.accumulate ? b.getTrue() : b.CreateICmpSGT(pc, c64(0));
                llvm::Value* last = b.CreateICmpSGE(b.CreateAdd(pc, c64(g_.kc)), k);
                llvm::Value* run_epilogue = b.CreateAnd(last, has_epilogue);
                emit_for(
                    b, c64(0), rows, c64(g_.mc),
                    [&](llvm::Value* ic) {
                      llvm::Value* mc = emit_min(b, c64(g_.mc), b.CreateSub(rows, ic));
                      llvm::Value* row0 = b.CreateAdd(m0, ic);
                      llvm::Value* a_block =
                          b.CreateGEP(f32_, a, b.CreateAdd(b.CreateMul(row0, a_rs), b.CreateMul(pc, a_cs)));
                      b.CreateCall(pack_a, {a_block, a_rs, a_cs, mc, kc, ap});
                      llvm::Value* c_block = b.CreateGEP(f32_, c, b.CreateAdd(b.CreateMul(row0, ldc), col0));
                      emit_for(
                          b, c64(0), nc, c64(g_.nr),
                          [&](llvm::Value* jr) {
                            llvm::Value* b_panel = b.CreateGEP(f32_, bp, b.CreateMul(jr, kc));
                            llvm::Value* n_rem = emit_min(b, c64(g_.nr), b.CreateSub(nc, jr));
                            emit_for(
                                b, c64(0), mc, c64(g_.mr),
                                [&](llvm::Value* ir) {
                                  llvm::Value* a_panel = b.CreateGEP(f32_, ap, b.CreateMul(ir, kc));
                                  llvm::Value* m_rem = emit_min(b, c64(g_.mr), b.CreateSub(mc, ir));
                                  llvm::Value* c_micro =
                                      b.CreateGEP(f32_, c_block, b.CreateAdd(b.CreateMul(ir, ldc), jr));
                                  b.CreateCall(kernel, {kc, a_panel, b_panel, c_micro, ldc, m_rem, n_rem, load_c});
                                  emit_if(b, run_epilogue, [&] {
                                    b.CreateCall(epilogue_type(), epilogue,
                                                 {data, batch, b.CreateAdd(row0, ir), b.CreateAdd(col0, jr), c_micro,
                                                  ldc, m_rem, n_rem});
                                  });
                                },
                                "ir");
                          },
                          "jr");
                    },
                    "ic");
              },
              "pc");
        },
        "jc");
    b.CreateRetVoid();
    return f;
  }

  llvm::StructType* task_struct() { return gemm_detail::task_struct(ctx_); }
  // A blocked task's scratch: packed A (MC × KC, rounded up to whole 64-byte lines, since the
  // micro-kernel reads packed B with aligned vector loads), then its own packed B (KC × NC).
  int64_t a_scratch_floats() const { return (int64_t{g_.mc} * g_.kc + 15) / 16 * 16; }
  int64_t task_scratch_floats() const { return a_scratch_floats() + (int64_t{g_.kc} * g_.nc + 15) / 16 * 16; }
  llvm::FunctionType* epilogue_type() { return tile_epilogue_type(ctx_); }

  // Lanes of each of the NR/VW vectors of a micro-tile row that lie inside C, given the columns left.
  std::vector<llvm::Value*> column_masks(llvm::IRBuilderBase& b, llvm::Value* n_rem) {
    const int vw = g_.vector_floats;
    llvm::Value* n_rem32 = b.CreateTrunc(n_rem, i32_);
    std::vector<llvm::Value*> masks(nv_);
    for (int v = 0; v < nv_; ++v) {
      std::vector<llvm::Constant*> lanes;
      for (int l = 0; l < vw; ++l) lanes.push_back(llvm::ConstantInt::get(i32_, v * vw + l));
      masks[v] = b.CreateICmpSLT(llvm::ConstantVector::get(lanes), b.CreateVectorSplat(vw, n_rem32));
    }
    return masks;
  }

  // name.epilogue(data, batch, row, col, c, ldc, m_rem, n_rem): rewrites the m_rem × n_rem tile
  // at c (C's rows row.., columns col.. of batch `batch`) through the spec's epilogue, in place.
  // The task calls it right after the micro-kernel's last store to the tile, while the tile is
  // in L1; one loop over the rows, a full-width body and a masked one, so the epilogue's IR is
  // instantiated 2·NR/VW times rather than once per register of every store variant.
  llvm::Function* emit_epilogue() {
    llvm::Function* f =
        llvm::Function::Create(epilogue_type(), llvm::Function::InternalLinkage, name_ + ".epilogue", module_);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    set_vector_width_attributes(*f, g_.vector_floats * 32);
    auto arg = f->arg_begin();
    llvm::Value* data = &*arg++;
    llvm::Value* batch = &*arg++;
    llvm::Value* row = &*arg++;
    llvm::Value* col = &*arg++;
    llvm::Value* c = &*arg++;
    llvm::Value* ldc = &*arg++;
    llvm::Value* m_rem = &*arg++;
    llvm::Value* n_rem = &*arg++;
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", f));
    const int vw = g_.vector_floats;
    auto rows = [&](const std::vector<llvm::Value*>* masks) {
      emit_for(
          b, c64(0), m_rem, c64(1),
          [&](llvm::Value* i) {
            llvm::Value* c_row = b.CreateGEP(f32_, c, b.CreateMul(i, ldc));
            for (int v = 0; v < nv_; ++v) {
              llvm::Value* p = b.CreateGEP(f32_, c_row, c64(v * vw));
              llvm::Value* mask = masks ? (*masks)[v] : nullptr;
              llvm::Value* x = mask ? static_cast<llvm::Value*>(b.CreateMaskedLoad(vec_, p, llvm::Align(4), mask,
                                                                                   llvm::ConstantFP::get(vec_, 0.0)))
                                    : b.CreateAlignedLoad(vec_, p, llvm::Align(4));
              EpilogueContext ec{b, batch, b.CreateAdd(row, i), b.CreateAdd(col, c64(v * vw)), mask, data};
              llvm::Value* y = spec_.epilogue(ec, x);
              if (mask)
                b.CreateMaskedStore(y, p, llvm::Align(4), mask);
              else
                b.CreateAlignedStore(y, p, llvm::Align(4));
            }
          },
          "i");
    };
    emit_if_else(
        b, b.CreateICmpEQ(n_rem, c64(g_.nr)), [&] { rows(nullptr); },
        [&] {
          std::vector<llvm::Value*> masks = column_masks(b, n_rem);
          rows(&masks);
        });
    b.CreateRetVoid();
    mark_tables_invariant(*f, data);
    return f;
  }

  // The epilogue's IR reads its tables (a region's buffer pointers and dims, through
  // GemmArgs::epilogue_data) once per output vector, between stores to C that LLVM must assume may
  // alias them: without more, every vector reloads them and re-derives its indices (a 3-D output's
  // row decode divides), which cost a d256 model's K = 256 products 10-15% of their time. The
  // tables are constant for the whole call (GemmArgs::epilogue_data's contract), so their loads
  // (pointers and i64s read through `data` and through a pointer so read) are marked
  // !invariant.load, which lets the optimizer load them once per tile and decode each row once.
  static void mark_tables_invariant(llvm::Function& f, llvm::Value* data) {
    llvm::MDNode* empty = llvm::MDNode::get(f.getContext(), {});
    auto table_type = [](llvm::Type* t) { return t->isPointerTy() || t->isIntegerTy(64); };
    std::vector<const llvm::Value*> tables = {data};  // data, then the table pointers read from it
    for (int level = 0; level < 2; ++level) {
      std::vector<const llvm::Value*> found;
      for (llvm::Instruction& inst : llvm::instructions(f)) {
        auto* load = llvm::dyn_cast<llvm::LoadInst>(&inst);
        if (!load || !table_type(load->getType())) continue;
        const llvm::Value* base = llvm::getUnderlyingObject(load->getPointerOperand());
        if (std::find(tables.begin(), tables.end(), base) == tables.end()) continue;
        if (!load->getMetadata(llvm::LLVMContext::MD_invariant_load)) {
          load->setMetadata(llvm::LLVMContext::MD_invariant_load, empty);
          if (load->getType()->isPointerTy()) found.push_back(load);
        }
      }
      tables.insert(tables.end(), found.begin(), found.end());
    }
  }

  // name(args): the core with this GEMM's epilogue (or none).
  llvm::Function* emit_entry(llvm::Function* core, llvm::Function* epilogue) {
    llvm::Function* f = new_function(name_, llvm::Type::getVoidTy(ctx_), {ptr_}, true);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", f));
    llvm::Value* epi = epilogue ? static_cast<llvm::Value*>(epilogue) : llvm::ConstantPointerNull::get(ptr_);
    b.CreateCall(core, {f->getArg(0), epi});
    b.CreateRetVoid();
    return f;
  }

  // core(args, epilogue): tiles the output and runs the tasks on the thread pool. Shared by every
  // GEMM of this module with the same transposes, accumulation and blocking; the JIT compiles it
  // once per process (kJitSharedAttribute). The skinny paths' tasks (matmul_skinny_codegen.cpp;
  // null where the transposes rule them out) take the products whose packing would cost more
  // than it saves: `dot_task` those with op(B)'s columns contiguous and M or N small, `row_task`
  // those with B untransposed and M small.
  llvm::Function* emit_core(llvm::Function* task, llvm::Function* pack_b_task, llvm::Function* dot_task,
                            llvm::Function* row_task) {
    llvm::Function* f = new_function(core_, llvm::Type::getVoidTy(ctx_), {ptr_, ptr_}, false);
    f->addFnAttr(kJitSharedAttribute);
    llvm::Value* args = f->getArg(0);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx_, "entry", f));
    llvm::StructType* args_type = gemm_args_type(ctx_);
    auto field = [&](unsigned i) { return b.CreateLoad(i64_, b.CreateStructGEP(args_type, args, i)); };
    llvm::Value* m = field(kM);
    llvm::Value* n = field(kN);
    llvm::Value* batch = field(kBatch);
    llvm::Value* few_rows = b.CreateICmpSLE(m, c64(g_.dot_max_rows));
    llvm::Value* use_dot = b.getFalse();
    if (dot_task != nullptr) {
      llvm::Value* contiguous_b =
          spec_.transpose_b ? b.getTrue() : b.CreateAnd(b.CreateICmpEQ(n, c64(1)), b.CreateICmpEQ(field(kLdb), c64(1)));
      llvm::Value* skinny = b.CreateOr(few_rows, b.CreateICmpSLE(n, c64(g_.dot_max_cols)));
      use_dot = b.CreateAnd(contiguous_b, skinny);
    }
    llvm::Value* use_row = row_task ? b.CreateAnd(b.CreateNot(use_dot), few_rows) : b.getFalse();
    // About two tasks per thread (so a core slowed by other work hands tasks to the others),
    // cut from the rows first, except for products of at most dot_max_rows rows and more
    // columns: the blocked path packs op(B) once per task that covers a column range, so with
    // 32 rows and 2048 columns cutting rows would pack the whole of B once per task; the skinny
    // paths pack nothing, and cutting columns streams B once. Tiles are whole micro-tiles (dot path: DMR rows, chunks
    // of 2·DNR columns). Products too small to repay waking the pool (under 2^18 multiply-adds, a few microseconds) run
    // as one task on the caller.
    llvm::Value* threads = b.CreateCall(declare_num_threads(module_));
    llvm::Value* k = field(kK);
    llvm::Value* work = b.CreateMul(b.CreateMul(b.CreateMul(m, n), k), batch);
    llvm::Value* min_work = b.CreateSelect(b.CreateOr(use_dot, use_row), c64(int64_t{1} << 20), c64(int64_t{1} << 18));
    llvm::Value* parallel = b.CreateAnd(b.CreateICmpSGT(threads, c64(1)), b.CreateICmpSGE(work, min_work));
    llvm::Value* target = b.CreateSelect(parallel, b.CreateMul(threads, c64(2)), c64(1));
    llvm::Value* per_batch = emit_ceil_div(b, target, emit_max(b, batch, c64(1)));
    llvm::Value* m1 = emit_max(b, m, c64(1));
    llvm::Value* n1 = emit_max(b, n, c64(1));
    llvm::Value* row_unit =
        b.CreateSelect(use_dot, c64(g_.dot_mr), b.CreateSelect(use_row, c64(g_.row_mr), c64(g_.mr)));
    llvm::Value* col_unit = b.CreateSelect(
        use_dot, c64(2 * g_.dot_nr), b.CreateSelect(use_row, c64(int64_t{g_.row_nv} * g_.vector_floats), c64(g_.nr)));
    llvm::Value* row_units = emit_ceil_div(b, m1, row_unit);
    llvm::Value* col_units = emit_ceil_div(b, n1, col_unit);
    llvm::Value* rows_first = b.CreateNot(b.CreateAnd(few_rows, b.CreateICmpSLT(m1, n1)));
    llvm::Value* first_row_tiles = emit_min(b, per_batch, row_units);
    llvm::Value* first_col_tiles = emit_min(b, per_batch, col_units);
    llvm::Value* row_tiles = b.CreateSelect(rows_first, first_row_tiles,
                                            emit_min(b, emit_ceil_div(b, per_batch, first_col_tiles), row_units));
    llvm::Value* col_tiles = b.CreateSelect(
        rows_first, emit_min(b, emit_ceil_div(b, per_batch, first_row_tiles), col_units), first_col_tiles);
    auto round_up = [&](llvm::Value* x, llvm::Value* multiple) {
      return b.CreateMul(emit_ceil_div(b, x, multiple), multiple);
    };
    llvm::Value* tile_rows = round_up(emit_ceil_div(b, m1, row_tiles), row_unit);
    llvm::Value* tile_cols = round_up(emit_ceil_div(b, n1, col_tiles), col_unit);
    row_tiles = emit_ceil_div(b, m1, tile_rows);
    col_tiles = emit_ceil_div(b, n1, tile_cols);
    llvm::Value* nonempty = b.CreateAnd(b.CreateICmpSGT(m, c64(0)), b.CreateICmpSGT(n, c64(0)));
    llvm::Value* tasks = b.CreateSelect(nonempty, b.CreateMul(b.CreateMul(batch, row_tiles), col_tiles), c64(0));

    llvm::StructType* task_type = task_struct();
    llvm::Value* ctx = b.CreateAlloca(task_type);
    b.CreateStore(args, b.CreateStructGEP(task_type, ctx, kTaskArgs));
    b.CreateStore(tile_rows, b.CreateStructGEP(task_type, ctx, kTaskRows));
    b.CreateStore(tile_cols, b.CreateStructGEP(task_type, ctx, kTaskCols));
    b.CreateStore(row_tiles, b.CreateStructGEP(task_type, ctx, kTaskRowTiles));
    b.CreateStore(col_tiles, b.CreateStructGEP(task_type, ctx, kTaskColTiles));
    b.CreateStore(f->getArg(1), b.CreateStructGEP(task_type, ctx, kTaskEpilogue));
    b.CreateStore(llvm::ConstantPointerNull::get(ptr_), b.CreateStructGEP(task_type, ctx, kTaskPackedB));
    emit_shared_pack(b, g_, args, ctx, pack_b_task, b.CreateNot(b.CreateOr(use_dot, use_row)), row_tiles, tasks,
                     parallel, target, task_scratch_floats());
    emit_if(b, b.CreateICmpSGT(tasks, c64(0)), [&] {
      llvm::Value* chosen = task;
      if (dot_task) chosen = b.CreateSelect(use_dot, dot_task, chosen);
      if (row_task) chosen = b.CreateSelect(use_row, row_task, chosen);
      // A product too small to repay waking the pool runs its tasks on the caller: a batched one
      // still has a task per batch element (attention's heads), and handing those to the pool cost
      // a decode step's [4, 1, 64]·[4, 32, 64]ᵀ 65 µs instead of 0.6.
      llvm::FunctionType* task_type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx_), {ptr_, i64_}, false);
      emit_if_else(
          b, parallel,
          [&] {
            b.CreateCall(declare_parallel_for(module_), {ctx, tasks, chosen});
          },
          [&] {
            emit_for(b, c64(0), tasks, c64(1), [&](llvm::Value* i) { b.CreateCall(task_type, chosen, {ctx, i}); });
          });
    });
    b.CreateRetVoid();
    return f;
  }

  llvm::Module& module_;
  llvm::LLVMContext& ctx_;
  std::string name_;
  std::string core_;  // the shared functions' name (prefix): everything but the epilogue
  const GemmSpec& spec_;
  GemmBlocking g_;
  llvm::Type *f32_, *i1_, *i32_, *i64_;
  llvm::PointerType* ptr_;
  llvm::FixedVectorType* vec_;
  int nv_;
};

}  // namespace

llvm::Function* emit_gemm(llvm::Module& module, const std::string& name, const GemmSpec& spec,
                          const GemmBlocking& blocking) {
  return GemmEmitter(module, name, spec, blocking).emit();
}

GemmKernel GemmKernel::compile(const GemmSpec& spec, const GemmBlocking& blocking, Jit& jit) {
  auto context = std::make_unique<llvm::LLVMContext>();
  std::string name = fmt::format("weft_gemm_{}{}{}_v{}_{}x{}_k{}_m{}_n{}", spec.transpose_a ? 't' : 'n',
                                 spec.transpose_b ? 't' : 'n', spec.accumulate ? "_acc" : "", blocking.vector_floats,
                                 blocking.mr, blocking.nr, blocking.kc, blocking.mc, blocking.nc);
  auto module = jit.new_module(name, *context);
  emit_gemm(*module, name, spec, blocking);
  JitLibrary library = jit.add_module(std::move(module), std::move(context));
  GemmKernel kernel;
  kernel.spec_ = spec;
  kernel.blocking_ = blocking;
  kernel.function_ = library.lookup_function<GemmFunction>(name);
  return kernel;
}

void GemmKernel::operator()(const GemmArgs& args) const {
  auto fail = [&](const std::string& rule) {
    throw Error(fmt::format("gemm: {}; got m={}, n={}, k={}, lda={}, ldb={}, ldc={}, batch={}", rule, args.m, args.n,
                            args.k, args.lda, args.ldb, args.ldc, args.batch));
  };
  if (args.m < 0 || args.n < 0 || args.k < 0 || args.batch < 0) fail("sizes must be non-negative");
  if (args.m == 0 || args.n == 0 || args.batch == 0) return;
  int64_t a_width = spec_.transpose_a ? args.m : args.k;
  int64_t b_width = spec_.transpose_b ? args.k : args.n;
  if (args.lda < a_width) fail("lda must be at least the width of A as stored");
  if (args.ldb < b_width) fail("ldb must be at least the width of B as stored");
  if (args.ldc < args.n) fail("ldc must be at least n");
  if ((args.packed_b == nullptr) != (args.packed_b_valid == nullptr)) {
    fail("packed_b and packed_b_valid must be given together");
  }
  if (reinterpret_cast<uintptr_t>(args.packed_b) % 64 != 0) fail("packed_b must be 64-byte aligned");
  if (args.c == nullptr || (args.k > 0 && (args.a == nullptr || args.b == nullptr))) {
    fail("a, b and c must not be null");
  }
  function_(&args);
}

}  // namespace weft::llvm_backend
