/** \file
 * Attention regions (passes/fuse_attention.h): softmax(q kᵀ · scale + mask) v, and its gradient,
 * as one kernel in the manner of flash attention — the [.., Tq, Tk] weights never exist in memory.
 *
 *   name(buffers, dims)   entry: cuts the work into tasks, dispatches them
 *   name.task(ctx, t)     forward: a range of (batch element, block of query rows) items;
 *                         backward: a range of batch elements (dk and dv sum over all its rows)
 *
 * Forward, per block of query rows: a batch element's keys are packed transposed into per-thread
 * scratch, so that a block of scores (up to four vectors of keys) is a broadcast of q[i][c] times a
 * vector of packed keys per head-dim element c, with no sums across lanes. Each block's scores are
 * scaled and masked, then folded into each row's running maximum m, sum l and weighted sum acc of
 * the values (the online softmax: acc and l are rescaled by exp(m_old - m_new) when the maximum
 * grows); each value row is loaded once for the block of rows. The row's output is acc / l, and with
 * `with_stats` its log-sum-exp m + log l. A causal block stops at its last row's position. A row
 * whose keys are all masked ends with l = 0 and acc = 0, so its output is 0 / 0 = NaN, as the
 * decomposition's softmax gives (and its log-sum-exp NaN).
 *
 * Backward, per block of query rows: with the forward's output o and log-sum-exps (`with_stats`),
 * D = g · o and p = exp(s - lse); without them, the forward's loop again for m, l and o. Then per
 * key block dp = g vᵀ (the values packed as the keys are), ds = p (dp - D), and per key
 * dq += ds k_j, dk_j += ds q · scale, dv_j += p g, the last two read-modify-written in the outputs.
 *
 * Operands and results are addressed through the region's reshapes and transposes (the heads'
 * split and merge) as strided views (region_views.h), so no copy is made of either.
 */
#include <llvm/IR/Module.h>

#include <algorithm>
#include <functional>

#include "backends/llvm/attention_layout.h"
#include "backends/llvm/ir_util.h"
#include "backends/llvm/jit.h"
#include "backends/llvm/math_codegen.h"
#include "backends/llvm/region_codegen.h"
#include "backends/llvm/term_codegen.h"

namespace weft::llvm_backend {

namespace {

/// The most query rows a forward block handles together.
constexpr int kMaxRows = 4;
/// The most vectors of keys per block: the online softmax's per-block work (a maximum across
/// lanes, two scalar exps, rescaling the accumulators) is paid once per block. Fewer when a static
/// number of keys fills fewer (T = 32 keys are two vectors of 16, not four half empty).
constexpr int kKeyVectors = 4;

/// The kernel's code for one region: types, the task's buffers and dims, and the row loops.
class AttentionEmitter {
 public:
  AttentionEmitter(llvm::Module& module, const AttentionLayout& layout, int lanes)
      : m_(module), L_(layout), lanes_(lanes), c_(module.getContext()) {
    f32_ = llvm::Type::getFloatTy(c_);
    vec_ = llvm::FixedVectorType::get(f32_, lanes_);
    kv_ = L_.tk.is_static()
              ? static_cast<int>(std::clamp<int64_t>((L_.tk.value() + lanes_ - 1) / lanes_, 1, kKeyVectors))
              : kKeyVectors;
  }

  llvm::Function* emit(const std::string& name, const std::vector<std::string>& symbols) {
    llvm::Function* task = emit_task(name, symbols);
    auto* ptr = llvm::PointerType::getUnqual(c_);
    FunctionFrame f = new_frame(m_, name, {ptr, ptr}, true);
    DimValues dims(symbols, f.function->getArg(1), Placement{f.entry, nullptr});
    llvm::IRBuilder<> b(f.body);
    llvm::Value* one = b.getInt64(1);
    llvm::Value* nb = dims.product(L_.batch);
    llvm::Value* tq = dims.get(L_.tq);
    llvm::Value* tk = dims.get(L_.tk);
    llvm::Value* work = b.CreateMul(b.CreateMul(nb, tq), b.CreateMul(tk, b.getInt64(L_.d + L_.dv)));
    llvm::Value* threads = b.CreateCall(declare_num_threads(m_));
    llvm::Value* parallel =
        b.CreateAnd(b.CreateICmpSGT(threads, one), b.CreateICmpSGE(work, b.getInt64(kParallelThreshold * 4)));
    // Items: (batch element, block of query rows); the backward's are whole batch elements.
    llvm::Value* target = b.CreateMul(threads, b.getInt64(4));
    llvm::Value* tq1 = emit_max(b, tq, one);
    llvm::Value* blocks =
        L_.backward ? one : emit_min(b, tq1, emit_max(b, emit_ceil_div(b, target, emit_max(b, nb, one)), one));
    llvm::Value* rows_per_block = emit_ceil_div(b, tq1, blocks);
    blocks = emit_ceil_div(b, tq1, rows_per_block);
    llvm::Value* items = b.CreateMul(nb, blocks);
    llvm::Value* tasks = b.CreateSelect(parallel, emit_min(b, items, target), one);
    llvm::Value* items_per_task = emit_ceil_div(b, emit_max(b, items, one), tasks);
    tasks =
        b.CreateSelect(b.CreateICmpSGT(items, b.getInt64(0)), emit_ceil_div(b, items, items_per_task), b.getInt64(0));
    dispatch_blocked(b, m_, task, f.function->getArg(0), f.function->getArg(1), rows_per_block, items_per_task, blocks,
                     tasks);
    b.CreateRetVoid();
    return f.function;
  }

