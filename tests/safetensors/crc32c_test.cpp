// CRC-32C, the checksum of checkpoints: the standard check values (RFC 3720's and the usual
// "123456789"), continuation across pieces, and a flipped bit seen at every position.
#include "ir/crc32c.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

namespace weft {
namespace {

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

TEST(Crc32c, GivesTheStandardCheckValues) {
  EXPECT_EQ(crc32c(bytes("123456789")), 0xe3069283u);
  EXPECT_EQ(crc32c(bytes("")), 0u);
  std::vector<std::byte> zeros(32, std::byte{0}), ones(32, std::byte{0xff});
  EXPECT_EQ(crc32c(zeros), 0x8a9136aau);  // RFC 3720, B.4
  EXPECT_EQ(crc32c(ones), 0x62a8ab43u);
}

TEST(Crc32c, ContinuesAcrossPiecesAndSeesEveryByte) {
  std::string text = "the quick brown fox jumps over the lazy dog, 0123456789";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    uint32_t first = crc32c(bytes(std::string_view(text).substr(0, cut)));
    EXPECT_EQ(crc32c(bytes(std::string_view(text).substr(cut)), first), crc32c(bytes(text))) << "cut at " << cut;
  }
  for (size_t i = 0; i < text.size(); ++i) {
    std::string flipped = text;
    flipped[i] = static_cast<char>(flipped[i] ^ 1);
    EXPECT_NE(crc32c(bytes(flipped)), crc32c(bytes(text))) << "flip at " << i;
  }
}

}  // namespace
}  // namespace weft
