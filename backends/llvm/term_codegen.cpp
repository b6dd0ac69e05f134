/** \file
 * Term emission: contexts, loads and stores, op semantics. See term_codegen.h.
 */
#include "backends/llvm/term_codegen.h"

#include <fmt/format.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <cmath>
#include <limits>

#include "backends/llvm/math_codegen.h"
#include "ir/error.h"
#include "ir/ops.h"

namespace weft::llvm_backend {

void position(llvm::IRBuilderBase& b, const Placement& p) {
  if (p.direct) {
    b.SetInsertPoint(p.direct->GetInsertBlock(), p.direct->GetInsertPoint());
    return;
  }
  if (llvm::Instruction* t = p.block->getTerminator())
    b.SetInsertPoint(t);
  else
    b.SetInsertPoint(p.block);
}

llvm::Value* DimValues::get(const Dim& d) {
  std::string key = d.str();
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  llvm::IRBuilder<> b(dims_->getContext());
  position(b, where_);
  llvm::Type* i64 = b.getInt64Ty();
  llvm::Value* v = b.getInt64(d.coefficient());
  for (const std::string& s : d.symbols()) {
    auto it = std::lower_bound(symbols_.begin(), symbols_.end(), s);
    WEFT_CHECK(it != symbols_.end() && *it == s, "region code uses a symbol it did not declare: " + s);
    llvm::Value* p = b.CreateGEP(i64, dims_, b.getInt64(it - symbols_.begin()));
    v = b.CreateMul(v, b.CreateLoad(i64, p, s));
  }
  cache_.emplace(std::move(key), v);
  return v;
}

llvm::Value* DimValues::product(const Shape& shape) {
  Dim p(1);
  for (const Dim& d : shape) p = p * d;
  return get(p);
}

TermEmitter::TermEmitter(llvm::Module& module, const LoweredRegion& region, int lanes, DimValues& dims,
                         llvm::Value* buffers, Placement root)
    : module_(module), r_(region), lanes_(lanes), dims_(dims), buffers_(buffers), root_(root) {}

llvm::Type* TermEmitter::scalar_type(DType dtype) const {
  llvm::LLVMContext& c = module_.getContext();
  switch (dtype) {
    case DType::f32: return llvm::Type::getFloatTy(c);
    case DType::f64: return llvm::Type::getDoubleTy(c);
    case DType::i32: return llvm::Type::getInt32Ty(c);
    case DType::i64: return llvm::Type::getInt64Ty(c);
    case DType::boolean: return llvm::Type::getInt1Ty(c);
    default: break;
  }
  throw InternalError(fmt::format("generated code has no {} values", dtype_name(dtype)));
}

llvm::Type* TermEmitter::type_in(DType dtype, const EmitContext& ctx) const {
  llvm::Type* t = scalar_type(dtype);
  return ctx.vector ? llvm::FixedVectorType::get(t, lanes_) : t;
}

llvm::Value* TermEmitter::lane_indices() const {
  std::vector<llvm::Constant*> lanes;
  for (int i = 0; i < lanes_; ++i) lanes.push_back(llvm::ConstantInt::get(llvm::Type::getInt64Ty(module_.getContext()), i));
  return llvm::ConstantVector::get(lanes);
}

namespace {

/// Storage type: bool is a byte in memory.
llvm::Type* storage_type(llvm::LLVMContext& c, DType dtype, llvm::Type* scalar) {
  return dtype == DType::boolean ? llvm::Type::getInt8Ty(c) : scalar;
}

/// A real converted as the interpreter's `constant` kernel does.
template <typename T>
T from_real(double v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v != 0;
  } else if constexpr (std::is_integral_v<T>) {
    if (std::isnan(v)) return 0;
    const double limit = std::ldexp(1.0, std::numeric_limits<T>::digits);
    if (v >= limit) return std::numeric_limits<T>::max();
    if (v < -limit) return std::numeric_limits<T>::min();
    return static_cast<T>(v);
  } else {
    return static_cast<T>(v);
  }
}

}  // namespace

