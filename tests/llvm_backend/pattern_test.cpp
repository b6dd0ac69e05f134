/** \file
 * Composite ops and fused patterns on the LLVM backend against the interpreter: softmax,
 * log_softmax, layer_norm, attention, the losses, gelu, matmul + bias + relu. The patterns the
 * fuser turns into one region must become generated code, not the interpreter fallback, and the
 * graphs run with symbolic dims bound at run time (one executable, several sizes).
 */
#include <gtest/gtest.h>

#include "frontend/builder.h"
#include "frontend/nn/transformer.h"
#include "frontend/tensor_ops.h"
#include "passes/fuse.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

using dsl::Builder;

/// Runs `g` at each binding on both backends; expects no fallback when `compiled`.
void check(const Graph& g, const std::vector<SymbolBindings>& sizes, Tolerance tol, bool compiled = true,
           double lo = -2, double hi = 2) {
  auto interp = InterpBackend().compile(g);
  auto llvm = LlvmBackend().compile_llvm(g);
  if (compiled) {
    EXPECT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
  }
  uint64_t seed = 7;
  for (const SymbolBindings& dims : sizes) {
    std::vector<Tensor> inputs = random_inputs(g, dims, seed++, lo, hi);
    std::vector<Tensor> want = interp->run(inputs);
    std::vector<Tensor> got = llvm->run(inputs);
    ASSERT_EQ(want.size(), got.size());
    std::string at;
    for (const auto& [name, v] : dims) at += fmt::format(" {}={}", name, v);
    for (size_t k = 0; k < want.size(); ++k) expect_close(want[k], got[k], tol, g.name() + at);
  }
}

const std::vector<SymbolBindings> kRows = {{{"B", 1}, {"N", 1}}, {{"B", 3}, {"N", 7}}, {{"B", 5}, {"N", 13}},
                                           {{"B", 2}, {"N", 67}}, {{"B", 9}, {"N", 129}}};

TEST(LlvmPatterns, SoftmaxIsOneCompiledReductionRegion) {
  Builder b("softmax");
  auto x = b.input("x", "f32[B<=64, N<=256]");
  b.output("y", dsl::softmax(x));
  Graph g = b.finish();
  auto exe = LlvmBackend().compile_llvm(g);
  RegionCounts counts = count_regions(exe->compiled_graph());
  EXPECT_EQ(counts.total, 1);
  EXPECT_EQ(counts.reduction, 1);
  check(g, kRows, kReduction, true, -30, 30);
}

TEST(LlvmPatterns, SoftmaxOverTheFirstAxis) {
  Builder b("softmax0");
  auto x = b.input("x", "f32[B<=64, N<=256]");
  b.output("y", dsl::softmax(x, 0));
  check(b.finish(), kRows, kReduction);
}

TEST(LlvmPatterns, LogSoftmax) {
  Builder b("log_softmax");
  auto x = b.input("x", "f32[B<=64, N<=256]");
  b.output("y", dsl::log_softmax(x));
  check(b.finish(), kRows, kReduction, true, -30, 30);
}

TEST(LlvmPatterns, LayerNormWithAffineTransform) {
  Builder b("layer_norm");
  auto x = b.input("x", "f32[B<=64, T<=32, 13]");
  auto gamma = b.input("gamma", "f32[13]");
  auto beta = b.input("beta", "f32[13]");
  b.output("y", dsl::layer_norm(x, gamma, beta));
  Graph g = b.finish();
  auto exe = LlvmBackend().compile_llvm(g);
  EXPECT_EQ(count_regions(exe->compiled_graph()).reduction, 1);
  check(g, {{{"B", 1}, {"T", 1}}, {{"B", 3}, {"T", 7}}, {{"B", 2}, {"T", 32}}}, kReduction);
}

