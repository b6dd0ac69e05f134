/** \file
 * The host's cache sizes, for code generators that choose between streaming and cache-resident
 * strategies (reduction_codegen.cpp prefetches the next row only when a region's data cannot stay
 * in the last-level cache).
 */
#pragma once

#include <cstdint>

namespace weft::llvm_backend {

/// The largest data or unified cache of CPU 0 in bytes, read once from Linux's sysfs
/// (/sys/devices/system/cpu/cpu0/cache); 32 MiB when it cannot be read.
int64_t last_level_cache_bytes();

}  // namespace weft::llvm_backend