llvm::Value* TermEmitter::constant(double value, DType dtype, const EmitContext& ctx) {
  llvm::Type* t = scalar_type(dtype);
  switch (dtype) {
    case DType::f32: return llvm::ConstantFP::get(t, static_cast<double>(from_real<float>(value)));
    case DType::f64: return llvm::ConstantFP::get(t, value);
    case DType::i32: return llvm::ConstantInt::get(t, static_cast<uint64_t>(from_real<int32_t>(value)), true);
    case DType::i64: return llvm::ConstantInt::get(t, static_cast<uint64_t>(from_real<int64_t>(value)), true);
    case DType::boolean: return llvm::ConstantInt::get(t, from_real<bool>(value) ? 1 : 0);
    default: break;
  }
  throw InternalError("constant of an unsupported dtype");
}

EmitContext& TermEmitter::home(int term, EmitContext& ctx) {
  std::vector<EmitContext*> chain;
  for (EmitContext* c = &ctx; c; c = c->parent) chain.push_back(c);
  uint64_t depends = r_.terms[term].depends;
  for (size_t i = chain.size(); i-- > 0;)
    if ((depends & ~chain[i]->bound) == 0) return *chain[i];
  throw InternalError(fmt::format("term {} varies along an axis no context binds", term));
}

llvm::Value* TermEmitter::emit(int term, EmitContext& ctx) {
  EmitContext& h = home(term, ctx);
  llvm::Value* v = nullptr;
  if (auto it = h.terms.find(term); it != h.terms.end()) {
    v = it->second;
  } else {
    const Term& t = r_.terms[term];
    std::vector<llvm::Value*> x;
    for (int o : t.operands) x.push_back(emit(o, h));
    llvm::IRBuilder<> b(module_.getContext());
    position(b, h.where);
    switch (t.kind) {
      case TermKind::load: v = load(t.access, h); break;
      case TermKind::iota: v = iota(t.access, t.dtype, h); break;
      case TermKind::scalar: v = constant(t.value, t.dtype, h); break;
      case TermKind::op: v = emit_op(b, t, x, h); break;
      case TermKind::row_value:
        WEFT_CHECK(row_value != nullptr, "a row value outside a row");
        v = row_value(t.reduction);
        break;
      case TermKind::gemm:
        WEFT_CHECK(gemm_value != nullptr, "the matmul's value outside its epilogue");
        v = gemm_value;
        break;
    }
    h.terms.emplace(term, v);
  }
  if (&h == &ctx || !ctx.vector || h.vector) return v;
  if (auto it = ctx.splats.find(term); it != ctx.splats.end()) return it->second;
  llvm::IRBuilder<> b(module_.getContext());
  position(b, ctx.where);
  llvm::Value* s = b.CreateVectorSplat(lanes_, v);
  ctx.splats.emplace(term, s);
  return s;
}

llvm::Value* TermEmitter::base_pointer(const Access& a, int access) {
  if (auto it = bases_.find(access); it != bases_.end()) return it->second;
  llvm::LLVMContext& c = module_.getContext();
  llvm::Value* p = nullptr;
  if (a.constant >= 0) {
    const ConstantData& data = r_.constants[a.constant];
    llvm::Constant* init = nullptr;
    auto floats = [&](auto tag) {
      using T = decltype(tag);
      std::vector<T> values;
      for (double v : data.values) values.push_back(from_real<T>(v));
      return llvm::ConstantDataArray::get(c, llvm::ArrayRef<T>(values));
    };
    if (data.dtype == DType::f32) {
      init = floats(float{});
    } else if (data.dtype == DType::f64) {
      init = floats(double{});
    } else {
      llvm::Type* t = storage_type(c, data.dtype, scalar_type(data.dtype));
      std::vector<llvm::Constant*> elems;
      for (double v : data.values) {
        int64_t i = data.dtype == DType::i32 ? from_real<int32_t>(v) : data.dtype == DType::i64 ? from_real<int64_t>(v)
                                                                                              : from_real<bool>(v);
        elems.push_back(llvm::ConstantInt::get(t, static_cast<uint64_t>(i), true));
      }
      init = llvm::ConstantArray::get(llvm::ArrayType::get(t, elems.size()), elems);
    }
    p = new llvm::GlobalVariable(module_, init->getType(), true, llvm::GlobalValue::InternalLinkage, init,
                                 fmt::format("constant{}", a.constant));
  } else {
    llvm::IRBuilder<> b(c);
    position(b, root_);
    int slot = a.output ? r_.num_inputs + a.input : a.input;
    llvm::Type* ptr = llvm::PointerType::getUnqual(c);
    p = b.CreateLoad(ptr, b.CreateGEP(ptr, buffers_, b.getInt64(slot)), fmt::format("buffer{}", slot));
  }
  bases_.emplace(access, p);
  return p;
}

