// Graph -> DOT: clusters by scope, typed edges, and folding with a depth.
#include "ir/dot.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "tests/dump/fixtures.h"

namespace weft {
namespace {

/// DOT node statements: lines declaring a node (edges contain "->", cluster labels have no '[').
int count_nodes(const std::string& dot) {
  std::istringstream in(dot);
  std::string line;
  int n = 0;
  while (std::getline(in, line))
    if (line.find(" [label=") != std::string::npos && line.find("->") == std::string::npos) ++n;
  return n;
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

TEST(Dot, ScopesBecomeClusters) {
  std::string dot = graph_to_dot(dump_test::mlp());
  EXPECT_EQ(dot.rfind("digraph \"mlp\" {", 0), 0u) << dot;
  EXPECT_EQ(count(dot, "subgraph \"cluster_fc1\""), 1) << dot;
  EXPECT_EQ(count(dot, "subgraph \"cluster_fc2\""), 1) << dot;
  EXPECT_NE(dot.find("label=\"fc1\""), std::string::npos) << dot;
}

TEST(Dot, NestedScopesNestClusters) {
  std::string dot = graph_to_dot(dump_test::encoder(1));
  size_t enc = dot.find("subgraph \"cluster_encoder\"");
  size_t layers = dot.find("subgraph \"cluster_encoder.layers\"");
  size_t layer0 = dot.find("subgraph \"cluster_encoder.layers.0\"");
  size_t attn = dot.find("subgraph \"cluster_encoder.layers.0.self_attn\"");
  ASSERT_NE(attn, std::string::npos) << dot;
  EXPECT_LT(enc, layers);
  EXPECT_LT(layers, layer0);
  EXPECT_LT(layer0, attn);
  // A cluster is labelled with its last component.
  EXPECT_NE(dot.find("label=\"self_attn\""), std::string::npos) << dot;
}

TEST(Dot, EdgesAreLabelledWithTypes) {
  std::string dot = graph_to_dot(dump_test::mlp());
  EXPECT_NE(dot.find("\"in0\" -> \"n0\" [label=\"f32[B, 784]\"]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("-> \"n2\" [label=\"f32[B, 256]\"]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("-> \"out0\" [label=\"f32[B, 10]\"]"), std::string::npos) << dot;
}

TEST(Dot, NodesShowTheOpAndItsNonDefaultAttributes) {
  std::string dot = graph_to_dot(dump_test::mlp());
  EXPECT_NE(dot.find("label=\"matmul\\ntranspose_b=true\""), std::string::npos) << dot;
  EXPECT_EQ(dot.find("transpose_a"), std::string::npos) << dot;  // the default is left out
  // Parameters sit in their scope's cluster, labelled with the last component and their type.
  EXPECT_NE(dot.find("label=\"weight\\nf32[256, 784]\""), std::string::npos) << dot;
}

TEST(Dot, EveryValueHasOneNode) {
  // 1 input + 4 params + 5 ops + 1 output.
  EXPECT_EQ(count_nodes(graph_to_dot(dump_test::mlp())), 11);
}

TEST(Dot, DepthFoldsEachLayerIntoOneBox) {
  Graph g = dump_test::encoder(4);
  std::string full = graph_to_dot(g);
  std::string folded = graph_to_dot(g, {.depth = 3});
  // Unfolded: 1 input + 8 params + 20 ops + 1 output; folded: input, 4 layer boxes, output.
  EXPECT_EQ(count_nodes(full), 30);
  EXPECT_EQ(count_nodes(folded), 6) << folded;
  for (int i = 0; i < 4; ++i)
    EXPECT_NE(folded.find("label=\"encoder.layers." + std::to_string(i) + "\\n5 ops\""), std::string::npos) << folded;
  // Layers still connect, through the residual stream.
  EXPECT_NE(folded.find("\"box:encoder.layers.0\" -> \"box:encoder.layers.1\" [label=\"f32[B, 16]\"]"),
            std::string::npos)
      << folded;
  EXPECT_EQ(folded.find("cluster_encoder.layers.0"), std::string::npos) << folded;
  EXPECT_NE(folded.find("cluster_encoder.layers\""), std::string::npos) << folded;
}

TEST(Dot, DepthOneFoldsEachTopLevelScope) {
  std::string folded = graph_to_dot(dump_test::encoder(4), {.depth = 1});
  EXPECT_EQ(count_nodes(folded), 3) << folded;
  EXPECT_NE(folded.find("label=\"encoder\\n20 ops\""), std::string::npos) << folded;
}

// A train step folds as its model does: each layer's box holds its forward ops, the gradient ops
// (which carry the forward op's scope) and Adam's updates of its parameters (scope adam.<param>);
// and the wrapping "transformer" scope is not counted, so depth 3 is one box per layer.
TEST(Dot, ATrainStepFoldsIntoItsModelsLayersBelowTheWrappingScope) {
  Graph step = dump_test::wrapped_train_step(2);
  EXPECT_EQ(model_root_scope(step), "transformer");
  std::string folded = graph_to_dot(step, {.depth = 3});
  for (const std::string layer : {"transformer.encoder.layers.0", "transformer.decoder.layers.1"}) {
    int ops = 0;  // counted from the scopes, independently of the drawing
    for (const Node& n : step.nodes()) ops += n.scope.starts_with(layer) || n.scope.starts_with("adam." + layer);
    EXPECT_GT(ops, 10) << layer;  // forward, backward and optimizer ops
    EXPECT_NE(folded.find(fmt::format("label=\"{}\\n{} ops\"", layer, ops)), std::string::npos) << layer << "\n"
                                                                                                << folded;
  }
  EXPECT_EQ(folded.find("tooltip=\"adam.transformer"), std::string::npos) << "an update drawn outside its layer";
  EXPECT_EQ(count_nodes(folded), dot_node_count(step, {.depth = 3}));
  // Under half the nodes: Adam's bias corrections, shared by every parameter since the train step
  // goes through CSE, are drawn once in an "adam" cluster of their own.
  EXPECT_LT(2 * count_nodes(folded), count_nodes(graph_to_dot(step)));
  // Adam's moments of a parameter fold with it too: no parameter drawn outside a box.
  EXPECT_EQ(folded.find("fillcolor=\"#fff2cc\""), std::string::npos) << folded;
}

TEST(Dot, AScopeWithOneChildIsALayerNotAWrapper) {
  EXPECT_EQ(model_root_scope(dump_test::encoder(4)), "");  // encoder.layers.<i> only: "encoder" counts
  EXPECT_EQ(model_root_scope(dump_test::mlp()), "");
}

TEST(Dot, DepthBelowOneIsRejected) { EXPECT_THROW(graph_to_dot(dump_test::mlp(), {.depth = 0}), Error); }

TEST(Dot, ScanIsDrawnAsAClusterHoldingItsBody) {
  using dsl::Tensor;
  Builder body("cell");
  Tensor h = body.input("h", "f32[B, 8]");
  Tensor xt = body.input("x_t", "f32[B, 8]");
  Tensor next = tanh(xt + h);
  body.output("h", next);
  body.output("y", next);
  Builder b("rnn");
  Tensor x = b.input("x", "f32[B, T, 8]");
  Tensor h0 = b.input("h0", "f32[B, 8]");
  auto r = dsl::scan(body.finish(), {.carries = {h0}, .sequences = {x}});
  b.output("y", r[1]);
  std::string dot = graph_to_dot(b.finish());
  EXPECT_NE(dot.find("subgraph \"cluster_n0\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("label=\"scan body\""), std::string::npos) << dot;
  // The body's nodes have ids under the scan's, and its edges keep their types.
  EXPECT_NE(dot.find("\"n0/n0\" [label=\"add\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("\"n0/in1\" -> \"n0/n0\" [label=\"f32[B, 8]\"]"), std::string::npos) << dot;
  // The scan's second result feeds the output, labelled with its index.
  EXPECT_NE(dot.find("\"n0\" -> \"out0\" [label=\"#1 f32[B, T, 8]\"]"), std::string::npos) << dot;
}

TEST(Dot, ScopePathHelpers) {
  EXPECT_EQ(scope_depth(""), 0);
  EXPECT_EQ(scope_depth("encoder.layers.0"), 3);
  EXPECT_EQ(scope_prefix("encoder.layers.0.self_attn", 3), "encoder.layers.0");
  EXPECT_EQ(scope_prefix("encoder.layers.0.self_attn", 1), "encoder");
  EXPECT_EQ(scope_prefix("fc1", 3), "fc1");
}

}  // namespace
}  // namespace weft
