/** \file
 * The backend registry: `make_backend(name)`, `register_backend` and the default backend.
 *
 * The built-in backends are the ones this build has: the build writes their list
 * (`builtin_backends.inc`, one `WEFT_BUILTIN_BACKEND(name)` per backend, from backends/CMakeLists.txt
 * and each provider's own CMakeLists.txt), as LLVM's build writes its list of targets. This library
 * sits above every provider's, so no provider library links another in a cycle; a program adds its
 * own backends with `register_backend`.
 */
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "backends/backend.h"
#include "backends/default_backend.h"

namespace weft {

#define WEFT_BUILTIN_BACKEND(name) std::unique_ptr<Backend> make_##name##_backend();
#include "builtin_backends.inc"
#undef WEFT_BUILTIN_BACKEND

namespace {

using Factory = std::unique_ptr<Backend> (*)();
struct Entry {
  std::string name;
  Factory make;
};

std::vector<Entry>& registry() {
  static std::vector<Entry> r = {
#define WEFT_BUILTIN_BACKEND(name) {#name, make_##name##_backend},
#include "builtin_backends.inc"
#undef WEFT_BUILTIN_BACKEND
  };
  return r;
}

}  // namespace

void register_backend(const char* name, std::unique_ptr<Backend> (*make)()) {
  for (Entry& e : registry())
    if (e.name == name) {
      e.make = make;  // a later registration of a name replaces the earlier
      return;
    }
  registry().push_back({name, make});
}

std::unique_ptr<Backend> make_backend(std::string_view name) {
  for (const auto& e : registry())
    if (name == e.name) return e.make();
  throw Error(fmt::format("unknown backend '{}' (available: {})", name, fmt::join(backend_names(), ", ")));
}

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const auto& e : registry()) names.push_back(e.name);
  return names;
}

std::string default_backend_name() {
  std::vector<std::string> names = backend_names();
  for (const char* name : {"auto", "llvm"})
    if (std::find(names.begin(), names.end(), name) != names.end()) return name;
  return "interp";
}

std::vector<std::string> available_backend_names() {
  std::vector<std::string> names;
  for (const auto& e : registry())
    if (!e.make()->unavailable()) names.push_back(e.name);
  return names;
}

}  // namespace weft
