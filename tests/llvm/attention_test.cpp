/** \file
 * Attention regions (passes/fuse_attention.h, backends/llvm/attention_codegen.cpp) against the
 * interpreter, which runs the composite through its decomposition: odd sizes (T ≠ S, head dims that
 * are not multiples of the vector width, one-row decode steps), one and three heads, boolean,
 * additive and causal masks, rows whose keys are all masked, and the gradient. Each graph must
 * become exactly one attention region per attention (the heads' split and merge inside it), run as
 * generated code.
 */
#include <gtest/gtest.h>

#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "ir/graph_builder.h"
#include "passes/autodiff.h"
#include "passes/fuse.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

using dsl::Builder;

/// Online softmax sums in another order than the decomposition, and exp is a polynomial.
constexpr Tolerance kAttention{5e-5, 2e-5};

enum class Mask { none, padding, additive, causal, causal_padding };

std::string mask_name(Mask m) {
  switch (m) {
    case Mask::none:
      return "none";
    case Mask::padding:
      return "padding";
    case Mask::additive:
      return "additive";
    case Mask::causal:
      return "causal";
    case Mask::causal_padding:
      return "causal_padding";
  }
  return "?";
}

/// Multi-head attention over [B, T, h·d] queries and [B, S, h·d] keys and values, written as
/// MultiHeadAttention writes it: the heads split by reshape + transpose and merged back.
Graph multi_head_graph(int64_t h, int64_t d, Mask mask, bool train) {
  Builder b(fmt::format("mha_h{}_d{}_{}", h, d, mask_name(mask)));
  const int64_t e = h * d;
  const Dim t = b.symbol("T", 80), s = b.symbol("S", 80);
  dsl::Tensor xq = b.input("xq", DType::f32, {Dim(2), t, Dim(e)});
  dsl::Tensor xk = b.input("xk", DType::f32, {Dim(2), s, Dim(e)});
  dsl::Tensor xv = b.input("xv", DType::f32, {Dim(2), s, Dim(e)});
  auto split = [&](const dsl::Tensor& x) {
    return dsl::transpose(dsl::reshape(x, {x.dim(0), x.dim(1), Dim(h), Dim(d)}), {0, 2, 1, 3});
  };
  dsl::Tensor m;
  if (mask == Mask::padding || mask == Mask::causal_padding) {
    dsl::Tensor pad = b.input("pad", DType::boolean, {Dim(2), s});
    m = dsl::reshape(pad, {Dim(2), Dim(1), Dim(1), s});
  } else if (mask == Mask::additive) {
    m = b.input("bias", DType::f32, {Dim(h), t, s});
  }
  bool causal = mask == Mask::causal || mask == Mask::causal_padding;
  dsl::Tensor heads = dsl::attention(split(xq), split(xk), split(xv), m, {.causal = causal});
  dsl::Tensor merged = dsl::reshape(dsl::transpose(heads, {0, 2, 1, 3}), {Dim(2), xq.dim(1), Dim(e)});
  if (!train) {
    b.output("y", merged);
    return b.finish();
  }
  // A loss that weighs every output element differently, so that each gradient element matters.
  dsl::Tensor w = b.input("w", DType::f32, {Dim(2), t, Dim(e)});
  b.output("loss", dsl::sum(dsl::mul(merged, w)));
  return differentiate(b.finish(), "loss", {"xq", "xk", "xv"});
}

void compare(const Graph& g, const std::vector<SymbolBindings>& sizes, int attention_regions, uint64_t seed,
             const std::function<void(std::vector<Tensor>&)>& adjust = {}) {
  auto interp = InterpBackend().compile(g);
  auto llvm = LlvmBackend().compile_llvm(g);
  EXPECT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
  RegionCounts counts = count_regions(llvm->compiled_graph());
  EXPECT_EQ(counts.attention, attention_regions) << g.name();
  for (const SymbolBindings& dims : sizes) {
    std::vector<Tensor> inputs = random_inputs(g, dims, seed++);
    if (adjust) adjust(inputs);
    std::vector<Tensor> want = interp->run(inputs);
    std::vector<Tensor> got = llvm->run(inputs);
    ASSERT_EQ(want.size(), got.size());
    std::string at = g.name();
    for (const auto& [name, v] : dims) at += fmt::format(" {}={}", name, v);
    for (size_t k = 0; k < want.size(); ++k)
      expect_close(want[k], got[k], kAttention, at + " output " + std::to_string(k));
  }
}