 private:
  /// A tensor's base pointer for the current batch element, and its row stride.
  struct Rows {
    llvm::Value* base = nullptr;  // float* (or i8* for a bool mask) at the batch element's [0, 0]
    llvm::Value* row = nullptr;   // elements between rows (axis rank-2)
    llvm::Value* col = nullptr;   // elements between columns (axis rank-1; the mask's keys)
  };

  llvm::Value* buffer(llvm::IRBuilderBase& b, int k) {
    auto* ptr = llvm::PointerType::getUnqual(c_);
    return b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, buffers_, k));
  }

  Rows rows_of(llvm::IRBuilderBase& b, const TensorAccess& a, const std::vector<llvm::Value*>& index,
               llvm::Type* element) {
    llvm::Value* off = b.getInt64(0);
    for (const Dim& o : a.offset) off = b.CreateAdd(off, dims_->get(o));
    for (size_t i = 0; i < index.size(); ++i) off = b.CreateAdd(off, b.CreateMul(index[i], dims_->get(a.strides[i])));
    // The axes after the batch: rows, then columns (none for a row statistic).
    size_t r = index.size();
    return Rows{b.CreateGEP(element, buffer(b, a.buffer), off), dims_->get(a.strides[r]),
                dims_->get(r + 1 < a.strides.size() ? a.strides[r + 1] : Dim(1))};
  }

  llvm::Value* row_ptr(llvm::IRBuilderBase& b, const Rows& t, llvm::Value* i) {
    return b.CreateGEP(f32_, t.base, b.CreateMul(i, t.row));
  }

  int chunks(int64_t n) const { return static_cast<int>((n + lanes_ - 1) / lanes_); }

  /// The lanes of chunk c of an n-element row that lie inside it (null: all).
  llvm::Value* chunk_mask(llvm::IRBuilderBase& b, int64_t n, int c) {
    int64_t left = n - int64_t{c} * lanes_;
    if (left >= lanes_) return nullptr;
    std::vector<llvm::Constant*> bits;
    for (int i = 0; i < lanes_; ++i) bits.push_back(b.getInt1(i < left));
    return llvm::ConstantVector::get(bits);
  }

  std::vector<llvm::Value*> load_row(llvm::IRBuilderBase& b, llvm::Value* p, int64_t n) {
    std::vector<llvm::Value*> out;
    for (int c = 0; c < chunks(n); ++c) {
      llvm::Value* at = b.CreateConstGEP1_64(f32_, p, int64_t{c} * lanes_);
      llvm::Value* mask = chunk_mask(b, n, c);
      out.push_back(mask ? b.CreateMaskedLoad(vec_, at, llvm::Align(4), mask, zero())
                         : static_cast<llvm::Value*>(b.CreateAlignedLoad(vec_, at, llvm::Align(4))));
    }
    return out;
  }

  void store_row(llvm::IRBuilderBase& b, llvm::Value* p, int64_t n, const std::vector<llvm::Value*>& x) {
    for (int c = 0; c < chunks(n); ++c) {
      llvm::Value* at = b.CreateConstGEP1_64(f32_, p, int64_t{c} * lanes_);
      if (llvm::Value* mask = chunk_mask(b, n, c))
        b.CreateMaskedStore(x[c], at, llvm::Align(4), mask);
      else
        b.CreateAlignedStore(x[c], at, llvm::Align(4));
    }
  }

