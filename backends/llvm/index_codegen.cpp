/** \file
 * Regions of one indexing or random node: gather, scatter_add and rng_uniform, each generated
 * from its node (no precompiled kernel), with the interpreter's semantics (backends/interp):
 *
 *  - gather (numpy.take along `axis`): x viewed as [outer, n, inner], indices flattened to [m],
 *    out as [outer·m, inner]. Each output row is one copy of x's row (o, idx[j]); tasks take
 *    blocks of output rows, or blocks of columns when rows are few. Works on bytes: every dtype.
 *  - scatter_add: out [outer, n, inner] = 0, then out[o, idx[j], k] += updates[o, j, k] for j in
 *    order. Tasks split `outer` and the columns k, never j: each output element is written by one
 *    task, adding in the interpreter's order, so sums are bit-identical for any thread count.
 *  - rng_uniform: Philox4x32-10 with key `seed`; counter (j, offset) makes elements per·j to
 *    per·j + per - 1 (per = 4 for f32, 2 for f64), the same bits as the interpreter; tasks take
 *    blocks of the elements, lanes compute neighbouring counters.
 *
 * An index outside [-n, n) cannot throw here: the executable checks the indices before the call
 * (runtime/call_checks.h), and the code only stays in bounds — a gather writes zeros for that row, a
 * scatter_add drops that update.
 *
 *   name(buffers, dims)   entry: sizes the space [rows, cols], cuts it into tasks, dispatches them
 *   name.task(ctx, t)     rows [r0, r1) × columns [c0, c1)
 */
#include <fmt/format.h>
#include <llvm/IR/Module.h>

#include <array>
#include <functional>
#include <tuple>

#include "backends/llvm/ir_util.h"
#include "backends/llvm/region_codegen.h"
#include "backends/llvm/term_codegen.h"
#include "ir/ops.h"
#include "ir/philox.h"

