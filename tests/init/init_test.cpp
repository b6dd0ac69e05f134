/** \file
 * Deterministic initializers: reproducibility, the bounds PyTorch's formulas give (computed here by
 * hand), the statistics of the random kinds, integer dtypes, and the errors for bad initializers.
 */
#include "ir/init.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/philox.h"

namespace weft {
namespace {

template <typename T>
std::vector<T> values_of(const std::vector<std::byte>& bytes) {
  std::vector<T> out(bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

template <typename T>
std::vector<T> materialize(const Initializer& init, DType dtype, const std::vector<int64_t>& shape) {
  return values_of<T>(materialize_initializer(init, dtype, shape));
}

struct Moments {
  double mean = 0;
  double std = 0;
  double min = 0;
  double max = 0;
};

template <typename T>
Moments moments(const std::vector<T>& v) {
  Moments m;
  double sum = 0, sum_sq = 0;
  for (T x : v) sum += x;
  m.mean = sum / v.size();
  for (T x : v) sum_sq += (x - m.mean) * (x - m.mean);
  m.std = std::sqrt(sum_sq / v.size());
  m.min = *std::min_element(v.begin(), v.end());
  m.max = *std::max_element(v.begin(), v.end());
  return m;
}

std::string error_of(const Initializer& init, DType dtype = DType::f32, std::vector<int64_t> shape = {4, 4}) {
  try {
    materialize_initializer(init, dtype, shape);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Initializer, ZerosOnesAndConstantFillEveryDType) {
  EXPECT_EQ(materialize<float>({"zeros", {}, 0}, DType::f32, {2, 3}), std::vector<float>(6, 0.0f));
  EXPECT_EQ(materialize<double>({"ones", {}, 0}, DType::f64, {4}), std::vector<double>(4, 1.0));
  EXPECT_EQ(materialize<float>({"constant", {{"value", -0.5}}, 0}, DType::f32, {3}), std::vector<float>(3, -0.5f));
  EXPECT_EQ(materialize<int64_t>({"ones", {}, 0}, DType::i64, {5}), std::vector<int64_t>(5, 1));
  EXPECT_EQ(materialize<int32_t>({"constant", {{"value", 7}}, 0}, DType::i32, {2, 2}), std::vector<int32_t>(4, 7));
  EXPECT_EQ(materialize<uint8_t>({"ones", {}, 0}, DType::boolean, {3}), std::vector<uint8_t>(3, 1));
  EXPECT_EQ(materialize<float>({"ones", {}, 0}, DType::f32, {}), std::vector<float>{1.0f});  // a scalar
}

TEST(Initializer, SameSeedGivesTheSameBytesAndADifferentSeedDifferentBytes) {
  for (const char* kind : {"normal", "uniform"}) {
    SCOPED_TRACE(kind);
    const std::vector<std::pair<std::string, double>> args =
        std::string(kind) == "normal" ? std::vector<std::pair<std::string, double>>{{"mean", 0}, {"std", 1}}
                                      : std::vector<std::pair<std::string, double>>{{"low", -1}, {"high", 1}};
    const auto a = materialize_initializer({kind, args, 42}, DType::f32, {64, 32});
    const auto b = materialize_initializer({kind, args, 42}, DType::f32, {64, 32});
    const auto c = materialize_initializer({kind, args, 43}, DType::f32, {64, 32});
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
  }
}

TEST(Initializer, ElementIDependsOnlyOnSeedAndIndexNotOnShape) {
  const Initializer init{"uniform", {{"low", 0}, {"high", 1}}, 9};
  const auto small = materialize<double>(init, DType::f64, {10});
  const auto large = materialize<double>(init, DType::f64, {50, 20});
  ASSERT_EQ(small.size(), 10u);
  EXPECT_TRUE(std::equal(small.begin(), small.end(), large.begin()));
}

TEST(Initializer, UniformHasTheMeanAndStdOfItsInterval) {
  // U[-2, 3): mean 0.5, std 5/sqrt(12) = 1.443376. Over 100k samples the standard error of the mean
  // is 1.443/316 = 0.0046, so 0.02 is a > 4-sigma tolerance.
  const auto v = materialize<double>({"uniform", {{"low", -2}, {"high", 3}}, 1}, DType::f64, {100000});
  const Moments m = moments(v);
  EXPECT_NEAR(m.mean, 0.5, 0.02);
  EXPECT_NEAR(m.std, 1.443376, 0.01);
  EXPECT_GE(m.min, -2.0);
  EXPECT_LT(m.max, 3.0);
  EXPECT_LT(m.min, -1.99);  // it fills the interval
  EXPECT_GT(m.max, 2.99);
}

TEST(Initializer, NormalHasItsMeanStdAndBellShape) {
  // N(1.5, 2²): standard errors over 100k samples are 0.0063 (mean) and 0.0045 (std).
  const auto v = materialize<double>({"normal", {{"mean", 1.5}, {"std", 2}}, 3}, DType::f64, {100000});
  const Moments m = moments(v);
  EXPECT_NEAR(m.mean, 1.5, 0.03);
  EXPECT_NEAR(m.std, 2.0, 0.02);
  // 68.27% of a normal lies within one std of the mean (standard error 0.0015 here).
  const double within = std::count_if(v.begin(), v.end(), [](double x) { return std::abs(x - 1.5) < 2.0; });
  EXPECT_NEAR(within / v.size(), 0.6827, 0.008);
  EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); }));
}

TEST(Initializer, KaimingUniformMatchesPyTorchsLinearDefaultFor256By784) {
  // a = sqrt(5): gain = sqrt(2/6), bound = gain * sqrt(3/784) = 1/sqrt(784) = 1/28.
  const double bound = 1.0 / 28.0;
  const auto w = materialize<float>(linear_weight_init(1), DType::f32, {256, 784});
  ASSERT_EQ(w.size(), 256u * 784u);
  const Moments m = moments(w);
  EXPECT_GE(m.min, -bound);
  EXPECT_LT(m.max, bound);
  EXPECT_GT(m.max, 0.999 * bound);
  EXPECT_LT(m.min, -0.999 * bound);
  EXPECT_NEAR(m.std, bound / std::sqrt(3.0), 0.0002);  // U(-b, b) has std b/sqrt(3) = 0.0206197
  EXPECT_NEAR(m.mean, 0.0, 0.0003);
}

TEST(Initializer, KaimingUniformWithAZeroIsTheReluBound) {
  // a = 0: gain = sqrt(2), bound = sqrt(2) * sqrt(3/784) = sqrt(6)/28 = 0.0874818.
  const auto w = materialize<double>({"kaiming_uniform", {{"a", 0}}, 5}, DType::f64, {256, 784});
  const Moments m = moments(w);
  EXPECT_LT(m.max, 0.0874818);
  EXPECT_GT(m.max, 0.0874);
  EXPECT_GE(m.min, -0.0874818);
}

TEST(Initializer, KaimingFanInIncludesTheReceptiveField) {
  // A conv-like [8, 3, 5, 5] weight: fan_in = 3*25 = 75; a = sqrt(5) gives bound 1/sqrt(75) = 0.1154701.
  const auto w = materialize<double>(linear_weight_init(2), DType::f64, {8, 3, 5, 5});
  const Moments m = moments(w);
  EXPECT_LT(m.max, 0.1154701);
  EXPECT_GT(m.max, 0.11);
}

TEST(Initializer, XavierUniformAndNormalUseBothFans) {
  // [20, 30]: fan_in 30, fan_out 20; uniform bound = sqrt(6/50) = 0.3464102; gain 2 doubles it.
  const auto u = materialize<double>({"xavier_uniform", {{"gain", 2}}, 1}, DType::f64, {20, 30});
  const Moments mu = moments(u);
  EXPECT_LT(mu.max, 0.6928204);
  EXPECT_GT(mu.max, 0.68);
  EXPECT_GE(mu.min, -0.6928204);
  // normal std = sqrt(2/(fan_in+fan_out)): [300, 500] gives sqrt(2/800) = 0.05.
  const auto n = materialize<double>({"xavier_normal", {{"gain", 1}}, 1}, DType::f64, {300, 500});
  EXPECT_NEAR(moments(n).std, 0.05, 0.0005);
}

TEST(Initializer, LinearBiasIsUniformWithinOneOverSqrtFanIn) {
  const auto b = materialize<float>(linear_bias_init(784, 3), DType::f32, {20000});
  const Moments m = moments(b);
  EXPECT_LT(m.max, 1.0 / 28.0);
  EXPECT_GE(m.min, -1.0 / 28.0);
  EXPECT_GT(m.max, 0.99 / 28.0);
}

TEST(Initializer, EmbeddingDefaultIsStandardNormal) {
  const auto e = materialize<float>(embedding_init(11), DType::f32, {1000, 100});
  const Moments m = moments(e);
  EXPECT_NEAR(m.mean, 0.0, 0.02);
  EXPECT_NEAR(m.std, 1.0, 0.02);
}

TEST(Initializer, F32UniformNeverReachesItsUpperBound) {
  // On [0.9999, 1) a sample above 1 - 2^-25 rounds to 1.0f: about 3 in 10,000 without the guard.
  const auto v = materialize<float>({"uniform", {{"low", 0.9999}, {"high", 1}}, 4}, DType::f32, {100000});
  for (float x : v) ASSERT_LT(x, 1.0f);
  EXPECT_EQ(*std::max_element(v.begin(), v.end()), std::nextafter(1.0f, 0.0f));
}

TEST(Initializer, UniformElementsAreThePhiloxFormulaRoundedOnce) {
  // Each element is low + (high - low)·u(seed, i) in double, rounded once to the dtype (docs/
  // weights.md); a seed with both 32-bit halves set.
  const uint64_t seed = 0x0123456789abcdefULL;
  const double low = -0.25, high = 0.75;
  const Initializer init{"uniform", {{"low", low}, {"high", high}}, seed};
  const auto f32 = materialize<float>(init, DType::f32, {1000});
  const auto f64 = materialize<double>(init, DType::f64, {10, 100});
  for (uint64_t i = 0; i < 1000; ++i) {
    const double want = low + (high - low) * philox_uniform_double(seed, i);
    ASSERT_EQ(f64[i], want) << "element " << i;
    ASSERT_EQ(f32[i], static_cast<float>(want)) << "element " << i;
  }
}

TEST(Initializer, NormalElementsAreBoxMullerOnTheirOwnPhiloxBlock) {
  // mean + std·sqrt(-2 ln(1 - u1))·cos(2π u2), u1 and u2 from words 0–1 and 2–3 of element i's
  // block. 1,003 elements: the fill computes blocks eight at a time where the CPU allows, and the
  // last three alone.
  const uint64_t seed = 0xfedcba9876543210ULL;
  const auto v = materialize<double>({"normal", {{"mean", 0.5}, {"std", 2}}, seed}, DType::f64, {1003});
  for (uint64_t i = 0; i < 1003; ++i) {
    const auto w = philox_words(seed, i);
    const double u1 = 1.0 - philox_bits_to_unit_double(w[0], w[1]);
    const double u2 = philox_bits_to_unit_double(w[2], w[3]);
    const double want = 0.5 + 2 * (std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.141592653589793 * u2));
    ASSERT_EQ(v[i], want) << "element " << i;
  }
}

