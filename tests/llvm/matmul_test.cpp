// The generated SGEMM against a naive triple loop in double: odd sizes, every transpose, batches,
// padded leading dimensions, accumulation, K = 0, an epilogue, and blockings other than the host's;
// skinny and matrix–vector products (the dot path) at their edge sizes.
#include <gtest/gtest.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "backends/llvm/matmul_codegen.h"
#include "ir/error.h"
#include "runtime/thread_pool.h"
#include "tests/llvm/gemm_testing.h"

namespace weft::llvm_backend {
namespace {

const GemmKernel& plain_kernel(bool ta, bool tb) {
  static const GemmKernel kernels[4] = {
      GemmKernel::compile({false, false, false, {}}), GemmKernel::compile({false, true, false, {}}),
      GemmKernel::compile({true, false, false, {}}), GemmKernel::compile({true, true, false, {}})};
  return kernels[(ta ? 2 : 0) + (tb ? 1 : 0)];
}

TEST(LlvmGemm, MultipliesTwoByTwoByHand) {
  // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50]
  float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8}, c[4] = {};
  GemmArgs args;
  args.a = a;
  args.b = b;
  args.c = c;
  args.m = args.n = args.k = 2;
  args.lda = args.ldb = args.ldc = 2;
  plain_kernel(false, false)(args);
  EXPECT_EQ(c[0], 19);
  EXPECT_EQ(c[1], 22);
  EXPECT_EQ(c[2], 43);
  EXPECT_EQ(c[3], 50);
}

TEST(LlvmGemm, MatchesNaiveLoopOnOddShapes) {
  for (auto [m, n, k] : std::vector<std::array<int64_t, 3>>{{1, 1, 1},
                                                            {7, 13, 5},
                                                            {67, 129, 33},
                                                            {6, 16, 256},
                                                            {5, 15, 257},
                                                            {13, 33, 1},
                                                            {1, 300, 7},
                                                            {300, 1, 7},
                                                            {97, 2055, 3}}) {
    check_against_naive(plain_kernel(false, false), {m, n, k});
  }
}

TEST(LlvmGemm, CrossesEveryCacheBlockBoundary) {
  // More rows than MC, columns than NC and depth than KC, none a multiple of its block.
  const GemmBlocking g = GemmBlocking::for_host();
  check_against_naive(plain_kernel(false, false), {g.mc * 2 + 5, g.nc + 17, g.kc * 2 + 3});
}

TEST(LlvmGemm, HandlesEveryTransposeCombination) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      check_against_naive(plain_kernel(ta, tb), {67, 129, 33, ta, tb});
      check_against_naive(plain_kernel(ta, tb), {7, 13, 5, ta, tb});
      check_against_naive(plain_kernel(ta, tb), {150, 40, 300, ta, tb});
    }
  }
}

TEST(LlvmGemm, RunsBatchesWithPaddedLeadingDimensions) {
  check_against_naive(plain_kernel(false, false), {7, 13, 5, false, false, 3, 2});
  check_against_naive(plain_kernel(true, true), {67, 19, 33, true, true, 5, 3});
  check_against_naive(plain_kernel(false, true), {1, 1, 1, false, true, 17, 1});
}

TEST(LlvmGemm, AccumulatesIntoC) {
  GemmKernel acc = GemmKernel::compile({false, false, true, {}});
  check_against_naive(acc, {67, 129, 300});
  check_against_naive(acc, {7, 13, 5, false, false, 2, 1});
}

TEST(LlvmGemm, ZeroDepthWritesZerosOrKeepsC) {
  // Both skinny paths (B stored K×N: the row path; transposed, or one column: the dot path).
  for (bool tb : {false, true}) {
    for (int64_t n : {3, 1}) {
      float a[1] = {}, b[1] = {}, c[6] = {1, 2, 3, 4, 5, 6};
      GemmArgs args;
      args.a = a;
      args.b = b;
      args.c = c;
      args.m = 2;
      args.n = n;
      args.k = 0;
      args.lda = 1;
      args.ldb = tb ? 1 : n;
      args.ldc = n;
      GemmKernel::compile({false, tb, true, {}})(args);
      for (int64_t i = 0; i < 2 * n; ++i) EXPECT_EQ(c[i], float(i + 1)) << "C += nothing, n=" << n;
      plain_kernel(false, tb)(args);
      for (int64_t i = 0; i < 2 * n; ++i) EXPECT_EQ(c[i], 0) << "C = empty sum, n=" << n;
      EXPECT_EQ(c[5], n == 3 ? 0 : 6);  // nothing past C
    }
  }
}

