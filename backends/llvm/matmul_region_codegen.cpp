/** \file
 * Matmul regions: one matmul with an elementwise epilogue (bias, activation, residual, scale, mask).
 *
 *   name(buffers, dims)   fills GemmArgs from the dims and calls name.gemm
 *   name.gemm(args)       the generated SGEMM (matmul_codegen.h): the shared GEMM core for the
 *                         transposes, called with name.gemm.epilogue (or none for a plain product)
 *
 * The epilogue sees each output vector once, after its last K block (the GEMM calls it on each
 * stored micro-tile, so the core holds nothing of the region and is compiled once per process
 * or shared object, not once per region): it evaluates the region's
 * terms at that vector's index (the matmul's own value among them) and stores the region's other
 * outputs itself; the GEMM stores the one it accumulates in. A batch whose B operand is shared
 * (x[B, T, D] · w[D, N]) is folded into the rows, so it is one GEMM of B·T rows rather than B small
 * ones.
 */
#include <llvm/IR/Module.h>

#include "backends/llvm/ir_util.h"
#include "backends/llvm/matmul_codegen.h"
#include "backends/llvm/region_codegen.h"
#include "backends/llvm/term_codegen.h"
#include "ir/error.h"

namespace weft::llvm_backend {

namespace {

/// What the entry hands the epilogue through GemmArgs::epilogue_data.
enum EpilogueField : unsigned { kEpilogueBuffers, kEpilogueDims };

llvm::StructType* epilogue_type(llvm::LLVMContext& c) {
  auto* ptr = llvm::PointerType::getUnqual(c);
  return llvm::StructType::get(c, {ptr, ptr});
}

Shape drop_last(const Shape& s, size_t n) { return Shape(s.begin(), s.end() - static_cast<std::ptrdiff_t>(n)); }

/// Rows of one GEMM batch: M, or every row of the output when the batch is folded.
Dim rows_per_batch(const LoweredRegion& r, const Shape& out) {
  if (!r.fold_batch) return out[out.size() - 2];
  Dim m(1);
  for (const Dim& d : drop_last(out, 1)) m = m * d;
  return m;
}

GemmEpilogue make_epilogue(llvm::Module& module, const LoweredRegion& r, const Shape& out, int lanes) {
  return [&module, &r, out, lanes](const EpilogueContext& ec, llvm::Value* value) {
    llvm::IRBuilderBase& b = ec.builder;
    llvm::LLVMContext& c = b.getContext();
    auto* ptr = llvm::PointerType::getUnqual(c);
    llvm::StructType* data_type = epilogue_type(c);
    llvm::Value* buffers = b.CreateLoad(ptr, b.CreateStructGEP(data_type, ec.data, kEpilogueBuffers));
    llvm::Value* dims_ptr = b.CreateLoad(ptr, b.CreateStructGEP(data_type, ec.data, kEpilogueDims));
    Placement here{nullptr, &b};
    DimValues dims(r.symbols, dims_ptr, here);
    TermEmitter em(module, r, lanes, dims, buffers, here);
    em.gemm_value = value;

    const size_t n = r.space.size();
    EmitContext root;
    root.where = here;
    root.index.assign(n, nullptr);
    EmitContext v;
    v.parent = &root;
    v.where = here;
    v.vector = true;
    v.mask = ec.mask;
    v.vector_axis = static_cast<int>(n) - 1;
    v.bound = n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
    std::vector<llvm::Value*> outer_sizes;
    for (size_t d = 0; d + 1 < n; ++d) outer_sizes.push_back(dims.get(r.space[d]));
    llvm::Value* outer = b.CreateAdd(b.CreateMul(ec.batch, dims.get(rows_per_batch(r, out))), ec.row);
    v.index = emit_decode(b, outer, outer_sizes);
    v.index.push_back(ec.col);

    llvm::Value* result = nullptr;
    std::vector<llvm::Value*> values;
    for (const Store& st : r.stores) values.push_back(em.emit(st.term, v));
    for (size_t k = 0; k < r.stores.size(); ++k) {
      if (r.stores[k].output == r.gemm_output)
        result = values[k];
      else
        em.store(r.stores[k], values[k], v);
    }
    WEFT_CHECK(result != nullptr, "a matmul region's accumulator output has no value");
    return result;
  };
}

}  // namespace

llvm::Function* emit_matmul_region(llvm::Module& module, const std::string& name, const LoweredRegion& r,
                                   const Graph& body) {
  const Node& mm = *r.matmul;
  bool ta = mm.attrs.get_bool("transpose_a");
  bool tb = mm.attrs.get_bool("transpose_b");
  const Shape& sa = body.type(mm.operands[0]).shape;
  const Shape& out = body.type(mm.results[0]).shape;
  GemmBlocking blocking = GemmBlocking::for_host();
  GemmSpec spec;
  spec.transpose_a = ta;
  spec.transpose_b = tb;
  bool plain = r.stores.size() == 1 && r.terms[r.stores[0].term].kind == TermKind::gemm;
  if (!plain) spec.epilogue = make_epilogue(module, r, out, blocking.vector_floats);
  llvm::Function* gemm = emit_gemm(module, name + ".gemm", spec, blocking);

  llvm::LLVMContext& c = module.getContext();
  auto* ptr = llvm::PointerType::getUnqual(c);
  FunctionFrame f = new_frame(module, name, {ptr, ptr}, true);
  llvm::Value* buffers = f.function->getArg(0);
  llvm::Value* dims_ptr = f.function->getArg(1);
  DimValues dims(r.symbols, dims_ptr, Placement{f.entry, nullptr});
  llvm::IRBuilder<> b(f.body);
  auto buffer = [&](int slot) { return b.CreateLoad(ptr, b.CreateGEP(ptr, buffers, b.getInt64(slot))); };
  auto input_slot = [&](ValueId v) {
    WEFT_CHECK(body.value(v).kind == ValueKind::input, "a matmul region's matmul reads region inputs");
    return body.value(v).owner;
  };

  Dim m = out[out.size() - 2], n = out.back();
  Dim k = ta ? sa[sa.size() - 2] : sa.back();
  Dim batch(1);
  for (const Dim& d : drop_last(out, 2)) batch = batch * d;
  auto batch_stride = [&](ValueId v, const Dim& matrix) {
    Shape s = body.type(v).shape;
    return drop_last(s, 2) == drop_last(out, 2) ? matrix : Dim(0);
  };
  llvm::Value* i64_zero = b.getInt64(0);
  std::vector<llvm::Value*> fields = {
      buffer(input_slot(mm.operands[0])),
      buffer(input_slot(mm.operands[1])),
      buffer(r.num_inputs + r.gemm_output),
      dims.get(rows_per_batch(r, out)),
      dims.get(n),
      dims.get(k),
      dims.get(ta ? m : k),  // lda: the stored width of A
      dims.get(tb ? k : n),  // ldb
      dims.get(n),           // ldc
      r.fold_batch ? b.getInt64(1) : dims.get(batch),
      r.fold_batch ? i64_zero : dims.get(batch_stride(mm.operands[0], m * k)),
      r.fold_batch ? i64_zero : dims.get(batch_stride(mm.operands[1], k * n)),
      r.fold_batch ? i64_zero : dims.get(m * n),
  };
  llvm::StructType* data_type = epilogue_type(c);
  llvm::Value* data = b.CreateAlloca(data_type);
  b.CreateStore(buffers, b.CreateStructGEP(data_type, data, kEpilogueBuffers));
  b.CreateStore(dims_ptr, b.CreateStructGEP(data_type, data, kEpilogueDims));
  fields.push_back(data);
  // B is packed afresh on each call (GemmArgs::packed_b null).
  fields.push_back(llvm::ConstantPointerNull::get(ptr));
  fields.push_back(llvm::ConstantPointerNull::get(ptr));
  llvm::StructType* args_type = gemm_args_type(c);
  llvm::Value* args = b.CreateAlloca(args_type);
  WEFT_CHECK(fields.size() == args_type->getNumElements(), "every GemmArgs field is filled");
  for (unsigned i = 0; i < fields.size(); ++i) b.CreateStore(fields[i], b.CreateStructGEP(args_type, args, i));
  b.CreateCall(gemm, {args});
  b.CreateRetVoid();
  return f.function;
}

}  // namespace weft::llvm_backend