TEST(LlvmPatterns, LayerNormOverTwoAxesWithoutAffine) {
  Builder b("layer_norm2");
  auto x = b.input("x", "f32[B<=64, 5, N<=256]");
  b.output("y", dsl::layer_norm(x, {}, {}, {.axis = 1, .eps = 1e-5}));
  check(b.finish(), kRows, kReduction);
}

TEST(LlvmPatterns, MatmulBiasReluIsOneCompiledMatmulRegion) {
  Builder b("mlp_layer");
  auto x = b.input("x", "f32[B<=64, N<=256]");
  auto w = b.input("w", "f32[N, 19]");
  auto bias = b.input("bias", "f32[19]");
  b.output("y", dsl::relu(dsl::matmul(x, w) + bias));
  Graph g = b.finish();
  auto exe = LlvmBackend().compile_llvm(g);
  RegionCounts counts = count_regions(exe->compiled_graph());
  EXPECT_EQ(counts.total, 1);
  EXPECT_EQ(counts.matmul, 1);
  check(g, kRows, kMatmul);
}

TEST(LlvmPatterns, LinearWithTransposedWeightAndResidual) {
  Builder b("residual");
  auto x = b.input("x", "f32[B<=8, T<=16, 24]");
  auto w = b.input("w", "f32[24, 24]");
  auto bias = b.input("bias", "f32[24]");
  b.output("y", x + dsl::gelu(dsl::matmul(x, w, {.transpose_b = true}) + bias));
  check(b.finish(), {{{"B", 1}, {"T", 1}}, {{"B", 3}, {"T", 7}}, {{"B", 2}, {"T", 13}}}, kMatmul);
}

TEST(LlvmPatterns, GeluBothForms) {
  Builder b("gelu");
  auto x = b.input("x", "f32[B<=64, N<=256]");
  b.output("exact", dsl::gelu(x));
  b.output("tanh", dsl::gelu(x, "tanh"));
  check(b.finish(), kRows, kTranscendental, true, -6, 6);
}

TEST(LlvmPatterns, SelfAttentionWithCausalMask) {
  Builder b("attention");
  auto q = b.input("q", "f32[B<=8, T<=32, 16]");
  auto k = b.input("k", "f32[B, T, 16]");
  auto v = b.input("v", "f32[B, T, 16]");
  b.output("y", dsl::attention(q, k, v, {}, {.causal = true}));
  check(b.finish(), {{{"B", 1}, {"T", 1}}, {{"B", 2}, {"T", 3}}, {{"B", 3}, {"T", 7}}, {{"B", 2}, {"T", 29}}},
        kMatmul);
}

TEST(LlvmPatterns, CrossAttentionWithBoolMask) {
  Builder b("cross_attention");
  auto q = b.input("q", "f32[B<=8, 2, T<=32, 8]");
  auto k = b.input("k", "f32[B, 2, S<=32, 8]");
  auto v = b.input("v", "f32[B, 2, S, 8]");
  auto mask = b.input("mask", "bool[T, S]");
  b.output("y", dsl::attention(q, k, v, mask));
  check(b.finish(), {{{"B", 1}, {"T", 3}, {"S", 5}}, {{"B", 2}, {"T", 7}, {"S", 13}}}, kMatmul);
}

TEST(LlvmPatterns, TransformerEncoderLayerIsAllGeneratedCode) {
  Builder b("encoder_layer");
  auto src = b.input("src", "f32[B<=4, S<=16, 16]");
  nn::TransformerEncoderLayer layer(b, "layer", {.d_model = 16, .nhead = 4, .dim_feedforward = 32, .dropout = 0.0});
  b.output("y", layer(src, {.causal = true}));
  check(b.finish(), {{{"B", 1}, {"S", 1}}, {{"B", 2}, {"S", 7}}, {{"B", 3}, {"S", 16}}}, kMatmul);
}