TEST(LlvmGemm, NarrowerVectorsAndOtherTilesAgree) {
  // SSE-width vectors and a small odd register tile, on the host (any x86-64 runs them).
  GemmBlocking g = GemmBlocking::for_target(4, 16);
  EXPECT_EQ(g.nr, 8);
  check_against_naive(GemmKernel::compile({false, false, false, {}}, g), {67, 129, 33});
  // The AVX-512 configuration (16 floats, 6×64 tile over KC = 512): LLVM splits its vectors on an
  // AVX2 host, slowly but exactly, so the tile logic is checked here too; and the 14×32 tile it
  // replaced, over two KC blocks.
  GemmBlocking wide = GemmBlocking::for_target(16, 32);
  EXPECT_EQ(wide.mr, 6);
  EXPECT_EQ(wide.nr, 64);
  EXPECT_EQ(wide.kc, 512);
  check_against_naive(GemmKernel::compile({false, true, false, {}}, wide), {67, 129, 33, false, true});
  check_against_naive(GemmKernel::compile({false, false, false, {}}, wide), {131, 200, 600});
  GemmBlocking tall = wide;
  tall.mr = 14;
  tall.nr = 32;
  tall.kc = 256;
  tall.mc = 336;
  tall.nc = 2048;
  check_against_naive(GemmKernel::compile({false, true, false, {}}, tall), {131, 67, 300, false, true});
  // The dot path at these widths (3×3 register blocks below 32 registers).
  EXPECT_EQ(g.dot_mr, 3);
  check_against_naive(GemmKernel::compile({false, true, false, {}}, g), {5, 67, 33, false, true});
  check_against_naive(GemmKernel::compile({false, true, false, {}}, GemmBlocking::for_target(8, 16)),
                      {7, 61, 35, false, true});
  check_against_naive(GemmKernel::compile({false, true, false, {}}, wide), {5, 67, 35, false, true});
  GemmBlocking odd;
  odd.vector_floats = 8;
  odd.mr = 3;
  odd.nr = 8;
  odd.kc = 17;
  odd.mc = 9;
  odd.nc = 24;
  odd.k_unroll = 3;
  check_against_naive(GemmKernel::compile({true, false, true, {}}, odd), {67, 129, 33, true, false, 2});
}

// C = relu(op(A)·op(B) + bias[col]) for an m × n × k product, against the naive loop.
void check_bias_relu_epilogue(bool transpose_b, int64_t m, int64_t n, int64_t k) {
  GemmSpec spec;
  spec.transpose_b = transpose_b;
  spec.epilogue = [](const EpilogueContext& e, llvm::Value* v) -> llvm::Value* {
    llvm::IRBuilderBase& b = e.builder;
    auto* vec = llvm::cast<llvm::FixedVectorType>(v->getType());
    llvm::Value* p = b.CreateGEP(b.getFloatTy(), e.data, e.col);
    llvm::Value* bias = e.mask ? static_cast<llvm::Value*>(b.CreateMaskedLoad(vec, p, llvm::Align(4), e.mask))
                               : b.CreateAlignedLoad(vec, p, llvm::Align(4));
    llvm::Value* sum = b.CreateFAdd(v, bias);
    return b.CreateIntrinsic(llvm::Intrinsic::maxnum, {vec}, {sum, llvm::ConstantFP::get(vec, 0.0)});
  };
  GemmKernel kernel = GemmKernel::compile(spec);
  std::vector<float> a = random_vector(m * k, 5), b = random_vector(k * n, 6), bias(n), c(m * n);
  for (int64_t j = 0; j < n; ++j) bias[j] = (j % 2 == 0) ? 100.0f : -100.0f;
  GemmArgs args;
  args.a = a.data();
  args.b = b.data();
  args.c = c.data();
  args.m = m;
  args.n = n;
  args.k = k;
  args.lda = k;
  args.ldb = transpose_b ? k : n;
  args.ldc = n;
  args.epilogue_data = bias.data();
  kernel(args);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t kk = 0; kk < k; ++kk) sum += double(a[i * k + kk]) * b[transpose_b ? j * k + kk : kk * n + j];
      double expected = std::max(0.0, sum + bias[j]);  // |sum| < 100 here, so +bias wins
      ASSERT_NEAR(c[i * n + j], expected, 1e-3) << m << "x" << n << "x" << k << " at " << i << "," << j;
    }
  }
}

