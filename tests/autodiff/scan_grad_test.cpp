/** \file
 * Backpropagation through time: scans (a tanh RNN, an LSTM cell, forward and reverse, with and
 * without lengths, other time axes, scalar and integer carries, a scan inside a scan) checked
 * against central finite differences in float64, and the structure of the result: one backward
 * scan, not an unrolled loop.
 */
#include <gtest/gtest.h>

#include <memory>

#include "passes/autodiff.h"
#include "passes/dce.h"
#include "passes/verify.h"
#include "tests/autodiff/grad_check.h"

namespace weft::grad_check {
namespace {

constexpr int64_t B = 3, T = 4, D = 2, H = 3;

TensorType f64_type(Shape s) { return TensorType{DType::f64, std::move(s)}; }

/// h' = tanh(x_t Wx + h Wh + b); returns (h', y_t = h').
std::shared_ptr<const Graph> rnn_cell(Dim batch = B) {
  auto g = std::make_shared<Graph>("rnn_cell");
  ValueId h = g->add_input("h", f64_type({batch, H}));
  ValueId x = g->add_input("x", f64_type({batch, D}));
  ValueId wx = g->add_input("wx", f64_type({D, H}));
  ValueId wh = g->add_input("wh", f64_type({H, H}));
  ValueId bias = g->add_input("b", f64_type({H}));
  GraphBuilder b(*g);
  ValueId pre = b.binary(OpKind::add, b.emit1(OpKind::matmul, {x, wx}), b.emit1(OpKind::matmul, {h, wh}));
  ValueId next = b.unary(OpKind::tanh, b.binary(OpKind::add, pre, bias));
  g->add_output("h", next);
  g->add_output("y", next);
  return g;
}

/// The standard LSTM cell with gates i, f, g, o: carries (h, c), per-step output h; input size d,
/// hidden size hidden.
std::shared_ptr<const Graph> lstm_cell(int64_t d = D, int64_t hidden = H) {
  const int64_t H = hidden;  // NOLINT: the cell's own hidden size
  auto g = std::make_shared<Graph>("lstm_cell");
  ValueId h = g->add_input("h", f64_type({B, H}));
  ValueId c = g->add_input("c", f64_type({B, H}));
  ValueId x = g->add_input("x", f64_type({B, d}));
  ValueId w = g->add_input("w", f64_type({d, 4 * H}));
  ValueId u = g->add_input("u", f64_type({H, 4 * H}));
  ValueId bias = g->add_input("b", f64_type({4 * H}));
  GraphBuilder b(*g);
  ValueId gates = b.binary(OpKind::add, b.binary(OpKind::add, b.emit1(OpKind::matmul, {x, w}), b.emit1(OpKind::matmul, {h, u})), bias);
  auto gate = [&](int64_t k) {
    return b.emit1(OpKind::slice, {gates}, Attrs{{"axis", int64_t{1}}, {"start", k * H}, {"end", (k + 1) * H}});
  };
  ValueId i = b.unary(OpKind::sigmoid, gate(0));
  ValueId f = b.unary(OpKind::sigmoid, gate(1));
  ValueId cand = b.unary(OpKind::tanh, gate(2));
  ValueId o = b.unary(OpKind::sigmoid, gate(3));
  ValueId c2 = b.binary(OpKind::add, b.binary(OpKind::mul, f, c), b.binary(OpKind::mul, i, cand));
  ValueId h2 = b.binary(OpKind::mul, o, b.unary(OpKind::tanh, c2));
  g->add_output("h", h2);
  g->add_output("c", c2);
  g->add_output("y", h2);
  return g;
}

Attrs scan_attrs(int64_t carries, int64_t seqs, int64_t time_axis = 1, bool reverse = false, bool lengths = false) {
  return Attrs{{"num_carry", carries},
               {"num_seq", seqs},
               {"time_axis", time_axis},
               {"reverse", reverse},
               {"has_lengths", lengths}};
}

std::vector<Leaf> rnn_leaves(uint64_t seed) {
  return {{"h0", random_f64({B, H}, seed)},
          {"xs", random_f64({B, T, D}, seed + 1)},
          {"wx", random_f64({D, H}, seed + 2)},
          {"wh", random_f64({H, H}, seed + 3, -0.7, 0.7), true, true},  // a parameter
          {"b", random_f64({H}, seed + 4)}};
}

BuildFn rnn(bool reverse, bool lengths) {
  return [=](GraphBuilder& b, const std::vector<ValueId>& x) {
    std::vector<ValueId> operands(x.begin(), x.begin() + 5);
    if (lengths) operands.push_back(x[5]);
    return b.emit(OpKind::scan, operands, scan_attrs(1, 1, 1, reverse, lengths), rnn_cell());
  };
}

TEST(ScanGradient, TanhRnnMatchesFiniteDifferences) { expect_gradients_match(rnn(false, false), rnn_leaves(200)); }

TEST(ScanGradient, ReverseTanhRnnMatchesFiniteDifferences) { expect_gradients_match(rnn(true, false), rnn_leaves(210)); }

TEST(ScanGradient, TanhRnnWithLengthsMatchesFiniteDifferences) {
  std::vector<Leaf> leaves = rnn_leaves(220);
  leaves.push_back({"lengths", i64({B}, {4, 2, 0}), false});  // full, half, empty
  expect_gradients_match(rnn(false, true), leaves);
  expect_gradients_match(rnn(true, true), leaves);
}

TEST(ScanGradient, SymbolicBatchAndTimeWithLengthsMatchFiniteDifferences) {
  Dim batch = Dim::symbol("B"), time = Dim::symbol("T");
  BuildFn f = [batch](GraphBuilder& b, const std::vector<ValueId>& x) {
    return b.emit(OpKind::scan, x, scan_attrs(1, 1, 1, false, true), rnn_cell(batch));
  };
  std::vector<Leaf> leaves{{"h0", random_f64({B, H}, 225), true, false, Shape{batch, H}},
                           {"xs", random_f64({B, T, D}, 226), true, false, Shape{batch, time, D}},
                           {"wx", random_f64({D, H}, 227)},
                           {"wh", random_f64({H, H}, 228, -0.7, 0.7)},
                           {"b", random_f64({H}, 229)},
                           {"lengths", i64({B}, {1, 4, 3}), false, false, Shape{batch}}};
  expect_gradients_match(f, leaves);
}

TEST(ScanGradient, FinishedRowsPassTheirFinalCarryGradientThroughUnchanged) {
  // A row of length 0 never runs: its final carry is h0, so d loss / d h0 for that row is exactly
  // the weight on the final carry (its outputs are all zeros and do not depend on anything).
  std::vector<Leaf> leaves = rnn_leaves(230);
  leaves.push_back({"lengths", i64({B}, {4, 2, 0}), false});
  auto g = analytic_gradients(rnn(false, true), leaves, 7);
  Tensor w_final = random_f64({B, H}, 7);  // the weight of result 0, the final carry
  for (int64_t j = 0; j < H; ++j) EXPECT_DOUBLE_EQ(g[0].at(2 * H + j), w_final.at(2 * H + j));
  // ... and no step of that row sends a gradient to its inputs.
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < D; ++k) EXPECT_EQ(g[1].at((2 * T + t) * D + k), 0.0);
}

TEST(ScanGradient, LstmCellWithLengthsMatchesFiniteDifferences) {
  BuildFn f = [](GraphBuilder& b, const std::vector<ValueId>& x) {
    return b.emit(OpKind::scan, x, scan_attrs(2, 1, 1, false, true), lstm_cell());
  };
  std::vector<Leaf> leaves{{"h0", random_f64({B, H}, 240)},
                           {"c0", random_f64({B, H}, 241)},
                           {"xs", random_f64({B, T, D}, 242)},
                           {"w", random_f64({D, 4 * H}, 243), true, true},
                           {"u", random_f64({H, 4 * H}, 244), true, true},
                           {"b", random_f64({4 * H}, 245), true, true},
                           {"lengths", i64({B}, {2, 4, 1}), false}};
  expect_gradients_match(f, leaves);
}

TEST(ScanGradient, OnlyTheFinalCarryOrOnlyTheOutputsMayBringGradient) {
  std::vector<Leaf> leaves = rnn_leaves(250);
  BuildFn final_only = [](GraphBuilder& b, const std::vector<ValueId>& x) {
    return std::vector<ValueId>{rnn(false, false)(b, x)[0]};
  };
  BuildFn outputs_only = [](GraphBuilder& b, const std::vector<ValueId>& x) {
    return std::vector<ValueId>{rnn(false, false)(b, x)[1]};
  };
  expect_gradients_match(final_only, leaves);
  expect_gradients_match(outputs_only, leaves);
}

TEST(ScanGradient, TimeAxisZeroMatchesFiniteDifferences) {
  BuildFn f = [](GraphBuilder& b, const std::vector<ValueId>& x) {
    return b.emit(OpKind::scan, x, scan_attrs(1, 1, 0), rnn_cell());
  };
  std::vector<Leaf> leaves{{"h0", random_f64({B, H}, 260)},
                           {"xs", random_f64({T, B, D}, 261)},
                           {"wx", random_f64({D, H}, 262)},
                           {"wh", random_f64({H, H}, 263)},
                           {"b", random_f64({H}, 264)}};
  expect_gradients_match(f, leaves);
}

TEST(ScanGradient, ScalarAndIntegerCarriesMatchFiniteDifferences) {
  // carries: a step counter k (i64), a running scalar s; y_t = x_t * s'.
  //   s' = 0.9 s + sum(tanh(x_t) * w) * k
  // The scalar carry cannot be stacked along time axis 1 as it is: the saved copy is padded to [1].
  auto body = std::make_shared<Graph>("accumulate");
  ValueId k = body->add_input("k", TensorType{DType::i64, {}});
  ValueId s = body->add_input("s", f64_type({}));
  ValueId x = body->add_input("x", f64_type({B, D}));
  ValueId w = body->add_input("w", f64_type({D}));
  GraphBuilder bb(*body);
  ValueId k2 = bb.binary(OpKind::add, k, bb.constant(1, DType::i64));
  ValueId term = bb.reduce(OpKind::reduce_sum, bb.binary(OpKind::mul, bb.unary(OpKind::tanh, x), w), {}, false);
  ValueId s2 = bb.binary(OpKind::add, bb.binary(OpKind::mul, bb.constant(0.9, DType::f64), s),
                         bb.binary(OpKind::mul, term, bb.cast(k2, DType::f64)));
  body->add_output("k", k2);
  body->add_output("s", s2);
  body->add_output("y", bb.binary(OpKind::mul, x, s2));
  BuildFn f = [body](GraphBuilder& b, const std::vector<ValueId>& v) {
    std::vector<ValueId> r = b.emit(OpKind::scan, v, scan_attrs(2, 1, 1), body);
    return std::vector<ValueId>{r[1], r[2]};
  };
  expect_gradients_match(f, {{"k0", i64({}, {1}), false},
                             {"s0", f64({}, {0.3})},
                             {"xs", random_f64({B, T, D}, 270)},
                             {"w", random_f64({D}, 271)}});
}

TEST(ScanGradient, ScanInsideAScanBodyMatchesFiniteDifferences) {
  // The outer step runs an inner RNN over the S sub-steps of x_t [B, S, D], starting from h.
  constexpr int64_t S = 2;
  auto outer = std::make_shared<Graph>("outer");
  ValueId h = outer->add_input("h", f64_type({B, H}));
  ValueId x = outer->add_input("x", f64_type({B, S, D}));
  ValueId wx = outer->add_input("wx", f64_type({D, H}));
  ValueId wh = outer->add_input("wh", f64_type({H, H}));
  ValueId bias = outer->add_input("b", f64_type({H}));
  GraphBuilder ob(*outer);
  std::vector<ValueId> inner = ob.emit(OpKind::scan, {h, x, wx, wh, bias}, scan_attrs(1, 1), rnn_cell());
  outer->add_output("h", inner[0]);
  outer->add_output("y", ob.reduce(OpKind::reduce_sum, inner[1], {1}, false));
  BuildFn f = [outer](GraphBuilder& b, const std::vector<ValueId>& v) {
    return b.emit(OpKind::scan, v, scan_attrs(1, 1), outer);
  };
  expect_gradients_match(f, {{"h0", random_f64({B, H}, 280)},
                             {"xs", random_f64({B, T, S, D}, 281)},
                             {"wx", random_f64({D, H}, 282)},
                             {"wh", random_f64({H, H}, 283, -0.7, 0.7)},
                             {"b", random_f64({H}, 284)}});
}

TEST(ScanGradient, IsOneBackwardScanNotAnUnrolledLoop) {
  std::vector<Leaf> leaves = rnn_leaves(290);
  std::vector<TensorType> types{f64_type({B, H}), f64_type({B, T, H})};
  Graph g = loss_graph(rnn(false, false), leaves, types);
  Graph d = differentiate(g, "loss", {"h0", "xs", "wx", "wh", "b"});
  verify(d);
  int scans = 0;
  for (const Node& n : d.nodes()) scans += n.op == OpKind::scan;
  EXPECT_EQ(scans, 2);  // the forward (also saving its carries) and the backward
  const Node* backward = nullptr;
  for (const Node& n : d.nodes())
    if (n.op == OpKind::scan && n.attrs.get_bool("reverse")) backward = &n;
  ASSERT_NE(backward, nullptr);
  EXPECT_EQ(backward->attrs.get_int("num_carry"), 1 + 3);  // dh and accumulators for wx, wh, b
}

// The backward step reads the forward step's saved matrix products (inner dimension 32 and more)
// instead of computing them again: an LSTM with a 32-wide input and hidden state.
constexpr int64_t kWide = 32;

BuildFn wide_lstm() {
  return [](GraphBuilder& b, const std::vector<ValueId>& x) {
    return b.emit(OpKind::scan, x, scan_attrs(2, 1), lstm_cell(kWide, kWide));
  };
}

/// With `weights` false, w and u are not differentiated (each of their 4,096 elements would cost
/// the finite differences two runs); their gradients come from the same dgates as x's and h's.
std::vector<Leaf> wide_lstm_leaves(uint64_t seed, bool weights = true) {
  return {{"h0", random_f64({B, kWide}, seed, -0.5, 0.5)},
          {"c0", random_f64({B, kWide}, seed + 1, -0.5, 0.5)},
          {"xs", random_f64({B, T, kWide}, seed + 2, -0.5, 0.5)},
          {"w", random_f64({kWide, 4 * kWide}, seed + 3, -0.2, 0.2), weights, true},
          {"u", random_f64({kWide, 4 * kWide}, seed + 4, -0.2, 0.2), weights, true},
          {"b", random_f64({4 * kWide}, seed + 5), true, true}};
}

/// Matmuls of `g`'s nodes (not of their bodies).
int matmuls(const Graph& g) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.op == OpKind::matmul;
  return n;
}