namespace weft::llvm_backend {

namespace {

/// The iteration space [rows, cols] and the work it stands for (decides whether to go parallel).
struct Extents {
  llvm::Value* rows = nullptr;
  llvm::Value* cols = nullptr;
  llvm::Value* work = nullptr;
};

/// One task's share: rows [r0, r1) × columns [c0, c1), with the region's buffers and dims.
struct Block {
  llvm::Value* buffers = nullptr;
  DimValues* dims = nullptr;
  llvm::Value *r0 = nullptr, *r1 = nullptr, *c0 = nullptr, *c1 = nullptr;
};

using SizeFn = std::function<Extents(llvm::IRBuilderBase&, DimValues&)>;
using BlockFn = std::function<void(llvm::IRBuilderBase&, const Block&)>;

llvm::Function* emit_task(llvm::Module& module, const std::string& name, const std::vector<std::string>& symbols,
                          const SizeFn& sizes, const BlockFn& block) {
  BlockedTask task = open_blocked_task(module, name);
  FunctionFrame& f = task.frame;
  Block blk;
  blk.buffers = task.buffers;
  DimValues dims(symbols, task.dims, Placement{f.entry, nullptr});
  blk.dims = &dims;

  llvm::IRBuilder<> b(f.body);
  Extents s = sizes(b, dims);
  std::tie(blk.r0, blk.r1) = task.row_range(b, s.rows);
  std::tie(blk.c0, blk.c1) = task.col_range(b, s.cols);
  block(b, blk);
  b.CreateRetVoid();
  return f.function;
}

/// The region's entry: about four tasks per thread when the work is large, cut from the rows
/// first, then from the columns in blocks of at least `min_cols` (a multiple of `lanes`).
llvm::Function* emit_blocked_region(llvm::Module& module, const std::string& name,
                                    const std::vector<std::string>& symbols, int lanes, int64_t min_cols,
                                    const SizeFn& sizes, const BlockFn& block) {
  llvm::Function* task = emit_task(module, name, symbols, sizes, block);
  llvm::LLVMContext& c = module.getContext();
  auto* ptr = llvm::PointerType::getUnqual(c);
  FunctionFrame f = new_frame(module, name, {ptr, ptr}, true);
  llvm::Value* buffers = f.function->getArg(0);
  llvm::Value* dims_ptr = f.function->getArg(1);
  DimValues dims(symbols, dims_ptr, Placement{f.entry, nullptr});
  llvm::IRBuilder<> b(f.body);
  Extents s = sizes(b, dims);
  auto one = b.getInt64(1);
  llvm::Value* threads = b.CreateCall(declare_num_threads(module));
  llvm::Value* parallel =
      b.CreateAnd(b.CreateICmpSGT(threads, one), b.CreateICmpSGE(s.work, b.getInt64(kParallelThreshold)));
  llvm::Value* target = b.CreateSelect(parallel, b.CreateMul(threads, b.getInt64(4)), one);
  llvm::Value* rows1 = emit_max(b, s.rows, one);
  llvm::Value* cols1 = emit_max(b, s.cols, one);
  llvm::Value* rows_per_task = emit_ceil_div(b, rows1, target);
  llvm::Value* row_tasks = emit_ceil_div(b, rows1, rows_per_task);
  llvm::Value* want_cols = emit_ceil_div(b, target, row_tasks);
  llvm::Value* col_tasks = emit_min(b, want_cols, emit_max(b, b.CreateSDiv(cols1, b.getInt64(min_cols)), one));
  llvm::Value* cols_per_task =
      b.CreateMul(emit_ceil_div(b, emit_ceil_div(b, cols1, col_tasks), b.getInt64(lanes)), b.getInt64(lanes));
  col_tasks = emit_ceil_div(b, cols1, cols_per_task);
  llvm::Value* nonempty = b.CreateAnd(b.CreateICmpSGT(s.rows, b.getInt64(0)), b.CreateICmpSGT(s.cols, b.getInt64(0)));
  llvm::Value* tasks = b.CreateSelect(nonempty, b.CreateMul(row_tasks, col_tasks), b.getInt64(0));

  dispatch_blocked(b, module, task, buffers, dims_ptr, rows_per_task, cols_per_task, col_tasks, tasks);
  b.CreateRetVoid();
  return f.function;
}

llvm::Value* buffer(llvm::IRBuilderBase& b, llvm::Value* buffers, int k) {
  auto* ptr = llvm::PointerType::getUnqual(b.getContext());
  return b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, buffers, k));
}

llvm::Value* byte_at(llvm::IRBuilderBase& b, llvm::Value* base, llvm::Value* elements, int64_t element_size) {
  return b.CreateGEP(b.getInt8Ty(), base, b.CreateMul(elements, b.getInt64(element_size)));
}

/// Index j of `indices` (i32 or i64) as i64, a negative one wrapped by n; and whether the result
/// lies in [0, n) (the executable has checked that it does; the code must not trust it).
std::pair<llvm::Value*, llvm::Value*> load_index(llvm::IRBuilderBase& b, llvm::Value* indices, DType dtype,
                                                 llvm::Value* j, llvm::Value* n) {
  llvm::Type* t = dtype == DType::i32 ? b.getInt32Ty() : b.getInt64Ty();
  llvm::Value* i = b.CreateLoad(t, b.CreateGEP(t, indices, j));
  i = b.CreateSExt(i, b.getInt64Ty());
  i = b.CreateSelect(b.CreateICmpSLT(i, b.getInt64(0)), b.CreateAdd(i, n), i);
  return {i, b.CreateICmpULT(i, n)};  // unsigned: a still-negative i is out of range too
}

/// The body's one node, checked to be `op`.
const Node* single_node(const Graph& body, OpKind op, std::string* why) {
  if (body.nodes().size() == 1 && body.nodes()[0].op == op && body.inputs().size() == body.nodes()[0].operands.size() &&
      body.outputs().size() == 1)
    return &body.nodes()[0];
  *why = fmt::format("a {} region must be one {} node over the body's inputs", op_name(op), op_name(op));
  return nullptr;
}

