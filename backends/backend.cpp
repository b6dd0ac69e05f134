#include "backends/backend.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "backends/interp/interpreter.h"

namespace weft {

#ifdef WEFT_HAVE_LLVM
std::unique_ptr<Backend> make_llvm_backend();  // backends/llvm/llvm_backend.cpp
#endif

namespace {
using Factory = std::unique_ptr<Backend> (*)();
struct Entry {
  const char* name;
  Factory make;
};
// Backends register here; later ones (llvm, onednn, cuda) are added as they are built.
std::vector<Entry>& registry() {
  static std::vector<Entry> r = {
      {"interp", [] { return std::unique_ptr<Backend>(new InterpBackend()); }},
#ifdef WEFT_HAVE_LLVM
      {"llvm", make_llvm_backend},
#endif
  };
  return r;
}
}  // namespace

void register_backend(const char* name, std::unique_ptr<Backend> (*make)()) { registry().push_back({name, make}); }

std::unique_ptr<Backend> make_backend(std::string_view name) {
  for (const auto& e : registry())
    if (name == e.name) return e.make();
  throw Error(fmt::format("unknown backend '{}' (available: {})", name, fmt::join(backend_names(), ", ")));
}

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const auto& e : registry()) names.emplace_back(e.name);
  return names;
}

Signature signature_of(const Graph& graph) {
  Signature sig;
  sig.graph = graph.name();
  for (const auto& in : graph.inputs()) sig.inputs.push_back({in.name, graph.type(in.value)});
  for (const auto& out : graph.outputs()) sig.outputs.push_back({out.name, graph.type(out.value)});
  for (const auto& p : graph.params()) sig.state.push_back({p.name, graph.type(p.value)});
  for (const auto& s : graph.symbols()) sig.symbols.push_back({s.name, s.bound});
  return sig;
}

}  // namespace weft
