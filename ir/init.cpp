/** \file
 * Initializers are computed in double and rounded once to the parameter's dtype, so f32 and f64
 * parameters with the same seed hold the same numbers up to that rounding. Each element uses its
 * own Philox block (counter = element index), which spends four words on one number — cheap next
 * to a training run, and it keeps element i independent of how many elements precede it.
 */
#include "ir/init.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <optional>
#include <string>

#include "ir/error.h"
#include "ir/philox.h"

namespace weft {
namespace {

enum class Range { any, non_negative, positive };

struct ParamSpec {
  std::string_view name;
  Range range;
};

struct KindSpec {
  std::string_view kind;
  std::vector<ParamSpec> params;
};

const std::vector<KindSpec>& kind_specs() {
  static const std::vector<KindSpec> specs = {
      {"zeros", {}},
      {"ones", {}},
      {"constant", {{"value", Range::any}}},
      {"uniform", {{"low", Range::any}, {"high", Range::any}}},
      {"normal", {{"mean", Range::any}, {"std", Range::non_negative}}},
      {"kaiming_uniform", {{"a", Range::any}}},
      {"xavier_uniform", {{"gain", Range::non_negative}}},
      {"xavier_normal", {{"gain", Range::non_negative}}},
      {"linear_bias", {{"fan_in", Range::positive}}},
  };
  return specs;
}

const KindSpec* find_kind(std::string_view kind) {
  for (const auto& spec : kind_specs())
    if (spec.kind == kind) return &spec;
  return nullptr;
}

std::string param_list(const KindSpec& spec) {
  std::vector<std::string_view> names;
  for (const auto& p : spec.params) names.push_back(p.name);
  return names.empty() ? "no arguments" : fmt::format("{}", fmt::join(names, ", "));
}

/// Validates `init` and returns its arguments in the kind's declared order.
std::vector<double> resolve_args(const Initializer& init) {
  const KindSpec* spec = find_kind(init.kind);
  if (!spec) {
    std::vector<std::string_view> known;
    for (const auto& s : kind_specs()) known.push_back(s.kind);
    throw Error(fmt::format("unknown initializer kind '{}' (known kinds: {})", init.kind, fmt::join(known, ", ")));
  }
  const std::string where = fmt::format("initializer {}", init.kind);
  std::vector<std::optional<double>> values(spec->params.size());
  size_t next_positional = 0;
  for (const auto& [name, value] : init.args) {
    size_t slot = 0;
    if (name.empty()) {
      if (next_positional >= values.size())
        throw Error(fmt::format("{}: too many arguments: it takes {} ({}), got {}", where, values.size(),
                                param_list(*spec), init.args.size()));
      slot = next_positional++;
    } else {
      slot = values.size();
      for (size_t i = 0; i < spec->params.size(); ++i)
        if (spec->params[i].name == name) slot = i;
      if (slot == values.size())
        throw Error(fmt::format("{}: unknown argument '{}' (it takes {})", where, name, param_list(*spec)));
    }
    if (values[slot]) throw Error(fmt::format("{}: argument '{}' is given twice", where, spec->params[slot].name));
    values[slot] = value;
  }

  std::vector<double> args;
  for (size_t i = 0; i < values.size(); ++i) {
    const ParamSpec& p = spec->params[i];
    if (!values[i])
      throw Error(fmt::format("{}: missing argument '{}' (it takes {})", where, p.name, param_list(*spec)));
    const double v = *values[i];
    if (!std::isfinite(v)) throw Error(fmt::format("{}: argument '{}' must be finite, got {}", where, p.name, v));
    if (p.range == Range::non_negative && v < 0)
      throw Error(fmt::format("{}: argument '{}' must be >= 0, got {}", where, p.name, v));
    if (p.range == Range::positive && v <= 0)
      throw Error(fmt::format("{}: argument '{}' must be > 0, got {}", where, p.name, v));
    args.push_back(v);
  }
  if (init.kind == "uniform" && args[0] > args[1])
    throw Error(fmt::format("{}: low must be <= high, got low={} high={}", where, args[0], args[1]));
  return args;
}

std::string shape_str(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

struct Fans {
  double fan_in = 0;
  double fan_out = 0;
};

/// PyTorch's torch.nn.init._calculate_fan_in_and_fan_out: dim 1 is the input, dim 0 the output, and
/// any further dims form the receptive field (a convolution's kernel).
Fans compute_fans(const Initializer& init, const std::vector<int64_t>& shape) {
  if (shape.size() < 2)
    throw Error(
        fmt::format("initializer {} needs a parameter of rank >= 2 to compute its fans (as PyTorch's "
                    "does), but the shape is {}",
                    init.kind, shape_str(shape)));
  double receptive = 1;
  for (size_t i = 2; i < shape.size(); ++i) receptive *= static_cast<double>(shape[i]);
  return Fans{static_cast<double>(shape[1]) * receptive, static_cast<double>(shape[0]) * receptive};
}

/// A sampler of element i of the (real-valued) parameter.
struct Sampler {
  enum class Kind { constant, uniform, normal } kind = Kind::constant;
  double a = 0;  // constant: value; uniform: low; normal: mean
  double b = 0;  // uniform: high; normal: std
};

Sampler make_sampler(const Initializer& init, const std::vector<double>& args, const std::vector<int64_t>& shape) {
  using K = Sampler::Kind;
  const std::string_view k = init.kind;
  if (k == "zeros") return {K::constant, 0, 0};
  if (k == "ones") return {K::constant, 1, 0};
  if (k == "constant") return {K::constant, args[0], 0};
  if (k == "uniform") return {K::uniform, args[0], args[1]};
  if (k == "normal") return {K::normal, args[0], args[1]};
  if (k == "linear_bias") {
    const double bound = 1 / std::sqrt(args[0]);
    return {K::uniform, -bound, bound};
  }
  const Fans fans = compute_fans(init, shape);
  if (k == "kaiming_uniform") {
    const double gain = std::sqrt(2 / (1 + args[0] * args[0]));
    const double bound = gain * std::sqrt(3 / fans.fan_in);
    return {K::uniform, -bound, bound};
  }
  if (k == "xavier_uniform") {
    const double bound = args[0] * std::sqrt(6 / (fans.fan_in + fans.fan_out));
    return {K::uniform, -bound, bound};
  }
  if (k == "xavier_normal") return {K::normal, 0, args[0] * std::sqrt(2 / (fans.fan_in + fans.fan_out))};
  WEFT_CHECK(false, fmt::format("initializer kind '{}' is validated but has no sampler", k));
  return {};
}

/// The sample from element i's four Philox words (philox_words(seed, i)).
double sample_of_words(const Sampler& s, uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3) {
  switch (s.kind) {
    case Sampler::Kind::constant:
      return s.a;
    case Sampler::Kind::uniform:
      return s.a + (s.b - s.a) * philox_bits_to_unit_double(w0, w1);
    case Sampler::Kind::normal: {
      // Box–Muller on two 53-bit uniforms; u1 is in (0, 1] so the logarithm is finite.
      const double u1 = 1.0 - philox_bits_to_unit_double(w0, w1);
      const double u2 = philox_bits_to_unit_double(w2, w3);
      const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
      return s.a + s.b * z;
    }
  }
  return 0;
}

double sample(const Sampler& s, uint64_t seed, uint64_t index) {
  if (s.kind == Sampler::Kind::constant) return s.a;
  const auto w = philox_words(seed, index);
  return sample_of_words(s, w[0], w[1], w[2], w[3]);
}

#if defined(__x86_64__)
constexpr int kBlock = 8;  // elements per philox_words_avx2 call

/// philox_words(seed, first + l) for l < 8, word j of element l in w[j][l]: the rounds of eight
/// elements at once in AVX2's 32×32→64-bit multiplies (two sets of four lanes, so that the two
/// chains of dependent multiplies overlap). Integer arithmetic only, so bit for bit the scalar
/// philox4x32; the caller checks the CPU has AVX2.
__attribute__((target("avx2"))) void philox_words_avx2(uint64_t seed, uint64_t first, uint32_t (*w)[kBlock]) {
  using namespace philox_detail;
  const __m256i low32 = _mm256_set1_epi64x(0xffffffffLL);
  const __m256i m0 = _mm256_set1_epi64x(kM0), m1 = _mm256_set1_epi64x(kM1);
  __m256i c0[2], c1[2], c2[2], c3[2];
  for (int h = 0; h < 2; ++h) {
    const __m256i index =
        _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(first + 4 * h)), _mm256_setr_epi64x(0, 1, 2, 3));
    c0[h] = _mm256_and_si256(index, low32);
    c1[h] = _mm256_srli_epi64(index, 32);
    c2[h] = _mm256_setzero_si256();
    c3[h] = _mm256_setzero_si256();
  }
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    const __m256i key0 = _mm256_set1_epi64x(k0), key1 = _mm256_set1_epi64x(k1);
    for (int h = 0; h < 2; ++h) {  // philox_detail::round on four lanes
      const __m256i p0 = _mm256_mul_epu32(m0, c0[h]), p1 = _mm256_mul_epu32(m1, c2[h]);
      const __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c1[h]), key0);
      const __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c3[h]), key1);
      c1[h] = _mm256_and_si256(p1, low32);
      c3[h] = _mm256_and_si256(p0, low32);
      c0[h] = n0;
      c2[h] = n2;
    }
  }
  for (int h = 0; h < 2; ++h) {
    alignas(32) uint64_t lanes[4][4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[0]), c0[h]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[1]), c1[h]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[2]), c2[h]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[3]), c3[h]);
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 4; ++l) w[j][4 * h + l] = static_cast<uint32_t>(lanes[j][l]);
  }
}