Shape sub_shape(const Shape& s, size_t begin, size_t end) { return Shape(s.begin() + begin, s.begin() + end); }

/// Row r = (o, j) of the output copies x's row (o, idx[j]), columns [c0, c1): one memcpy, whose
/// size is a constant (inlined by LLVM when small) for whole rows of a static width.
std::optional<std::string> emit_gather(llvm::Module& module, const std::string& name, const Graph& body, int lanes) {
  std::string why;
  const Node* node = single_node(body, OpKind::gather, &why);
  if (!node) return why;
  const TensorType& x = body.type(node->operands[0]);
  const TensorType& idx = body.type(node->operands[1]);
  if (idx.dtype != DType::i32 && idx.dtype != DType::i64)
    return fmt::format("gather: indices must be i32 or i64, but got {}", idx.str());
  const size_t axis = static_cast<size_t>(normalize_axis(node->attrs.get_int("axis"), x.rank(), "gather"));
  const auto es = static_cast<int64_t>(dtype_size(x.dtype));
  const Dim n_dim = x.shape[axis];
  const Shape outer_shape = sub_shape(x.shape, 0, axis);
  const Shape inner_shape = sub_shape(x.shape, axis + 1, x.shape.size());
  const Dim inner_dim = num_elements(inner_shape);
  std::vector<std::string> symbols = symbols_used(body);

  auto sizes = [&](llvm::IRBuilderBase& b, DimValues& dims) {
    Extents s;
    s.rows = b.CreateMul(dims.product(outer_shape), dims.product(idx.shape));
    s.cols = dims.get(inner_dim);
    s.work = b.CreateMul(s.rows, s.cols);
    return s;
  };
  auto block = [&](llvm::IRBuilderBase& b, const Block& k) {
    llvm::Value* xs = buffer(b, k.buffers, 0);
    llvm::Value* indices = buffer(b, k.buffers, 1);
    llvm::Value* out = buffer(b, k.buffers, 2);
    llvm::Value* n = k.dims->get(n_dim);
    llvm::Value* inner = k.dims->get(inner_dim);
    llvm::Value* m = emit_max(b, k.dims->product(idx.shape), b.getInt64(1));  // rows > 0 here, so m > 0
    llvm::Value* width = b.CreateSub(k.c1, k.c0);
    llvm::Value* whole_rows = b.CreateAnd(b.CreateICmpEQ(k.c0, b.getInt64(0)), b.CreateICmpEQ(k.c1, inner));
    auto copy = [&](llvm::Value* dst, llvm::Value* src) {
      auto variable = [&] {
        b.CreateMemCpy(dst, llvm::MaybeAlign(1), src, llvm::MaybeAlign(1), b.CreateMul(width, b.getInt64(es)));
      };
      if (!inner_dim.is_static()) return variable();
      emit_if_else(
          b, whole_rows,
          [&] {
            b.CreateMemCpy(dst, llvm::MaybeAlign(1), src, llvm::MaybeAlign(1), b.getInt64(inner_dim.value() * es));
          },
          variable);
    };
    llvm::Value* o0 = b.CreateSDiv(k.r0, m);
    llvm::Value* j0 = b.CreateSRem(k.r0, m);
    emit_for_carried(
        b, k.r0, k.r1, b.getInt64(1), {o0, j0},
        [&](llvm::Value* r, const std::vector<llvm::Value*>& oj) {
          auto [index, in_range] = load_index(b, indices, idx.dtype, oj[1], n);
          llvm::Value* i = index;  // named values, not structured bindings, for the lambdas below
          llvm::Value* ok = in_range;
          llvm::Value* dst = byte_at(b, out, b.CreateAdd(b.CreateMul(r, inner), k.c0), es);
          emit_if_else(
              b, ok,
              [&] {
                llvm::Value* row = b.CreateAdd(b.CreateMul(oj[0], n), i);
                copy(dst, byte_at(b, xs, b.CreateAdd(b.CreateMul(row, inner), k.c0), es));
              },
              [&] { b.CreateMemSet(dst, b.getInt8(0), b.CreateMul(width, b.getInt64(es)), llvm::MaybeAlign(1)); });
          llvm::Value* j = b.CreateAdd(oj[1], b.getInt64(1));
          llvm::Value* wrap = b.CreateICmpEQ(j, m);
          return std::vector<llvm::Value*>{b.CreateAdd(oj[0], b.CreateZExt(wrap, b.getInt64Ty())),
                                           b.CreateSelect(wrap, b.getInt64(0), j)};
        },
        "row");
  };
  emit_blocked_region(module, name, symbols, lanes, 16 * int64_t{lanes}, sizes, block);
  return std::nullopt;
}

