/** \file
 * Range reduction and polynomials for the vector transcendentals. See math_codegen.h.
 *
 * The coefficient tables are the output of fit_math_polynomials.py (reformatted, same values).
 */
#include "backends/llvm/math_codegen.h"

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <cmath>
#include <vector>

#include "backends/llvm/ir_util.h"
#include "ir/error.h"

namespace weft::llvm_backend {
namespace {

// exp(r) = 1 + r + r^2 P(r), |r| <= ln2/2; fitted weighted error 3.77e-09
constexpr float kExp[] = {4.999998808e-01f, 1.666651815e-01f, 4.166953266e-02f, 8.368915878e-03f, 1.375140739e-03f};
// log(1 + f) = f - f^2/2 + f^3 P(f), sqrt(1/2) - 1 <= f <= sqrt(2) - 1; fitted weighted error 1.40e-09
constexpr float kLog[] = {3.333331048e-01f,  -2.500001490e-01f, 2.000220418e-01f,  -1.666764319e-01f, 1.421789080e-01f,
                          -1.241126880e-01f, 1.190471202e-01f,  -1.164643466e-01f, 6.675271690e-02f};
// tanh(x) = x + x^3 P(x^2), |x| < 0.625; fitted weighted error 9.62e-09
constexpr float kTanh[] = {-3.333328068e-01f, 1.333138198e-01f, -5.373531953e-02f, 2.062629163e-02f, -5.691985600e-03f};
// erf(x) = x + x P(x^2), |x| < 0.875; fitted weighted error 1.59e-08
constexpr float kErfSmall[] = {1.283791512e-01f,  -3.761255443e-01f, 1.128251031e-01f,
                               -2.679345198e-02f, 5.035122391e-03f,  -6.218503113e-04f};
// erf(a) = 1 - exp(-a^2) P(a - 2.4375), 0.875 <= a <= 4; fitted weighted error 2.02e-09
constexpr float kErfLarge[] = {2.155524641e-01f,  -7.756424695e-02f, 2.648279816e-02f, -8.649463765e-03f,
                               2.790753031e-03f,  -6.853750092e-04f, 2.651266695e-04f, -1.726351766e-04f,
                               -8.151948714e-05f, -3.621208089e-05f};

// ln 2 split so that n * kLn2Hi is exact for |n| < 2^15 (9 significant bits), with or without FMA.
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kLog2e = 1.44269504088896341f;
// 1.5 * 2^23: adding it rounds |v| < 2^22 to an integer, which then sits in the low mantissa bits.
constexpr float kRoundShift = 0x1.8p23f;

// Constants and common operations for a float or float-vector type.
struct Math {
  llvm::IRBuilderBase& b;
  llvm::Type* type;      // float or <N x float>
  llvm::Type* int_type;  // i32 or <N x i32>

  Math(llvm::IRBuilderBase& builder, llvm::Value* x)
      : b(builder), type(x->getType()), int_type(type->getWithNewType(builder.getInt32Ty())) {
    WEFT_CHECK(type->getScalarType()->isFloatTy(), "math emitters take float or float vectors");
  }

  llvm::Value* f(double v) { return llvm::ConstantFP::get(type, v); }
  llvm::Value* i(int32_t v) { return llvm::ConstantInt::get(int_type, v, /*IsSigned=*/true); }
  llvm::Value* unary(llvm::Intrinsic::ID id, llvm::Value* x) { return b.CreateUnaryIntrinsic(id, x); }
  llvm::Value* binary(llvm::Intrinsic::ID id, llvm::Value* x, llvm::Value* y) {
    return b.CreateBinaryIntrinsic(id, x, y);
  }
  llvm::Value* fma(llvm::Value* x, llvm::Value* y, llvm::Value* z) {
    return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {type}, {x, y, z});
  }
  llvm::Value* abs(llvm::Value* x) { return unary(llvm::Intrinsic::fabs, x); }
  llvm::Value* copysign(llvm::Value* magnitude, llvm::Value* sign) {
    return binary(llvm::Intrinsic::copysign, magnitude, sign);
  }
  llvm::Value* min(llvm::Value* x, llvm::Value* y) { return binary(llvm::Intrinsic::minnum, x, y); }
  llvm::Value* max(llvm::Value* x, llvm::Value* y) { return binary(llvm::Intrinsic::maxnum, x, y); }
  llvm::Value* is_nan(llvm::Value* x) { return b.CreateFCmpUNO(x, x); }
  // NaN inputs pass through: minnum/maxnum clamps would otherwise drop them.
  llvm::Value* keep_nan(llvm::Value* x, llvm::Value* result) { return b.CreateSelect(is_nan(x), x, result); }