bool has_avx2() {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
}
#endif

/// Rounds to T, keeping a uniform sample below its upper bound: rounding low + (high-low)·u to
/// float can land on high itself.
template <typename T>
T round_sample(const Sampler& s, double v) {
  T out = static_cast<T>(v);
  if (s.kind == Sampler::Kind::uniform && s.b > s.a && static_cast<double>(out) >= s.b) {
    out = std::nextafter(out, -std::numeric_limits<T>::infinity());
    if (static_cast<double>(out) < s.a) out = static_cast<T>(s.a);
  }
  return out;
}

/// Elements [first, first + count) into `dst` (count elements of T). The Philox words of eight
/// elements at a time in AVX2 where the CPU has it (a model's parameters are millions of elements,
/// and one element's ten rounds are a chain of dependent multiplies); the same numbers either way.
template <typename T>
void fill_real(std::byte* dst, const Sampler& s, uint64_t seed, uint64_t first, uint64_t count) {
  uint64_t i = 0;
#if defined(__x86_64__)
  if (s.kind != Sampler::Kind::constant && has_avx2()) {
    uint32_t w[4][kBlock];
    for (; i + kBlock <= count; i += kBlock) {
      philox_words_avx2(seed, first + i, w);
      for (int l = 0; l < kBlock; ++l) {
        const T v = round_sample<T>(s, sample_of_words(s, w[0][l], w[1][l], w[2][l], w[3][l]));
        std::memcpy(dst + (i + static_cast<uint64_t>(l)) * sizeof(T), &v, sizeof(T));
      }
    }
  }
#endif
  for (; i < count; ++i) {
    const T v = round_sample<T>(s, sample(s, seed, first + i));
    std::memcpy(dst + i * sizeof(T), &v, sizeof(T));
  }
}