llvm::Value* TermEmitter::scalar_offset(int access, EmitContext& ctx) {
  if (auto it = ctx.offsets.find(access); it != ctx.offsets.end()) return it->second;
  const Access& a = r_.accesses[access];
  llvm::Value* off = nullptr;
  uint64_t parent_bound = 0;
  if (ctx.parent) {
    off = scalar_offset(access, *ctx.parent);
    parent_bound = ctx.parent->bound;
  }
  llvm::IRBuilder<> b(module_.getContext());
  position(b, ctx.where);
  if (!off) {
    off = b.getInt64(0);
    for (const Dim& d : a.offset) off = b.CreateAdd(off, dims_.get(d));
  }
  for (size_t d = 0; d < a.strides.size(); ++d) {
    bool fresh = (ctx.bound >> d & 1) && !(parent_bound >> d & 1);
    if (!fresh || a.strides[d] == Dim(0)) continue;
    off = b.CreateAdd(off, b.CreateMul(dims_.get(a.strides[d]), ctx.index[d]));
  }
  ctx.offsets.emplace(access, off);
  return off;
}

llvm::Value* TermEmitter::load(int access, EmitContext& ctx) {
  const Access& a = r_.accesses[access];
  llvm::LLVMContext& c = module_.getContext();
  llvm::Type* scalar = scalar_type(a.dtype);
  llvm::Type* mem = storage_type(c, a.dtype, scalar);
  llvm::Value* base = base_pointer(a, access);
  llvm::Value* off = scalar_offset(access, ctx);
  llvm::IRBuilder<> b(c);
  position(b, ctx.where);
  llvm::Align align(mem->getPrimitiveSizeInBits() / 8);
  auto to_value = [&](llvm::Value* v) {
    if (a.dtype != DType::boolean) return v;
    return b.CreateICmpNE(v, llvm::Constant::getNullValue(v->getType()));
  };
  if (!ctx.vector) return to_value(b.CreateLoad(mem, b.CreateGEP(mem, base, off)));
  const Dim& stride = a.strides[ctx.vector_axis];
  if (stride == Dim(0)) return b.CreateVectorSplat(lanes_, to_value(b.CreateLoad(mem, b.CreateGEP(mem, base, off))));
  auto* vec = llvm::FixedVectorType::get(mem, lanes_);
  if (stride == Dim(1)) {
    llvm::Value* p = b.CreateGEP(mem, base, off);
    if (ctx.mask) return to_value(b.CreateMaskedLoad(vec, p, align, ctx.mask, llvm::Constant::getNullValue(vec)));
    return to_value(b.CreateAlignedLoad(vec, p, align));
  }
  llvm::Value* offsets = b.CreateAdd(b.CreateVectorSplat(lanes_, off),
                                     b.CreateMul(b.CreateVectorSplat(lanes_, dims_.get(stride)), lane_indices()));
  llvm::Value* ptrs = b.CreateGEP(mem, base, offsets);
  llvm::Value* mask = ctx.mask ? ctx.mask : llvm::Constant::getAllOnesValue(llvm::FixedVectorType::get(b.getInt1Ty(), lanes_));
  return to_value(b.CreateMaskedGather(vec, ptrs, align, mask, llvm::Constant::getNullValue(vec)));
}

