/** \file
 * The reduction generator's fast paths against the interpreter (backends/llvm/reduction_codegen.cpp):
 * several accumulators per reduction, the softmax numerator parked in the output between passes,
 * and the next row's prefetch when the rows stream from memory.
 *
 * The accumulators split a row into whole steps of 4 vectors, then single vectors, then a masked
 * tail, so every length from 1 to past 4 × 2 vectors (of 8 or 16 lanes) is run by one executable;
 * NaN is planted in each accumulator's share in turn. Parking is checked where it applies
 * (softmax, a numerator shared by two outputs, a reduction over two axes) and where it must not
 * apply (an output that also reads the input the parked value would overwrite, if the two shared
 * memory). Tolerances are those of testing.h.
 */
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "backends/llvm/host_cache.h"
#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "passes/fuse.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

using dsl::Builder;

std::vector<SymbolBindings> every_length(int64_t rows, int64_t max_n) {
  std::vector<SymbolBindings> out;
  for (int64_t n = 1; n <= max_n; ++n) out.push_back({{"R", rows}, {"N", n}});
  return out;
}

/// Sums of up to 150 terms of magnitude 3 that cancel to near 0: any two summation orders differ
/// by up to about n · eps · Σ|x| ≈ 150 · 6e-8 · 225 ≈ 2e-6 absolute, beyond kReduction's atol.
constexpr Tolerance kLongSum{1e-5, 1e-5};

/// `g` at each binding on both backends, compiled once each; only reduction regions, no fallback.
void check(const Graph& g, const std::vector<SymbolBindings>& sizes, Tolerance tol, double lo = -3, double hi = 3) {
  auto interp = InterpBackend().compile(g);
  auto llvm = LlvmBackend().compile_llvm(g);
  EXPECT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
  RegionCounts counts = count_regions(llvm->compiled_graph());
  EXPECT_GE(counts.reduction, 1) << llvm->stats().report();
  EXPECT_EQ(counts.reduction, counts.total) << llvm->stats().report();
  uint64_t seed = 3;
  for (const SymbolBindings& dims : sizes) {
    std::vector<Tensor> inputs = random_inputs(g, dims, seed++, lo, hi);
    std::vector<Tensor> want = interp->run(inputs);
    std::vector<Tensor> got = llvm->run(inputs);
    ASSERT_EQ(want.size(), got.size());
    for (size_t k = 0; k < want.size(); ++k)
      expect_close(want[k], got[k], tol, fmt::format("{} R={} N={}", g.name(), dims.at("R"), dims.at("N")));
  }
}

TEST(LlvmReductionCodegen, SumMaxMinMeanAtEveryLengthUpToNineVectors) {
  Builder b("row_reductions");
  auto x = b.input("x", "f32[R<=16, N<=160]");
  b.output("sum", dsl::sum(x, {1}));
  b.output("max", dsl::max(x, {1}));
  b.output("min", dsl::min(x, {1}));
  b.output("mean", dsl::mean(x, {1}));
  check(b.finish(), every_length(3, 150), kLongSum);
}

TEST(LlvmReductionCodegen, IntegerSumsAreExactAtEveryLength) {
  Builder b("int_sums");
  auto x = b.input("x", "i32[R<=16, N<=160]");
  b.output("sum", dsl::sum(x, {1}));
  b.output("max", dsl::max(x, {1}));
  check(b.finish(), every_length(2, 140), kExact);
}

TEST(LlvmReductionCodegen, ArgmaxKeepsTheFirstIndexOfTheMaximumAtEveryLength) {
  Builder b("argmax");
  auto x = b.input("x", "i32[R<=16, N<=160]");  // 4 values: many ties
  b.output("i", dsl::argmax(x, 1));
  check(b.finish(), every_length(3, 140), kExact);
}