const std::vector<int64_t> kOdd = {1, 3, 7, 33, 65};

std::vector<SymbolBindings> odd_lengths() {
  std::vector<SymbolBindings> out;
  for (int64_t t : kOdd)
    for (int64_t s : kOdd) out.push_back({{"T", t}, {"S", s}});
  return out;
}

class AttentionRegion : public ::testing::TestWithParam<Mask> {};

TEST_P(AttentionRegion, ForwardMatchesTheInterpreterAtOddSizes) {
  for (int64_t h : {1, 3})
    for (int64_t d : kOdd) compare(multi_head_graph(h, d, GetParam(), false), odd_lengths(), 1, 11);
}

TEST_P(AttentionRegion, GradientMatchesTheInterpreterAtOddSizes) {
  std::vector<SymbolBindings> sizes = {
      {{"T", 1}, {"S", 1}}, {{"T", 3}, {"S", 7}}, {{"T", 33}, {"S", 3}}, {{"T", 7}, {"S", 65}}, {{"T", 65}, {"S", 33}}};
  for (int64_t h : {1, 3})
    for (int64_t d : {1, 7, 33}) compare(multi_head_graph(h, d, GetParam(), true), sizes, 2, 23);
}

INSTANTIATE_TEST_SUITE_P(Masks, AttentionRegion,
                         ::testing::Values(Mask::none, Mask::padding, Mask::additive, Mask::causal,
                                           Mask::causal_padding),
                         [](const auto& info) { return mask_name(info.param); });

/// Every key of the first batch element masked: its rows are NaN, as the decomposition's softmax
/// makes them (0/0), and the other element's rows are unaffected.
TEST(AttentionRegionMasking, FullyMaskedRowsAreNaNAsInTheDecomposition) {
  for (bool train : {false, true})
    for (Mask mask : {Mask::padding, Mask::causal_padding}) {
      Graph g = multi_head_graph(3, 7, mask, train);
      compare(g, {{{"T", 5}, {"S", 9}}, {{"T", 17}, {"S", 1}}}, train ? 2 : 1, 5, [](std::vector<Tensor>& in) {
        Tensor& pad = in[3];  // xq, xk, xv, pad
        int64_t s = pad.shape()[1];
        for (int64_t j = 0; j < s; ++j) {
          pad.data<bool>()[j] = true;       // element 0: all masked
          pad.data<bool>()[s + j] = j > 0;  // element 1: only key 0 visible
        }
      });
    }
}

/// An additive mask of -inf everywhere but one key, and of +inf (which makes the row NaN).
TEST(AttentionRegionMasking, InfiniteAdditiveMasksMatchTheDecomposition) {
  Graph g = multi_head_graph(1, 3, Mask::additive, false);
  compare(g, {{{"T", 4}, {"S", 6}}}, 1, 3, [](std::vector<Tensor>& in) {
    Tensor& bias = in[3];  // [1, T, S]
    int64_t t = bias.shape()[1], s = bias.shape()[2];
    for (int64_t i = 0; i < t; ++i)
      for (int64_t j = 0; j < s; ++j) bias.data<float>()[i * s + j] = i == 3 ? INFINITY : (j == i ? 0.5f : -INFINITY);
  });
}

/// Attention straight on [..., T, d] tensors with two batch dims and no heads to split, and a
/// decode step's shape (one query row per head, the query reshaped from [R, h·d]).
TEST(AttentionRegionShapes, PlainBatchedAndDecodeStepShapes) {
  {
    Builder b("plain");
    dsl::Tensor q = b.input("q", "f32[2, 3, T<=40, 5]");
    dsl::Tensor k = b.input("k", "f32[2, 3, S<=40, 5]");
    dsl::Tensor v = b.input("v", "f32[2, 3, S<=40, 9]");
    b.output("y", dsl::attention(q, k, v, {}, {.scale = 0.3}));
    compare(b.finish(), {{{"T", 1}, {"S", 1}}, {{"T", 33}, {"S", 17}}, {{"T", 3}, {"S", 40}}}, 1, 1);
  }
  {
    Builder b("decode");
    dsl::Tensor x = b.input("x", "f32[R<=8, 12]");
    dsl::Tensor k = b.input("k", "f32[R<=8, 4, P<=40, 3]");
    dsl::Tensor v = b.input("v", "f32[R<=8, 4, P<=40, 3]");
    dsl::Tensor q = dsl::reshape(x, {x.dim(0), Dim(4), Dim(1), Dim(3)});
    dsl::Tensor out = dsl::attention(q, k, v);
    b.output("y", dsl::reshape(out, {x.dim(0), Dim(12)}));
    compare(b.finish(), {{{"R", 1}, {"P", 1}}, {{"R", 8}, {"P", 33}}, {{"R", 3}, {"P", 7}}}, 1, 2);
  }
}

