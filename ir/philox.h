/** \file
 * Philox4x32-10, the counter-based random number generator of Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3" (SC 2011), as in Random123 and in PyTorch's CUDA generator.
 *
 * A counter-based generator has no state to advance: the output is a pure function of a 128-bit
 * counter and a 64-bit key. Weft uses the key for the initializer's seed and the counter for the
 * element's flat index, so element i of a parameter is the same number whatever order, thread
 * count or backend computes it (DESIGN.md, rule 6), and any slice can be filled on its own.
 */
#pragma once

#include <array>
#include <cstdint>

namespace weft {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

namespace philox_detail {

// The multipliers and Weyl key increments of the published algorithm.
constexpr uint32_t kM0 = 0xD2511F53u;
constexpr uint32_t kM1 = 0xCD9E8D57u;
constexpr uint32_t kW0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t kW1 = 0xBB67AE85u;  // sqrt(3) - 1

constexpr PhiloxCounter round(const PhiloxCounter& c, const PhiloxKey& k) {
  const uint64_t p0 = uint64_t{kM0} * c[0];
  const uint64_t p1 = uint64_t{kM1} * c[2];
  const auto hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
  const auto hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
  return {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
}

}  // namespace philox_detail

/// Philox4x32 with 10 rounds: four uniformly distributed 32-bit words for (counter, key).
constexpr std::array<uint32_t, 4> philox4x32(PhiloxCounter counter, PhiloxKey key) {
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      key[0] += philox_detail::kW0;
      key[1] += philox_detail::kW1;
    }
    counter = philox_detail::round(counter, key);
  }
  return counter;
}

/// The four words for element `index` of the stream `seed`: counter = (index, 0), key = seed.
constexpr std::array<uint32_t, 4> philox_words(uint64_t seed, uint64_t index) {
  return philox4x32({static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), 0u, 0u},
                    {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
}

/// 53 random bits from two words, scaled into [0, 1): every value is exactly representable, so
/// the result is never 1.0.
constexpr double philox_bits_to_unit_double(uint32_t hi, uint32_t lo) {
  const uint64_t bits = ((uint64_t{hi} << 32) | lo) >> 11;
  return static_cast<double>(bits) * 0x1.0p-53;
}

/// A uniform double in [0, 1) that depends only on (seed, index).
constexpr double philox_uniform_double(uint64_t seed, uint64_t index) {
  const auto w = philox_words(seed, index);
  return philox_bits_to_unit_double(w[0], w[1]);
}

/// A uniform float in [0, 1) that depends only on (seed, index). Uses 24 bits, so that rounding to
/// float can never produce 1.0f (rounding a double near 1 would).
constexpr float philox_uniform_float(uint64_t seed, uint64_t index) {
  const auto w = philox_words(seed, index);
  return static_cast<float>(w[0] >> 8) * 0x1.0p-24f;
}

}  // namespace weft
