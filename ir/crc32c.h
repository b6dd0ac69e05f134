/** \file
 * CRC-32C (Castagnoli), the checksum of checkpoints: the SSE4.2 `crc32` instruction where the CPU
 * has it, a table otherwise; both give the same value (the standard one: crc32c("123456789") =
 * 0xe3069283).
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace weft {

/// The CRC-32C of `bytes`, continuing from `crc` (the value of the bytes before them; 0 to start).
uint32_t crc32c(std::span<const std::byte> bytes, uint32_t crc = 0);

}  // namespace weft