llvm::Type* element_type(llvm::LLVMContext& c, DType dtype) {
  switch (dtype) {
    case DType::f32:
      return llvm::Type::getFloatTy(c);
    case DType::f64:
      return llvm::Type::getDoubleTy(c);
    case DType::i32:
      return llvm::Type::getInt32Ty(c);
    case DType::i64:
      return llvm::Type::getInt64Ty(c);
    default:
      return nullptr;
  }
}

/// `for (k = begin; k < end; ...)`: full vectors of `lanes` at k, then single elements.
void emit_lanes_then_scalars(llvm::IRBuilderBase& b, llvm::Value* begin, llvm::Value* end, int lanes,
                             const std::function<void(llvm::Value* k, bool vector)>& body) {
  llvm::Value* whole = b.CreateSub(end, b.CreateSRem(b.CreateSub(end, begin), b.getInt64(lanes)));
  emit_for(
      b, begin, whole, b.getInt64(lanes), [&](llvm::Value* k) { body(k, true); }, "k");
  emit_for(
      b, whole, end, b.getInt64(1), [&](llvm::Value* k) { body(k, false); }, "k.tail");
}

/// Per row o of [r0, r1): zero out[o, :, c0:c1], then add each update row j into out[o, idx[j],
/// c0:c1], j in order. Vectors run across k (distinct elements), so each element's sum keeps the
/// interpreter's order.
std::optional<std::string> emit_scatter_add(llvm::Module& module, const std::string& name, const Graph& body,
                                            int lanes) {
  std::string why;
  const Node* node = single_node(body, OpKind::scatter_add, &why);
  if (!node) return why;
  const TensorType& updates = body.type(node->operands[0]);
  const TensorType& idx = body.type(node->operands[1]);
  const TensorType& out_type = body.type(node->results[0]);
  llvm::Type* t = element_type(module.getContext(), updates.dtype);
  if (!t) return fmt::format("scatter_add of {} has no generated code (f32, f64, i32 and i64 have)", updates.str());
  if (idx.dtype != DType::i32 && idx.dtype != DType::i64)
    return fmt::format("scatter_add: indices must be i32 or i64, but got {}", idx.str());
  const size_t axis = static_cast<size_t>(normalize_axis(node->attrs.get_int("axis"), out_type.rank(), "scatter_add"));
  const bool is_float_type = is_float(updates.dtype);
  const auto es = static_cast<int64_t>(dtype_size(updates.dtype));
  const Dim n_dim = out_type.shape[axis];
  const Shape outer_shape = sub_shape(out_type.shape, 0, axis);
  const Dim inner_dim = num_elements(sub_shape(out_type.shape, axis + 1, out_type.shape.size()));
  std::vector<std::string> symbols = symbols_used(body);

  auto sizes = [&](llvm::IRBuilderBase& b, DimValues& dims) {
    Extents s;
    s.rows = dims.product(outer_shape);
    s.cols = dims.get(inner_dim);
    llvm::Value* per_column = b.CreateAdd(dims.get(n_dim), dims.product(idx.shape));
    s.work = b.CreateMul(b.CreateMul(s.rows, s.cols), per_column);
    return s;
  };
  auto block = [&](llvm::IRBuilderBase& b, const Block& k) {
    llvm::Value* src = buffer(b, k.buffers, 0);
    llvm::Value* indices = buffer(b, k.buffers, 1);
    llvm::Value* out = buffer(b, k.buffers, 2);
    llvm::Value* n = k.dims->get(n_dim);
    llvm::Value* m = k.dims->product(idx.shape);
    llvm::Value* inner = k.dims->get(inner_dim);
    llvm::Value* width = b.CreateSub(k.c1, k.c0);
    llvm::Value* whole_rows = b.CreateAnd(b.CreateICmpEQ(k.c0, b.getInt64(0)), b.CreateICmpEQ(k.c1, inner));
    auto* vt = llvm::FixedVectorType::get(t, lanes);
    const llvm::Align align(es);
    emit_for(
        b, k.r0, k.r1, b.getInt64(1),
        [&](llvm::Value* o) {
          llvm::Value* out_o = b.CreateMul(b.CreateMul(o, n), inner);  // element offset of out[o, 0, 0]
          emit_if_else(
              b, whole_rows,
              [&] {
                b.CreateMemSet(byte_at(b, out, out_o, es), b.getInt8(0),
                               b.CreateMul(b.CreateMul(n, inner), b.getInt64(es)), align);
              },
              [&] {
                emit_for(b, b.getInt64(0), n, b.getInt64(1), [&](llvm::Value* row) {
                  llvm::Value* at = b.CreateAdd(b.CreateAdd(out_o, b.CreateMul(row, inner)), k.c0);
                  b.CreateMemSet(byte_at(b, out, at, es), b.getInt8(0), b.CreateMul(width, b.getInt64(es)), align);
                });
              });
          llvm::Value* src_o = b.CreateMul(b.CreateMul(o, m), inner);
          emit_for(
              b, b.getInt64(0), m, b.getInt64(1),
              [&](llvm::Value* j) {
                auto [index, in_range] = load_index(b, indices, idx.dtype, j, n);
                llvm::Value* i = index;
                llvm::Value* ok = in_range;
                emit_if(b, ok, [&] {
                  llvm::Value* dst_row = b.CreateGEP(t, out, b.CreateAdd(out_o, b.CreateMul(i, inner)));
                  llvm::Value* src_row = b.CreateGEP(t, src, b.CreateAdd(src_o, b.CreateMul(j, inner)));
                  emit_lanes_then_scalars(b, k.c0, k.c1, lanes, [&](llvm::Value* col, bool vector) {
                    llvm::Type* lt = vector ? static_cast<llvm::Type*>(vt) : t;
                    llvm::Value* d = b.CreateGEP(t, dst_row, col);
                    llvm::Value* s = b.CreateGEP(t, src_row, col);
                    llvm::Value* x = b.CreateAlignedLoad(lt, d, align);
                    llvm::Value* y = b.CreateAlignedLoad(lt, s, align);
                    b.CreateAlignedStore(is_float_type ? b.CreateFAdd(x, y) : b.CreateAdd(x, y), d, align);
                  });
                });
              },
              "j");
        },
        "o");
  };
  emit_blocked_region(module, name, symbols, lanes, 8 * int64_t{lanes}, sizes, block);
  return std::nullopt;
}