TEST(LlvmPatterns, CrossEntropyWithLabelSmoothing) {
  Builder b("cross_entropy");
  auto logits = b.input("logits", "f32[B<=64, 11]");
  auto targets = b.input("targets", "i64[B]");
  b.output("loss", dsl::cross_entropy(logits, targets, {.label_smoothing = 0.1}));
  Graph g = b.finish();
  // The row-wise log-softmax and the sums are reduction regions; picking each row's target is a
  // generated gather: nothing runs on the interpreter.
  auto exe = LlvmBackend().compile_llvm(g);
  EXPECT_GE(count_regions(exe->compiled_graph()).reduction, 1);
  check(g, {{{"B", 1}}, {{"B", 7}}, {{"B", 33}}}, kReduction, true, -4, 4);
}

TEST(LlvmPatterns, MseAndKlDivLosses) {
  Builder b("losses");
  auto x = b.input("x", "f32[B<=64, N<=256]");
  auto y = b.input("y", "f32[B, N]");
  b.output("mse", dsl::mse_loss(x, y));
  b.output("kl", dsl::kl_div(dsl::log_softmax(x), dsl::softmax(y)));
  check(b.finish(), kRows, kReduction);
}

TEST(LlvmPatterns, EmbeddingAndDropoutAreGeneratedCodeAndMatch) {
  Builder b("embedding");
  auto table = b.input("table", "f32[10, 6]");
  auto ids = b.input("ids", "i64[B<=16, T<=8]");
  auto offset = b.input("offset", "i64[]");
  auto e = dsl::embedding(table, ids);
  b.output("y", dsl::dropout(e * 2.0, offset, {.p = 0.25, .seed = 3}));
  check(b.finish(), {{{"B", 2}, {"T", 3}}, {{"B", 5}, {"T", 8}}}, kExact);
}

TEST(LlvmPatterns, OneGraphRunsAtSeveralSizesOfABoundedSymbol) {
  Builder b("symbolic");
  auto x = b.input("x", "f32[T<=16, 13]");
  b.output("y", dsl::softmax(dsl::tanh(x) * 3.0));
  b.output("s", dsl::sum(x, {0}));
  Graph g = b.finish();
  check(g, {{{"T", 3}}, {{"T", 7}}, {{"T", 16}}, {{"T", 3}}}, kReduction);
}

TEST(LlvmPatterns, UnboundedSymbolsArePlannedPerSize) {
  Builder b("unbounded");
  auto x = b.input("x", "f32[T, 13]");
  b.output("y", dsl::exp(x) + dsl::mean(x, {1}, true));
  Graph g = b.finish();
  check(g, {{{"T", 3}}, {{"T", 7}}, {{"T", 300}}, {{"T", 3}}}, kReduction);
}

TEST(LlvmPatterns, LargeRegionsSplitAcrossThreadsGiveTheSameResults) {
  // Past the size (2^15 elements) where regions are cut into tasks for the thread pool: rows
  // split, columns split (few long rows), rows in lanes split by column blocks.
  Builder b("large");
  auto x = b.input("x", "f32[B<=4096, N<=4096]");
  auto bias = b.input("bias", "f32[N]");
  b.output("act", dsl::tanh(x + bias) * 2.0);
  b.output("softmax", dsl::softmax(x));
  b.output("column_sums", dsl::sum(x, {0}));
  b.output("row_max", dsl::max(x, {1}));
  check(b.finish(), {{{"B", 300}, {"N", 1000}}, {{"B", 2}, {"N", 4093}}, {{"B", 4096}, {"N", 9}}}, kReduction);
}

TEST(LlvmPatterns, ZeroSizedDimsRunNothingAndSumToZero) {
  Builder b("empty");
  auto x = b.input("x", "f32[T<=16, N<=16]");
  b.output("y", dsl::exp(x));
  b.output("s", dsl::sum(x, {1}));
  check(b.finish(), {{{"T", 0}, {"N", 5}}, {{"T", 4}, {"N", 0}}}, kReduction);
}

}  // namespace
}  // namespace weft::llvm_tests
