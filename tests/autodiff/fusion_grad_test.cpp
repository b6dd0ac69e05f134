/** \file
 * The gradient of a fusion node (a region read from a fused .weft file) is its body's: checked
 * against central finite differences in float64, for a region with two outputs and a broadcast operand.
 */
#include <gtest/gtest.h>

#include <memory>

#include "tests/autodiff/grad_check.h"

namespace weft::grad_check {
namespace {

/// A loop region: y = tanh(x * w) and z = x * x, with w [4] broadcast over x [3, 4].
std::shared_ptr<const Graph> loop_body() {
  auto g = std::make_shared<Graph>("region");
  ValueId x = g->add_input("x", TensorType{DType::f64, {3, 4}});
  ValueId w = g->add_input("w", TensorType{DType::f64, {4}});
  GraphBuilder b(*g);
  g->add_output("y", b.unary(OpKind::tanh, b.binary(OpKind::mul, x, w)));
  g->add_output("z", b.binary(OpKind::mul, x, x));
  return g;
}

TEST(FusionGradient, ARegionDifferentiatesAsItsBody) {
  BuildFn region = [](GraphBuilder& b, const std::vector<ValueId>& leaves) {
    return b.emit(OpKind::fusion, leaves, Attrs{{"kind", std::string("loop")}}, loop_body());
  };
  expect_gradients_match(region, {{"x", random_f64({3, 4}, 301)}, {"w", random_f64({4}, 302)}});
}

}  // namespace
}  // namespace weft::grad_check
