/** \file
 * Helpers for the fusion tests: random inputs for a graph at given symbol sizes, and the
 * differential check that a fused graph computes exactly what the unfused one does on the
 * reference interpreter (fusion changes no arithmetic, so the results are bit-identical).
 */
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backends/interp/interpreter.h"
#include "ir/graph_builder.h"
#include "ir/text.h"
#include "passes/decompose.h"
#include "passes/fuse.h"
#include "passes/verify.h"
#include "runtime/tensor.h"

namespace weft::fuse_tests {

inline TensorType f32(Shape shape) { return TensorType{DType::f32, std::move(shape)}; }
inline Dim sym(const std::string& name) { return Dim::symbol(name); }

/// One tensor per graph input at `dims`: floats in [-2, 2], integers in [0, int_range), random bools.
inline std::vector<Tensor> random_inputs(const Graph& g, const SymbolBindings& dims, uint64_t seed,
                                         int64_t int_range = 4) {
  std::mt19937_64 rng(seed);
  std::vector<Tensor> out;
  for (const InputDecl& in : g.inputs()) {
    const TensorType& t = g.type(in.value);
    Tensor x = Tensor::zeros(t.dtype, evaluate_shape(t.shape, dims));
    for (int64_t i = 0; i < x.numel(); ++i) {
      switch (t.dtype) {
        case DType::f32:
          x.data<float>()[i] = std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng);
          break;
        case DType::f64:
          x.data<double>()[i] = std::uniform_real_distribution<double>(-2.0, 2.0)(rng);
          break;
        case DType::i64:
          x.data<int64_t>()[i] = std::uniform_int_distribution<int64_t>(0, int_range - 1)(rng);
          break;
        case DType::i32:
          x.data<int32_t>()[i] = std::uniform_int_distribution<int32_t>(0, static_cast<int32_t>(int_range - 1))(rng);
          break;
        case DType::boolean:
          x.data<bool>()[i] = (rng() & 1) != 0;
          break;
        default:
          ADD_FAILURE() << "no random values for " << t.str();
      }
    }
    out.push_back(x);
  }
  return out;
}

/// Parameters with values drawn like inputs (their initializers would often give zeros).
inline std::vector<Tensor> random_params(const Graph& g, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Tensor> out;
  for (const ParamDecl& p : g.params()) {
    const TensorType& t = g.type(p.value);
    Tensor x = Tensor::zeros(t.dtype, evaluate_shape(t.shape, {}));
    for (int64_t i = 0; i < x.numel(); ++i)
      if (t.dtype == DType::f32) x.data<float>()[i] = std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng);
    out.push_back(x);
  }
  return out;
}

/// Whether `a` and `b` have one dtype, one shape and the same elements (NaN matching NaN).
inline ::testing::AssertionResult identical(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape())
    return ::testing::AssertionFailure() << a.type_str() << " vs " << b.type_str();
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = a.at(i), y = b.at(i);
    if (x != y && !(std::isnan(x) && std::isnan(y)))
      return ::testing::AssertionFailure() << "element " << i << ": " << x << " vs " << y;
  }
  return ::testing::AssertionSuccess();
}

/// Runs both graphs on the same random inputs and parameters at `dims` and expects identical outputs
/// and updates.
inline void expect_same_results(const Graph& reference, const Graph& fused, const SymbolBindings& dims,
                                uint64_t seed = 1, int64_t int_range = 4) {
  std::vector<Tensor> inputs = random_inputs(reference, dims, seed, int_range);
  std::vector<Tensor> params = random_params(reference, seed + 1);
  std::vector<Tensor> want = interpret(reference, inputs, params);
  std::vector<Tensor> got = interpret(fused, inputs, params);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(identical(want[i], got[i])) << "result " << i;
}

/// Decomposes and fuses `g`, checking the verifier and every region's rules on the way.
inline Graph decompose_and_fuse(const Graph& g, const FuseOptions& options = {}) {
  Graph fused = fuse(decompose(g), options);
  verify(fused);
  for (const Node& n : fused.nodes())
    if (n.op == OpKind::fusion) {
      std::string broken = region_rule_violation(*n.body, n.attrs.get_string("kind"));
      EXPECT_EQ(broken, "") << print_graph(fused);
    }
  return fused;
}

}  // namespace weft::fuse_tests