  template <size_t N>
  llvm::Value* polynomial(const float (&c)[N], llvm::Value* t) {
    llvm::Value* r = f(c[N - 1]);
    for (size_t k = N - 1; k-- > 0;) r = fma(r, t, f(c[k]));
    return r;
  }

  // max(x, lo) and min(x, hi) that keep a NaN x (minnum/maxnum would return the bound): written
  // as the compare-select that x86's maxps/minps implement, so each is still one instruction.
  llvm::Value* clamp_keep_nan(llvm::Value* x, double lo, double hi) {
    x = b.CreateSelect(b.CreateFCmpOGT(f(lo), x), f(lo), x);
    return b.CreateSelect(b.CreateFCmpOLT(f(hi), x), f(hi), x);
  }
  llvm::Value* as_int(llvm::Value* v) { return b.CreateBitCast(v, int_type); }
};

}  // namespace

std::string_view math_function_name(MathFunction f) {
  switch (f) {
    case MathFunction::exp:
      return "exp";
    case MathFunction::log:
      return "log";
    case MathFunction::tanh:
      return "tanh";
    case MathFunction::sigmoid:
      return "sigmoid";
    case MathFunction::erf:
      return "erf";
  }
  return "?";
}

// exp(x) = 2^n · exp(r), n = round(x / ln2), r = x - n ln2 (Cody–Waite, two parts of ln2),
// exp(r) by a degree-6 polynomial. Inputs are clamped to [-104, 88.8], beyond which the result
// is 0 or +inf anyway. n is rounded by adding kRoundShift, which leaves n in the low bits of the
// sum, so 2^n needs no conversion: it is added to the exponent field of exp(r) in [0.7, 1.42].
// That addition alone would leave the normal range for |n| > 125, so it adds n - k instead and
// multiplies by 2^k, k = ±64 with the sign of x: exact while normal, rounded once in the
// subnormal range, +inf past the largest float. No selects: the clamps keep NaN, and the last step
// passes it on.
llvm::Value* emit_exp(llvm::IRBuilderBase& b, llvm::Value* x) {
  Math m(b, x);
  llvm::Value* xc = m.clamp_keep_nan(x, -104.0, 88.8);
  llvm::Value* shifted = m.fma(xc, m.f(kLog2e), m.f(kRoundShift));
  llvm::Value* n = b.CreateFSub(shifted, m.f(kRoundShift));
  llvm::Value* r = m.fma(n, m.f(-kLn2Hi), xc);
  r = m.fma(n, m.f(-kLn2Lo), r);
  // 1 + r + r^2 P(r) in Horner form: 1 + r (1 + r P(r)).
  llvm::Value* p = m.fma(m.fma(m.polynomial(kExp, r), r, m.f(1.0)), r, m.f(1.0));
  llvm::Value* scale = b.CreateSelect(b.CreateICmpSLT(m.as_int(xc), m.i(0)), m.f(0x1p-64), m.f(0x1p64));
  // (n << 23) from the sum's low bits, less k << 23 = bits(2^k) - bits(1).
  llvm::Value* shift = b.CreateSub(b.CreateShl(m.as_int(shifted), m.i(23)),
                                   b.CreateSub(m.as_int(scale), m.i(0x3f800000)));
  // The scaling, plus xc * 0: +-0 for every number (no change to the product, even one that
  // underflows to 0), NaN for NaN, which the integer steps above would have lost.
  llvm::Value* scaled = b.CreateBitCast(b.CreateAdd(m.as_int(p), shift), m.type);
  return m.fma(scaled, scale, b.CreateFMul(xc, m.f(0.0)));
}

