// Helpers for the layer tests: run a graph on the interpreter with chosen parameter values, and
// catch the weft::Error a misuse must raise.
#pragma once

#include <gtest/gtest.h>

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

}  // namespace weft::nn::testing
