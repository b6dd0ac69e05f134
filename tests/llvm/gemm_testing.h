// What the GEMM tests share (matmul_test.cpp, matmul_packing_test.cpp): a problem's shape, random
// operands, and the comparison of a generated GEMM with a double-precision triple loop.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "backends/llvm/matmul_codegen.h"

namespace weft::llvm_backend {

struct Problem {
  int64_t m, n, k;
  bool transpose_a = false, transpose_b = false;
  int64_t batch = 1;
  int64_t pad = 0;  // extra elements per row of A, B and C (leading dimension > width)
};

inline std::vector<float> random_vector(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Runs `kernel` on a random problem and compares with a double-precision triple loop. With
// `accumulate`, C starts from random values that must be added to. The tolerance bounds the
// rounding error of any order of summation: 2·K·eps·Σ|a·b| (+ |c0|·eps).
inline void check_against_naive(const GemmKernel& kernel, const Problem& p, uint32_t seed = 1) {
  const bool accumulate = kernel.spec().accumulate;
  const int64_t a_rows = p.transpose_a ? p.k : p.m, a_cols = p.transpose_a ? p.m : p.k;
  const int64_t b_rows = p.transpose_b ? p.n : p.k, b_cols = p.transpose_b ? p.k : p.n;
  const int64_t lda = a_cols + p.pad, ldb = b_cols + p.pad, ldc = p.n + p.pad;
  const int64_t stride_a = a_rows * lda, stride_b = b_rows * ldb, stride_c = p.m * ldc;
  std::vector<float> a = random_vector(stride_a * p.batch + 1, seed);
  std::vector<float> b = random_vector(stride_b * p.batch + 1, seed + 1);
  std::vector<float> c = random_vector(stride_c * p.batch + 1, seed + 2);
  const std::vector<float> c0 = c;

  GemmArgs args;
  args.a = a.data();
  args.b = b.data();
  args.c = c.data();
  args.m = p.m;
  args.n = p.n;
  args.k = p.k;
  args.lda = lda;
  args.ldb = ldb;
  args.ldc = ldc;
  args.batch = p.batch;
  args.batch_stride_a = stride_a;
  args.batch_stride_b = stride_b;
  args.batch_stride_c = stride_c;
  kernel(args);

  const double eps = std::ldexp(1.0, -24);
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    for (int64_t i = 0; i < p.m; ++i) {
      for (int64_t j = 0; j < p.n; ++j) {
        double sum = 0, magnitude = 0;
        for (int64_t kk = 0; kk < p.k; ++kk) {
          double x = a[bi * stride_a + (p.transpose_a ? kk * lda + i : i * lda + kk)];
          double y = b[bi * stride_b + (p.transpose_b ? j * ldb + kk : kk * ldb + j)];
          sum += x * y;
          magnitude += std::abs(x * y);
        }
        const size_t at = bi * stride_c + i * ldc + j;
        double expected = sum + (accumulate ? c0[at] : 0.0);
        double tolerance = 2.0 * (p.k + 2) * eps * (magnitude + std::abs(c0[at])) + 1e-30;
        ASSERT_NEAR(c[at], expected, tolerance)
            << "batch " << bi << " C(" << i << ", " << j << ") of " << p.m << "x" << p.n << "x" << p.k
            << (p.transpose_a ? " A^T" : "") << (p.transpose_b ? " B^T" : "");
      }
      // Padding columns of C are never written.
      for (int64_t j = p.n; j < ldc; ++j) {
        const size_t at = bi * stride_c + i * ldc + j;
        ASSERT_EQ(c[at], c0[at]) << "padding C(" << i << ", " << j << ") was written";
      }
    }
  }
  ASSERT_EQ(c.back(), c0.back()) << "wrote past the last batch";
}

}  // namespace weft::llvm_backend