llvm::Value* TermEmitter::iota(int access, DType dtype, EmitContext& ctx) {
  const Access& a = r_.accesses[access];
  llvm::Value* off = scalar_offset(access, ctx);
  llvm::IRBuilder<> b(module_.getContext());
  position(b, ctx.where);
  llvm::Value* v = off;
  if (ctx.vector) {
    v = b.CreateVectorSplat(lanes_, off);
    const Dim& stride = a.strides[ctx.vector_axis];
    if (!(stride == Dim(0)))
      v = b.CreateAdd(v, b.CreateMul(b.CreateVectorSplat(lanes_, dims_.get(stride)), lane_indices()));
  }
  return convert(b, v, DType::i64, dtype);
}

void TermEmitter::store(const Store& s, llvm::Value* value, EmitContext& ctx) {
  const Access& a = r_.accesses[s.access];
  llvm::LLVMContext& c = module_.getContext();
  llvm::Type* scalar = scalar_type(a.dtype);
  llvm::Type* mem = storage_type(c, a.dtype, scalar);
  llvm::Value* base = base_pointer(a, s.access);
  llvm::Value* off = scalar_offset(s.access, ctx);
  llvm::IRBuilder<> b(c);
  position(b, ctx.where);
  llvm::Align align(mem->getPrimitiveSizeInBits() / 8);
  if (a.dtype == DType::boolean) value = b.CreateZExt(value, value->getType()->getWithNewType(mem));
  if (!ctx.vector) {
    b.CreateStore(value, b.CreateGEP(mem, base, off));
    return;
  }
  const Dim& stride = a.strides[ctx.vector_axis];
  if (stride == Dim(0)) {  // a size-1 vector axis: only lane 0 exists
    b.CreateStore(b.CreateExtractElement(value, uint64_t{0}), b.CreateGEP(mem, base, off));
    return;
  }
  if (stride == Dim(1)) {
    llvm::Value* p = b.CreateGEP(mem, base, off);
    if (ctx.mask)
      b.CreateMaskedStore(value, p, align, ctx.mask);
    else
      b.CreateAlignedStore(value, p, align);
    return;
  }
  llvm::Value* offsets = b.CreateAdd(b.CreateVectorSplat(lanes_, off),
                                     b.CreateMul(b.CreateVectorSplat(lanes_, dims_.get(stride)), lane_indices()));
  llvm::Value* mask = ctx.mask ? ctx.mask : llvm::Constant::getAllOnesValue(llvm::FixedVectorType::get(b.getInt1Ty(), lanes_));
  b.CreateMaskedScatter(value, b.CreateGEP(mem, base, offsets), align, mask);
}

llvm::Value* TermEmitter::convert(llvm::IRBuilderBase& b, llvm::Value* v, DType from, DType to) {
  if (from == to) return v;
  llvm::Type* to_type = v->getType()->getWithNewType(scalar_type(to));
  if (to == DType::boolean) {
    if (is_float(from)) return b.CreateFCmpUNE(v, llvm::Constant::getNullValue(v->getType()));  // NaN -> true
    return b.CreateICmpNE(v, llvm::Constant::getNullValue(v->getType()));
  }
  if (from == DType::boolean) return is_float(to) ? b.CreateUIToFP(v, to_type) : b.CreateZExt(v, to_type);
  if (is_float(from) && is_float(to)) return to == DType::f64 ? b.CreateFPExt(v, to_type) : b.CreateFPTrunc(v, to_type);
  if (is_float(from)) return b.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {to_type, v->getType()}, {v});
  if (is_float(to)) return b.CreateSIToFP(v, to_type);
  return b.CreateSExtOrTrunc(v, to_type);
}