/// An attention_backward written directly, without the forward's saved output and statistics
/// (what autodiff emits when no save rule ran): the kernel runs the forward's loop again.
TEST(AttentionRegionShapes, GradientWithoutSavedStatisticsRecomputesThem) {
  for (bool masked : {false, true}) {
    Graph g(masked ? "backward_masked" : "backward");
    g.declare_symbol("T", 40);
    g.declare_symbol("S", 40);
    auto t = [](const char* rows, int64_t d) { return f32({Dim(2), Dim(3), Dim::symbol(rows), Dim(d)}); };
    std::vector<ValueId> ops{g.add_input("q", t("T", 7)), g.add_input("k", t("S", 7)), g.add_input("v", t("S", 5))};
    if (masked)
      ops.push_back(g.add_input("pad", TensorType{DType::boolean, {Dim(2), Dim(1), Dim(1), Dim::symbol("S")}}));
    ops.push_back(g.add_input("g", t("T", 5)));
    GraphBuilder b(g);
    std::vector<ValueId> d = b.emit(OpKind::attention_backward, ops, Attrs{{"causal", true}, {"scale", 0.5}});
    g.add_output("dq", d[0]);
    g.add_output("dk", d[1]);
    g.add_output("dv", d[2]);
    compare(g, {{{"T", 1}, {"S", 1}}, {{"T", 33}, {"S", 17}}, {{"T", 7}, {"S", 40}}}, 1, 4);
  }
}

/// On a gradient path the forward also writes its rows' log-sum-exps, which the backward reads
/// together with the forward's output, read back through the heads' merge.
TEST(AttentionRegionFusion, TheGradientReadsTheForwardsOutputAndStatistics) {
  Graph g = multi_head_graph(3, 7, Mask::causal, true);
  auto llvm = LlvmBackend().compile_llvm(g);
  int forward = 0, backward = 0;
  for (const Node& n : llvm->compiled_graph().nodes()) {
    if (n.op == OpKind::transpose) ADD_FAILURE() << "a transpose outside the regions";
    if (n.op != OpKind::fusion || n.attrs.get_string("kind") != "attention") continue;
    EXPECT_EQ(region_rule_violation(*n.body, "attention"), "");
    for (const Node& m : n.body->nodes()) {
      if (m.op == OpKind::attention) {
        ++forward;
        EXPECT_TRUE(m.attrs.get_bool("with_stats"));
        EXPECT_EQ(n.results.size(), 2u) << "the merged output and the statistics";
      }
      if (m.op == OpKind::attention_backward) {
        ++backward;
        EXPECT_TRUE(m.attrs.get_bool("with_stats"));
      }
    }
  }
  EXPECT_EQ(forward, 1);
  EXPECT_EQ(backward, 1);
}

TEST(AttentionRegionFusion, TheHeadSplitAndMergeAreInsideTheRegion) {
  Graph g = multi_head_graph(3, 7, Mask::padding, false);
  auto llvm = LlvmBackend().compile_llvm(g);
  const Graph& lowered = llvm->compiled_graph();
  RegionCounts counts = count_regions(lowered);
  // The region, and the padding mask's reshape: nothing copies q, k, v or the output.
  EXPECT_EQ(counts.attention, 1);
  for (const Node& n : lowered.nodes()) {
    EXPECT_NE(n.op, OpKind::transpose);
    if (n.op == OpKind::fusion && n.attrs.get_string("kind") == "attention") {
      EXPECT_EQ(region_rule_violation(*n.body, "attention"), "");
    }
  }
  EXPECT_EQ(counts.total - counts.attention, counts.loop) << "only the mask's own region besides";
}

}  // namespace
}  // namespace weft::llvm_tests
