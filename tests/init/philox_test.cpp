/** \file
 * Philox4x32-10 against the known-answer vectors published with Random123 (kat_vectors), and the
 * unit-interval helpers built on it.
 */
#include "ir/philox.h"

#include <gtest/gtest.h>

#include <array>

namespace weft {
namespace {

using Words = std::array<uint32_t, 4>;

TEST(Philox, MatchesRandom123KnownAnswerForZeroCounterAndKey) {
  EXPECT_EQ(philox4x32({0, 0, 0, 0}, {0, 0}), (Words{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
}

TEST(Philox, MatchesRandom123KnownAnswerForAllOnesCounterAndKey) {
  EXPECT_EQ(philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (Words{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
}

TEST(Philox, MatchesRandom123KnownAnswerForPiDigits) {
  EXPECT_EQ(philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (Words{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, IsUsableAtCompileTime) { static_assert(philox4x32({0, 0, 0, 0}, {0, 0})[0] == 0x6627e8d5u); }

TEST(Philox, WordsForSeedAndIndexPutTheIndexInTheCounterAndTheSeedInTheKey) {
  const uint64_t seed = 0x299f31d0a4093822ull;
  const uint64_t index = 0x85a308d3243f6a88ull;
  // philox_words uses counter = (index lo, index hi, 0, 0), key = (seed lo, seed hi).
  EXPECT_EQ(philox_words(seed, index), philox4x32({0x243f6a88, 0x85a308d3, 0, 0}, {0xa4093822, 0x299f31d0}));
  EXPECT_EQ(philox_words(0, 0), (Words{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
}

TEST(Philox, UnitIntervalHelpersStayBelowOne) {
  EXPECT_EQ(philox_bits_to_unit_double(0, 0), 0.0);
  EXPECT_LT(philox_bits_to_unit_double(0xffffffff, 0xffffffff), 1.0);
  EXPECT_EQ(philox_bits_to_unit_double(0xffffffff, 0xffffffff), 1.0 - 0x1.0p-53);
  EXPECT_EQ(philox_bits_to_unit_double(0x80000000, 0), 0.5);
  for (uint64_t i = 0; i < 10000; ++i) {
    const float f = philox_uniform_float(7, i);
    const double d = philox_uniform_double(7, i);
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
  }
}

TEST(Philox, UniformIsAPureFunctionOfSeedAndIndex) {
  // 0x6627e8d5 >> 8 = 0x6627e8 = 6694888, over 2^24.
  EXPECT_EQ(philox_uniform_float(0, 0), 6694888.0f / 16777216.0f);
  EXPECT_EQ(philox_uniform_double(5, 123), philox_uniform_double(5, 123));
  EXPECT_NE(philox_uniform_double(5, 123), philox_uniform_double(6, 123));
  EXPECT_NE(philox_uniform_double(5, 123), philox_uniform_double(5, 124));
}

}  // namespace
}  // namespace weft