TEST(LlvmGemm, AppliesEpilogueOnceAfterTheLastBlock) {
  // K spans several KC blocks, so an early epilogue would show.
  check_bias_relu_epilogue(false, 9, 21, 600);
}

TEST(LlvmGemm, AppliesEpilogueOnTheDotPath) {
  // Skinny x·Wᵀ products (the dot path): whole row blocks, rows left over, one row, one column,
  // and column chunks with a remainder.
  for (auto [m, n, k] : std::vector<std::array<int64_t, 3>>{{9, 21, 600}, {3, 40, 33}, {1, 31, 7}, {70, 1, 65}})
    check_bias_relu_epilogue(true, m, n, k);
}

TEST(LlvmGemm, ResultsDoNotDependOnTiling) {
  // Rows 7.. and columns 5.. computed as their own product (so every micro-tile and task
  // boundary moves) are bit-identical to the same elements of the whole product: each element
  // is summed in the same order however the output is cut, and so however many threads run.
  const int64_t m = 300, n = 200, k = 700;
  std::vector<float> a = random_vector(m * k, 11), b = random_vector(k * n, 12);
  std::vector<float> whole(m * n), part(m * n);
  GemmArgs args;
  args.a = a.data();
  args.b = b.data();
  args.c = whole.data();
  args.m = m;
  args.n = n;
  args.k = k;
  args.lda = k;
  args.ldb = n;
  args.ldc = n;
  plain_kernel(false, false)(args);
  args.a = a.data() + 7 * k;
  args.b = b.data() + 5;
  args.c = part.data() + 7 * n + 5;
  args.m = m - 7;
  args.n = n - 5;
  plain_kernel(false, false)(args);
  for (int64_t i = 7; i < m; ++i) {
    for (int64_t j = 5; j < n; ++j) ASSERT_EQ(part[i * n + j], whole[i * n + j]) << i << "," << j;
  }
}

TEST(LlvmGemm, SkinnyProductsMatchNaiveLoopAtEdgeSizes) {
  // M or N from 1 to 65 and K at the vector and block edges, every transpose: the dot path takes
  // the untransposed-A ones whose op(B) columns are contiguous (B transposed, or N = 1), the
  // blocked path the rest.
  const std::vector<int64_t> small = {1, 2, 3, 7, 31, 33, 65};
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      const GemmKernel& kernel = plain_kernel(ta, tb);
      for (int64_t m : small)
        for (int64_t n : small)
          for (int64_t k : small) check_against_naive(kernel, {m, n, k, ta, tb});
      for (int64_t s : {1, 2, 3, 7, 33, 65}) {
        for (int64_t k : {7, 1000}) {
          check_against_naive(kernel, {s, 1000, k, ta, tb});
          check_against_naive(kernel, {1000, s, k, ta, tb});
        }
      }
    }
  }
}

TEST(LlvmGemm, SkinnyProductsBatchedPaddedAndAccumulated) {
  // Batches (attention's [B·h, T, dk]), leading dimensions wider than the rows (N = 1 with a
  // padded column is not contiguous, so it takes the blocked path), and C += A·B.
  for (bool tb : {false, true}) {
    for (auto [m, n, k] : std::vector<std::array<int64_t, 3>>{{1, 33, 64}, {31, 32, 64}, {65, 1, 31}, {3, 1000, 7}}) {
      check_against_naive(plain_kernel(false, tb), {m, n, k, false, tb, 5});
      check_against_naive(plain_kernel(false, tb), {m, n, k, false, tb, 2, 3});
      check_against_naive(GemmKernel::compile({false, tb, true, {}}), {m, n, k, false, tb, 2, 1});
    }
  }
}

