// The blocked GEMM's packing: op(B) packed once per call for every task, panels packed through
// in-register transposes, and op(B) kept packed between calls (GemmArgs::packed_b) until the
// caller marks it stale. Each against a double-precision triple loop, and against the GEMM with
// the packing under test turned off (the same sums in the same order: bit-identical).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backends/llvm/matmul_codegen.h"
#include "ir/error.h"
#include "runtime/thread_pool.h"
#include "tests/llvm/gemm_testing.h"

namespace weft::llvm_backend {
namespace {

struct Operands {
  std::vector<float> a, b;
  int64_t lda, ldb, ldc, stride_a, stride_b, stride_c;
};

Operands operands_for(const Problem& p, uint32_t seed) {
  Operands o;
  const int64_t a_rows = p.transpose_a ? p.k : p.m, a_cols = p.transpose_a ? p.m : p.k;
  const int64_t b_rows = p.transpose_b ? p.n : p.k, b_cols = p.transpose_b ? p.k : p.n;
  o.lda = a_cols + p.pad;
  o.ldb = b_cols + p.pad;
  o.ldc = p.n + p.pad;
  o.stride_a = a_rows * o.lda;
  o.stride_b = b_rows * o.ldb;
  o.stride_c = p.m * o.ldc;
  o.a = random_vector(o.stride_a * p.batch, seed);
  o.b = random_vector(o.stride_b * p.batch, seed + 1);
  return o;
}

GemmArgs args_for(const Problem& p, const Operands& o, std::vector<float>& c) {
  GemmArgs args;
  args.a = o.a.data();
  args.b = o.b.data();
  args.c = c.data();
  args.m = p.m;
  args.n = p.n;
  args.k = p.k;
  args.lda = o.lda;
  args.ldb = o.ldb;
  args.ldc = o.ldc;
  args.batch = p.batch;
  args.batch_stride_a = o.stride_a;
  args.batch_stride_b = o.stride_b;
  args.batch_stride_c = o.stride_c;
  return args;
}

// Products the blocked path takes (more than dot_max_rows rows, more than dot_max_cols columns)
// with enough rows that several tasks cover the same columns: partial NR panels, depths that are
// not whole vectors (and span two KC blocks), every transpose, batches and padded rows.
std::vector<Problem> blocked_problems() {
  return {{131, 67, 300, false, true},        {131, 67, 300},
          {97, 45, 33, true, false, 1, 3},    {100, 45, 33, true, true, 3, 3},
          {300, 129, 517, false, true, 1, 1}, {80, 17, 1, false, true}};
}

TEST(LlvmGemmPacking, SharedAndTransposedPackingMatchNaiveLoop) {
  // Three threads: six tasks, so that most products are cut into several row tiles.
  ThreadPool pool(3);
  ThreadPoolScope scope(pool);
  for (const Problem& p : blocked_problems())
    check_against_naive(GemmKernel::compile({p.transpose_a, p.transpose_b, false, {}}), p);
  check_against_naive(GemmKernel::compile({false, true, true, {}}), {131, 67, 300, false, true}, 7);
  // AVX2-width vectors: 8×8 transposes of a 16-column B panel and a 6-row A panel (SSE's 4×4 ones
  // run in LlvmGemm.NarrowerVectorsAndOtherTilesAgree).
  check_against_naive(GemmKernel::compile({false, true, false, {}}, GemmBlocking::for_target(8, 16)),
                      {131, 67, 300, false, true});
}

TEST(LlvmGemmPacking, SharedAndTransposedPackingAreBitIdenticalToPerTaskPacking) {
  GemmBlocking before = GemmBlocking::for_host();
  before.share_packed_b = false;
  before.transpose_packs = false;
  // A B over the shared copy's cap is packed per task again (here: every B over 1000 floats).
  GemmBlocking capped = GemmBlocking::for_host();
  capped.shared_pack_max_floats = 1000;
  const std::vector<Problem> problems = {
      {131, 67, 300, false, true}, {300, 129, 517, false, false, 1, 1}, {100, 45, 33, true, true, 3, 3}};
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    ThreadPoolScope scope(pool);
    for (const Problem& p : problems) {
      Operands o = operands_for(p, 5);
      std::vector<float> theirs(o.stride_c * p.batch);
      GemmKernel::compile({p.transpose_a, p.transpose_b, false, {}}, before)(args_for(p, o, theirs));
      for (const GemmBlocking& g : {GemmBlocking::for_host(), capped}) {
        std::vector<float> ours(o.stride_c * p.batch);
        GemmKernel::compile({p.transpose_a, p.transpose_b, false, {}}, g)(args_for(p, o, ours));
        ASSERT_EQ(ours, theirs) << p.m << "x" << p.n << "x" << p.k << (p.transpose_b ? " B^T" : "") << ", " << threads
                                << " threads, cap " << g.shared_pack_max_floats;
      }
    }
  }
}

// A 64-byte-aligned buffer for GemmArgs::packed_b.
std::unique_ptr<float, decltype(&std::free)> packed_buffer(int64_t floats) {
  return {static_cast<float*>(std::aligned_alloc(64, (floats * 4 + 63) / 64 * 64)), &std::free};
}

TEST(LlvmGemmPacking, KeptPackedBIsReusedUntilMarkedStale) {
  for (const Problem& p : blocked_problems()) {
    const GemmKernel kernel = GemmKernel::compile({p.transpose_a, p.transpose_b, false, {}});
    Operands o = operands_for(p, 9);
    auto packed = packed_buffer(kernel.blocking().packed_b_floats(p.n, p.k, p.batch));
    int64_t valid = 0;
    std::vector<float> first(o.stride_c * p.batch), expected(o.stride_c * p.batch);
    kernel(args_for(p, o, expected));
    GemmArgs args = args_for(p, o, first);
    args.packed_b = packed.get();
    args.packed_b_valid = &valid;
    kernel(args);
    EXPECT_EQ(valid, 1) << "the first call packs B and says so";
    ASSERT_EQ(first, expected) << p.m << "x" << p.n << "x" << p.k;

    // B changes but the flag still says the packed copy is current: the call reads the copy.
    const std::vector<float> old_b = o.b;
    for (float& x : o.b) x = -2.0f * x;
    std::vector<float> reused(first.size());
    args.b = o.b.data();
    args.c = reused.data();
    kernel(args);
    ASSERT_EQ(reused, expected) << "the packed copy was not reused";

    // Marked stale, it is packed again from the new B.
    std::vector<float> fresh(first.size()), fresh_expected(first.size());
    args.c = fresh.data();
    valid = 0;
    kernel(args);
    EXPECT_EQ(valid, 1);
    kernel(args_for(p, o, fresh_expected));
    ASSERT_EQ(fresh, fresh_expected) << p.m << "x" << p.n << "x" << p.k;
  }
}

TEST(LlvmGemmPacking, SkinnyProductsIgnoreKeptPackedB) {
  // The skinny paths read B in place: a kept copy is neither read nor written (nor marked valid).
  const GemmKernel kernel = GemmKernel::compile({false, true, false, {}});
  Problem p{3, 200, 70, false, true};
  Operands o = operands_for(p, 13);
  auto packed = packed_buffer(kernel.blocking().packed_b_floats(p.n, p.k));
  int64_t valid = 0;
  std::vector<float> c(o.stride_c), expected(o.stride_c);
  kernel(args_for(p, o, expected));
  GemmArgs args = args_for(p, o, c);
  args.packed_b = packed.get();
  args.packed_b_valid = &valid;
  kernel(args);
  EXPECT_EQ(valid, 0);
  EXPECT_EQ(c, expected);
}

TEST(LlvmGemmPacking, RejectsAKeptPackedBWithoutItsFlagOrMisaligned) {
  const GemmKernel kernel = GemmKernel::compile({false, true, false, {}});
  Problem p{100, 40, 30, false, true};
  Operands o = operands_for(p, 3);
  std::vector<float> c(o.stride_c);
  auto packed = packed_buffer(kernel.blocking().packed_b_floats(p.n, p.k) + 1);
  int64_t valid = 0;
  GemmArgs args = args_for(p, o, c);
  args.packed_b = packed.get();
  try {
    kernel(args);
    FAIL() << "accepted packed_b without packed_b_valid";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gemm: packed_b and packed_b_valid must be given together"), std::string::npos)
        << e.what();
  }
  args.packed_b = packed.get() + 1;
  args.packed_b_valid = &valid;
  try {
    kernel(args);
    FAIL() << "accepted a misaligned packed_b";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gemm: packed_b must be 64-byte aligned"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace weft::llvm_backend
