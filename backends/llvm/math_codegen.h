/** \file
 * Vectorized transcendentals, emitted inline as IR: exp, log, tanh, sigmoid, erf.
 *
 * Each emitter takes a `float` or `<N x float>` value and returns one of the same type, built from
 * range reduction and a polynomial (no calls, no tables), so a fused region's loop stays one
 * straight vector body. Special values follow libm: NaN in, NaN out; exp(-inf) = 0, exp(+inf) =
 * +inf; log(0) = -inf, log(x < 0) = NaN; tanh, sigmoid and erf saturate at the infinities.
 *
 * The polynomials were fitted for these functions (backends/llvm/fit_math_polynomials.py) and
 * their accuracy against libm over the whole float range is measured by tests/llvm/math_test.cpp
 * and documented in docs/llvm-backend.md (a few ULP at most; see there for each function).
 */
#pragma once

#include <llvm/IR/IRBuilder.h>

#include <string>
#include <string_view>

namespace weft::llvm_backend {

enum class MathFunction { exp, log, tanh, sigmoid, erf };

std::string_view math_function_name(MathFunction f);

llvm::Value* emit_exp(llvm::IRBuilderBase& b, llvm::Value* x);
llvm::Value* emit_log(llvm::IRBuilderBase& b, llvm::Value* x);
llvm::Value* emit_tanh(llvm::IRBuilderBase& b, llvm::Value* x);
llvm::Value* emit_sigmoid(llvm::IRBuilderBase& b, llvm::Value* x);
llvm::Value* emit_erf(llvm::IRBuilderBase& b, llvm::Value* x);
llvm::Value* emit_math(llvm::IRBuilderBase& b, MathFunction f, llvm::Value* x);

/// Emits `void name(const float* in, float* out, i64 n)`: out[i] = f(in[i]), `vector_floats`
/// lanes at a time, the last partial vector with masked loads and stores.
llvm::Function* emit_elementwise_map(llvm::Module& module, const std::string& name, MathFunction f, int vector_floats);

}  // namespace weft::llvm_backend