TEST(LlvmReductionCodegen, NaNInAnyAccumulatorsShareReachesMaxMinAndSum) {
  Builder b("nan");
  auto x = b.input("x", "f32[R<=16, N<=160]");
  b.output("sum", dsl::sum(x, {1}));
  b.output("max", dsl::max(x, {1}));
  b.output("min", dsl::min(x, {1}));
  b.output("argmax", dsl::argmax(x, 1));
  Graph g = b.finish();
  auto interp = InterpBackend().compile(g);
  auto llvm = LlvmBackend().compile(g);
  const int64_t n = 150;  // 4 whole steps of 4 vectors of 8 (or 2 of 16), then vectors, then a tail
  for (int64_t at = 0; at < n; at += 5) {
    std::vector<Tensor> inputs = random_inputs(g, {{"R", 2}, {"N", n}}, 9);
    inputs[0].data<float>()[n + at] = std::numeric_limits<float>::quiet_NaN();  // row 1 only
    std::vector<Tensor> want = interp->run(inputs);
    std::vector<Tensor> got = llvm->run(inputs);
    for (size_t k = 0; k < want.size(); ++k) expect_close(want[k], got[k], kLongSum, fmt::format("NaN at {}", at));
    EXPECT_TRUE(std::isnan(got[1].at(1))) << "max with NaN at " << at;
    EXPECT_EQ(got[3].at(1), double(at)) << "argmax with NaN at " << at;
  }
}

TEST(LlvmReductionCodegen, SoftmaxAtEveryLengthUpToNineVectors) {
  Builder b("softmax");
  auto x = b.input("x", "f32[R<=16, N<=160]");
  b.output("y", dsl::softmax(x));
  check(b.finish(), every_length(3, 150), kReduction, -30, 30);
}

TEST(LlvmReductionCodegen, SoftmaxWithInfinitiesAndNaN) {
  Builder b("softmax_special");
  auto x = b.input("x", "f32[R<=16, N<=160]");
  b.output("y", dsl::softmax(x));
  Graph g = b.finish();
  std::vector<Tensor> inputs = random_inputs(g, {{"R", 4}, {"N", 37}}, 5);
  float* p = inputs[0].data<float>();
  p[3] = std::numeric_limits<float>::infinity();         // row 0: +inf (NaN where exp(inf - inf))
  p[37 + 30] = -std::numeric_limits<float>::infinity();  // row 1: -inf alone (0)
  p[74 + 20] = std::numeric_limits<float>::quiet_NaN();  // row 2: NaN everywhere
  for (int i = 0; i < 37; ++i) p[111 + i] = -std::numeric_limits<float>::infinity();  // row 3: all -inf
  expect_same_outputs(g, inputs, kReduction);
}

TEST(LlvmReductionCodegen, ANumeratorSharedByTwoOutputs) {
  // e = exp(x - max) feeds the sum and two outputs: parked in one of them, loaded back for both.
  Builder b("shared_numerator");
  auto x = b.input("x", "f32[R<=16, N<=160]");
  auto e = dsl::exp(x - dsl::max(x, {1}, true));
  auto s = dsl::sum(e, {1}, true);
  b.output("p", e / s);
  b.output("e", e);
  b.output("q", e * 2.0f / s);
  check(b.finish(), every_length(2, 70), kReduction, -20, 20);
}

TEST(LlvmReductionCodegen, AnOutputReadingTheInputBesideTheNumerator) {
  // y reads x at full level beside the numerator: nothing is parked (y's pass still reads x).
  Builder b("numerator_and_input");
  auto x = b.input("x", "f32[R<=16, N<=160]");
  auto e = dsl::exp(x - dsl::max(x, {1}, true));
  b.output("p", e / dsl::sum(e, {1}, true));
  b.output("y", x * 0.5f + e);
  check(b.finish(), every_length(2, 70), kReduction, -20, 20);
}