llvm::Value* TermEmitter::libm(llvm::IRBuilderBase& b, const char* f32_name, const char* f64_name,
                               std::vector<llvm::Value*> args) {
  llvm::Type* type = args[0]->getType();
  llvm::Type* elem = type->getScalarType();
  auto* fn_type = llvm::FunctionType::get(elem, std::vector<llvm::Type*>(args.size(), elem), false);
  llvm::FunctionCallee f = module_.getOrInsertFunction(elem->isFloatTy() ? f32_name : f64_name, fn_type);
  if (!type->isVectorTy()) return b.CreateCall(f, args);
  llvm::Value* out = llvm::PoisonValue::get(type);
  for (int i = 0; i < lanes_; ++i) {
    std::vector<llvm::Value*> lane;
    for (llvm::Value* a : args) lane.push_back(b.CreateExtractElement(a, uint64_t(i)));
    out = b.CreateInsertElement(out, b.CreateCall(f, lane), uint64_t(i));
  }
  return out;
}

llvm::Value* TermEmitter::emit_op(llvm::IRBuilderBase& b, const Term& t, const std::vector<llvm::Value*>& x,
                                  const EmitContext& ctx) {
  const Node& n = *t.node;
  if (n.op == OpKind::select) return b.CreateSelect(x[0], x[1], x[2]);
  DType in = r_.terms[t.operands[0]].dtype;
  if (n.op == OpKind::cast) return convert(b, x[0], in, t.dtype);
  if (x.size() == 1) return emit_unary(b, n.op, n, x[0], in);
  WEFT_CHECK(x.size() == 2, fmt::format("generated regions have no {}", op_name(n.op)));
  if (n.op == OpKind::div && is_float(in) && row_invariant_divisor(t)) {
    // Softmax's division by its row's sum: one reciprocal per row (hoisted out of the pass over
    // the row), then a multiplication per element, as PyTorch's CPU softmax does. A vector
    // division costs 3-5 cycles of throughput where a multiplication costs half of one. At most
    // 1.5 ulp from the correctly rounded quotient (docs/llvm-backend.md, tolerances).
    llvm::Value* one = llvm::ConstantFP::get(x[1]->getType(), 1.0);
    return b.CreateFMul(x[0], b.CreateFDiv(one, x[1]));
  }
  return emit_binary(b, n.op, x[0], x[1], in);
}

llvm::Value* TermEmitter::emit_unary(llvm::IRBuilderBase& b, OpKind op, const Node& node, llvm::Value* x, DType t) {
  llvm::Type* type = x->getType();
  bool f = is_float(t), f32 = t == DType::f32;
  auto c = [&](double v) { return llvm::ConstantFP::get(type, v); };
  llvm::Value* zero = llvm::Constant::getNullValue(type);
  switch (op) {
    case OpKind::neg: return f ? b.CreateFNeg(x) : b.CreateSub(zero, x);
    case OpKind::abs:
      return f ? b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x) : b.CreateSelect(b.CreateICmpSLT(x, zero), b.CreateSub(zero, x), x);
    case OpKind::exp: return f32 ? emit_exp(b, x) : libm(b, "expf", "exp", {x});
    case OpKind::log: return f32 ? emit_log(b, x) : libm(b, "logf", "log", {x});
    case OpKind::sqrt: return b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x);
    case OpKind::rsqrt: return b.CreateFDiv(c(1.0), b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x));
    case OpKind::tanh: return f32 ? emit_tanh(b, x) : libm(b, "tanhf", "tanh", {x});
    case OpKind::sigmoid:
      if (f32) return emit_sigmoid(b, x);
      return b.CreateFDiv(c(1.0), b.CreateFAdd(c(1.0), libm(b, "expf", "exp", {b.CreateFNeg(x)})));
    case OpKind::relu:
      if (f) return b.CreateSelect(b.CreateFCmpUGT(x, zero), x, zero);  // NaN stays NaN
      return b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, x, zero);
    case OpKind::gelu: {
      llvm::Value* half_x = b.CreateFMul(c(0.5), x);
      if (node.attrs.get_string("approximate") == "tanh") {
        double k = f32 ? static_cast<double>(0.044715f) : 0.044715;
        double s = f32 ? static_cast<double>(0.79788456080286535588f) : 0.79788456080286535588;
        llvm::Value* cube = b.CreateFMul(b.CreateFMul(b.CreateFMul(c(k), x), x), x);
        llvm::Value* inner = b.CreateFMul(c(s), b.CreateFAdd(x, cube));
        llvm::Value* th = f32 ? emit_tanh(b, inner) : libm(b, "tanhf", "tanh", {inner});
        return b.CreateFMul(half_x, b.CreateFAdd(c(1.0), th));
      }
      double r = f32 ? static_cast<double>(0.70710678118654752440f) : 0.70710678118654752440;
      llvm::Value* arg = b.CreateFMul(x, c(r));
      llvm::Value* e = f32 ? emit_erf(b, arg) : libm(b, "erff", "erf", {arg});
      return b.CreateFMul(half_x, b.CreateFAdd(c(1.0), e));
    }
    case OpKind::sin: return libm(b, "sinf", "sin", {x});
    case OpKind::cos: return libm(b, "cosf", "cos", {x});
    case OpKind::logical_not: return b.CreateNot(x);
    default: break;
  }
  throw InternalError(fmt::format("generated regions have no unary {}", op_name(op)));
}