TEST(ScanGradient, AStepWithSavedProductsMatchesFiniteDifferences) {
  expect_gradients_match(wide_lstm(), wide_lstm_leaves(300, false));
}

TEST(ScanGradient, TheBackwardStepReadsTheSavedProductsInsteadOfRecomputingThem) {
  std::vector<Leaf> leaves = wide_lstm_leaves(310);
  std::vector<TensorType> types{f64_type({B, kWide}), f64_type({B, kWide}), f64_type({B, T, kWide})};
  Graph d = dce(differentiate(loss_graph(wide_lstm(), leaves, types), "loss", {"h0", "c0", "xs", "w", "u", "b"}));
  verify(d);
  const Node *forward = nullptr, *backward = nullptr;
  for (const Node& n : d.nodes())
    if (n.op == OpKind::scan) (n.attrs.get_bool("reverse") ? backward : forward) = &n;
  ASSERT_NE(forward, nullptr);
  ASSERT_NE(backward, nullptr);
  // The forward returns h_n, c_n, the outputs, the carries entering each step (h, c) and its two
  // products x·w and h·u, stacked.
  EXPECT_EQ(forward->results.size(), 2u + 1u + 2u + 2u);
  EXPECT_EQ(matmuls(*forward->body), 2);
  // The backward step: dx = dg·wᵀ, dh = dg·uᵀ and the accumulations dw += xᵀ·dg, du += hᵀ·dg; no
  // x·w or h·u again.
  EXPECT_EQ(matmuls(*backward->body), 4);
  for (const Node& n : backward->body->nodes()) {
    if (n.op == OpKind::matmul) {
      EXPECT_TRUE(n.attrs.get_bool("transpose_a") || n.attrs.get_bool("transpose_b")) << "a forward product";
    }
  }
}