TEST(Initializer, ASliceIsThoseBytesOfTheWholeParameter) {
  // What lets a compiled executable fill a large parameter in parallel, slice by slice.
  const std::vector<int64_t> shape{37, 29};
  for (const Initializer& init : {linear_weight_init(11), embedding_init(12), Initializer{"ones", {}, 0}}) {
    SCOPED_TRACE(init.kind);
    const std::vector<std::byte> whole = materialize_initializer(init, DType::f32, shape);
    for (uint64_t first : {0, 1, 500, 1072}) {
      const uint64_t count = std::min<uint64_t>(100, 37 * 29 - first);
      std::vector<std::byte> slice(count * 4);
      materialize_initializer_slice(init, DType::f32, shape, first, count, slice.data());
      EXPECT_EQ(std::memcmp(slice.data(), whole.data() + first * 4, slice.size()), 0) << "first " << first;
    }
  }
  std::byte sink[4];
  try {
    materialize_initializer_slice(linear_weight_init(1), DType::f32, {4, 4}, 15, 2, sink);
    ADD_FAILURE() << "a slice past the end was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("elements [15, 17) are outside the parameter's 16"), std::string::npos)
        << e.what();
  }
}

TEST(Initializer, PositionalArgumentsMatchNamedOnes) {
  const Initializer named{"uniform", {{"low", -1}, {"high", 1}}, 8};
  const Initializer positional{"uniform", {{"", -1}, {"", 1}}, 8};
  EXPECT_EQ(materialize_initializer(named, DType::f32, {16}), materialize_initializer(positional, DType::f32, {16}));
  EXPECT_EQ(initializer_arg(positional, "high"), 1.0);
}