TEST(LlvmGemm, EitherPathGivesTheProductAtAnyShape) {
  // The choice between the dot and blocked paths is a matter of speed: forced either way (and
  // the dot path in many small depth blocks), every shape (large ones included) gives the
  // product, and an epilogue sees only the final sums.
  GemmBlocking never = GemmBlocking::for_host(), always = GemmBlocking::for_host();
  never.dot_max_rows = never.dot_max_cols = 0;
  always.dot_max_rows = always.dot_max_cols = int{1} << 30;
  always.dot_kc = 40;  // many depth blocks (rounded up to whole vectors), the last one partial
  always.row_kc = 9;
  for (const GemmBlocking& g : {never, always}) {
    for (bool tb : {false, true}) {
      GemmKernel kernel = GemmKernel::compile({false, tb, false, {}}, g);
      for (auto [m, n, k] :
           std::vector<std::array<int64_t, 3>>{{300, 200, 700}, {1, 1000, 65}, {1000, 1, 33}, {7, 7, 7}})
        check_against_naive(kernel, {m, n, k, false, tb, 2});
    }
    // With the bias + relu epilogue, which must run once, after the last depth block.
    GemmSpec spec;
    spec.transpose_b = true;
    spec.epilogue = [](const EpilogueContext& e, llvm::Value* v) -> llvm::Value* {
      auto* vec = llvm::cast<llvm::FixedVectorType>(v->getType());
      return e.builder.CreateIntrinsic(llvm::Intrinsic::maxnum, {vec}, {v, llvm::ConstantFP::get(vec, 0.0)});
    };
    GemmKernel relu = GemmKernel::compile(spec, g);
    const int64_t m = 5, n = 70, k = 333;
    std::vector<float> a = random_vector(m * k, 31), b = random_vector(n * k, 32), c(m * n);
    GemmArgs args;
    args.a = a.data();
    args.b = b.data();
    args.c = c.data();
    args.m = m;
    args.n = n;
    args.k = k;
    args.lda = args.ldb = k;
    args.ldc = n;
    relu(args);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t kk = 0; kk < k; ++kk) sum += double(a[i * k + kk]) * b[j * k + kk];
        ASSERT_NEAR(c[i * n + j], std::max(sum, 0.0), 1e-4) << i << "," << j;
      }
    }
  }
}

TEST(LlvmGemm, SkinnyResultsAreBitIdenticalAtEveryThreadCount) {
  // The skinny paths cut tiles at whole register blocks, so which kernel computes an element (a
  // body block or a leftover row or column, whose sums run in different orders) depends on the
  // shape alone, never on how many tasks share the product (each of these is over the 2^20
  // multiply-adds from which the skinny paths use the pool).
  for (auto [m, n, k, tb] : std::vector<std::array<int64_t, 4>>{
           {1, 1000, 1100, 1}, {30, 997, 130, 1}, {61, 1000, 33, 0}, {1000, 1, 1100, 1}, {1, 999, 1100, 0}}) {
    std::vector<float> a = random_vector(m * k, 21), b = random_vector(k * n, 22);
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2, 3, 7}) {
      ThreadPool pool(threads);
      ThreadPoolScope scope(pool);
      std::vector<float> c(m * n);
      GemmArgs args;
      args.a = a.data();
      args.b = b.data();
      args.c = c.data();
      args.m = m;
      args.n = n;
      args.k = k;
      args.lda = k;
      args.ldb = tb ? k : n;
      args.ldc = n;
      plain_kernel(false, tb != 0)(args);
      results.push_back(std::move(c));
    }
    for (size_t t = 1; t < results.size(); ++t)
      ASSERT_EQ(results[t], results[0]) << m << "x" << n << "x" << k << (tb ? " B^T" : "") << ", run " << t;
  }
}

TEST(LlvmGemm, RejectsBadArguments) {
  float x[4] = {};
  GemmArgs args;
  args.a = args.b = x;
  args.c = x;
  args.m = args.n = args.k = 2;
  args.lda = 1;  // narrower than k
  args.ldb = args.ldc = 2;
  EXPECT_THROW(plain_kernel(false, false)(args), Error);
  args.lda = 2;
  args.m = -1;
  EXPECT_THROW(plain_kernel(false, false)(args), Error);
}

TEST(LlvmGemm, RecompilingTheSameSpecHitsTheCache) {
  Jit& jit = Jit::global();
  GemmKernel::compile({false, false, false, {}});
  int64_t compiled = jit.compiled_modules(), hits = jit.cache_hits();
  GemmKernel::compile({false, false, false, {}});
  EXPECT_EQ(jit.compiled_modules(), compiled);
  EXPECT_EQ(jit.cache_hits(), hits + 1);
}

}  // namespace
}  // namespace weft::llvm_backend