TEST(LlvmReductionCodegen, SoftmaxOverTwoTrailingAxes) {
  // Reduced axes [T, N]: the outer one walked element by element, the lanes along N.
  Builder b("softmax2");
  auto x = b.input("x", "f32[R<=8, T<=8, N<=64]");
  auto m = dsl::max(x, {1, 2}, true);
  auto e = dsl::exp(x - m);
  b.output("y", e / dsl::sum(e, {1, 2}, true));
  b.output("s", dsl::sum(x, {1, 2}));
  Graph g = b.finish();
  std::vector<SymbolBindings> sizes;
  for (int64_t t : {1, 3})
    for (int64_t n : {1, 7, 33, 40, 64}) sizes.push_back({{"R", 3}, {"T", t}, {"N", n}});
  auto interp = InterpBackend().compile(g);
  auto llvm = LlvmBackend().compile_llvm(g);
  EXPECT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
  uint64_t seed = 1;
  for (const SymbolBindings& dims : sizes) {
    std::vector<Tensor> inputs = random_inputs(g, dims, seed++, -10, 10);
    std::vector<Tensor> want = interp->run(inputs);
    std::vector<Tensor> got = llvm->run(inputs);
    for (size_t k = 0; k < want.size(); ++k)
      expect_close(want[k], got[k], k == 1 ? Tolerance{1e-5, 1e-4} : kReduction,  // s: up to 192 terms of 10
                   fmt::format("T={} N={}", dims.at("T"), dims.at("N")));
  }
}

TEST(LlvmReductionCodegen, LayerNormWithManyRowsAcrossTasks) {
  // Enough rows for the work to split across tasks, and rows prefetched one ahead.
  Builder b("layer_norm");
  auto x = b.input("x", "f32[R<=1024, N<=160]");
  auto gamma = b.input("gamma", "f32[N]");
  auto beta = b.input("beta", "f32[N]");
  b.output("y", dsl::layer_norm(x, gamma, beta));
  check(b.finish(), {{{"R", 1000}, {"N", 131}}, {{"R", 257}, {"N", 64}}, {{"R", 1}, {"N", 150}}}, kReduction);
}

/// Rows `begin` to `end` of a [R, N] tensor.
Tensor rows_of(const Tensor& x, int64_t begin, int64_t end) {
  int64_t n = x.shape()[1];
  size_t row_bytes = static_cast<size_t>(n) * dtype_size(x.dtype());
  const auto* p = static_cast<const std::byte*>(x.raw()) + static_cast<size_t>(begin) * row_bytes;
  return Tensor::from_bytes(x.dtype(), {end - begin, n}, {p, static_cast<size_t>(end - begin) * row_bytes});
}

TEST(LlvmReductionCodegen, RowsStreamedPastTheLastLevelCacheMatchCachedRowsBitForBit) {
  // Input plus output larger than the last-level cache: the first pass prefetches the next row
  // (and the last row's prefetch points past the buffers). Rows are independent, so any rows of
  // that run must equal, bit for bit, a run of the same executable on those rows alone, which is
  // small enough to take the version without prefetches.
  const int64_t n = 1000;
  const int64_t rows = llvm_backend::last_level_cache_bytes() * 5 / 4 / (n * 8) + 1;
  if (rows * n * 4 > (int64_t{512} << 20)) GTEST_SKIP() << "the last-level cache is too large to exceed here";
  for (int which = 0; which < 2; ++which) {
    Builder b(which == 0 ? "softmax" : "layer_norm");
    auto x = b.input("x", "f32[R, 1000]");
    auto gamma = b.input("gamma", "f32[1000]");
    auto beta = b.input("beta", "f32[1000]");
    b.output("y", which == 0 ? dsl::softmax(x + gamma * beta) : dsl::layer_norm(x, gamma, beta));
    Graph g = b.finish();
    auto exe = LlvmBackend().compile_llvm(g);
    EXPECT_EQ(exe->stats().fallback, 0) << exe->stats().report();
    std::vector<Tensor> inputs = random_inputs(g, {{"R", 64}}, 4);
    inputs[0] = Tensor::zeros(DType::f32, {rows, n});
    float* px = inputs[0].data<float>();
    for (int64_t i = 0; i < rows * n; ++i) px[i] = static_cast<float>((i * 7919) % 2001) / 250.0f - 4.0f;
    Tensor big = exe->run(inputs)[0];
    for (int64_t begin : {int64_t{0}, rows / 2, rows - 64}) {
      std::vector<Tensor> part = inputs;
      part[0] = rows_of(inputs[0], begin, begin + 64);
      Tensor small = exe->run(part)[0];
      Tensor same = rows_of(big, begin, begin + 64);
      EXPECT_EQ(std::memcmp(small.raw(), same.raw(), small.nbytes()), 0) << g.name() << " rows from " << begin;
    }
    // And the cached rows are the interpreter's (means of 1000 terms of magnitude 4: kLongSum).
    std::vector<Tensor> part = inputs;
    part[0] = rows_of(inputs[0], rows - 64, rows);
    expect_close(InterpBackend().compile(g)->run(part)[0], exe->run(part)[0], kLongSum, g.name());
  }
}

