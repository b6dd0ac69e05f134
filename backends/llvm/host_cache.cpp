/** \file
 * The host's cache sizes. See host_cache.h.
 */
#include "backends/llvm/host_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>

namespace weft::llvm_backend {

int64_t last_level_cache_bytes() {
  static const int64_t bytes = [] {
    int64_t best = 0;
    for (int i = 0; i < 8; ++i) {
      std::string dir = fmt::format("/sys/devices/system/cpu/cpu0/cache/index{}/", i);
      std::string type, size;
      if (!(std::ifstream(dir + "type") >> type) || type == "Instruction") continue;
      if (!(std::ifstream(dir + "size") >> size) || size.empty()) continue;
      int64_t scale = size.back() == 'K' ? 1024 : size.back() == 'M' ? 1024 * 1024 : 1;
      best = std::max<int64_t>(best, std::atoll(size.c_str()) * scale);
    }
    return best > 0 ? best : int64_t{32} << 20;
  }();
  return bytes;
}

}  // namespace weft::llvm_backend