template <typename T>
void fill_same(std::byte* dst, T value, uint64_t count) {
  for (uint64_t i = 0; i < count; ++i) std::memcpy(dst + i * sizeof(T), &value, sizeof(T));
}

}  // namespace

void validate_initializer(const Initializer& init) { resolve_args(init); }

double initializer_arg(const Initializer& init, std::string_view name) {
  const std::vector<double> args = resolve_args(init);
  const KindSpec* spec = find_kind(init.kind);
  for (size_t i = 0; i < spec->params.size(); ++i)
    if (spec->params[i].name == name) return args[i];
  throw Error(fmt::format("initializer {}: has no argument '{}' (it takes {})", init.kind, name, param_list(*spec)));
}

namespace {

/// What filling a parameter takes, every check done: its element count and bytes, and for a real
/// dtype the sampler (integer and bool dtypes: a constant, in `sampler.a`).
struct Fill {
  uint64_t count = 0;
  uint64_t bytes = 0;
  Sampler sampler;
};

Fill prepare_fill(const Initializer& init, DType dtype, const std::vector<int64_t>& shape) {
  const std::vector<double> args = resolve_args(init);
  Fill fill;
  uint64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0)
      throw Error(fmt::format("initializer {}: parameter shape {} has a negative dim", init.kind, shape_str(shape)));
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(d), &count))
      throw Error(fmt::format("initializer {}: parameter shape {} has more elements than fit in 64 bits", init.kind,
                              shape_str(shape)));
  }
  if (__builtin_mul_overflow(count, dtype_size(dtype), &fill.bytes) || fill.bytes > std::numeric_limits<size_t>::max())
    throw Error(fmt::format("initializer {}: a {}{} parameter is too large to hold in memory", init.kind,
                            dtype_name(dtype), shape_str(shape)));
  fill.count = count;
  // PyTorch treats initializing an empty tensor as a no-op, even where fans cannot be computed.
  if (count == 0) return fill;
  const Sampler s = make_sampler(init, args, shape);
  fill.sampler = s;

  if (dtype == DType::f32 || dtype == DType::f64) {
    if (dtype == DType::f32 && s.kind == Sampler::Kind::constant && std::abs(s.a) > std::numeric_limits<float>::max())
      throw Error(fmt::format("initializer {}: value {} does not fit in f32", init.kind, s.a));
    return fill;
  }
  if (dtype == DType::f16 || dtype == DType::bf16)
    throw Error(
        fmt::format("initializer {}: {} parameters cannot be initialized directly; initialize in f32 and "
                    "cast",
                    init.kind, dtype_name(dtype)));

  // Integer and bool parameters: only exact constants make sense.
  if (s.kind != Sampler::Kind::constant)
    throw Error(
        fmt::format("initializer {} needs a float parameter (f32 or f64), but the parameter is {}; {} "
                    "parameters take zeros, ones or constant",
                    init.kind, dtype_name(dtype), dtype_name(dtype)));
  const double v = s.a;
  if (std::trunc(v) != v)
    throw Error(fmt::format("initializer {}: value {} is not an integer, so it cannot fill a {} parameter", init.kind,
                            v, dtype_name(dtype)));
  switch (dtype) {
    case DType::boolean:
      if (v != 0 && v != 1)
        throw Error(
            fmt::format("initializer {}: value {} cannot fill a bool parameter (it must be 0 or 1)", init.kind, v));
      break;
    case DType::i32:
      if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
        throw Error(fmt::format("initializer {}: value {} does not fit in i32", init.kind, v));
      break;
    case DType::i64:
      // 2^63 is exactly representable as a double; the largest i64 is not.
      if (v < -0x1.0p63 || v >= 0x1.0p63)
        throw Error(fmt::format("initializer {}: value {} does not fit in i64", init.kind, v));
      break;
    default:
      throw Error(fmt::format("initializer {}: a {} parameter cannot be initialized", init.kind, dtype_name(dtype)));
  }
  return fill;
}

}  // namespace

