/** \file
 * Helpers for the oneDNN provider's tests: a graph from text IR, random inputs, and one run on the
 * interpreter (the oracle) against one on the "onednn" backend, with the provider of each call.
 * Every test skips when this build has no oneDNN (libdnnl-dev absent): the backend is then not
 * registered.
 */
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/provider.h"
#include "ir/text.h"
#include "runtime/tensor.h"

namespace weft::onednn_tests {

inline bool have_onednn() {
  std::vector<std::string> names = backend_names();
  return std::find(names.begin(), names.end(), "onednn") != names.end();
}

#define SKIP_WITHOUT_ONEDNN() \
  if (!have_onednn()) GTEST_SKIP() << "this build has no oneDNN (libdnnl-dev): the onednn backend is not built"

struct Tolerance {
  double rtol = 1e-5;
  double atol = 1e-5;
};

/// One tensor per input at `sizes`: floats uniform in [lo, hi].
inline std::vector<Tensor> random_inputs(const Graph& g, const SymbolBindings& sizes, uint64_t seed, double lo = -2,
                                         double hi = 2) {
  std::mt19937_64 rng(seed);
  std::vector<Tensor> out;
  for (const InputDecl& in : g.inputs()) {
    const TensorType& t = g.type(in.value);
    Tensor x = Tensor::zeros(t.dtype, evaluate_shape(t.shape, sizes));
    for (int64_t i = 0; i < x.numel(); ++i)
      x.data<float>()[i] = std::uniform_real_distribution<float>(float(lo), float(hi))(rng);
    out.push_back(x);
  }
  return out;
}

inline void expect_close(const Tensor& want, const Tensor& got, Tolerance tol, const std::string& what) {
  ASSERT_EQ(want.type_str(), got.type_str()) << what;
  int reported = 0;
  for (int64_t i = 0; i < want.numel() && reported < 5; ++i) {
    double w = want.at(i), g = got.at(i);
    bool ok = std::isnan(w) ? std::isnan(g) : std::fabs(g - w) <= tol.atol + tol.rtol * std::fabs(w);
    if (!ok) {
      ADD_FAILURE() << what << ": element " << i << " of " << want.type_str() << ": interpreter " << w << ", onednn "
                    << g << " (difference " << (g - w) << ")";
      ++reported;
    }
  }
}

inline std::unique_ptr<CompiledExecutable> compile_onednn(const Graph& g, const CompileOptions& options = {}) {
  auto backend = make_backend("onednn");
  return dynamic_cast<const ProviderChain&>(*backend).compile_chain(g, options);
}

/// Which provider runs each call, as "provider:op" words joined by spaces.
inline std::string providers(const CompiledExecutable& exe) {
  std::string out;
  for (const NodeStats& n : exe.stats().nodes) out += (out.empty() ? "" : " ") + n.provider + ":" + n.op;
  return out;
}

/// Runs `g` on the interpreter and on "onednn" at each of `runs` (sizes), compares every output;
/// returns the onednn executable (for its stats).
inline std::unique_ptr<CompiledExecutable> expect_same_outputs(const Graph& g, const std::vector<SymbolBindings>& runs,
                                                               Tolerance tol, double lo = -2, double hi = 2) {
  auto want_exe = make_backend("interp")->compile(g);
  auto exe = compile_onednn(g);
  uint64_t seed = 1;
  for (const SymbolBindings& sizes : runs) {
    std::vector<Tensor> inputs = random_inputs(g, sizes, seed++, lo, hi);
    std::vector<Tensor> want = want_exe->run(inputs);
    std::vector<Tensor> got = exe->run(inputs);
    EXPECT_EQ(want.size(), got.size());
    for (size_t k = 0; k < want.size() && k < got.size(); ++k)
      expect_close(want[k], got[k], tol, g.name() + " output " + g.outputs()[k].name);
  }
  return exe;
}

}  // namespace weft::onednn_tests