// log(x) = e ln2 + log(1 + f), x = 2^e (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)). Subnormal
// inputs are scaled by 2^23 first.
llvm::Value* emit_log(llvm::IRBuilderBase& b, llvm::Value* x) {
  Math m(b, x);
  llvm::Value* tiny = b.CreateFCmpOLT(x, m.f(0x1p-126));
  llvm::Value* xs = b.CreateSelect(tiny, b.CreateFMul(x, m.f(0x1p23)), x);
  llvm::Value* bits = b.CreateBitCast(xs, m.int_type);
  llvm::Value* e = b.CreateSub(b.CreateAShr(bits, m.i(23)), m.i(127));
  e = b.CreateSub(e, b.CreateSelect(tiny, m.i(23), m.i(0)));
  llvm::Value* mant = b.CreateBitCast(b.CreateOr(b.CreateAnd(bits, m.i(0x007fffff)), m.i(0x3f800000)), m.type);
  llvm::Value* big = b.CreateFCmpOGT(mant, m.f(1.41421356237309505));
  mant = b.CreateSelect(big, b.CreateFMul(mant, m.f(0.5)), mant);
  e = b.CreateAdd(e, b.CreateZExt(big, m.int_type));
  llvm::Value* f = b.CreateFSub(mant, m.f(1.0));
  llvm::Value* ef = b.CreateSIToFP(e, m.type);
  llvm::Value* f2 = b.CreateFMul(f, f);
  llvm::Value* y = b.CreateFMul(b.CreateFMul(f2, f), m.polynomial(kLog, f));
  y = m.fma(ef, m.f(kLn2Lo), y);
  y = m.fma(f2, m.f(-0.5), y);
  llvm::Value* result = m.fma(ef, m.f(kLn2Hi), b.CreateFAdd(f, y));
  // log(0) = -inf, log(negative) = NaN, log(+inf) = +inf, NaN stays NaN.
  result = b.CreateSelect(b.CreateFCmpOEQ(x, m.f(0.0)), m.f(-INFINITY), result);
  result = b.CreateSelect(b.CreateFCmpOLT(x, m.f(0.0)), m.f(NAN), result);
  result = b.CreateSelect(b.CreateFCmpOEQ(x, m.f(INFINITY)), x, result);
  return m.keep_nan(x, result);
}

// tanh(x) = x + x^3 P(x^2) near 0, else sign(x) (1 - 2 / (exp(2|x|) + 1)).
llvm::Value* emit_tanh(llvm::IRBuilderBase& b, llvm::Value* x) {
  Math m(b, x);
  llvm::Value* a = m.abs(x);
  llvm::Value* t = b.CreateFMul(x, x);
  llvm::Value* small = m.fma(b.CreateFMul(x, t), m.polynomial(kTanh, t), x);
  llvm::Value* e = emit_exp(b, b.CreateFMul(a, m.f(2.0)));
  llvm::Value* large = b.CreateFSub(m.f(1.0), b.CreateFDiv(m.f(2.0), b.CreateFAdd(e, m.f(1.0))));
  large = m.copysign(large, x);
  return b.CreateSelect(b.CreateFCmpOLT(a, m.f(0.625)), small, large);
}

// sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) below, with e = exp(-|x|) <= 1: no overflow,
// and no cancellation for large negative x.
llvm::Value* emit_sigmoid(llvm::IRBuilderBase& b, llvm::Value* x) {
  Math m(b, x);
  llvm::Value* e = emit_exp(b, b.CreateFNeg(m.abs(x)));
  llvm::Value* s = b.CreateFDiv(m.f(1.0), b.CreateFAdd(m.f(1.0), e));
  return b.CreateSelect(b.CreateFCmpOGE(x, m.f(0.0)), s, b.CreateFMul(e, s));
}

