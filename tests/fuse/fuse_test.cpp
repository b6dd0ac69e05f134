/** \file
 * The fuser's rules one at a time: acyclicity, scalar copies, ops that are never fused, scan bodies,
 * options, the region rules' messages; and the decomposition pass that fusion runs after.
 */
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "backends/interp/constant_evaluator.h"
#include "ir/dot.h"
#include "passes/pass_manager.h"
#include "passes/pipeline.h"
#include "testing.h"

namespace weft {
namespace {

using fuse_tests::decompose_and_fuse;
using fuse_tests::expect_same_results;
using fuse_tests::f32;
using fuse_tests::sym;

TEST(Fuse, KeepsTheRegionsAcyclicWhenAConsumerReadsAProducerTwice) {
  // z = h - max(h) with h = x @ w: pulling the matmul into the subtraction would put the reduction,
  // which reads h and feeds the subtraction, on a path out of and back into one region.
  Graph g("cycle");
  g.declare_symbol("B", 16);
  ValueId x = g.add_input("x", f32({sym("B"), 4}));
  ValueId w = g.add_param("w", f32({4, 6}));
  GraphBuilder b(g);
  ValueId h = b.binary(OpKind::matmul, x, w);
  ValueId m = b.reduce(OpKind::reduce_max, h, {1}, true);
  g.add_output("z", b.binary(OpKind::sub, h, m));
  Graph fused = decompose_and_fuse(g);
  RegionCounts c = count_regions(fused);
  EXPECT_EQ(c.matmul, 1);
  EXPECT_EQ(c.reduction, 1);  // the subtraction joins the reduction
  EXPECT_EQ(c.total, 2);
  expect_same_results(g, fused, {{"B", 3}});
}

TEST(Fuse, CopiesScalarsIntoEachRegionInsteadOfSharingThem) {
  Graph g("scalars");
  ValueId x1 = g.add_input("x1", f32({4}));
  ValueId x2 = g.add_input("x2", f32({3, 5}));
  GraphBuilder b(g);
  ValueId two = b.constant(2.0, DType::f32);
  g.add_output("y1", b.binary(OpKind::mul, x1, two));
  g.add_output("y2", b.binary(OpKind::mul, x2, two));
  Graph fused = decompose_and_fuse(g);
  ASSERT_EQ(fused.nodes().size(), 2u) << print_graph(fused);
  for (const Node& n : fused.nodes()) {
    EXPECT_EQ(n.op, OpKind::fusion);
    EXPECT_EQ(n.operands.size(), 1u);  // the constant is not an operand
    EXPECT_EQ(n.body->nodes().size(), 2u);
  }
  expect_same_results(g, fused, {});
}

TEST(Fuse, AScalarThatIsAnOutputKeepsARegionOfItsOwn) {
  Graph g("scalar_out");
  ValueId s = g.add_input("s", f32({}));
  ValueId x = g.add_input("x", f32({3}));
  GraphBuilder b(g);
  ValueId t = b.unary(OpKind::exp, s);
  g.add_output("t", t);
  g.add_output("y", b.binary(OpKind::mul, x, t));
  Graph fused = decompose_and_fuse(g);
  EXPECT_EQ(count_regions(fused).total, 2);
  expect_same_results(g, fused, {});
}

TEST(Fuse, NeverFusesAcrossAGather) {
  Graph g("lookup");
  g.declare_symbol("N", 16);
  ValueId ids = g.add_input("ids", TensorType{DType::i64, {sym("N")}});
  ValueId table = g.add_param("table", f32({4, 8}));
  GraphBuilder b(g);
  ValueId scaled = b.binary(OpKind::mul, table, b.constant(3.0, DType::f32));
  ValueId rows = b.emit1(OpKind::gather, {scaled, ids}, Attrs{{"axis", int64_t{0}}});
  g.add_output("y", b.unary(OpKind::relu, rows));
  Graph fused = decompose_and_fuse(g);
  RegionCounts c = count_regions(fused);
  EXPECT_EQ(c.unfused, 1);
  EXPECT_EQ(c.total, 2);  // the scaling before, the relu after
  ASSERT_EQ(fused.nodes().size(), 3u);
  EXPECT_EQ(fused.nodes()[1].op, OpKind::gather);
  expect_same_results(g, fused, {{"N", 5}});
}

TEST(Fuse, LeavesATransposeOfTheInnermostAxisAlone) {
  Graph g("transpose");
  ValueId x = g.add_input("x", f32({3, 4}));
  GraphBuilder b(g);
  ValueId t = b.transpose(b.unary(OpKind::exp, x), {1, 0});
  g.add_output("y", b.unary(OpKind::neg, t));
  Graph fused = decompose_and_fuse(g);
  EXPECT_EQ(count_regions(fused).unfused, 1);
  EXPECT_EQ(count_regions(fused).total, 2);
  expect_same_results(g, fused, {});
}

TEST(Fuse, FusesAReshapeOfAProductOfSymbolsInsideARegion) {
  // The region's own inputs bind neither B nor T alone; the interpreter hands the outer bindings down.
  Graph g("heads");
  g.declare_symbol("B", 4);
  g.declare_symbol("T", 8);
  ValueId x = g.add_input("x", f32({sym("B"), sym("T"), 6}));
  ValueId flat = g.add_input("flat", f32({sym("B") * sym("T"), 6}));
  GraphBuilder b(g);
  ValueId y = b.reshape(b.unary(OpKind::tanh, flat), {sym("B"), sym("T"), 6});
  g.add_output("y", b.binary(OpKind::add, y, x));
  Graph fused = decompose_and_fuse(g);
  EXPECT_EQ(count_regions(fused).total, 1);
  expect_same_results(g, fused, {{"B", 2}, {"T", 3}});
}

TEST(Fuse, FusesInsideScanBodies) {
  auto body = std::make_shared<Graph>("step");
  body->declare_symbol("B", 8);
  ValueId h = body->add_input("h", f32({sym("B"), 4}));
  ValueId xt = body->add_input("x", f32({sym("B"), 4}));
  {
    GraphBuilder bb(*body);
    ValueId next =
        bb.unary(OpKind::tanh, bb.binary(OpKind::add, bb.binary(OpKind::mul, h, bb.constant(0.5, DType::f32)), xt));
    body->add_output("h_next", next);
    body->add_output("y", next);
  }
  Graph g("rnn");
  g.declare_symbol("B", 8);
  g.declare_symbol("T", 10);
  ValueId h0 = g.add_input("h0", f32({sym("B"), 4}));
  ValueId xs = g.add_input("xs", f32({sym("B"), sym("T"), 4}));
  GraphBuilder b(g);
  std::vector<ValueId> r =
      b.emit(OpKind::scan, {h0, xs}, Attrs{{"num_carry", int64_t{1}}, {"num_seq", int64_t{1}}}, body);
  g.add_output("h", r[0]);
  g.add_output("ys", r[1]);
  Graph fused = decompose_and_fuse(g);
  ASSERT_EQ(fused.nodes().size(), 1u);
  const Graph& step = *fused.nodes()[0].body;
  EXPECT_EQ(count_regions(step).total, 1);
  EXPECT_EQ(count_regions(step).unfused, 0);
  expect_same_results(g, fused, {{"B", 2}, {"T", 3}});
}

TEST(Fuse, WithoutWrappingALoneNodeStaysAsItIs) {
  Graph g("lone");
  ValueId x = g.add_input("x", f32({3}));
  GraphBuilder b(g);
  g.add_output("y", b.unary(OpKind::relu, x));
  Graph fused = decompose_and_fuse(g, FuseOptions{.wrap_singletons = false});
  ASSERT_EQ(fused.nodes().size(), 1u);
  EXPECT_EQ(fused.nodes()[0].op, OpKind::relu);
  EXPECT_EQ(decompose_and_fuse(g).nodes()[0].op, OpKind::fusion);
}

TEST(Fuse, RespectsTheLimitOnRegionInputs) {
  Graph g("wide");
  GraphBuilder b(g);
  ValueId sum = g.add_input("x0", f32({4}));
  for (int i = 1; i < 6; ++i) sum = b.binary(OpKind::add, sum, g.add_input(fmt::format("x{}", i), f32({4})));
  g.add_output("y", sum);
  Graph fused = decompose_and_fuse(g, FuseOptions{.max_inputs = 3});
  for (const Node& n : fused.nodes()) EXPECT_LE(n.operands.size(), 3u);
  EXPECT_GT(count_regions(fused).total, 1);
  expect_same_results(g, fused, {});
}

TEST(Fuse, IsIdempotent) {
  Graph g("twice");
  g.declare_symbol("B", 64);
  ValueId x = g.add_input("x", f32({sym("B"), 10}));
  GraphBuilder b(g);
  g.add_output("y", b.emit1(OpKind::log_softmax, {x}, Attrs{{"axis", int64_t{-1}}}));
  Graph once = decompose_and_fuse(g);
  EXPECT_EQ(print_graph(fuse(once)), print_graph(once));
}

TEST(Fuse, FusedGraphsRoundTripThroughTheTextIr) {
  Graph g("text");
  g.declare_symbol("B", 64);
  ValueId x = g.add_input("x", f32({sym("B"), 10}));
  ValueId w = g.add_param("w", f32({10, 10}));
  GraphBuilder b(g);
  ValueId h = b.unary(OpKind::relu, b.binary(OpKind::matmul, x, w));
  g.add_output("y", b.emit1(OpKind::softmax, {h}, Attrs{{"axis", int64_t{-1}}}));
  Graph fused = decompose_and_fuse(g);
  std::string text = print_graph(fused);
  EXPECT_EQ(print_graph(parse_graph(text)), text);
  EXPECT_NE(text.find("kind=\"matmul\""), std::string::npos) << text;
  EXPECT_NE(text.find("kind=\"reduction\""), std::string::npos) << text;
}

TEST(Fuse, RegionsAreDrawnAsClusters) {
  Graph g("dot");
  ValueId x = g.add_input("x", f32({2, 3}));
  GraphBuilder b(g);
  g.add_output("y", b.emit1(OpKind::softmax, {x}, Attrs{{"axis", int64_t{-1}}}));
  std::string dot = graph_to_dot(decompose_and_fuse(g));
  EXPECT_NE(dot.find("subgraph \"cluster_"), std::string::npos) << dot;
  EXPECT_NE(dot.find("reduce_max"), std::string::npos) << dot;
}

// --- the region rules ---

Graph body_of(const std::function<void(Graph&, GraphBuilder&)>& build) {
  Graph body("region");
  GraphBuilder b(body);
  build(body, b);
  return body;
}

TEST(RegionRules, AcceptWhatTheyDescribe) {
  Graph softmax = body_of([](Graph& g, GraphBuilder& b) {
    ValueId x = g.add_input("x", f32({3, 5}));
    ValueId e = b.unary(OpKind::exp, b.binary(OpKind::sub, x, b.reduce(OpKind::reduce_max, x, {1}, true)));
    g.add_output("y", b.binary(OpKind::div, e, b.reduce(OpKind::reduce_sum, e, {1}, true)));
  });
  EXPECT_EQ(region_rule_violation(softmax, "reduction"), "");
  EXPECT_NE(region_rule_violation(softmax, "loop"), "");
}

TEST(RegionRules, AMatmulRegionHasExactlyOneMatmul) {
  Graph two = body_of([](Graph& g, GraphBuilder& b) {
    ValueId x = g.add_input("x", f32({3, 3}));
    g.add_output("y", b.binary(OpKind::matmul, b.binary(OpKind::matmul, x, x), x));
  });
  EXPECT_EQ(region_rule_violation(two, "matmul"), "a matmul region has exactly one matmul");
}

TEST(RegionRules, ALoopRegionsOutputsShareOneShape) {
  Graph mixed = body_of([](Graph& g, GraphBuilder& b) {
    ValueId x = g.add_input("x", f32({3}));
    ValueId y = g.add_input("y", f32({2, 3}));
    ValueId nx = b.unary(OpKind::neg, x);
    g.add_output("a", nx);
    g.add_output("b", b.binary(OpKind::add, y, nx));
  });
  EXPECT_EQ(region_rule_violation(mixed, "loop"),
            "the outputs of a loop region share one shape, but [3] and [2, 3] differ");
}

TEST(RegionRules, AnExpensiveOpIsNotRecomputedPerBroadcastCopy) {
  // The op table's cost class decides: sqrt and rsqrt are expensive (the divider), div and neg are not.
  for (OpKind op : {OpKind::exp, OpKind::sqrt, OpKind::rsqrt, OpKind::neg}) {
    Graph broadcast = body_of([op](Graph& g, GraphBuilder& b) {
      ValueId x = g.add_input("x", f32({3}));
      ValueId y = g.add_input("y", f32({4, 3}));
      g.add_output("z", b.binary(OpKind::add, y, b.unary(op, x)));
    });
    std::string why = region_rule_violation(broadcast, "loop");
    EXPECT_EQ(why.find("an expensive op") != std::string::npos, op != OpKind::neg) << op_name(op) << ": " << why;
  }
  Graph broadcast_div = body_of([](Graph& g, GraphBuilder& b) {
    ValueId x = g.add_input("x", f32({3}));
    ValueId y = g.add_input("y", f32({4, 3}));
    g.add_output("z", b.binary(OpKind::add, y, b.binary(OpKind::div, x, x)));
  });
  EXPECT_EQ(region_rule_violation(broadcast_div, "loop"), "");
}

TEST(RegionRules, ReductionsOfARegionShareTheirAxes) {
  Graph rows_and_columns = body_of([](Graph& g, GraphBuilder& b) {
    ValueId x = g.add_input("x", f32({3, 5}));
    g.add_output("r", b.reduce(OpKind::reduce_sum, x, {1}, false));
    g.add_output("c", b.reduce(OpKind::reduce_sum, x, {0}, false));
  });
  EXPECT_NE(region_rule_violation(rows_and_columns, "reduction").find("share one operand shape and reduced axes"),
            std::string::npos);
  EXPECT_EQ(region_rule_violation(rows_and_columns, "fused"),
            "'fused' is not a region kind (loop, reduction, matmul, attention)");
}

// --- decomposition ---

TEST(Decompose, ExpandsNestedCompositesKeepingScopeAndLocation) {
  Graph g("attn");
  ValueId q = g.add_input("q", f32({2, 4, 8}));
  GraphBuilder b(g);
  b.set_scope("decoder.attn");
  b.set_loc(SourceLoc{"model.cpp", 42, 0});
  g.add_output("y", b.emit1(OpKind::attention, {q, q, q}));
  Graph d = decompose(g);
  verify(d);
  EXPECT_FALSE(has_composites(d));
  EXPECT_TRUE(has_composites(g));
  for (const Node& n : d.nodes()) {
    EXPECT_EQ(n.scope, "decoder.attn");
    EXPECT_EQ(n.loc.line, 42);
  }
  expect_same_results(g, d, {});
}

TEST(Decompose, LeavesAGraphWithoutCompositesAsItIs) {
  Graph g("plain");
  ValueId x = g.add_input("x", f32({3}));
  GraphBuilder b(g);
  g.add_output("y", b.unary(OpKind::exp, x));
  EXPECT_EQ(print_graph(decompose(g)), print_graph(g));
}

TEST(Decompose, AnIdentityDecompositionMapsTheResultToItsOperand) {
  Graph g("eval_dropout");
  ValueId x = g.add_input("x", f32({3}));
  ValueId offset = g.add_input("offset", TensorType{DType::i64, {}});
  GraphBuilder b(g);
  g.add_output("y", b.emit1(OpKind::dropout, {x, offset}, Attrs{{"training", false}}));
  Graph d = decompose(g);
  verify(d);
  EXPECT_TRUE(d.nodes().empty());
  EXPECT_EQ(d.outputs()[0].value, d.inputs()[0].value);
}

/// y = tanh(((x + x) * x - x) ...): `n` elementwise ops in one chain, each reading the previous and x.
Graph elementwise_chain(int n) {
  Graph g("chain");
  g.declare_symbol("B", 64);
  ValueId x = g.add_input("x", f32({sym("B"), 16}));
  GraphBuilder b(g);
  const OpKind ops[] = {OpKind::add, OpKind::mul, OpKind::sub};
  ValueId y = x;
  for (int i = 0; i < n; ++i) y = i % 4 == 3 ? b.unary(OpKind::tanh, y) : b.binary(ops[i % 4], y, x);
  g.add_output("y", y);
  return g;
}

TEST(Fuse, RegionsStopAtMaxNodes) {
  Graph g = elementwise_chain(10);
  Graph fused = decompose_and_fuse(g, FuseOptions{.max_nodes = 4});
  std::vector<size_t> sizes;
  for (const Node& n : fused.nodes()) sizes.push_back(n.body ? n.body->nodes().size() : 0);
  EXPECT_EQ(sizes, (std::vector<size_t>{4, 4, 2})) << print_graph(fused);
  expect_same_results(g, fused, {{"B", 3}});
}

TEST(Fuse, AChainOf200000OpsGoesThroughThePipelineInRegionsOfAtMostMaxNodes) {
  // Checking a candidate merge costs time in the size of the regions it joins, so without the
  // cap a chain is quadratic (40k nodes took minutes, 200k did not finish); with it, seconds.
  const int n = 200000;
  Graph g = elementwise_chain(n);
  LoweringOptions simplify;
  simplify.until = LoweringStage::simplified;
  simplify.evaluate_constants = interpreter_constant_evaluator();
  Graph simplified = lower_graph(g, simplify);
  Graph fused = decompose_and_fuse(simplified);
  const int cap = FuseOptions{}.max_nodes;
  size_t in_regions = 0;
  for (const Node& node : fused.nodes()) {
    ASSERT_EQ(node.op, OpKind::fusion);
    EXPECT_LE(node.body->nodes().size(), static_cast<size_t>(cap));
    in_regions += node.body->nodes().size();
  }
  EXPECT_EQ(in_regions, static_cast<size_t>(n));
  EXPECT_EQ(fused.nodes().size(), static_cast<size_t>((n + cap - 1) / cap));
  expect_same_results(g, fused, {{"B", 2}});
}

}  // namespace
}  // namespace weft
