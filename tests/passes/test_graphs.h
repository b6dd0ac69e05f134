/** \file
 * Small graphs shared by the pass tests, built with GraphBuilder so that they start out valid.
 */
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "ir/graph_builder.h"
#include "passes/verify.h"
#include "runtime/tensor.h"

namespace weft::pass_tests {

inline TensorType f32(Shape shape) { return TensorType{DType::f32, std::move(shape)}; }
inline Dim sym(const std::string& name) { return Dim::symbol(name); }

/// f32 values from a standard normal, reproducible from `seed`.
inline Tensor random_tensor(std::vector<int64_t> shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = normal(rng);
  return Tensor::from<float>(std::move(shape), v);
}

/// x: f32[B, 4], w: f32[4]; y = relu(x + w), the add at model.cpp:12.
inline Graph small_graph() {
  Graph g("small");
  ValueId x = g.add_input("x", f32({sym("B"), 4}));
  ValueId w = g.add_param("w", f32({4}), Initializer{"ones", {}, 0});
  GraphBuilder b(g);
  b.set_loc(SourceLoc{"model.cpp", 12, 0});
  ValueId s = b.binary(OpKind::add, x, w);
  b.set_loc(SourceLoc{"model.cpp", 13, 0});
  ValueId r = b.unary(OpKind::relu, s);
  g.add_output("y", r);
  return g;
}

/// A scalar f32 constant node appended by `b`.
inline ValueId scalar(GraphBuilder& b, double v) { return b.constant(v, DType::f32); }

/// The message of the weft::Error that `f` throws, or "" when it throws none.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

/// Whether `text` contains `part`, with both shown on failure.
inline ::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "the text\n  " << text << "\ndoes not contain\n  " << part;
}

}  // namespace weft::pass_tests

#define EXPECT_CONTAINS(text, part) EXPECT_TRUE(::weft::pass_tests::contains((text), (part)))
