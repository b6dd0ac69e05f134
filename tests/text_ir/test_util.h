/** \file
 * Helpers shared by the text-IR tests: the fixture files, deterministic inputs for a graph, and an
 * exact comparison of interpreter results.
 */
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backends/interp/interpreter.h"
#include "ir/graph.h"
#include "runtime/tensor.h"

namespace weft::testing {

inline std::string fixtures_dir() { return std::string(WEFT_SOURCE_DIR) + "/tests/fixtures"; }

/// The file names (not paths) of tests/fixtures/*.weft, sorted.
inline std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(fixtures_dir()))
    if (entry.path().extension() == ".weft") names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

/// Inputs for every input of `g`: each symbol is bound to min(3, its bound); floats follow a sine,
/// integers count 0, 1, 2, 0, 1, ... (valid class indices for the fixtures), bools alternate.
inline std::vector<Tensor> make_inputs(const Graph& g) {
  SymbolBindings bindings;
  for (const auto& s : g.symbols()) bindings[s.name] = std::min<int64_t>(3, s.bound.value_or(3));
  std::vector<Tensor> inputs;
  for (size_t k = 0; k < g.inputs().size(); ++k) {
    const TensorType& type = g.type(g.inputs()[k].value);
    Tensor t = Tensor::zeros(type.dtype, evaluate_shape(type.shape, bindings));
    for (int64_t i = 0; i < t.numel(); ++i) {
      double x = std::sin(1.3 * static_cast<double>(i) + 0.7 * static_cast<double>(k));
      switch (type.dtype) {
        case DType::f32:
          t.data<float>()[i] = static_cast<float>(x);
          break;
        case DType::f64:
          t.data<double>()[i] = x;
          break;
        case DType::i32:
          t.data<int32_t>()[i] = static_cast<int32_t>(i % 3);
          break;
        case DType::i64:
          t.data<int64_t>()[i] = i % 3;
          break;
        case DType::boolean:
          static_cast<bool*>(t.raw())[i] = i % 2 == 0;
          break;
        default:
          break;
      }
    }
    inputs.push_back(t);
  }
  return inputs;
}

/// Empty when both lists hold tensors of the same dtypes, shapes and bytes; otherwise what differs.
inline std::string results_difference(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return "result counts differ";
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].type_str() != b[i].type_str())
      return "result " + std::to_string(i) + ": " + a[i].type_str() + " vs " + b[i].type_str();
    if (a[i].nbytes() != 0 && std::memcmp(a[i].raw(), b[i].raw(), a[i].nbytes()) != 0)
      return "result " + std::to_string(i) + ": the bytes differ";
  }
  return "";
}

/// Runs `g` on make_inputs(g) with its initial parameters: outputs, then updated state.
inline std::vector<Tensor> run_interpreter(const Graph& g) {
  std::vector<Tensor> params = initial_params(g);
  return interpret(g, make_inputs(g), params);
}

}  // namespace weft::testing
