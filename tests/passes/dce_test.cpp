/** \file
 * Dead-code elimination: removes what reaches no output or update, keeps the signature, and cleans
 * bodies.
 */
#include "passes/dce.h"

#include <gtest/gtest.h>

#include "backends/backend.h"
#include "ir/text.h"
#include "test_graphs.h"

namespace weft {
namespace {

using pass_tests::f32;
using pass_tests::small_graph;

std::vector<OpKind> ops_of(const Graph& g) {
  std::vector<OpKind> ops;
  for (const Node& n : g.nodes()) ops.push_back(n.op);
  return ops;
}

TEST(Dce, KeepsAGraphWithoutDeadNodes) {
  Graph out = dce(small_graph());
  verify(out);
  EXPECT_EQ(ops_of(out), (std::vector<OpKind>{OpKind::add, OpKind::relu}));
}

TEST(Dce, RemovesADeadChainCompletely) {
  Graph g("dead");
  ValueId x = g.add_input("x", f32({3}));
  GraphBuilder b(g);
  ValueId e = b.unary(OpKind::exp, x);
  ValueId l = b.unary(OpKind::log, e);  // exp -> log reaches nothing
  (void)l;
  ValueId y = b.unary(OpKind::neg, x);
  g.add_output("y", y);
  Graph out = dce(g);
  verify(out);
  EXPECT_EQ(ops_of(out), (std::vector<OpKind>{OpKind::neg}));
  EXPECT_EQ(out.num_values(), 2u);  // x and the neg, renumbered densely
  EXPECT_EQ(out.outputs()[0].value, 1);
}

TEST(Dce, KeepsNodesThatOnlyReachAStateUpdate) {
  Graph g = small_graph();
  GraphBuilder b(g);
  ValueId w = g.params()[0].value;
  ValueId next = b.binary(OpKind::mul, w, w);
  g.add_update("w", next);
  Graph out = dce(g);
  verify(out);
  EXPECT_EQ(ops_of(out), (std::vector<OpKind>{OpKind::add, OpKind::relu, OpKind::mul}));
  ASSERT_EQ(out.updates().size(), 1u);
  EXPECT_EQ(out.producer(out.updates()[0].value)->op, OpKind::mul);
}

TEST(Dce, KeepsUnusedInputsAndParameters) {
  Graph g("unused");
  ValueId x = g.add_input("x", f32({3}));
  g.add_input("unused_input", f32({5}));
  g.add_param("unused_param", f32({2}));
  g.add_output("y", x);
  Graph out = dce(g);
  EXPECT_EQ(out.inputs().size(), 2u);
  EXPECT_EQ(out.params().size(), 1u);
  EXPECT_TRUE(out.nodes().empty());
}

TEST(Dce, CleansBodiesAgainstTheirOwnOutputs) {
  auto body = std::make_shared<Graph>("region");
  ValueId a = body->add_input("a", f32({2}));
  GraphBuilder bb(*body);
  bb.unary(OpKind::exp, a);  // dead inside the region
  body->add_output("r", bb.unary(OpKind::neg, a));
  Graph g("outer");
  ValueId x = g.add_input("x", f32({2}));
  GraphBuilder b(g);
  ValueId y = b.emit(OpKind::fusion, {x}, {}, body)[0];
  g.add_output("y", y);
  Graph out = dce(g);
  verify(out);
  ASSERT_EQ(out.nodes().size(), 1u);
  EXPECT_EQ(ops_of(*out.nodes()[0].body), (std::vector<OpKind>{OpKind::neg}));
}

TEST(Dce, TrimsAScansUnreadOutputsAndTheSequencesAndConstsItNoLongerReads) {
  // y2 is stacked but read by nobody; once it goes, the step reads neither xs2 nor k2. xs1 stays
  // (read), and so do both carries (carries are never trimmed).
  const std::string text = R"(weft 1
graph loop(h0: f32[2, 3], xs1: f32[2, T<=8, 3], xs2: f32[2, T, 3], k1: f32[3], k2: f32[3]) -> (h: f32[2, 3], ys: f32[2, T, 3]) {
  %0, %1, %2 = scan(h0, xs1, xs2, k1, k2, num_carry=1, num_seq=2) : f32[2, 3], f32[2, T, 3], f32[2, T, 3]
    graph step(h: f32[2, 3], x1: f32[2, 3], x2: f32[2, 3], k1: f32[3], k2: f32[3]) -> (h_next: f32[2, 3], y1: f32[2, 3], y2: f32[2, 3]) {
      %0 = add(h, x1) : f32[2, 3]
      %1 = mul(%0, k1) : f32[2, 3]
      %2 = tanh(%1) : f32[2, 3]
      %3 = mul(x2, k2) : f32[2, 3]
      %4 = exp(%3) : f32[2, 3]
      return %2, %2, %4
    }
  return %0, %1
}
)";
  Graph g = parse_graph(text);
  Graph out = dce(g);
  verify(out);
  ASSERT_EQ(out.nodes().size(), 1u);
  const Node& scan = out.nodes()[0];
  EXPECT_EQ(scan.attrs.get_int("num_seq"), 1);
  EXPECT_EQ(scan.operands.size(), 3u);  // h0, xs1, k1
  EXPECT_EQ(scan.results.size(), 2u);
  EXPECT_EQ(ops_of(*scan.body), (std::vector<OpKind>{OpKind::add, OpKind::mul, OpKind::tanh}));
  EXPECT_EQ(out.inputs().size(), 5u);  // the signature stays
  auto exe_in = [] {
    auto t = [](std::vector<int64_t> shape, float step) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      std::vector<float> v(static_cast<size_t>(n));
      for (size_t i = 0; i < v.size(); ++i) v[i] = step * static_cast<float>(i % 7) - 0.5f;
      return Tensor::from<float>(std::move(shape), v);
    };
    return std::map<std::string, Tensor>{{"h0", t({2, 3}, 0.1f)}, {"xs1", t({2, 4, 3}, 0.2f)},
                                         {"xs2", t({2, 4, 3}, 0.3f)}, {"k1", t({3}, 0.4f)},
                                         {"k2", t({3}, 0.5f)}};
  };
  auto before = make_backend("interp")->compile(g)->run_named(exe_in());
  auto after = make_backend("interp")->compile(out)->run_named(exe_in());
  for (const char* name : {"h", "ys"}) EXPECT_EQ(before.at(name).to_vector<float>(), after.at(name).to_vector<float>());
}

TEST(Dce, KeepsOneSequenceForTheLoopsLength) {
  // The step reads no sequence at all: the first stays, since it gives the loop its length.
  const std::string text = R"(weft 1
graph loop(h0: f32[3], xs: f32[T<=8, 3], zs: f32[T, 3]) -> (h: f32[3], ys: f32[T, 3]) {
  %0, %1 = scan(h0, xs, zs, num_carry=1, num_seq=2, time_axis=0) : f32[3], f32[T, 3]
    graph step(h: f32[3], x: f32[3], z: f32[3]) -> (h_next: f32[3], y: f32[3]) {
      %0 = exp(h) : f32[3]
      return %0, %0
    }
  return %0, %1
}
)";
  Graph out = dce(parse_graph(text));
  verify(out);
  ASSERT_EQ(out.nodes().size(), 1u);
  EXPECT_EQ(out.nodes()[0].attrs.get_int("num_seq"), 1);
  EXPECT_EQ(out.nodes()[0].operands.size(), 2u);  // h0, xs
  EXPECT_EQ(out.nodes()[0].body->inputs()[1].name, "x");
}

}  // namespace
}  // namespace weft
