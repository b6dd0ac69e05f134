#include "ir/error.h"

#include <fmt/format.h>

namespace weft {

SourceLoc SourceLoc::from(const std::source_location& loc) {
  return SourceLoc{loc.file_name(), static_cast<int>(loc.line()), 0};
}

std::string SourceLoc::str() const {
  if (empty()) return "";
  if (column > 0) return fmt::format("{}:{}:{}", file, line, column);
  return fmt::format("{}:{}", file, line);
}

void internal_failure(const char* condition, const char* file, int line, const std::string& message) {
  throw InternalError(fmt::format("internal error (a bug in Weft, please report it): {} [{} failed at {}:{}]",
                                  message, condition, file, line));
}

std::string with_location(const std::string& message, const SourceLoc& loc) {
  if (loc.empty()) return message;
  return message + " (at " + loc.str() + ")";
}

}  // namespace weft