/// Philox4x32-10 (ir/philox.h) on `index` (i64, scalar or vector) with counter words 2 and 3 from
/// the scalar `offset`; the key's round values are constants of the seed.
std::array<llvm::Value*, 4> emit_philox(llvm::IRBuilderBase& b, llvm::Value* index, llvm::Value* offset,
                                        uint64_t seed) {
  llvm::Type* i32 = b.getInt32Ty();
  llvm::Type* i64 = b.getInt64Ty();
  llvm::Value* w2 = b.CreateTrunc(offset, i32);
  llvm::Value* w3 = b.CreateTrunc(b.CreateLShr(offset, 32), i32);
  if (auto* v = llvm::dyn_cast<llvm::VectorType>(index->getType())) {
    i32 = llvm::VectorType::get(i32, v->getElementCount());
    i64 = llvm::VectorType::get(i64, v->getElementCount());
    w2 = b.CreateVectorSplat(v->getElementCount(), w2);
    w3 = b.CreateVectorSplat(v->getElementCount(), w3);
  }
  std::array<llvm::Value*, 4> c{b.CreateTrunc(index, i32), b.CreateTrunc(b.CreateLShr(index, 32), i32), w2, w3};
  PhiloxKey key{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  auto constant32 = [&](uint32_t v) { return llvm::ConstantInt::get(i32, v); };
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      key[0] += philox_detail::kW0;
      key[1] += philox_detail::kW1;
    }
    llvm::Value* p0 = b.CreateMul(b.CreateZExt(c[0], i64), llvm::ConstantInt::get(i64, philox_detail::kM0));
    llvm::Value* p1 = b.CreateMul(b.CreateZExt(c[2], i64), llvm::ConstantInt::get(i64, philox_detail::kM1));
    llvm::Value* hi0 = b.CreateTrunc(b.CreateLShr(p0, 32), i32);
    llvm::Value* hi1 = b.CreateTrunc(b.CreateLShr(p1, 32), i32);
    c = {b.CreateXor(b.CreateXor(hi1, c[1]), constant32(key[0])), b.CreateTrunc(p1, i32),
         b.CreateXor(b.CreateXor(hi0, c[3]), constant32(key[1])), b.CreateTrunc(p0, i32)};
  }
  return c;
}

