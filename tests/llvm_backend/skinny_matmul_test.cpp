/** \file
 * Matmul regions at the skinny shapes of recurrent and decode steps against the interpreter:
 * x·Wᵀ and x·W with M from 1 to 65 rows, matrix–vector products (N = 1) and attention's batched
 * products, each with the epilogues a matmul region takes (bias, relu, a residual add, a scale),
 * at the edge sizes of the GEMM's dot-product and blocked paths (matmul_skinny_codegen.cpp). One
 * executable per graph, its symbolic dims bound to every size.
 */
#include <gtest/gtest.h>

#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "passes/fuse.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

using dsl::Builder;

/// Float sums of up to 1,000 products taken in other orders than the interpreter's (inputs in
/// [-1, 1], so sums stay below ~100 and their rounding below 1e-4).
constexpr Tolerance kLongSums{1e-4, 1e-4};

/// Runs `g` at each binding on both backends; every matmul must be a compiled matmul region.
void check(const Graph& g, const std::vector<SymbolBindings>& sizes) {
  auto interp = InterpBackend().compile(g);
  auto llvm = LlvmBackend().compile_llvm(g);
  EXPECT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
  EXPECT_GE(count_regions(llvm->compiled_graph()).matmul, 1);
  uint64_t seed = 3;
  for (const SymbolBindings& dims : sizes) {
    std::vector<Tensor> inputs = random_inputs(g, dims, seed++, -1, 1);
    std::vector<Tensor> want = interp->run(inputs);
    std::vector<Tensor> got = llvm->run(inputs);
    ASSERT_EQ(want.size(), got.size());
    std::string at;
    for (const auto& [name, v] : dims) at += fmt::format(" {}={}", name, v);
    for (size_t k = 0; k < want.size(); ++k) expect_close(want[k], got[k], kLongSums, g.name() + at);
  }
}

/// Every (M, N, K) of the edge sizes with M or N small, and a few with both long.
std::vector<SymbolBindings> skinny_sizes() {
  std::vector<SymbolBindings> sizes;
  for (int64_t m : {1, 2, 3, 7, 31, 33, 65})
    for (int64_t n : {1, 7, 33, 1000}) sizes.push_back({{"M", m}, {"N", n}, {"K", n == 1000 ? 33 : 65}});
  for (int64_t k : {1, 2, 3, 31, 1000}) sizes.push_back({{"M", 7}, {"N", 33}, {"K", k}});
  sizes.push_back({{"M", 1000}, {"N", 1}, {"K", 65}});
  sizes.push_back({{"M", 1000}, {"N", 3}, {"K", 31}});
  sizes.push_back({{"M", 200}, {"N", 300}, {"K", 70}});
  return sizes;
}

TEST(LlvmSkinnyMatmul, LinearWithBiasReluAndResidual) {
  // y = r + relu(x·Wᵀ + b): a Linear layer of a recurrent or decode step, fused into one region.
  Builder b("linear_step");
  auto x = b.input("x", "f32[M<=1000, K<=1000]");
  auto w = b.input("w", "f32[N<=1000, K]");
  auto bias = b.input("bias", "f32[N]");
  auto r = b.input("r", "f32[M, N]");
  b.output("y", r + dsl::relu(dsl::matmul(x, w, {.transpose_b = true}) + bias));
  check(b.finish(), skinny_sizes());
}

TEST(LlvmSkinnyMatmul, UntransposedWeightWithBias) {
  // y = x·W + b with W stored K×N (the backward pass's dy·W): the blocked path.
  Builder b("linear_kn");
  auto x = b.input("x", "f32[M<=1000, K<=1000]");
  auto w = b.input("w", "f32[K, N<=1000]");
  auto bias = b.input("bias", "f32[N]");
  b.output("y", dsl::matmul(x, w) + bias);
  check(b.finish(), skinny_sizes());
}

TEST(LlvmSkinnyMatmul, MatrixVectorProducts) {
  // Attention scores against one query, both ways round (N = 1 with the vector stored as a row
  // or as a column), scaled and shifted in the epilogue.
  Builder b("gemv");
  auto keys = b.input("keys", "f32[M<=1000, K<=1000]");
  auto q_row = b.input("q_row", "f32[1, K]");
  auto q_col = b.input("q_col", "f32[K, 1]");
  auto shift = b.input("shift", "f32[M, 1]");
  b.output("row", dsl::matmul(keys, q_row, {.transpose_b = true}) * 0.125 + shift);
  b.output("col", dsl::relu(dsl::matmul(keys, q_col)));
  std::vector<SymbolBindings> sizes;
  for (int64_t m : {1, 2, 3, 7, 31, 33, 65, 1000})
    for (int64_t k : {1, 3, 33, 1000}) sizes.push_back({{"M", m}, {"K", k}});
  check(b.finish(), sizes);
}

TEST(LlvmSkinnyMatmul, BatchedAttentionProducts) {
  // [B·h, T, dk] scores q·kᵀ (scaled, plus a mask) and weights·values, and one decode step's
  // scores (T_q = 1).
  Builder b("attention_products");
  auto q = b.input("q", "f32[H<=64, T<=65, D<=64]");
  auto k = b.input("k", "f32[H, S<=65, D]");
  auto v = b.input("v", "f32[H, S, D]");
  auto mask = b.input("mask", "f32[T, S]");
  auto scores = dsl::matmul(q, k, {.transpose_b = true}) * 0.125 + mask;
  b.output("scores", scores);
  b.output("context", dsl::matmul(scores, v));
  std::vector<SymbolBindings> sizes;
  for (int64_t t : {1, 2, 7, 33, 65})
    for (int64_t s : {1, 31, 65}) sizes.push_back({{"H", 8}, {"T", t}, {"S", s}, {"D", 64}});
  sizes.push_back({{"H", 64}, {"T", 32}, {"S", 32}, {"D", 7}});
  check(b.finish(), sizes);
}

}  // namespace
}  // namespace weft::llvm_tests
