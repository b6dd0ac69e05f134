// The vector transcendentals against libm (double precision, i.e. the true value to within far
// less than a float ULP): error in float ULPs over a sweep of the whole float range, special
// values, and the masked tail of the elementwise map.
//
// WEFT_MATH_EXHAUSTIVE=1 sweeps all 2^32 inputs and prints the worst cases (how the numbers in
// docs/llvm-backend.md were measured).
#include <gtest/gtest.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <vector>

#include "backends/llvm/jit.h"
#include "backends/llvm/math_codegen.h"

namespace weft::llvm_backend {
namespace {

using MapFunction = void (*)(const float*, float*, int64_t);

MapFunction compiled_map(MathFunction f, int vector_floats) {
  static std::map<std::pair<MathFunction, int>, MapFunction> cache;
  auto key = std::make_pair(f, vector_floats);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  Jit& jit = Jit::global();
  auto context = std::make_unique<llvm::LLVMContext>();
  std::string name = std::string("map_") + std::string(math_function_name(f)) + "_" + std::to_string(vector_floats);
  auto module = jit.new_module(name, *context);
  emit_elementwise_map(*module, name, f, vector_floats);
  MapFunction fn = jit.add_module(std::move(module), std::move(context)).lookup_function<MapFunction>(name);
  cache[key] = fn;
  return fn;
}

float run_one(MathFunction f, float x) {
  float out = 0;
  compiled_map(f, host_target().vector_floats())(&x, &out, 1);
  return out;
}

double reference(MathFunction f, double x) {
  switch (f) {
    case MathFunction::exp:
      return std::exp(x);
    case MathFunction::log:
      return std::log(x);
    case MathFunction::tanh:
      return std::tanh(x);
    case MathFunction::sigmoid:
      return 1.0 / (1.0 + std::exp(-x));
    case MathFunction::erf:
      return std::erf(x);
  }
  return NAN;
}

// The spacing of floats at |v| (subnormal spacing below the normal range).
double float_ulp(double v) {
  v = std::abs(v);
  int e = v == 0 ? -126 : std::max(std::ilogb(v), -126);
  return std::ldexp(1.0, e - 23);
}

struct Accuracy {
  double max_ulp = 0;
  float worst_input = 0;
  int64_t mismatched_specials = 0;  // NaN / infinity where libm disagrees
  float first_bad_special = 0;
};

// Sweeps float bit patterns [0, 2^32) with `stride` through the vector map.
Accuracy measure(MathFunction f, uint64_t stride) {
  MapFunction map = compiled_map(f, host_target().vector_floats());
  Accuracy acc;
  const size_t chunk = 1 << 20;
  std::vector<float> in, out(chunk);
  in.reserve(chunk);
  auto flush = [&] {
    map(in.data(), out.data(), static_cast<int64_t>(in.size()));
    for (size_t i = 0; i < in.size(); ++i) {
      double ref = reference(f, in[i]);
      float got = out[i];
      float ref_f = static_cast<float>(ref);
      if (std::isnan(ref) || std::isinf(ref_f) || std::isnan(got) || std::isinf(got)) {
        bool same = (std::isnan(ref) && std::isnan(got)) || (ref_f == got);
        if (!same && acc.mismatched_specials++ == 0) acc.first_bad_special = in[i];
        continue;
      }
      double ulp = std::abs(got - ref) / float_ulp(ref);
      if (ulp > acc.max_ulp) {
        acc.max_ulp = ulp;
        acc.worst_input = in[i];
      }
    }
    in.clear();
  };
  for (uint64_t bits = 0; bits < (uint64_t{1} << 32); bits += stride) {
    in.push_back(std::bit_cast<float>(static_cast<uint32_t>(bits)));
    if (in.size() == chunk) flush();
  }
  flush();
  return acc;
}

uint64_t sweep_stride() {
  const char* env = std::getenv("WEFT_MATH_EXHAUSTIVE");
  return (env && env[0] == '1') ? 1 : 997;  // ~4.3 million inputs, all exponents and signs
}

void expect_accuracy(MathFunction f, double bound) {
  // Without FMA, llvm.fmuladd rounds twice: allow one more ULP there.
  if (!host_target().has_fma) bound += 1.0;
  Accuracy acc = measure(f, sweep_stride());
  std::printf("%-8s max error %.3f ULP at x = %.9g\n", std::string(math_function_name(f)).c_str(), acc.max_ulp,
              acc.worst_input);
  EXPECT_LE(acc.max_ulp, bound) << math_function_name(f) << " worst at x = " << acc.worst_input;
  EXPECT_EQ(acc.mismatched_specials, 0) << "first at x = " << acc.first_bad_special;
}

// Bounds documented in docs/llvm-backend.md (measured exhaustively with FMA, rounded up).
TEST(LlvmMath, ExpIsWithinOneUlpOfLibm) { expect_accuracy(MathFunction::exp, 1.0); }
TEST(LlvmMath, LogIsWithinOneUlpOfLibm) { expect_accuracy(MathFunction::log, 1.0); }
TEST(LlvmMath, TanhIsWithinThreeUlpOfLibm) { expect_accuracy(MathFunction::tanh, 3.0); }
TEST(LlvmMath, SigmoidIsWithinThreeUlpOfLibm) { expect_accuracy(MathFunction::sigmoid, 3.0); }
TEST(LlvmMath, ErfIsWithinTwoUlpOfLibm) { expect_accuracy(MathFunction::erf, 2.0); }

TEST(LlvmMath, SpecialValuesFollowLibm) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(run_one(MathFunction::exp, 0.0f), 1.0f);
  EXPECT_EQ(run_one(MathFunction::exp, -inf), 0.0f);
  EXPECT_EQ(run_one(MathFunction::exp, inf), inf);
  EXPECT_EQ(run_one(MathFunction::exp, 89.0f), inf);
  EXPECT_EQ(run_one(MathFunction::exp, -110.0f), 0.0f);
  EXPECT_NEAR(run_one(MathFunction::exp, 1.0f), 2.7182818f, 3e-7f);
  EXPECT_EQ(run_one(MathFunction::log, 1.0f), 0.0f);
  EXPECT_EQ(run_one(MathFunction::log, 0.0f), -inf);
  EXPECT_EQ(run_one(MathFunction::log, inf), inf);
  EXPECT_TRUE(std::isnan(run_one(MathFunction::log, -1.0f)));
  EXPECT_NEAR(run_one(MathFunction::log, 0x1p-149f), -103.27893f, 1e-5f);  // smallest subnormal
  EXPECT_EQ(run_one(MathFunction::tanh, 0.0f), 0.0f);
  EXPECT_EQ(run_one(MathFunction::tanh, inf), 1.0f);
  EXPECT_EQ(run_one(MathFunction::tanh, -inf), -1.0f);
  EXPECT_EQ(run_one(MathFunction::sigmoid, 0.0f), 0.5f);
  EXPECT_EQ(run_one(MathFunction::sigmoid, inf), 1.0f);
  EXPECT_EQ(run_one(MathFunction::sigmoid, -inf), 0.0f);
  EXPECT_EQ(run_one(MathFunction::erf, 0.0f), 0.0f);
  EXPECT_EQ(run_one(MathFunction::erf, inf), 1.0f);
  EXPECT_EQ(run_one(MathFunction::erf, -5.0f), -1.0f);
  for (MathFunction f :
       {MathFunction::exp, MathFunction::log, MathFunction::tanh, MathFunction::sigmoid, MathFunction::erf}) {
    EXPECT_TRUE(std::isnan(run_one(f, nan))) << math_function_name(f);
  }
}

TEST(LlvmMath, MapHandlesEveryTailLengthAndWidth) {
  // Lengths 0 .. 2 vectors + 3 for SSE, host and AVX-512-sized vectors (wider than the host's
  // are split by LLVM): every element equals the one-at-a-time result, and nothing past n is
  // written.
  for (int width : {4, host_target().vector_floats(), 16}) {
    MapFunction map = compiled_map(MathFunction::tanh, width);
    for (int64_t n = 0; n <= 2 * width + 3; ++n) {
      std::vector<float> in(n + 1), out(n + 1, 42.0f);
      for (int64_t i = 0; i < n; ++i) in[i] = 0.37f * float(i) - 3.0f;
      map(in.data(), out.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(out[i], run_one(MathFunction::tanh, in[i])) << "width " << width << " n " << n << " i " << i;
      }
      ASSERT_EQ(out[n], 42.0f) << "wrote past n = " << n << " at width " << width;
    }
  }
}

}  // namespace
}  // namespace weft::llvm_backend