TEST(LlvmReductionCodegen, RowsEmittedTwoAtATimeEqualRowsAloneBitForBit) {
  // Short rows are emitted two at a time (kRowsTogether in reduction_codegen.cpp), the odd last
  // row of a task alone: a row's bits must not depend on which it was, so each row of a 7-row call
  // equals a call on that row alone. Every reduction kind, a parked numerator (softmax) and a
  // row-level output are in the regions.
  for (int which = 0; which < 3; ++which) {
    Builder b(which == 0 ? "softmax" : which == 1 ? "layer_norm" : "stats");
    auto x = b.input("x", "f32[R<=16, N<=300]");
    auto gamma = b.input("gamma", "f32[N]");
    auto beta = b.input("beta", "f32[N]");
    if (which == 0) b.output("y", dsl::softmax(x * gamma + beta));
    if (which == 1) b.output("y", dsl::layer_norm(x, gamma, beta));
    if (which == 2) {
      b.output("max", dsl::max(x, {1}, true));
      b.output("mean", dsl::mean(x * gamma, {1}, true));
      b.output("centered", x - dsl::mean(x, {1}, true));
    }
    Graph g = b.finish();
    auto exe = LlvmBackend().compile_llvm(g);
    EXPECT_EQ(exe->stats().fallback, 0) << exe->stats().report();
    for (int64_t n : {5, 8, 37, 300}) {
      std::vector<Tensor> inputs = random_inputs(g, {{"R", 7}, {"N", n}}, 17);
      std::vector<Tensor> all = exe->run(inputs);
      for (int64_t row = 0; row < 7; ++row) {
        std::vector<Tensor> one = inputs;
        one[0] = rows_of(inputs[0], row, row + 1);
        std::vector<Tensor> alone = exe->run(one);
        for (size_t k = 0; k < all.size(); ++k) {
          Tensor same = rows_of(all[k], row, row + 1);
          EXPECT_EQ(std::memcmp(alone[k].raw(), same.raw(), same.nbytes()), 0)
              << g.name() << " output " << k << " N=" << n << " row " << row;
        }
      }
      // And the interpreter's results, up to rounding.
      std::vector<Tensor> want = InterpBackend().compile(g)->run(inputs);
      for (size_t k = 0; k < all.size(); ++k) expect_close(want[k], all[k], kReduction, g.name());
    }
  }
}

TEST(LlvmReductionCodegen, ColumnSumsKeepRowsInLanes) {
  Builder b("column_sums");
  auto x = b.input("x", "f32[R<=300, N<=160]");
  b.output("s", dsl::sum(x, {0}));
  b.output("m", dsl::max(x, {0}));
  check(b.finish(), {{{"R", 1}, {"N", 5}}, {{"R", 37}, {"N", 70}}, {{"R", 300}, {"N", 150}}}, kLongSum);
}

}  // namespace
}  // namespace weft::llvm_tests
