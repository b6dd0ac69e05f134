/** \file
 * Memory planning: hand-checked arenas for small graphs, in-place reuse on elementwise chains and
 * optimizer updates, the error for an unbounded dim, and on random fused graphs a brute-force check
 * that no two values alive at once share a byte (unless one is written over the other in place).
 */
#include "passes/plan_memory.h"

#include <gtest/gtest.h>

#include "../fuse/random_graphs.h"
#include "../fuse/testing.h"
#include "frontend/optim.h"

namespace weft {
namespace {

using fuse_tests::decompose_and_fuse;
using fuse_tests::f32;
using fuse_tests::sym;

/// x: f32[B<=64, 128] through `n` elementwise ops, one node each (no fusion).
Graph elementwise_chain(int n) {
  Graph g("chain");
  g.declare_symbol("B", 64);
  ValueId v = g.add_input("x", f32({sym("B"), 128}));
  GraphBuilder b(g);
  const OpKind ops[] = {OpKind::exp, OpKind::tanh, OpKind::neg};
  for (int i = 0; i < n; ++i) v = b.unary(ops[i % 3], v);
  g.add_output("y", v);
  return g;
}

TEST(PlanMemory, AChainOfElementwiseOpsRunsInOneSlot) {
  PlanStats s;
  Program p = plan_memory(elementwise_chain(6), {}, &s);
  const int64_t value = 64 * 128 * 4;  // f32[64, 128] at the bound
  EXPECT_EQ(s.bytes_without_reuse, 6 * value);
  EXPECT_EQ(s.arena_bytes, value);
  EXPECT_EQ(s.buffers, 1);
  EXPECT_EQ(s.in_place, 5);  // every op but the first (which reads the caller's input) writes over its operand
  EXPECT_EQ(p.arena_bytes, value);
  EXPECT_EQ(p.calls[1].operands[0].access, Access::inout);
  EXPECT_EQ(p.calls[1].operands[1].access, Access::inout);
  EXPECT_EQ(p.calls[0].operands[0].access, Access::in);
}

TEST(PlanMemory, WithoutInPlaceAChainPingPongsBetweenTwoSlots) {
  PlanStats s;
  plan_memory(elementwise_chain(6), PlanOptions{.in_place = false}, &s);
  const int64_t value = 64 * 128 * 4;
  EXPECT_EQ(s.arena_bytes, 2 * value);
  EXPECT_EQ(s.live_peak_bytes, 2 * value);
  EXPECT_EQ(s.in_place, 0);
}

TEST(PlanMemory, WithoutReuseEveryValueHasItsOwnSlot) {
  PlanStats s;
  plan_memory(elementwise_chain(4), PlanOptions{.reuse = false, .in_place = false}, &s);
  EXPECT_EQ(s.arena_bytes, 4 * 64 * 128 * 4);
  EXPECT_EQ(s.arena_bytes, s.bytes_without_reuse);
}

TEST(PlanMemory, BestFitPutsALaterValueIntoAFreedGap) {
  // a (1 KiB) dies when b (2 KiB) is made; c (1 KiB) can then take a's place below b.
  Graph g("gap");
  ValueId x = g.add_input("x", f32({256}));
  GraphBuilder b(g);
  ValueId a = b.unary(OpKind::exp, x);
  ValueId big = b.broadcast_to(a, {2, 256});
  ValueId c = b.reduce(OpKind::reduce_sum, big, {0}, false);
  g.add_output("y", c);
  PlanStats s;
  Program p = plan_memory(g, PlanOptions{.in_place = false}, &s);
  EXPECT_EQ(s.bytes_without_reuse, 1024 + 2048 + 1024);
  EXPECT_EQ(s.arena_bytes, 3072);
  EXPECT_EQ(s.live_peak_bytes, 3072);
  // The biggest slot goes first, at 0; a and c share the space above it.
  EXPECT_EQ(p.calls[1].operands[1].offset, 0);
  EXPECT_EQ(p.calls[0].operands[1].offset, 2048);
  EXPECT_EQ(p.calls[2].operands[1].offset, 2048);
}

TEST(PlanMemory, SlotsAreSizedAtTheBoundsAndAligned) {
  Graph g("aligned");
  g.declare_symbol("B", 3);
  ValueId x = g.add_input("x", f32({sym("B"), 8}));
  GraphBuilder b(g);
  g.add_output("y", b.unary(OpKind::exp, x));
  Program p = plan_memory(g);
  EXPECT_EQ(p.arena_bytes, 128);  // 3 * 8 * 4 = 96 bytes, in a 64-byte-aligned slot
  EXPECT_EQ(p.calls[0].operands[1].bytes, Dim(32) * sym("B"));
  EXPECT_EQ(p.buffers[p.outputs[0].buffer].storage, BufferStorage::arena);
}

TEST(PlanMemory, AnUnboundedDimIsAnError) {
  Graph g("unbounded");
  ValueId x = g.add_input("x", f32({sym("T"), 4}));
  GraphBuilder b(g);
  b.set_loc(SourceLoc{"model.cpp", 7, 0});
  g.add_output("y", b.unary(OpKind::exp, x));
  try {
    plan_memory(g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "plan_memory: dim T has no upper bound; declare it as T<=N on the input: the result f32[T, 4] of exp "
              "needs it (at model.cpp:7)");
  }
  EXPECT_EQ(memory_summary(g).rfind("memory: not planned: plan_memory: dim T has no upper bound", 0), 0u);
}

TEST(PlanMemory, InputsAreNeverWrittenInPlace) {
  Graph g("input");
  ValueId x = g.add_input("x", f32({16}));
  GraphBuilder b(g);
  g.add_output("y", b.unary(OpKind::exp, x));
  Program p = plan_memory(g);
  EXPECT_EQ(p.calls[0].operands[0].access, Access::in);
  EXPECT_EQ(p.calls[0].operands[0].buffer, p.inputs[0].buffer);
  EXPECT_EQ(p.buffers[p.inputs[0].buffer].storage, BufferStorage::input);
  EXPECT_EQ(p.arena_bytes, 64);
}

TEST(PlanMemory, AdamUpdatesAreWrittenIntoTheirParameters) {
  Graph g("adam");
  g.add_param("w", f32({8, 4}));
  g.add_param("b", f32({4}));
  ValueId gw = g.add_input("grad.w", f32({8, 4}));
  ValueId gb = g.add_input("grad.b", f32({4}));
  ValueId lr = g.add_input("lr", f32({}));
  ValueId step = g.add_input("step", TensorType{DType::i64, {}});
  GraphBuilder b(g);
  train::adam_update(b, {{"w", gw}, {"b", gb}}, {lr, step}, train::AdamOptions{});
  PlanStats s;
  Program p = plan_memory(decompose_and_fuse(g), {}, &s);
  ASSERT_EQ(p.updates.size(), 6u);  // w, b and their two moments each
  for (const ProgramUpdate& u : p.updates) EXPECT_EQ(u.value, u.param_buffer) << u.param;
  EXPECT_EQ(s.in_place, 6);
  EXPECT_EQ(p.arena_bytes, 0);  // the bias-correction scalars are computed inside each region
}

TEST(PlanMemory, TheProgramMirrorsTheGraph) {
  Graph g("mlp");
  g.declare_symbol("B", 16);
  ValueId x = g.add_input("x", f32({sym("B"), 8}));
  ValueId w = g.add_param("w", f32({8, 4}));
  GraphBuilder b(g);
  g.add_output("y", b.emit1(OpKind::softmax, {b.unary(OpKind::relu, b.binary(OpKind::matmul, x, w))}));
  Graph fused = decompose_and_fuse(g);
  Program p = plan_memory(fused);
  ASSERT_EQ(p.calls.size(), fused.nodes().size());
  EXPECT_EQ(p.calls[0].attrs.get_string("kind"), "matmul");
  EXPECT_EQ(p.calls[0].body, fused.nodes()[0].body);
  EXPECT_EQ(p.calls[0].num_inputs, 2);
  EXPECT_EQ(p.buffers[p.calls[0].operands[1].buffer].storage, BufferStorage::param);
  EXPECT_EQ(p.outputs[0].name, "y");
  EXPECT_EQ(p.params[0].name, "w");
  std::string text = print_program(p);
  EXPECT_NE(text.find("fusion.matmul("), std::string::npos) << text;
  EXPECT_NE(text.find("fusion.reduction("), std::string::npos) << text;
}

TEST(PlanMemory, TheSummaryShowsBothPeaks) {
  std::string s = memory_summary(elementwise_chain(6));
  EXPECT_NE(s.find("without reuse        196608 bytes  (192.0 KiB)"), std::string::npos) << s;
  EXPECT_NE(s.find("planned arena         32768 bytes  (32.0 KiB; 1 slots, 5 results in place)"), std::string::npos)
      << s;
}

// --- brute force over random fused graphs ---

struct Lifetime {
  int32_t first = 0, last = 0;
};

TEST(PlanMemoryRandomGraphs, NoTwoLiveValuesShareAByteUnlessWrittenInPlace) {
  int64_t in_place = 0, arena = 0, without_reuse = 0;
  for (int seed = 1; seed <= 150; ++seed) {
    fuse_tests::RandomGraph gen(static_cast<uint64_t>(seed));
    Graph fused = decompose_and_fuse(gen.build(4 + seed % 14));
    SCOPED_TRACE(::testing::Message() << "seed " << seed << "\n" << print_graph(fused));
    PlanStats s;
    Program p = plan_memory(fused, {}, &s);
    EXPECT_LE(s.live_peak_bytes, s.arena_bytes);
    EXPECT_LE(s.arena_bytes, s.bytes_without_reuse);
    in_place += s.in_place;
    arena += s.arena_bytes;
    without_reuse += s.bytes_without_reuse;

    // Every value of the graph: where the program put it and when it is alive.
    auto n = static_cast<int32_t>(p.calls.size());
    std::vector<Lifetime> life(fused.num_values());
    std::vector<BufferRef> where(fused.num_values());
    std::vector<bool> planned(fused.num_values(), false);
    for (int32_t t = 0; t < n; ++t) {
      const Node& node = fused.nodes()[t];
      const KernelCall& call = p.calls[t];
      for (size_t k = 0; k < node.results.size(); ++k) {
        ValueId v = node.results[k];
        where[v] = call.operands[node.operands.size() + k];
        planned[v] = p.buffers[where[v].buffer].storage == BufferStorage::arena;
        life[v] = {t, t};
      }
      for (ValueId v : node.operands) life[v].last = std::max(life[v].last, t);
    }
    for (const OutputDecl& o : fused.outputs()) life[o.value].last = n;
    SymbolBindings bounds{{"B", fuse_tests::RandomGraph::kMaxB}, {"T", fuse_tests::RandomGraph::kMaxT}};
    for (size_t u = 0; u < fused.num_values(); ++u) {
      if (!planned[u]) continue;
      int64_t ub = where[u].bytes.evaluate(bounds);
      EXPECT_EQ(where[u].offset % Program::alignment, 0);
      EXPECT_LE(where[u].offset + ub, p.arena_bytes);
      for (size_t v = u + 1; v < fused.num_values(); ++v) {
        if (!planned[v]) continue;
        bool together = life[u].first <= life[v].last && life[v].first <= life[u].last;
        int64_t vb = where[v].bytes.evaluate(bounds);
        bool overlap = where[u].offset < where[v].offset + vb && where[v].offset < where[u].offset + ub;
        if (!together || !overlap || ub == 0 || vb == 0) continue;
        // The one exception: v written over u by the call where u dies, marked inout on both sides.
        bool hand_over =
            life[u].last == life[v].first && where[u].buffer == where[v].buffer && where[v].access == Access::inout;
        EXPECT_TRUE(hand_over) << "%" << u << " and %" << v << " overlap while both alive";
      }
    }
    if (::testing::Test::HasFailure()) return;
  }
  // The check above had cases to look at: values written in place, and slots shared.
  EXPECT_GT(in_place, 20);
  EXPECT_LT(arena, without_reuse);
}

}  // namespace
}  // namespace weft