  llvm::Value* zero() { return llvm::ConstantFP::get(vec_, 0.0); }
  llvm::Value* splat(llvm::IRBuilderBase& b, llvm::Value* x) { return b.CreateVectorSplat(lanes_, x); }
  llvm::Value* fma(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y, llvm::Value* z) {
    return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {x->getType()}, {x, y, z});
  }
  llvm::Value* hsum(llvm::IRBuilderBase& b, llvm::Value* x) {
    llvm::Value* s = b.CreateFAddReduce(llvm::ConstantFP::get(f32_, -0.0), x);
    llvm::FastMathFlags reassoc;
    reassoc.setAllowReassoc();
    llvm::cast<llvm::Instruction>(s)->setFastMathFlags(reassoc);
    return s;
  }
  /// Σ x[c] · y[c] over a row's chunks.
  llvm::Value* dot(llvm::IRBuilderBase& b, const std::vector<llvm::Value*>& x, const std::vector<llvm::Value*>& y) {
    llvm::Value* acc = b.CreateFMul(x[0], y[0]);
    for (size_t c = 1; c < x.size(); ++c) acc = fma(b, x[c], y[c], acc);
    return hsum(b, acc);
  }

  llvm::Value* lane_ids(llvm::IRBuilderBase& b) {
    std::vector<llvm::Constant*> ids;
    for (int i = 0; i < lanes_; ++i) ids.push_back(b.getInt64(i));
    return llvm::ConstantVector::get(ids);
  }

  llvm::Value* neg_inf() { return llvm::ConstantFP::getInfinity(f32_, true); }

  /// Query rows handled together: their score vectors and accumulators stay in registers while
  /// each packed key chunk and value row is loaded once for all of them.
  int row_block() const {
    const int budget = (lanes_ >= 16 ? 32 : 16) * 3 / 4;  // vector registers, leaving some for temporaries
    int rows = kMaxRows;
    while (rows > 1 && rows * (chunks(L_.dv) + kv_ + 1) + kv_ > budget) --rows;
    return rows;
  }

  int block_keys() const { return kv_ * lanes_; }

  /// Copies `rows` rows of `width` elements of `src` into `dst` transposed: dst[c · ld + j] = src[j][c],
  /// with zeros in the columns from `rows` to `ld` (their products are masked out, but whatever the
  /// scratch memory held there could be denormals, which cost a microcode assist per operation).
  /// Square tiles of `lanes` × `lanes` are loaded as vectors and transposed in registers: log2(lanes)
  /// rounds of interleaving the rows i and i + lanes/2 (a perfect shuffle), so that packing costs a
  /// few operations per vector rather than per element.
  void pack_transposed(llvm::IRBuilderBase& b, const Rows& src, llvm::Value* rows, int64_t width, llvm::Value* dst,
                       llvm::Value* ld) {
    const int L = lanes_;
    std::vector<int> lo_mask(L), hi_mask(L);
    for (int t = 0; t < L; ++t) {
      lo_mask[t] = (t % 2 ? L : 0) + t / 2;
      hi_mask[t] = (t % 2 ? L : 0) + L / 2 + t / 2;
    }
    llvm::Value* no_lanes = llvm::Constant::getNullValue(llvm::FixedVectorType::get(b.getInt1Ty(), L));
    emit_for(b, b.getInt64(0), ld, b.getInt64(L), [&](llvm::Value* j0) {
      for (int c0 = 0; c0 < width; c0 += L) {
        llvm::Value* cols = chunk_mask(b, width, c0 / L);  // null: all
        std::vector<llvm::Value*> tile;
        for (int i = 0; i < L; ++i) {
          llvm::Value* j = b.CreateAdd(j0, b.getInt64(i));
          llvm::Value* at = b.CreateConstGEP1_64(f32_, row_ptr(b, src, j), c0);
          llvm::Value* all = cols ? cols : llvm::Constant::getAllOnesValue(no_lanes->getType());
          llvm::Value* mask = b.CreateSelect(b.CreateICmpSLT(j, rows), all, no_lanes);  // rows past the end: 0
          tile.push_back(b.CreateMaskedLoad(vec_, at, llvm::Align(4), mask, zero()));
        }
        for (int round = 1; round < L; round *= 2) {
          std::vector<llvm::Value*> next(L);
          for (int i = 0; i < L / 2; ++i) {
            next[2 * i] = b.CreateShuffleVector(tile[i], tile[i + L / 2], lo_mask);
            next[2 * i + 1] = b.CreateShuffleVector(tile[i], tile[i + L / 2], hi_mask);
          }
          tile = std::move(next);
        }
        for (int i = 0; i < L && c0 + i < width; ++i)
          b.CreateAlignedStore(tile[i], b.CreateGEP(f32_, dst, b.CreateAdd(b.CreateMul(b.getInt64(c0 + i), ld), j0)),
                               llvm::Align(4));
      }
    });
  }

  /// Σ_c x[r][c] · packed[c][j0 .. j0 + kv_ · lanes) for each row r of `xs` (pointers to
  /// rows of `width`): kv_ vectors per row, row-major.
  std::vector<llvm::Value*> packed_products(llvm::IRBuilderBase& b, const std::vector<llvm::Value*>& xs,
                                            llvm::Value* packed, int64_t width, llvm::Value* j0) {
    std::vector<llvm::Value*> init(xs.size() * kv_, zero());
    return emit_for_carried(
        b, b.getInt64(0), b.getInt64(width), b.getInt64(1), init,
        [&](llvm::Value* c, const std::vector<llvm::Value*>& in) {
          llvm::Value* at = b.CreateGEP(f32_, packed, b.CreateAdd(b.CreateMul(c, ld_), j0));
          std::vector<llvm::Value*> cols;
          for (int k = 0; k < kv_; ++k)
            cols.push_back(
                b.CreateAlignedLoad(vec_, b.CreateConstGEP1_64(f32_, at, int64_t{k} * lanes_), llvm::Align(4)));
          std::vector<llvm::Value*> out;
          for (size_t r = 0; r < xs.size(); ++r) {
            llvm::Value* x = splat(b, b.CreateLoad(f32_, b.CreateGEP(f32_, xs[r], c)));
            for (int k = 0; k < kv_; ++k) out.push_back(fma(b, x, cols[k], in[r * kv_ + k]));
          }
          return out;
        },
        "c");
  }

  /// The mask's values for row i, keys [j0, j0 + lanes), as a vector (lanes from n on: 0).
  llvm::Value* mask_block(llvm::IRBuilderBase& b, llvm::Value* i, llvm::Value* j0, llvm::Value* n) {
    llvm::Type* element = L_.bool_mask ? b.getInt8Ty() : f32_;
    auto* type = llvm::FixedVectorType::get(element, lanes_);
    llvm::Value* base =
        b.CreateGEP(element, mask_.base, b.CreateAdd(b.CreateMul(i, mask_.row), b.CreateMul(j0, mask_.col)));
    if (L_.mask->strides.back() == Dim(1)) {
      llvm::Value* valid = b.CreateICmpSLT(lane_ids(b), splat(b, n));
      return b.CreateMaskedLoad(type, base, llvm::Align(1), valid, llvm::Constant::getNullValue(type));
    }
    b.CreateAlignedStore(llvm::Constant::getNullValue(type), mask_buffer_, llvm::Align(4));
    emit_for(b, b.getInt64(0), n, b.getInt64(1), [&](llvm::Value* jj) {
      llvm::Value* x = b.CreateLoad(element, b.CreateGEP(element, base, b.CreateMul(jj, mask_.col)));
      b.CreateStore(x, b.CreateGEP(element, mask_buffer_, jj));
    });
    return b.CreateAlignedLoad(type, mask_buffer_, llvm::Align(4));
  }

  /// The masked scores of query rows `rows` (pointers `qs`) against keys [j0, j0 + n), from the
  /// packed keys. Lanes from n on, and keys after a row's position when causal, hold -inf.
  std::vector<llvm::Value*> score_blocks(llvm::IRBuilderBase& b, const std::vector<llvm::Value*>& rows,
                                         const std::vector<llvm::Value*>& qs, llvm::Value* j0, llvm::Value* n) {
    std::vector<llvm::Value*> s = packed_products(b, qs, kt_, L_.d, j0);
    llvm::Value* scale = splat(b, llvm::ConstantFP::get(f32_, static_cast<float>(L_.scale)));
    llvm::Value* inf = splat(b, neg_inf());
    for (int k = 0; k < kv_; ++k) {
      llvm::Value* k0 = b.CreateAdd(j0, b.getInt64(int64_t{k} * lanes_));
      llvm::Value* nk = b.CreateSub(n, b.getInt64(int64_t{k} * lanes_));  // keys of this vector (may be <= 0)
      llvm::Value* keys = b.CreateAdd(splat(b, k0), lane_ids(b));
      llvm::Value* valid = b.CreateICmpSLT(lane_ids(b), splat(b, nk));
      for (size_t r = 0; r < rows.size(); ++r) {
        llvm::Value*& x = s[r * kv_ + k];
        x = b.CreateFMul(x, scale);
        if (L_.mask) {
          llvm::Value* m = mask_block(b, rows[r], k0, nk);
          x = L_.bool_mask ? b.CreateSelect(b.CreateICmpNE(m, llvm::Constant::getNullValue(m->getType())), inf, x)
                           : b.CreateFAdd(x, m);
        }
        if (L_.causal) x = b.CreateSelect(b.CreateICmpSGT(keys, splat(b, rows[r])), inf, x);
        x = b.CreateSelect(valid, x, inf);
      }
    }
    return s;
  }

  /// The largest of a row's kv_ score vectors, across lanes.
  llvm::Value* row_max(llvm::IRBuilderBase& b, const std::vector<llvm::Value*>& s, size_t r) {
    llvm::Value* m = s[r * kv_];
    for (int k = 1; k < kv_; ++k) m = b.CreateIntrinsic(llvm::Intrinsic::maxnum, {vec_}, {m, s[r * kv_ + k]});
    return b.CreateFPMaxReduce(m);
  }

  using KeyBlockFn = std::function<std::vector<llvm::Value*>(llvm::Value*, const std::vector<llvm::Value*>&)>;

  /// `for (j0 = 0; j0 < end; j0 += block)` carrying `init`: blocks of kv_ vectors of keys while a
  /// whole one fits, then single vectors. A block costs its full width however few keys remain, and
  /// a symbolic key count takes its bound's width (four vectors for a bound of 40 letters, when a
  /// G2P word has about ten), so the keys past the last whole block go one vector at a time. `body`
  /// is emitted once per width, with kv_ set to it.
  std::vector<llvm::Value*> for_key_blocks(llvm::IRBuilderBase& b, llvm::Value* end,
                                           const std::vector<llvm::Value*>& init, const KeyBlockFn& body) {
    const int widest = kv_;
    llvm::Value* whole = end;
    std::vector<llvm::Value*> carried = init;
    if (widest > 1) {
      whole = b.CreateSub(end, b.CreateSRem(end, b.getInt64(block_keys())));
      carried = emit_for_carried(b, b.getInt64(0), whole, b.getInt64(block_keys()), carried, body, "j0");
      kv_ = 1;
    }
    carried = emit_for_carried(b, widest > 1 ? whole : b.getInt64(0), end, b.getInt64(block_keys()), carried, body,
                               "j0.tail");
    kv_ = widest;
    return carried;
  }

  struct OnlineRow {
    llvm::Value* m;                 // the row's maximum score (-inf: every key masked)
    llvm::Value* l;                 // Σ exp(s - m)
    std::vector<llvm::Value*> acc;  // Σ exp(s - m) v_j, in chunks of dv
  };

  /// The forward's loop over the keys of query rows first, first + 1, ... (as many as `count`).
  std::vector<OnlineRow> online_rows(llvm::IRBuilderBase& b, llvm::Value* first, int count, llvm::Value* tk) {
    std::vector<llvm::Value*> rows, qs;
    for (int r = 0; r < count; ++r) {
      rows.push_back(b.CreateAdd(first, b.getInt64(r)));
      qs.push_back(row_ptr(b, q_, rows.back()));
    }
    const int nv = chunks(L_.dv);
    std::vector<llvm::Value*> init;
    for (int r = 0; r < count; ++r) {
      init.push_back(neg_inf());
      init.push_back(llvm::ConstantFP::get(f32_, 0.0));
      for (int c = 0; c < nv; ++c) init.push_back(zero());
    }
    // A causal block stops after its last row's own position; the others' later keys are masked.
    llvm::Value* end = L_.causal ? emit_min(b, tk, b.CreateAdd(first, b.getInt64(count))) : tk;
    const size_t per_row = 2 + nv;
    std::vector<llvm::Value*> out =
        for_key_blocks(b, end, init, [&](llvm::Value* j0, const std::vector<llvm::Value*>& in) {
          llvm::Value* n = emit_min(b, b.getInt64(block_keys()), b.CreateSub(end, j0));
          std::vector<llvm::Value*> s = score_blocks(b, rows, qs, j0, n);
          std::vector<llvm::Value*> next(in.size());
          for (int r = 0; r < count; ++r) {
            llvm::Value* m_old = in[r * per_row];
            llvm::Value* m_new = b.CreateIntrinsic(llvm::Intrinsic::maxnum, {f32_}, {m_old, row_max(b, s, r)});
            // While every key so far is masked, m_new is -inf: shift by 0 so that exp gives 0, not NaN.
            llvm::Value* shift =
                b.CreateSelect(b.CreateFCmpOEQ(m_new, neg_inf()), llvm::ConstantFP::get(f32_, 0.0), m_new);
            llvm::Value* corr = emit_exp(b, b.CreateFSub(m_old, shift));
            llvm::Value* sum = nullptr;
            for (int k = 0; k < kv_; ++k) {
              llvm::Value* p = emit_exp(b, b.CreateFSub(s[r * kv_ + k], splat(b, shift)));
              b.CreateAlignedStore(p, b.CreateConstGEP1_64(vec_, probs(b, r), k), llvm::Align(4));
              sum = sum ? b.CreateFAdd(sum, p) : p;
            }
            next[r * per_row] = m_new;
            next[r * per_row + 1] = b.CreateFAdd(b.CreateFMul(in[r * per_row + 1], corr), hsum(b, sum));
            llvm::Value* corr_v = splat(b, corr);
            for (int c = 0; c < nv; ++c) next[r * per_row + 2 + c] = b.CreateFMul(in[r * per_row + 2 + c], corr_v);
          }
          std::vector<llvm::Value*> acc;
          for (int r = 0; r < count; ++r)
            for (int c = 0; c < nv; ++c) acc.push_back(next[r * per_row + 2 + c]);
          acc = emit_for_carried(
              b, b.getInt64(0), n, b.getInt64(1), acc,
              [&](llvm::Value* jj, const std::vector<llvm::Value*>& a) {
                std::vector<llvm::Value*> vj = load_row(b, row_ptr(b, v_, b.CreateAdd(j0, jj)), L_.dv);
                std::vector<llvm::Value*> outv;
                for (int r = 0; r < count; ++r) {
                  llvm::Value* pj = splat(b, b.CreateLoad(f32_, b.CreateGEP(f32_, probs(b, r), jj)));
                  for (int c = 0; c < nv; ++c) outv.push_back(fma(b, pj, vj[c], a[r * nv + c]));
                }
                return outv;
              },
              "jj");
          for (int r = 0; r < count; ++r)
            for (int c = 0; c < nv; ++c) next[r * per_row + 2 + c] = acc[r * nv + c];
          return next;
        });
    std::vector<OnlineRow> result;
    for (int r = 0; r < count; ++r)
      result.push_back(
          OnlineRow{out[r * per_row], out[r * per_row + 1],
                    std::vector<llvm::Value*>(out.begin() + r * per_row + 2, out.begin() + (r + 1) * per_row)});
    return result;
  }

  /// Row r's block of weights (kv_ vectors) on the stack; the backward's ds after them.
  llvm::Value* probs(llvm::IRBuilderBase& b, int r) { return b.CreateConstGEP1_64(vec_, probs_, r * kv_); }
  llvm::Value* ds_block(llvm::IRBuilderBase& b, int r) {
    return b.CreateConstGEP1_64(vec_, probs_, (kMaxRows + r) * kv_);
  }

  /// Query rows the backward handles together: per row, dq, q · scale and g stay in registers.
  int backward_row_block() const {
    const int budget = (lanes_ >= 16 ? 32 : 16) * 3 / 4;
    return std::clamp(budget / (2 * chunks(L_.d) + chunks(L_.dv)), 1, kMaxRows);
  }

  void forward_rows(llvm::IRBuilderBase& b, llvm::Value* first, int count, llvm::Value* tk) {
    std::vector<OnlineRow> rows = online_rows(b, first, count, tk);
    for (int r = 0; r < count; ++r) {
      llvm::Value* i = b.CreateAdd(first, b.getInt64(r));
      llvm::Value* l = splat(b, rows[r].l);
      std::vector<llvm::Value*> out;
      for (llvm::Value* a : rows[r].acc) out.push_back(b.CreateFDiv(a, l));
      store_row(b, row_ptr(b, out_[0], i), L_.dv, out);
      if (!L_.stats) continue;
      // log Σ exp(s) = m + log l; NaN for a fully masked row, as the decomposition gives.
      llvm::Value* lse = b.CreateFAdd(rows[r].m, emit_log(b, rows[r].l));
      lse = b.CreateSelect(b.CreateFCmpOEQ(rows[r].m, neg_inf()), llvm::ConstantFP::getNaN(f32_), lse);
      b.CreateStore(lse, row_ptr(b, out_[1], i));
    }
  }

  void backward_rows(llvm::IRBuilderBase& b, llvm::Value* first, int count, llvm::Value* tk) {
    llvm::Value* scale_v = splat(b, llvm::ConstantFP::get(f32_, static_cast<float>(L_.scale)));
    std::vector<llvm::Value*> rows, q_rows, g_rows;
    std::vector<std::vector<llvm::Value*>> qs, gv;  // per row: q · scale (for dk), g (for dv)
    for (int r = 0; r < count; ++r) {
      rows.push_back(b.CreateAdd(first, b.getInt64(r)));
      q_rows.push_back(row_ptr(b, q_, rows.back()));
      g_rows.push_back(row_ptr(b, g_, rows.back()));
      qs.push_back(load_row(b, q_rows.back(), L_.d));
      for (llvm::Value*& x : qs.back()) x = b.CreateFMul(x, scale_v);
      gv.push_back(load_row(b, g_rows.back(), L_.dv));
    }
    std::vector<llvm::Value*> m, inv_l, big_d;
    llvm::Value* any_masked = b.getFalse();
    if (L_.stats) {
      // The forward's output and log-sum-exps: p = exp(s - lse), D = g · o, no second forward loop.
      for (int r = 0; r < count; ++r) {
        llvm::Value* lse = b.CreateLoad(f32_, row_ptr(b, lse_, rows[r]));
        std::vector<llvm::Value*> o = load_row(b, row_ptr(b, o_, rows[r]), L_.dv);
        big_d.push_back(splat(b, dot(b, gv[r], o)));
        // A fully masked row (lse NaN, or -inf) has NaN weights over every key, as the decomposition's.
        llvm::Value* masked = b.CreateFCmpUEQ(lse, neg_inf());
        any_masked = b.CreateOr(any_masked, masked);
        m.push_back(splat(b, b.CreateSelect(masked, llvm::ConstantFP::getNaN(f32_), lse)));
        inv_l.push_back(splat(b, llvm::ConstantFP::get(f32_, 1.0)));
      }
    }
    std::vector<OnlineRow> online = L_.stats ? std::vector<OnlineRow>{} : online_rows(b, first, count, tk);
    for (int r = 0; r < static_cast<int>(online.size()); ++r) {
      llvm::Value* l = splat(b, online[r].l);
      std::vector<llvm::Value*> o;
      for (llvm::Value* a : online[r].acc) o.push_back(b.CreateFDiv(a, l));
      big_d.push_back(splat(b, dot(b, gv[r], o)));
      // A fully masked row's weights are NaN (as the decomposition's), whatever its scores: it
      // reaches every key, the causally masked ones included.
      llvm::Value* masked = b.CreateFCmpOEQ(online[r].m, neg_inf());
      any_masked = b.CreateOr(any_masked, masked);
      m.push_back(splat(b, online[r].m));
      inv_l.push_back(splat(b, b.CreateSelect(masked, llvm::ConstantFP::getNaN(f32_),
                                              b.CreateFDiv(llvm::ConstantFP::get(f32_, 1.0), online[r].l))));
    }
    llvm::Value* end = tk;
    if (L_.causal) end = b.CreateSelect(any_masked, tk, emit_min(b, tk, b.CreateAdd(first, b.getInt64(count))));
    const int nd = chunks(L_.d), nv = chunks(L_.dv);
    std::vector<llvm::Value*> dq_init(count * nd, zero());
    std::vector<llvm::Value*> dq =
        for_key_blocks(b, end, dq_init, [&](llvm::Value* j0, const std::vector<llvm::Value*>& dq_in) {
          llvm::Value* n = emit_min(b, b.getInt64(block_keys()), b.CreateSub(end, j0));
          std::vector<llvm::Value*> s = score_blocks(b, rows, q_rows, j0, n);
          std::vector<llvm::Value*> dp = packed_products(b, g_rows, vt_, L_.dv, j0);
          for (int r = 0; r < count; ++r)
            for (int k = 0; k < kv_; ++k) {
              llvm::Value* p = emit_exp(b, b.CreateFSub(s[r * kv_ + k], m[r]));
              if (!L_.stats) p = b.CreateFMul(p, inv_l[r]);
              llvm::Value* ds = b.CreateFMul(p, b.CreateFSub(dp[r * kv_ + k], big_d[r]));
              b.CreateAlignedStore(p, b.CreateConstGEP1_64(vec_, probs(b, r), k), llvm::Align(4));
              b.CreateAlignedStore(ds, b.CreateConstGEP1_64(vec_, ds_block(b, r), k), llvm::Align(4));
            }
          return emit_for_carried(
              b, b.getInt64(0), n, b.getInt64(1), dq_in,
              [&](llvm::Value* jj, const std::vector<llvm::Value*>& a) {
                llvm::Value* j = b.CreateAdd(j0, jj);
                std::vector<llvm::Value*> kj = load_row(b, row_ptr(b, k_, j), L_.d);
                llvm::Value* dk_row = row_ptr(b, out_[1], j);
                llvm::Value* dv_row = row_ptr(b, out_[2], j);
                std::vector<llvm::Value*> dk = load_row(b, dk_row, L_.d);
                std::vector<llvm::Value*> dv = load_row(b, dv_row, L_.dv);
                std::vector<llvm::Value*> next;
                for (int r = 0; r < count; ++r) {
                  llvm::Value* pj = splat(b, b.CreateLoad(f32_, b.CreateGEP(f32_, probs(b, r), jj)));
                  llvm::Value* dsj = splat(b, b.CreateLoad(f32_, b.CreateGEP(f32_, ds_block(b, r), jj)));
                  for (int c = 0; c < nd; ++c) dk[c] = fma(b, dsj, qs[r][c], dk[c]);
                  for (int c = 0; c < nv; ++c) dv[c] = fma(b, pj, gv[r][c], dv[c]);
                  for (int c = 0; c < nd; ++c) next.push_back(fma(b, dsj, kj[c], a[r * nd + c]));
                }
                store_row(b, dk_row, L_.d, dk);
                store_row(b, dv_row, L_.dv, dv);
                return next;
              },
              "jj");
        });
    for (int r = 0; r < count; ++r) {
      std::vector<llvm::Value*> row(dq.begin() + r * nd, dq.begin() + (r + 1) * nd);
      for (llvm::Value*& x : row) x = b.CreateFMul(x, scale_v);
      store_row(b, row_ptr(b, out_[0], rows[r]), L_.d, row);
    }
  }

  llvm::Function* emit_task(const std::string& name, const std::vector<std::string>& symbols) {
    BlockedTask task = open_blocked_task(m_, name);
    FunctionFrame& f = task.frame;
    DimValues dims(symbols, task.dims, Placement{f.entry, nullptr});
    dims_ = &dims;
    buffers_ = task.buffers;
    {
      llvm::IRBuilder<> e(f.entry->getTerminator());
      probs_ = e.CreateAlloca(vec_, e.getInt64(2 * kMaxRows * kKeyVectors));  // weights, then ds
      mask_buffer_ = e.CreateAlloca(vec_);
    }
    llvm::IRBuilder<> b(f.body);
    std::vector<llvm::Value*> batch_sizes;
    for (const Dim& d : L_.batch) batch_sizes.push_back(dims.get(d));
    llvm::Value* tq = dims.get(L_.tq);
    llvm::Value* tk = dims.get(L_.tk);
    llvm::Value* nb = dims.product(L_.batch);
    // ctx: rows_per_task = query rows per item, cols_per_task = items per task, col_tasks = items per batch element.
    llvm::Value* rows_per_item = task.rows_per_task;
    llvm::Value* per_task = task.cols_per_task;
    llvm::Value* blocks = task.col_tasks;
    llvm::Value* first = b.CreateMul(f.function->getArg(1), per_task);
    llvm::Value* last = emit_min(b, b.CreateMul(nb, blocks), b.CreateAdd(first, per_task));
    emit_for(b, first, last, b.getInt64(1), [&](llvm::Value* item) {
      llvm::Value* element = b.CreateSDiv(item, blocks);
      llvm::Value* block = b.CreateSRem(item, blocks);
      std::vector<llvm::Value*> index =
          batch_sizes.empty() ? std::vector<llvm::Value*>{} : emit_decode(b, element, batch_sizes);
      q_ = rows_of(b, L_.q, index, f32_);
      k_ = rows_of(b, L_.k, index, f32_);
      v_ = rows_of(b, L_.v, index, f32_);
      if (L_.mask) mask_ = rows_of(b, *L_.mask, index, L_.bool_mask ? b.getInt8Ty() : f32_);
      out_.clear();
      for (const TensorAccess& a : L_.results) out_.push_back(rows_of(b, a, index, f32_));
      llvm::Value* r0 = b.CreateMul(block, rows_per_item);
      llvm::Value* r1 = emit_min(b, tq, b.CreateAdd(r0, rows_per_item));
      // The keys (and, for the backward, the values) transposed, so that a block of scores is
      // one vector of products per head-dim element, with no sums across lanes.
      // Packed rows of whole vectors: for_key_blocks' widest blocks end at or before tk.
      ld_ = b.CreateMul(emit_ceil_div(b, emit_max(b, tk, b.getInt64(1)), b.getInt64(lanes_)), b.getInt64(lanes_));
      int64_t packed_rows = L_.d + (L_.backward ? L_.dv : 0);
      llvm::Value* bytes = b.CreateMul(ld_, b.getInt64(packed_rows * 4));
      kt_ = b.CreateCall(declare_thread_scratch(m_), {bytes});
      pack_transposed(b, k_, tk, L_.d, kt_, ld_);
      if (!L_.backward) {
        const int rb = row_block();
        llvm::Value* whole = b.CreateSub(r1, b.CreateSRem(b.CreateSub(r1, r0), b.getInt64(rb)));
        emit_for(b, r0, whole, b.getInt64(rb), [&](llvm::Value* i) { forward_rows(b, i, rb, tk); });
        if (rb > 1) emit_for(b, whole, r1, b.getInt64(1), [&](llvm::Value* i) { forward_rows(b, i, 1, tk); });
        return;
      }
      vt_ = b.CreateGEP(f32_, kt_, b.CreateMul(ld_, b.getInt64(L_.d)));
      pack_transposed(b, v_, tk, L_.dv, vt_, ld_);
      g_ = rows_of(b, L_.g, index, f32_);
      if (L_.stats) {
        o_ = rows_of(b, L_.o, index, f32_);
        lse_ = rows_of(b, L_.lse, index, f32_);
      }
      emit_for(b, b.getInt64(0), tk, b.getInt64(1), [&](llvm::Value* j) {  // dk and dv accumulate from 0
        store_row(b, row_ptr(b, out_[1], j), L_.d, std::vector<llvm::Value*>(chunks(L_.d), zero()));
        store_row(b, row_ptr(b, out_[2], j), L_.dv, std::vector<llvm::Value*>(chunks(L_.dv), zero()));
      });
      const int rb = backward_row_block();
      llvm::Value* whole = b.CreateSub(r1, b.CreateSRem(b.CreateSub(r1, r0), b.getInt64(rb)));
      emit_for(b, r0, whole, b.getInt64(rb), [&](llvm::Value* i) { backward_rows(b, i, rb, tk); });
      if (rb > 1) emit_for(b, whole, r1, b.getInt64(1), [&](llvm::Value* i) { backward_rows(b, i, 1, tk); });
    });
    b.CreateRetVoid();
    dims_ = nullptr;
    return f.function;
  }

  llvm::Module& m_;
  const AttentionLayout& L_;
  int lanes_;
  int kv_ = kKeyVectors;  // vectors of keys per block
  llvm::LLVMContext& c_;
  llvm::Type* f32_ = nullptr;
  llvm::FixedVectorType* vec_ = nullptr;
  // The task being emitted.
  DimValues* dims_ = nullptr;
  llvm::Value* buffers_ = nullptr;
  llvm::Value* probs_ = nullptr;        // kMaxRows vectors on the stack: a block's weights per row
  llvm::Value* mask_buffer_ = nullptr;  // one vector: a strided mask's block
  llvm::Value *kt_ = nullptr, *vt_ = nullptr, *ld_ = nullptr;  // packed keys and values, their row length
  Rows q_, k_, v_, g_, mask_, o_, lse_;
  std::vector<Rows> out_;
};

}  // namespace

std::optional<std::string> emit_attention_region(llvm::Module& module, const std::string& name, const Graph& body,
                                                 int lanes) {
  AttentionLayout layout;
  if (std::string why = attention_layout(body, layout); !why.empty()) return why;
  AttentionEmitter(module, layout, lanes).emit(name, symbols_used(body));
  return std::nullopt;
}

}  // namespace weft::llvm_backend
