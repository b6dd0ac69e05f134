/** \file
 * Small helpers shared by the data-movement interpreter tests: build a one-op graph, run it on the
 * reference interpreter, and check error messages.
 */
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "backends/interp/interpreter.h"
#include "ir/graph_builder.h"

namespace weft::movement_test {

inline TensorType f32(Shape shape) { return TensorType{DType::f32, std::move(shape)}; }
inline TensorType f64(Shape shape) { return TensorType{DType::f64, std::move(shape)}; }
inline TensorType i32(Shape shape) { return TensorType{DType::i32, std::move(shape)}; }
inline TensorType i64(Shape shape) { return TensorType{DType::i64, std::move(shape)}; }

inline const Dim B = Dim::symbol("B");
inline const Dim T = Dim::symbol("T");
inline const Dim S = Dim::symbol("S");

/// A float tensor holding 0, 1, 2, ... in row-major order, so element values name their positions.
inline Tensor iota_f32(std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i);
  return Tensor::from<float>(std::move(shape), v);
}

inline std::vector<Tensor> run(const Graph& g, std::vector<Tensor> inputs) { return interpret(g, inputs, {}); }

using Shape64 = std::vector<int64_t>;
using Floats = std::vector<float>;

/// Builds the one-node graph `op(inputs...)` with the given input types, returning its output.
struct OneOp {
  Graph graph{"test"};
  ValueId result = kNoValue;

  OneOp(OpKind op, const std::vector<TensorType>& input_types, const Attrs& attrs) {
    GraphBuilder b(graph);
    std::vector<ValueId> args;
    for (size_t i = 0; i < input_types.size(); ++i) args.push_back(graph.add_input(fmt::format("x{}", i), input_types[i]));
    result = b.emit1(op, args, attrs);
    graph.add_output("y", result);
  }
  const TensorType& type() const { return graph.type(result); }
  Tensor run(std::vector<Tensor> inputs) const { return movement_test::run(graph, std::move(inputs)).at(0); }
};

/// Expects `fn` to throw weft::Error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "expected a weft::Error";
  } catch (const Error& e) {
    std::string message = e.what();
    for (const auto& p : parts) EXPECT_NE(message.find(p), std::string::npos) << "'" << p << "' not in: " << message;
  }
}

}  // namespace weft::movement_test