llvm::Value* TermEmitter::emit_binary(llvm::IRBuilderBase& b, OpKind op, llvm::Value* x, llvm::Value* y, DType t) {
  bool f = is_float(t);
  llvm::Type* type = x->getType();
  llvm::Value* zero = llvm::Constant::getNullValue(type);
  switch (op) {
    case OpKind::add: return f ? b.CreateFAdd(x, y) : b.CreateAdd(x, y);
    case OpKind::sub: return f ? b.CreateFSub(x, y) : b.CreateSub(x, y);
    case OpKind::mul: return f ? b.CreateFMul(x, y) : b.CreateMul(x, y);
    case OpKind::div: {
      if (f) return b.CreateFDiv(x, y);
      // x / 0 = 0 and MIN / -1 wraps, as the interpreter does; the divisor is made safe first,
      // since a hardware division by 0 (or of MIN by -1) traps.
      llvm::Value* by_zero = b.CreateICmpEQ(y, zero);
      llvm::Value* by_minus_one = b.CreateICmpEQ(y, llvm::Constant::getAllOnesValue(type));
      llvm::Value* safe = b.CreateSelect(b.CreateOr(by_zero, by_minus_one), llvm::ConstantInt::get(type, 1), y);
      llvm::Value* q = b.CreateSelect(by_minus_one, b.CreateSub(zero, x), b.CreateSDiv(x, safe));
      return b.CreateSelect(by_zero, zero, q);
    }
    case OpKind::pow: return libm(b, "powf", "pow", {x, y});
    case OpKind::maximum:
      return f ? b.CreateBinaryIntrinsic(llvm::Intrinsic::maximum, x, y) : b.CreateBinaryIntrinsic(llvm::Intrinsic::smax, x, y);
    case OpKind::minimum:
      return f ? b.CreateBinaryIntrinsic(llvm::Intrinsic::minimum, x, y) : b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, x, y);
    case OpKind::eq: return f ? b.CreateFCmpOEQ(x, y) : b.CreateICmpEQ(x, y);
    case OpKind::ne: return f ? b.CreateFCmpUNE(x, y) : b.CreateICmpNE(x, y);
    case OpKind::lt: return f ? b.CreateFCmpOLT(x, y) : b.CreateICmpSLT(x, y);
    case OpKind::le: return f ? b.CreateFCmpOLE(x, y) : b.CreateICmpSLE(x, y);
    case OpKind::gt: return f ? b.CreateFCmpOGT(x, y) : b.CreateICmpSGT(x, y);
    case OpKind::ge: return f ? b.CreateFCmpOGE(x, y) : b.CreateICmpSGE(x, y);
    case OpKind::logical_and: return b.CreateAnd(x, y);
    case OpKind::logical_or: return b.CreateOr(x, y);
    default: break;
  }
  throw InternalError(fmt::format("generated regions have no binary {}", op_name(op)));
}

}  // namespace weft::llvm_backend