void check_initializer(const Initializer& init, DType dtype, const std::vector<int64_t>& shape) {
  prepare_fill(init, dtype, shape);
}

void materialize_initializer_slice(const Initializer& init, DType dtype, const std::vector<int64_t>& shape,
                                   uint64_t first, uint64_t count, std::byte* out) {
  const Fill fill = prepare_fill(init, dtype, shape);
  if (first > fill.count || count > fill.count - first)
    throw Error(fmt::format("initializer {}: elements [{}, {}) are outside the parameter's {}", init.kind, first,
                            first + count, fill.count));
  if (count == 0) return;
  const Sampler& s = fill.sampler;
  switch (dtype) {
    case DType::f32:
      fill_real<float>(out, s, init.seed, first, count);
      break;
    case DType::f64:
      fill_real<double>(out, s, init.seed, first, count);
      break;
    case DType::boolean:
      fill_same<uint8_t>(out, static_cast<uint8_t>(s.a), count);
      break;
    case DType::i32:
      fill_same<int32_t>(out, static_cast<int32_t>(s.a), count);
      break;
    case DType::i64:
      fill_same<int64_t>(out, static_cast<int64_t>(s.a), count);
      break;
    default:
      WEFT_CHECK(false, fmt::format("dtype {} passed prepare_fill", dtype_name(dtype)));
  }
}

std::vector<std::byte> materialize_initializer(const Initializer& init, DType dtype,
                                               const std::vector<int64_t>& shape) {
  const Fill fill = prepare_fill(init, dtype, shape);
  std::vector<std::byte> out(static_cast<size_t>(fill.bytes));
  materialize_initializer_slice(init, dtype, shape, 0, fill.count, out.data());
  return out;
}

Initializer linear_weight_init(uint64_t seed) { return Initializer{"kaiming_uniform", {{"a", std::sqrt(5.0)}}, seed}; }

Initializer linear_bias_init(int64_t fan_in, uint64_t seed) {
  return Initializer{"linear_bias", {{"fan_in", static_cast<double>(fan_in)}}, seed};
}

Initializer embedding_init(uint64_t seed) { return normal_init(0.0, 1.0, seed); }

Initializer normal_init(double mean, double std, uint64_t seed) {
  return Initializer{"normal", {{"mean", mean}, {"std", std}}, seed};
}

Initializer xavier_uniform_init(double gain, uint64_t seed) {
  return Initializer{"xavier_uniform", {{"gain", gain}}, seed};
}

}  // namespace weft
