/** \file
 * The two kinds of failure, kept apart.
 *
 * `weft::Error` is for what the user did: a shape mismatch, a malformed file, a bad argument. Its
 * message states the rule, then the facts, then the user's location. `WEFT_CHECK` is for what would
 * be Weft's own bug; it throws `weft::InternalError`, which says so. Neither vanishes in Release.
 */
#pragma once

#include <source_location>
#include <stdexcept>
#include <string>

namespace weft {

/// Where something came from: a user's C++ call site, or a line and column of a text file.
struct SourceLoc {
  std::string file;
  int line = 0;
  int column = 0;

  static SourceLoc from(const std::source_location& loc);
  bool empty() const { return file.empty() && line == 0; }
  /// "file:line" or "file:line:column"; empty when unknown.
  std::string str() const;
  bool operator==(const SourceLoc&) const = default;
};

/// Appends " (at file:line)" when `loc` is known.
std::string with_location(const std::string& message, const SourceLoc& loc);

/// A user error: the message says what rule was broken, the facts, and where.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

/// A bug in Weft itself, never the user's fault.
class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& message) : std::logic_error(message) {}
};

[[noreturn]] void internal_failure(const char* condition, const char* file, int line,
                                   const std::string& message);

}  // namespace weft

#define WEFT_CHECK(cond, message)                                        \
  do {                                                                   \
    if (!(cond)) ::weft::internal_failure(#cond, __FILE__, __LINE__, (message)); \
  } while (0)
