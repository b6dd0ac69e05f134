/** \file
 * Small helpers for the interpreter's op tests (tests/interp_elementwise, tests/interp_reduce_compute):
 * build a one-op graph around concrete tensors, run it on the reference interpreter, and compare
 * the result with literal expected values.
 */
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "backends/interp/interpreter.h"
#include "ir/graph_builder.h"
#include "runtime/tensor.h"

namespace weft::testing {

inline Tensor f32(std::vector<int64_t> shape, std::vector<float> v) { return Tensor::from<float>(shape, v); }
inline Tensor f64(std::vector<int64_t> shape, std::vector<double> v) { return Tensor::from<double>(shape, v); }
inline Tensor i32(std::vector<int64_t> shape, std::vector<int32_t> v) { return Tensor::from<int32_t>(shape, v); }
inline Tensor i64(std::vector<int64_t> shape, std::vector<int64_t> v) { return Tensor::from<int64_t>(shape, v); }
inline Tensor boolean(std::vector<int64_t> shape, std::vector<bool> v) { return Tensor::from<bool>(shape, v); }

inline TensorType type_of(const Tensor& t) { return TensorType{t.dtype(), static_shape(t.shape())}; }

/// Builds `op(inputs...)` with each input's static type, runs it, and returns its single result.
inline Tensor run_op(OpKind op, const std::vector<Tensor>& inputs, const Attrs& attrs = {}) {
  Graph g("test");
  std::vector<ValueId> args;
  for (size_t i = 0; i < inputs.size(); ++i) args.push_back(g.add_input(fmt::format("x{}", i), type_of(inputs[i])));
  GraphBuilder b(g);
  g.add_output("y", b.emit1(op, args, attrs));
  return interpret(g, inputs, {}).at(0);
}

/// The result type the op table gives `op` on operands of these types (throws weft::Error if rejected).
inline TensorType infer(OpKind op, const std::vector<TensorType>& operands, const Attrs& attrs = {}) {
  Graph g("test");
  std::vector<ValueId> args;
  for (size_t i = 0; i < operands.size(); ++i) args.push_back(g.add_input(fmt::format("x{}", i), operands[i]));
  GraphBuilder b(g);
  return g.type(b.emit1(op, args, attrs));
}

/// Exact comparison of dtype, shape and every element (NaN matches NaN).
template <typename T>
void expect_tensor(const Tensor& t, std::vector<int64_t> shape, const std::vector<T>& want) {
  ASSERT_EQ(t.dtype(), dtype_of<T>()) << t.type_str();
  ASSERT_EQ(t.shape(), shape) << t.type_str();
  std::vector<T> got = t.to_vector<T>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << "element " << i << " is " << got[i] << ", expected NaN";
        continue;
      }
    }
    EXPECT_EQ(got[i], want[i]) << "element " << i;
  }
}

/// Float comparison within `tol` (absolute), for results of transcendental functions.
template <typename T>
void expect_near(const Tensor& t, std::vector<int64_t> shape, const std::vector<double>& want, double tol) {
  ASSERT_EQ(t.dtype(), dtype_of<T>()) << t.type_str();
  ASSERT_EQ(t.shape(), shape) << t.type_str();
  std::vector<T> got = t.to_vector<T>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

/// Expects `fn` to throw weft::Error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected a weft::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
  }
}

inline Shape symbolic(std::initializer_list<Dim> dims) { return Shape(dims); }
inline Dim sym(const std::string& name) { return Dim::symbol(name); }

}  // namespace weft::testing