/// The value of `per` consecutive elements from one counter's words (ir/philox.h, element
/// recipe): f32 from the top 24 bits of word e, f64 from the top 53 bits of words 2e and 2e + 1 —
/// integers below 2^24 / 2^53, converted and scaled exactly, as the interpreter.
llvm::Value* philox_element(llvm::IRBuilderBase& b, const std::array<llvm::Value*, 4>& w, int e, llvm::Type* lt,
                            bool f32) {
  if (f32) {
    llvm::Value* bits = b.CreateLShr(w[e], 8);
    return b.CreateFMul(b.CreateUIToFP(bits, lt), llvm::ConstantFP::get(lt, 0x1.0p-24));
  }
  llvm::Type* wide = b.getInt64Ty();
  if (auto* v = llvm::dyn_cast<llvm::VectorType>(w[0]->getType()))
    wide = llvm::VectorType::get(wide, v->getElementCount());
  llvm::Value* bits = b.CreateOr(b.CreateShl(b.CreateZExt(w[2 * e], wide), 32), b.CreateZExt(w[2 * e + 1], wide));
  return b.CreateFMul(b.CreateUIToFP(b.CreateLShr(bits, 11), lt), llvm::ConstantFP::get(lt, 0x1.0p-53));
}

/// `per` vectors of `lanes` elements interleaved: result[per·l + e] = parts[e][l].
llvm::Value* interleave(llvm::IRBuilderBase& b, const std::vector<llvm::Value*>& parts, int lanes) {
  std::vector<int> pair;
  for (int l = 0; l < lanes; ++l) pair.insert(pair.end(), {l, lanes + l});
  llvm::Value* ab = b.CreateShuffleVector(parts[0], parts[1], pair);
  if (parts.size() == 2) return ab;
  llvm::Value* cd = b.CreateShuffleVector(parts[2], parts[3], pair);
  std::vector<int> quad;
  for (int l = 0; l < lanes; ++l) quad.insert(quad.end(), {2 * l, 2 * l + 1, 2 * lanes + 2 * l, 2 * lanes + 2 * l + 1});
  return b.CreateShuffleVector(ab, cd, quad);
}

