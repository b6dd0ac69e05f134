/** \file
 * Kernel counts after fusion for the patterns the fuser exists for — softmax, layer_norm, GELU, bias
 * plus residual add, cross-entropy, an Adam step, a matmul with its epilogue — each checked against
 * the unfused graph on the interpreter.
 */
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "frontend/optim.h"
#include "ir/dot.h"
#include "testing.h"

namespace weft {
namespace {

using fuse_tests::decompose_and_fuse;
using fuse_tests::expect_same_results;
using fuse_tests::f32;
using fuse_tests::sym;

/// How many nodes of each op a graph has (top level only).
std::map<std::string, int> op_histogram(const Graph& g) {
  std::map<std::string, int> h;
  for (const Node& n : g.nodes()) ++h[std::string(op_name(n.op))];
  return h;
}

const Graph& only_region_body(const Graph& fused) {
  EXPECT_EQ(fused.nodes().size(), 1u) << print_graph(fused);
  return *fused.nodes().at(0).body;
}

TEST(FusePatterns, SoftmaxBecomesOneReductionRegion) {
  Graph g("softmax");
  g.declare_symbol("B", 64);
  ValueId x = g.add_input("x", f32({sym("B"), 10}));
  GraphBuilder b(g);
  g.add_output("y", b.emit1(OpKind::softmax, {x}, Attrs{{"axis", int64_t{-1}}}));
  Graph fused = decompose_and_fuse(g);
  RegionCounts c = count_regions(fused);
  EXPECT_EQ(c.total, 1);
  EXPECT_EQ(c.reduction, 1);
  EXPECT_EQ(c.unfused, 0);
  const Graph& body = only_region_body(fused);
  EXPECT_EQ(op_histogram(body),
            (std::map<std::string, int>{{"reduce_max", 1}, {"sub", 1}, {"exp", 1}, {"reduce_sum", 1}, {"div", 1}}));
  EXPECT_EQ(body.inputs().size(), 1u);  // reads x once
  expect_same_results(g, fused, {{"B", 3}});
}

TEST(FusePatterns, FusedSoftmaxGivesTheTextbookValues) {
  Graph g("softmax");
  ValueId x = g.add_input("x", f32({1, 2}));
  GraphBuilder b(g);
  g.add_output("y", b.emit1(OpKind::softmax, {x}, Attrs{{"axis", int64_t{-1}}}));
  Graph fused = decompose_and_fuse(g);
  // softmax([0, ln 3]) = [1/4, 3/4]
  std::vector<Tensor> inputs{Tensor::from<float>({1, 2}, {0.0f, std::log(3.0f)})};
  std::vector<Tensor> y = interpret(fused, inputs, {});
  EXPECT_NEAR(y[0].at(0), 0.25, 1e-6);
  EXPECT_NEAR(y[0].at(1), 0.75, 1e-6);
}

TEST(FusePatterns, LayerNormBecomesOneReductionRegion) {
  Graph g("layer_norm");
  g.declare_symbol("B", 8);
  g.declare_symbol("T", 16);
  ValueId x = g.add_input("x", f32({sym("B"), sym("T"), 16}));
  ValueId gamma = g.add_param("ln.weight", f32({16}), Initializer{"ones", {}, 0});
  ValueId beta = g.add_param("ln.bias", f32({16}), Initializer{"zeros", {}, 0});
  GraphBuilder b(g);
  b.set_scope("ln");
  g.add_output("y", b.emit1(OpKind::layer_norm, {x, gamma, beta}, Attrs{{"axis", int64_t{-1}}}));
  Graph fused = decompose_and_fuse(g);
  RegionCounts c = count_regions(fused);
  EXPECT_EQ(c.total, 1);
  EXPECT_EQ(c.reduction, 1);
  EXPECT_EQ(c.unfused, 0);
  const Graph& body = only_region_body(fused);
  EXPECT_EQ(op_histogram(body)["reduce_mean"], 2);  // mean and variance, one region
  EXPECT_EQ(body.inputs().size(), 3u);              // x, gamma, beta
  EXPECT_EQ(fused.nodes()[0].scope, "ln");
  expect_same_results(g, fused, {{"B", 2}, {"T", 3}});
}

TEST(FusePatterns, GeluOfABiasAddIsOneLoopRegion) {
  for (const char* approximate : {"none", "tanh"}) {
    Graph g("gelu");
    g.declare_symbol("B", 32);
    ValueId x = g.add_input("x", f32({sym("B"), 8}));
    ValueId bias = g.add_param("bias", f32({8}));
    GraphBuilder b(g);
    ValueId h = b.binary(OpKind::add, x, bias);
    g.add_output("y", b.emit1(OpKind::gelu, {h}, Attrs{{"approximate", std::string(approximate)}}));
    Graph fused = decompose_and_fuse(g);
    RegionCounts c = count_regions(fused);
    EXPECT_EQ(c.total, 1) << approximate;
    EXPECT_EQ(c.loop, 1) << approximate;
    EXPECT_EQ(only_region_body(fused).nodes().size(), 2u);
    expect_same_results(g, fused, {{"B", 5}});
  }
}

TEST(FusePatterns, BiasPlusResidualAddIsOneLoopRegion) {
  Graph g("residual");
  g.declare_symbol("B", 32);
  ValueId x = g.add_input("x", f32({sym("B"), 8}));
  ValueId r = g.add_input("residual", f32({sym("B"), 8}));
  ValueId bias = g.add_param("bias", f32({8}));
  GraphBuilder b(g);
  g.add_output("y", b.binary(OpKind::add, b.binary(OpKind::add, x, bias), r));
  Graph fused = decompose_and_fuse(g);
  RegionCounts c = count_regions(fused);
  EXPECT_EQ(c.total, 1);
  EXPECT_EQ(c.loop, 1);
  EXPECT_EQ(only_region_body(fused).inputs().size(), 3u);
  EXPECT_EQ(fused.nodes()[0].results.size(), 1u);  // the inner sum stays inside
  expect_same_results(g, fused, {{"B", 4}});
}

TEST(FusePatterns, CrossEntropyIsAtMostTwoRegionsBesideItsLabelCheck) {
  for (double smoothing : {0.0, 0.1}) {
    for (int64_t ignore : {int64_t{-100}, int64_t{0}}) {
      Graph g("cross_entropy");
      g.declare_symbol("N", 64);
      ValueId logits = g.add_input("logits", f32({sym("N"), 5}));
      ValueId targets = g.add_input("targets", TensorType{DType::i64, {sym("N")}});
      GraphBuilder b(g);
      g.add_output("loss", b.emit1(OpKind::cross_entropy, {logits, targets},
                                   Attrs{{"label_smoothing", smoothing}, {"ignore_index", ignore}}));
      Graph fused = decompose_and_fuse(g);
      RegionCounts c = count_regions(fused);
      // The targets pass through a gather of 0..C-1 that does not wrap (the label check that makes a
      // target outside [0, C) an error): that gather, never fused, and its iota stand apart.
      int checks = 0;
      for (const Node& n : fused.nodes()) checks += n.op == OpKind::gather && !n.attrs.get_bool("wrap");
      EXPECT_EQ(checks, 1) << print_graph(fused);
      EXPECT_LE(c.total, 2 + 2) << print_graph(fused);
      EXPECT_EQ(c.unfused, 1) << print_graph(fused);
      expect_same_results(g, fused, {{"N", 7}}, 3, /*int_range=*/5);
    }
  }
}

TEST(FusePatterns, AdamUpdateIsOneRegionPerParameter) {
  Graph g("adam");
  ValueId w = g.add_param("w", f32({8, 4}));
  ValueId bias = g.add_param("b", f32({4}));
  ValueId gw = g.add_input("grad.w", f32({8, 4}));
  ValueId gb = g.add_input("grad.b", f32({4}));
  ValueId lr = g.add_input("lr", f32({}));
  ValueId step = g.add_input("step", TensorType{DType::i64, {}});
  (void)w;
  (void)bias;
  GraphBuilder b(g);
  train::adam_update(b, {{"w", gw}, {"b", gb}}, {lr, step}, train::AdamOptions{});
  Graph fused = decompose_and_fuse(g);
  RegionCounts c = count_regions(fused);
  EXPECT_EQ(c.total, 2) << print_graph(fused);
  EXPECT_EQ(c.loop, 2);
  EXPECT_EQ(c.unfused, 0);
  for (const Node& n : fused.nodes()) EXPECT_EQ(n.results.size(), 3u);  // m, v and the parameter
  // The step-dependent scalars are recomputed inside each region rather than passed around.
  for (const Node& n : fused.nodes()) EXPECT_EQ(op_histogram(*n.body)["pow"], 2);
  expect_same_results(g, fused, {}, 5, /*int_range=*/3);
}

TEST(FusePatterns, MatmulBiasReluIsOneMatmulRegion) {
  Graph g("mlp");
  g.declare_symbol("B", 32);
  ValueId x = g.add_input("x", f32({sym("B"), 8}));
  ValueId w = g.add_param("fc.weight", f32({8, 4}));
  ValueId bias = g.add_param("fc.bias", f32({4}));
  GraphBuilder b(g);
  ValueId h = b.binary(OpKind::add, b.binary(OpKind::matmul, x, w), bias);
  g.add_output("y", b.unary(OpKind::relu, h));
  Graph fused = decompose_and_fuse(g);
  RegionCounts c = count_regions(fused);
  EXPECT_EQ(c.total, 1);
  EXPECT_EQ(c.matmul, 1);
  EXPECT_EQ(op_histogram(only_region_body(fused)),
            (std::map<std::string, int>{{"matmul", 1}, {"add", 1}, {"relu", 1}}));
  expect_same_results(g, fused, {{"B", 6}});
}

TEST(FusePatterns, MatmulEpilogueTakesTheResidualAdd) {
  Graph g("block");
  g.declare_symbol("B", 32);
  ValueId x = g.add_input("x", f32({sym("B"), 8}));
  ValueId w = g.add_param("w", f32({8, 8}));
  ValueId bias = g.add_param("b", f32({8}));
  GraphBuilder b(g);
  ValueId h = b.emit1(OpKind::gelu, {b.binary(OpKind::add, b.binary(OpKind::matmul, x, w), bias)});
  g.add_output("y", b.binary(OpKind::add, h, x));
  Graph fused = decompose_and_fuse(g);
  EXPECT_EQ(count_regions(fused).matmul, 1);
  EXPECT_EQ(fused.nodes().size(), 1u);
  expect_same_results(g, fused, {{"B", 3}});
}

TEST(FusePatterns, TwoMatmulsNeverShareARegion) {
  Graph g("two_layers");
  g.declare_symbol("B", 32);
  ValueId x = g.add_input("x", f32({sym("B"), 8}));
  ValueId w1 = g.add_param("w1", f32({8, 6}));
  ValueId w2 = g.add_param("w2", f32({6, 3}));
  GraphBuilder b(g);
  ValueId h = b.unary(OpKind::relu, b.binary(OpKind::matmul, x, w1));
  g.add_output("y", b.unary(OpKind::tanh, b.binary(OpKind::matmul, h, w2)));
  Graph fused = decompose_and_fuse(g);
  RegionCounts c = count_regions(fused);
  EXPECT_EQ(c.total, 2);
  EXPECT_EQ(c.matmul, 2);
  expect_same_results(g, fused, {{"B", 2}});
}

TEST(FusePatterns, ScaledMaskedAttentionScoresFuseIntoTheMatmulAndTheSoftmax) {
  Graph g("attention");
  g.declare_symbol("T", 16);
  ValueId q = g.add_input("q", f32({2, sym("T"), 8}));
  ValueId k = g.add_input("k", f32({2, sym("T"), 8}));
  ValueId v = g.add_input("v", f32({2, sym("T"), 8}));
  GraphBuilder b(g);
  g.add_output("y", b.emit1(OpKind::attention, {q, k, v}, Attrs{{"causal", true}}));
  Graph fused = decompose_and_fuse(g);
  RegionCounts c = count_regions(fused);
  // scores = q k^T * scale, causally masked (one matmul region); softmax (one reduction region); w v.
  EXPECT_EQ(c.matmul, 2) << print_graph(fused);
  EXPECT_EQ(c.reduction, 1) << print_graph(fused);
  EXPECT_EQ(c.total, 3) << print_graph(fused);
  expect_same_results(g, fused, {{"T", 5}});
}

}  // namespace
}  // namespace weft