TEST(ScanGradient, ThinProductsAreRecomputedAndLengthsSaveNone) {
  // Inner dimensions 2 and 3 (the small cells above): nothing beyond the carries is saved.
  std::vector<Leaf> leaves = rnn_leaves(320);
  std::vector<TensorType> types{f64_type({B, H}), f64_type({B, T, H})};
  Graph d = differentiate(loss_graph(rnn(false, false), leaves, types), "loss", {"h0", "xs", "wx", "wh", "b"});
  for (const Node& n : d.nodes()) {
    if (n.op == OpKind::scan && !n.attrs.get_bool("reverse")) {
      EXPECT_EQ(n.results.size(), 1u + 1u + 1u);
    }
  }
  // With lengths, a finished row's stacked outputs are zeros, not the step's products: none saved.
  BuildFn with_lengths = [](GraphBuilder& b, const std::vector<ValueId>& x) {
    return b.emit(OpKind::scan, x, scan_attrs(2, 1, 1, false, true), lstm_cell(kWide, kWide));
  };
  std::vector<Leaf> wide = wide_lstm_leaves(330);
  wide.push_back({"lengths", i64({B}, {2, 4, 1}), false});
  std::vector<TensorType> wide_types{f64_type({B, kWide}), f64_type({B, kWide}), f64_type({B, T, kWide})};
  Graph dl = differentiate(loss_graph(with_lengths, wide, wide_types), "loss", {"h0", "c0", "xs", "w", "u", "b"});
  for (const Node& n : dl.nodes()) {
    if (n.op == OpKind::scan && !n.attrs.get_bool("reverse")) {
      EXPECT_EQ(n.results.size(), 2u + 1u + 2u);
    }
  }
}

}  // namespace
}  // namespace weft::grad_check
