// Helpers for the layer tests: run a graph on the interpreter with chosen parameter values, and
// catch the weft::Error a misuse must raise.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "frontend/nn/nn.h"
#include "runtime/tensor.h"

namespace weft::nn::testing {

/// Runs `f`, which must throw weft::Error, and returns its message.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a weft::Error";
  return "";
}

/// "tests/nn/<file>:<line>", as a message names the test's own call site.
inline std::string here(const char* file, int line) {
  std::string f(file);
  size_t at = f.find("tests/nn/");
  return (at == std::string::npos ? f : f.substr(at)) + ":" + std::to_string(line);
}

/// Compiles `b`'s graph on the interpreter, sets `state`, runs on `inputs`.
inline std::map<std::string, weft::Tensor> run(const Builder& b, const std::map<std::string, weft::Tensor>& inputs,
                                               const std::map<std::string, weft::Tensor>& state = {}) {
  auto exe = make_backend("interp")->compile(b.finish());
  for (const auto& [name, value] : state) exe->set_state(name, value);
  return exe->run_named(inputs);
}

inline weft::Tensor f32(std::vector<int64_t> shape, std::vector<float> values) {
  return weft::Tensor::from<float>(std::move(shape), values);
}

inline std::vector<float> values(const weft::Tensor& t) { return t.to_vector<float>(); }

/// A recurrent layer's op graph (`mine`) and the scan it decomposes into, written out (`theirs`),
/// compiled by the LLVM backend with the same weights (0.3·sin) and input x [3, 4, 2] (cos), with
/// lengths {4, 2, 0} when `lengths`: every output, gradients included, must be the same bits.
inline void expect_same_bits_on_llvm(const Graph& mine, const Graph& theirs, bool lengths) {
  auto a = make_backend("llvm")->compile(mine);
  auto b = make_backend("llvm")->compile(theirs);
  for (const ParamDecl& p : theirs.params()) {
    weft::Tensor w = a->state(p.name);
    for (int64_t k = 0; k < w.numel(); ++k) w.data<float>()[k] = 0.3f * std::sin(static_cast<float>(k + 1));
    a->set_state(p.name, w);
    b->set_state(p.name, w);
  }
  std::vector<weft::Tensor> inputs{weft::Tensor::zeros(DType::f32, {3, 4, 2})};
  for (int64_t k = 0; k < 24; ++k) inputs[0].data<float>()[k] = std::cos(static_cast<float>(k));
  if (lengths) inputs.push_back(weft::Tensor::from<int64_t>({3}, {4, 2, 0}));
  std::vector<weft::Tensor> want = b->run(inputs), got = a->run(inputs);
  ASSERT_EQ(want.size(), got.size());
  for (size_t k = 0; k < want.size(); ++k) {
    ASSERT_EQ(want[k].nbytes(), got[k].nbytes()) << mine.outputs()[k].name;
    EXPECT_EQ(std::memcmp(want[k].raw(), got[k].raw(), want[k].nbytes()), 0)
        << mine.outputs()[k].name << " with lengths " << lengths;
  }
}

}  // namespace weft::nn::testing