TEST(Initializer, AZeroElementParameterIsEmptyEvenForFanBasedKinds) {
  EXPECT_TRUE(materialize_initializer(linear_weight_init(1), DType::f32, {0, 5}).empty());
}

TEST(Initializer, RejectsBadInitializersWithTheRuleAndTheFacts) {
  struct Case {
    const char* name;
    Initializer init;
    DType dtype;
    std::vector<int64_t> shape;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"unknown kind", {"gaussian", {}, 0}, DType::f32, {4}, "unknown initializer kind 'gaussian' (known kinds: zeros"},
      {"missing argument",
       {"uniform", {{"low", 0}}, 0},
       DType::f32,
       {4},
       "initializer uniform: missing argument 'high' (it takes low, high)"},
      {"unknown argument",
       {"normal", {{"mean", 0}, {"sigma", 1}}, 0},
       DType::f32,
       {4},
       "initializer normal: unknown argument 'sigma' (it takes mean, std)"},
      {"repeated argument",
       {"constant", {{"value", 1}, {"value", 2}}, 0},
       DType::f32,
       {4},
       "argument 'value' is given twice"},
      {"surplus positional argument", {"ones", {{"", 1}}, 0}, DType::f32, {4}, "too many arguments"},
      {"negative std", {"normal", {{"mean", 0}, {"std", -1}}, 0}, DType::f32, {4}, "'std' must be >= 0, got -1"},
      {"low above high", {"uniform", {{"low", 2}, {"high", 1}}, 0}, DType::f32, {4}, "low must be <= high"},
      {"non-finite argument", {"constant", {{"value", NAN}}, 0}, DType::f32, {4}, "'value' must be finite"},
      {"zero fan_in", {"linear_bias", {{"fan_in", 0}}, 0}, DType::f32, {4}, "'fan_in' must be > 0"},
      {"kaiming on a vector",
       linear_weight_init(0),
       DType::f32,
       {256},
       "initializer kaiming_uniform needs a parameter of rank >= 2"},
      {"random kind on integers",
       {"normal", {{"mean", 0}, {"std", 1}}, 0},
       DType::i64,
       {4},
       "initializer normal needs a float parameter (f32 or f64), but the parameter is i64"},
      {"fractional constant on integers",
       {"constant", {{"value", 2.5}}, 0},
       DType::i32,
       {4},
       "value 2.5 is not an integer"},
      {"bool constant other than 0 or 1", {"constant", {{"value", 2}}, 0}, DType::boolean, {4}, "must be 0 or 1"},
      {"i32 overflow", {"constant", {{"value", 3e9}}, 0}, DType::i32, {4}, "does not fit in i32"},
      {"negative dim", {"zeros", {}, 0}, DType::f32, {2, -1}, "parameter shape [2, -1] has a negative dim"},
      {"half precision", {"zeros", {}, 0}, DType::f16, {2}, "initialize in f32 and cast"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string message = error_of(c.init, c.dtype, c.shape);
    EXPECT_NE(message.find(c.expected), std::string::npos) << "message: " << message;
    // A compiler checks at compile time and fills the parameter later: the same error, up front.
    try {
      check_initializer(c.init, c.dtype, c.shape);
      ADD_FAILURE() << "check_initializer accepted it";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), message);
    }
  }
  EXPECT_NO_THROW(check_initializer(linear_weight_init(0), DType::f32, {4, 4}));
  EXPECT_THROW(validate_initializer({"gaussian", {}, 0}), Error);
  EXPECT_NO_THROW(validate_initializer(linear_weight_init(0)));
}

}  // namespace
}  // namespace weft
