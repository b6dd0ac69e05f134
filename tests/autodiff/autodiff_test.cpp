/** \file
 * The autodiff pass itself: the graph it returns (outputs, names, defaults), fan-out summed, no
 * gradient nodes off the path, and its errors — above all the single error listing every op on the
 * path that has no gradient rule, with its scope and location.
 */
#include "passes/autodiff.h"

#include <gtest/gtest.h>

#include <cmath>

#include "backends/interp/interpreter.h"
#include "passes/verify.h"
#include "tests/autodiff/grad_check.h"

namespace weft::grad_check {
namespace {

TensorType f64_type(Shape s) { return TensorType{DType::f64, std::move(s)}; }

/// loss = sum(x @ w + b), with parameters w [3, 2] and b [2] and input x [4, 3].
Graph linear_graph() {
  Graph g("linear");
  ValueId x = g.add_input("x", f64_type({4, 3}));
  ValueId w = g.add_param("w", f64_type({3, 2}));
  ValueId b = g.add_param("b", f64_type({2}));
  GraphBuilder gb(g);
  ValueId y = gb.binary(OpKind::add, gb.emit1(OpKind::matmul, {x, w}), b);
  g.add_output("y", y);
  g.add_output("loss", gb.reduce(OpKind::reduce_sum, y, {}, false));
  return g;
}

TEST(Autodiff, ReturnsTheForwardOutputsThenOneGradientPerParameterByDefault) {
  Graph d = differentiate(linear_graph(), "loss");
  verify(d);
  ASSERT_EQ(d.outputs().size(), 4u);
  EXPECT_EQ(d.outputs()[0].name, "y");
  EXPECT_EQ(d.outputs()[1].name, "loss");
  EXPECT_EQ(d.outputs()[2].name, "grad.w");
  EXPECT_EQ(d.outputs()[3].name, "grad.b");
  EXPECT_EQ(d.type(d.outputs()[2].value), f64_type({3, 2}));
  EXPECT_EQ(d.inputs().size(), 1u);
  EXPECT_EQ(d.params().size(), 2u);

  // d sum(x w + b) / d w[i, j] = sum over rows of x[:, i]; / d b[j] = 4 (the rows).
  Tensor x = f64({4, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  std::vector<Tensor> params{Tensor::zeros(DType::f64, {3, 2}), Tensor::zeros(DType::f64, {2})};
  std::vector<Tensor> out = interpret(d, std::vector<Tensor>{x}, params);
  EXPECT_EQ(out[2].to_vector<double>(), (std::vector<double>{22, 22, 26, 26, 30, 30}));
  EXPECT_EQ(out[3].to_vector<double>(), (std::vector<double>{4, 4}));
}

TEST(Autodiff, DifferentiatesWithRespectToNamedInputs) {
  Graph d = differentiate(linear_graph(), "loss", {"x"});
  ASSERT_EQ(d.outputs().size(), 3u);
  EXPECT_EQ(d.outputs()[2].name, "grad.x");
  // d / d x[r, i] = sum_j w[i, j].
  std::vector<Tensor> params{f64({3, 2}, {1, 2, 3, 4, 5, 6}), f64({2}, {0, 0})};
  std::vector<Tensor> out = interpret(d, std::vector<Tensor>{Tensor::zeros(DType::f64, {4, 3})}, params);
  EXPECT_EQ(out[2].to_vector<double>(), (std::vector<double>{3, 7, 11, 3, 7, 11, 3, 7, 11, 3, 7, 11}));
}

TEST(Autodiff, SumsTheGradientsOfAValueReadSeveralTimes) {
  // y = x*x + sin(x) + x: dy/dx = 2x + cos(x) + 1.
  BuildFn f = unary_fn([](GraphBuilder& b, ValueId x) {
    ValueId sq = b.binary(OpKind::mul, x, x);
    return b.binary(OpKind::add, b.binary(OpKind::add, sq, b.unary(OpKind::sin, x)), x);
  });
  auto g = analytic_gradients(f, {{"x", f64({2}, {0.5, -1.0})}}, 7);
  Tensor w = random_f64({2}, 7);
  EXPECT_NEAR(g[0].at(0), w.at(0) * (2 * 0.5 + std::cos(0.5) + 1), 1e-15);
  EXPECT_NEAR(g[0].at(1), w.at(1) * (2 * -1.0 + std::cos(-1.0) + 1), 1e-15);
  expect_gradients_match(f, {{"x", random_f64({3}, 8)}});
}

TEST(Autodiff, EmitsNoGradientNodesForValuesThatNeedNone) {
  // Only w is differentiated: the matmul's gradient for x is never built.
  Graph d = differentiate(linear_graph(), "loss", {"w"});
  int matmuls = 0;
  for (const Node& n : d.nodes()) matmuls += n.op == OpKind::matmul;
  EXPECT_EQ(matmuls, 2);  // the forward one and x^T g
}

TEST(Autodiff, GivesZerosWhereTheLossDoesNotDependOnAValue) {
  Graph g("partly");
  ValueId x = g.add_input("x", f64_type({3}));
  ValueId unused = g.add_param("unused", f64_type({2}));
  (void)unused;
  GraphBuilder gb(g);
  // The loss reads x only through argmax, which has no gradient.
  ValueId i = gb.emit1(OpKind::argmax, {x}, Attrs{{"axis", int64_t{0}}});
  g.add_output("loss", gb.cast(i, DType::f64));
  Graph d = differentiate(g, "loss", {"x", "unused"});
  verify(d);
  std::vector<Tensor> out = interpret(d, std::vector<Tensor>{f64({3}, {1, 3, 2})}, std::vector<Tensor>{f64({2}, {5, 5})});
  EXPECT_EQ(out[0].at(0), 1.0);
  EXPECT_EQ(out[1].to_vector<double>(), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(out[2].to_vector<double>(), (std::vector<double>{0, 0}));
}

TEST(Autodiff, KeepsStateUpdatesAndParameterInitializers) {
  Graph g = linear_graph();
  g.mutable_params()[0].init = Initializer{"uniform", {{"low", -0.5}, {"high", 0.5}}, 3};
  g.add_update("b", g.params()[1].value);
  Graph d = differentiate(g, "loss");
  verify(d);
  EXPECT_EQ(d.params()[0].init, g.params()[0].init);
  ASSERT_EQ(d.updates().size(), 1u);
  EXPECT_EQ(d.updates()[0].param, "b");
}

// ---- errors ----

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Autodiff, RejectsALossThatIsNotAnOutput) {
  std::string msg = error_of([] { differentiate(linear_graph(), "nope"); });
  EXPECT_NE(msg.find("the loss must be an output"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'nope'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("its outputs: y, loss"), std::string::npos) << msg;
}

TEST(Autodiff, RejectsALossThatIsNotAFloatScalar) {
  std::string msg = error_of([] { differentiate(linear_graph(), "y"); });
  EXPECT_NE(msg.find("the loss must be a floating-point scalar"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f64[4, 2]"), std::string::npos) << msg;
}

TEST(Autodiff, RejectsUnknownRepeatedAndIntegerValuesToDifferentiate) {
  EXPECT_NE(error_of([] { differentiate(linear_graph(), "loss", {"z"}); }).find("has none named 'z'"), std::string::npos);
  EXPECT_NE(error_of([] { differentiate(linear_graph(), "loss", {"w", "w"}); }).find("'w' is named twice"),
            std::string::npos);
  Graph g("ints");
  ValueId i = g.add_input("i", TensorType{DType::i64, {2}});
  GraphBuilder gb(g);
  g.add_output("loss", gb.reduce(OpKind::reduce_sum, gb.cast(i, DType::f64), {}, false));
  std::string msg = error_of([&] { differentiate(g, "loss", {"i"}); });
  EXPECT_NE(msg.find("floating-point value, but 'i' is i64[2]"), std::string::npos) << msg;
  msg = error_of([&] { differentiate(g, "loss"); });
  EXPECT_NE(msg.find("has none; name the inputs"), std::string::npos) << msg;
}

TEST(Autodiff, RejectsAGradientNameThatIsAlreadyAnOutput) {
  Graph g = linear_graph();
  g.add_output("grad.w", g.params()[0].value);
  std::string msg = error_of([&] { differentiate(g, "loss"); });
  EXPECT_NE(msg.find("already has an output of that name"), std::string::npos) << msg;
}

/// A fusion region computing tanh(x), placed at `scope` and `line`.
ValueId fused_tanh(Graph& g, ValueId x, const std::string& scope, int line) {
  auto body = std::make_shared<Graph>("region");
  ValueId in = body->add_input("x", g.type(x));
  GraphBuilder bb(*body);
  body->add_output("y", bb.unary(OpKind::tanh, in));
  GraphBuilder b(g);
  b.set_scope(scope);
  b.set_loc(SourceLoc{"model.cpp", line, 0});
  return b.emit(OpKind::fusion, {x}, {}, body)[0];
}

// Every op of the table has a gradient rule, a decomposition or `differentiable = false`
// (tests/ir/op_table_test.cpp), so autodiff's error for an op without one (which names them all,
// with scope and line) cannot be reached from a graph; fusion, the last op without a rule, now
// differentiates as its body, also inside a scan body.
TEST(Autodiff, DifferentiatesFusionRegionsAlsoInsideScanBodies) {
  BuildFn f = [](GraphBuilder& gb, const std::vector<ValueId>& leaves) {
    Graph& g = gb.graph();
    ValueId b = fused_tanh(g, fused_tanh(g, leaves[0], "enc.fc1", 10), "dec.fc2", 20);
    auto cell = std::make_shared<Graph>("cell");
    ValueId h = cell->add_input("h", f64_type({2}));
    ValueId xt = cell->add_input("x", f64_type({2}));
    GraphBuilder cb(*cell);
    ValueId next = fused_tanh(*cell, cb.binary(OpKind::add, h, xt), "rnn.cell", 40);
    cell->add_output("h", next);
    cell->add_output("y", next);
    return gb.emit(OpKind::scan, {leaves[1], b}, Attrs{{"num_carry", int64_t{1}}, {"num_seq", int64_t{1}}}, cell);
  };
  expect_gradients_match(f, {{"x", random_f64({2, 3}, 401)}, {"h0", random_f64({2}, 402)}});
}

TEST(Autodiff, DifferentiatesAroundNodesThatAreOffThePath) {
  // The fusion reads only h0, which is not differentiated: the gradient of x does not go through it.
  Graph g("side");
  ValueId x = g.add_input("x", f64_type({2}));
  ValueId h0 = g.add_input("h0", f64_type({2}));
  ValueId side = fused_tanh(g, h0, "side", 1);
  GraphBuilder gb(g);
  g.add_output("loss", gb.reduce(OpKind::reduce_sum, gb.binary(OpKind::mul, x, side), {}, false));
  Graph d = differentiate(g, "loss", {"x"});
  std::vector<Tensor> out = interpret(d, std::vector<Tensor>{f64({2}, {1, 2}), f64({2}, {0.5, -0.5})}, {});
  EXPECT_NEAR(out[1].at(0), std::tanh(0.5), 1e-15);
  EXPECT_NEAR(out[1].at(1), std::tanh(-0.5), 1e-15);
}

}  // namespace
}  // namespace weft::grad_check