/// One counter gives four 32-bit words, so one counter makes `per` consecutive elements: four
/// f32 (a word each) or two f64 (two words each). Element i uses counter (i / per, offset). Tasks
/// start at multiples of lanes·per (emit_blocked_region's column blocks are multiples of its
/// `lanes` argument), so a vector step computes `lanes` counters and stores lanes·per elements
/// interleaved; the task's ragged end computes one counter per element and keeps its word(s).
std::optional<std::string> emit_rng_uniform(llvm::Module& module, const std::string& name, const Graph& body,
                                            int lanes) {
  std::string why;
  const Node* node = single_node(body, OpKind::rng_uniform, &why);
  if (!node) return why;
  const TensorType& out_type = body.type(node->results[0]);
  if (out_type.dtype != DType::f32 && out_type.dtype != DType::f64)
    return fmt::format("rng_uniform: 'dtype' must be f32 or f64, but got {}", out_type.str());
  const bool f32 = out_type.dtype == DType::f32;
  const int per = f32 ? 4 : 2;
  const int group = lanes * per;
  const auto seed = static_cast<uint64_t>(node->attrs.get_int("seed"));
  llvm::Type* t = element_type(module.getContext(), out_type.dtype);
  const llvm::Align align(dtype_size(out_type.dtype));
  std::vector<std::string> symbols = symbols_used(body);

  auto sizes = [&](llvm::IRBuilderBase& b, DimValues& dims) {
    Extents s;
    s.rows = b.getInt64(1);
    s.cols = dims.product(out_type.shape);
    s.work = b.CreateMul(s.cols, b.getInt64(16 / per));  // ten rounds of multiplies per counter
    return s;
  };
  auto block = [&](llvm::IRBuilderBase& b, const Block& k) {
    llvm::Value* offset = b.CreateLoad(b.getInt64Ty(), buffer(b, k.buffers, 0));
    llvm::Value* out = buffer(b, k.buffers, 1);
    std::vector<llvm::Constant*> lane_ids;
    for (int i = 0; i < lanes; ++i) lane_ids.push_back(b.getInt64(i));
    llvm::Value* lane_vector = llvm::ConstantVector::get(lane_ids);
    llvm::Type* vt = llvm::FixedVectorType::get(t, lanes);
    llvm::Value* whole = b.CreateSub(k.c1, b.CreateSRem(b.CreateSub(k.c1, k.c0), b.getInt64(group)));
    emit_for(
        b, k.c0, whole, b.getInt64(group),
        [&](llvm::Value* i) {
          llvm::Value* first = b.CreateSDiv(i, b.getInt64(per));  // i is a multiple of `group`
          llvm::Value* counters = b.CreateAdd(b.CreateVectorSplat(lanes, first), lane_vector);
          std::array<llvm::Value*, 4> w = emit_philox(b, counters, offset, seed);
          std::vector<llvm::Value*> parts;
          for (int e = 0; e < per; ++e) parts.push_back(philox_element(b, w, e, vt, f32));
          b.CreateAlignedStore(interleave(b, parts, lanes), b.CreateGEP(t, out, i), align);
        },
        "k");
    emit_for(
        b, whole, k.c1, b.getInt64(1),
        [&](llvm::Value* i) {
          std::array<llvm::Value*, 4> w = emit_philox(b, b.CreateSDiv(i, b.getInt64(per)), offset, seed);
          llvm::Value* e = b.CreateSRem(i, b.getInt64(per));
          llvm::Value* value = philox_element(b, w, 0, t, f32);
          for (int j = 1; j < per; ++j)
            value = b.CreateSelect(b.CreateICmpEQ(e, b.getInt64(j)), philox_element(b, w, j, t, f32), value);
          b.CreateAlignedStore(value, b.CreateGEP(t, out, i), align);
        },
        "k.tail");
  };
  emit_blocked_region(module, name, symbols, group, 4 * int64_t{group}, sizes, block);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> emit_index_region(llvm::Module& module, const std::string& name, const Graph& body,
                                             const std::string& kind, int lanes) {
  if (kind == "gather") return emit_gather(module, name, body, lanes);
  if (kind == "scatter_add") return emit_scatter_add(module, name, body, lanes);
  if (kind == "rng_uniform") return emit_rng_uniform(module, name, body, lanes);
  return fmt::format("no region kind '{}'", kind);
}

}  // namespace weft::llvm_backend