// erf(x) = x + x P(x^2) for |x| < 0.875, else sign(x) (1 - exp(-x^2) Q(|x|)); erf(|x| >= 4)
// rounds to ±1, so |x| is clamped there.
llvm::Value* emit_erf(llvm::IRBuilderBase& b, llvm::Value* x) {
  Math m(b, x);
  llvm::Value* a = m.abs(x);
  llvm::Value* small = m.fma(x, m.polynomial(kErfSmall, b.CreateFMul(x, x)), x);
  llvm::Value* ac = m.min(a, m.f(4.0));
  llvm::Value* q = m.polynomial(kErfLarge, b.CreateFSub(ac, m.f(2.4375)));
  llvm::Value* e = emit_exp(b, b.CreateFNeg(b.CreateFMul(ac, ac)));
  llvm::Value* large = m.copysign(b.CreateFSub(m.f(1.0), b.CreateFMul(e, q)), x);
  return m.keep_nan(x, b.CreateSelect(b.CreateFCmpOLT(a, m.f(0.875)), small, large));
}

llvm::Value* emit_math(llvm::IRBuilderBase& b, MathFunction f, llvm::Value* x) {
  switch (f) {
    case MathFunction::exp:
      return emit_exp(b, x);
    case MathFunction::log:
      return emit_log(b, x);
    case MathFunction::tanh:
      return emit_tanh(b, x);
    case MathFunction::sigmoid:
      return emit_sigmoid(b, x);
    case MathFunction::erf:
      return emit_erf(b, x);
  }
  WEFT_CHECK(false, "unknown math function");
  return nullptr;
}

llvm::Function* emit_elementwise_map(llvm::Module& module, const std::string& name, MathFunction fn,
                                     int vector_floats) {
  llvm::LLVMContext& ctx = module.getContext();
  auto* f32 = llvm::Type::getFloatTy(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* i32 = llvm::Type::getInt32Ty(ctx);
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  auto* vec = llvm::FixedVectorType::get(f32, vector_floats);
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, ptr, i64}, false);
  auto* f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, module);
  f->addFnAttr(llvm::Attribute::NoUnwind);
  set_vector_width_attributes(*f, vector_floats * 32);
  llvm::Value* in = f->getArg(0);
  llvm::Value* out = f->getArg(1);
  llvm::Value* n = f->getArg(2);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", f));
  llvm::Value* width = b.getInt64(vector_floats);
  llvm::Value* whole = b.CreateMul(b.CreateSDiv(n, width), width);
  emit_for(b, b.getInt64(0), whole, width, [&](llvm::Value* i) {
    llvm::Value* x = b.CreateAlignedLoad(vec, b.CreateGEP(f32, in, i), llvm::Align(4));
    b.CreateAlignedStore(emit_math(b, fn, x), b.CreateGEP(f32, out, i), llvm::Align(4));
  });
  // The tail: one masked vector (lanes past n read as 0 and are not written).
  llvm::Value* rest = b.CreateSub(n, whole);
  emit_if(b, b.CreateICmpSGT(rest, b.getInt64(0)), [&] {
    std::vector<llvm::Constant*> lanes;
    for (int l = 0; l < vector_floats; ++l) lanes.push_back(llvm::ConstantInt::get(i32, l));
    llvm::Value* mask =
        b.CreateICmpSLT(llvm::ConstantVector::get(lanes), b.CreateVectorSplat(vector_floats, b.CreateTrunc(rest, i32)));
    llvm::Value* x =
        b.CreateMaskedLoad(vec, b.CreateGEP(f32, in, whole), llvm::Align(4), mask, llvm::ConstantFP::get(vec, 0.0));
    b.CreateMaskedStore(emit_math(b, fn, x), b.CreateGEP(f32, out, whole), llvm::Align(4), mask);
  });
  b.CreateRetVoid();
  return f;
}

}  // namespace weft::llvm_backend
