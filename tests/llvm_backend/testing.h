/** \file
 * Helpers for the LLVM backend's differential tests: random inputs, and running one graph on the
 * interpreter (the oracle) and on the LLVM backend to compare every output within a tolerance.
 *
 * Tolerances (documented in docs/llvm-backend.md): outputs must satisfy
 * |llvm - interp| <= atol + rtol·|interp| element by element, NaN matching NaN and infinities
 * matching exactly; integer and bool outputs must be equal.
 */
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backends/interp/interpreter.h"
#include "backends/llvm/llvm_backend.h"
#include "ir/graph.h"
#include "runtime/tensor.h"

namespace weft::llvm_tests {

struct Tolerance {
  double rtol = 0;
  double atol = 0;
};

/// IEEE-exact ops (+, -, ×, ÷, sqrt, comparisons, casts): the same float operations in the same order.
constexpr Tolerance kExact{1e-6, 1e-7};
/// f32 transcendentals: the polynomial emitters are a few ULP from libm.
constexpr Tolerance kTranscendental{2e-6, 2e-7};
/// Reductions and composites: vector accumulators sum in another order than the interpreter.
constexpr Tolerance kReduction{1e-5, 1e-6};
/// Matmuls: the GEMM accumulates K in blocks, with FMA.
constexpr Tolerance kMatmul{1e-5, 1e-5};

inline TensorType f32(Shape shape) { return TensorType{DType::f32, std::move(shape)}; }
inline Dim sym(const std::string& name) { return Dim::symbol(name); }

/// One tensor per graph input at `dims`: floats uniform in [lo, hi], integers in [0, int_range),
/// random bools.
inline std::vector<Tensor> random_inputs(const Graph& g, const SymbolBindings& dims, uint64_t seed, double lo = -2,
                                         double hi = 2, int64_t int_range = 4) {
  std::mt19937_64 rng(seed);
  std::vector<Tensor> out;
  for (const InputDecl& in : g.inputs()) {
    const TensorType& t = g.type(in.value);
    Tensor x = Tensor::zeros(t.dtype, evaluate_shape(t.shape, dims));
    for (int64_t i = 0; i < x.numel(); ++i) {
      switch (t.dtype) {
        case DType::f32: x.data<float>()[i] = std::uniform_real_distribution<float>(float(lo), float(hi))(rng); break;
        case DType::f64: x.data<double>()[i] = std::uniform_real_distribution<double>(lo, hi)(rng); break;
        case DType::i32:
          x.data<int32_t>()[i] = std::uniform_int_distribution<int32_t>(0, static_cast<int32_t>(int_range - 1))(rng);
          break;
        case DType::i64: x.data<int64_t>()[i] = std::uniform_int_distribution<int64_t>(0, int_range - 1)(rng); break;
        case DType::boolean: x.data<bool>()[i] = (rng() & 1) != 0; break;
        default: ADD_FAILURE() << "no random values for " << t.str();
      }
    }
    out.push_back(x);
  }
  return out;
}

/// Checks `got` against `want` element by element; reports the first few mismatches.
inline void expect_close(const Tensor& want, const Tensor& got, Tolerance tol, const std::string& what) {
  ASSERT_EQ(want.type_str(), got.type_str()) << what;
  int reported = 0;
  for (int64_t i = 0; i < want.numel() && reported < 5; ++i) {
    double w = want.at(i), g = got.at(i);
    bool ok;
    if (want.dtype() == DType::f32 || want.dtype() == DType::f64) {
      if (std::isnan(w) || std::isinf(w))
        ok = std::isnan(w) ? std::isnan(g) : w == g;
      else
        ok = std::fabs(g - w) <= tol.atol + tol.rtol * std::fabs(w);
    } else {
      ok = w == g;
    }
    if (!ok) {
      ADD_FAILURE() << what << ": element " << i << " of " << want.type_str() << ": interpreter " << w << ", llvm "
                    << g << " (difference " << (g - w) << ")";
      ++reported;
    }
  }
}

/// Compiles `g` on both backends, runs both on `inputs`, compares every output.
inline void expect_same_outputs(const Graph& g, const std::vector<Tensor>& inputs, Tolerance tol,
                                const std::string& what = "") {
  std::vector<Tensor> want = InterpBackend().compile(g)->run(inputs);
  std::vector<Tensor> got = LlvmBackend().compile(g)->run(inputs);
  ASSERT_EQ(want.size(), got.size());
  for (size_t k = 0; k < want.size(); ++k)
    expect_close(want[k], got[k], tol, what + " output " + g.outputs()[k].name);
}

/// The nodes of `g` that the LLVM backend runs on the interpreter, as "op (reason)" lines.
inline std::string fallbacks(const Graph& g) {
  auto exe = LlvmBackend().compile_llvm(g);
  std::string out;
  for (const NodeStats& n : exe->stats().nodes)
    if (!n.compiled) out += n.op + " (" + n.reason + ")\n";
  return out;
}

}  // namespace weft::llvm_tests
