#include "runtime/executable.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

namespace weft {

const TensorSpec* Signature::find_input(const std::string& name) const {
  for (const auto& s : inputs)
    if (s.name == name) return &s;
  return nullptr;
}

const TensorSpec* Signature::find_state(const std::string& name) const {
  for (const auto& s : state)
    if (s.name == name) return &s;
  return nullptr;
}

static std::string concrete_str(const Tensor& t) { return t.type_str(); }

/// " of graph 'mlp'", or "" when the signature has no name.
static std::string of_graph(const Signature& sig) {
  return sig.graph.empty() ? "" : fmt::format(" of graph '{}'", sig.graph);
}

SymbolBindings bind_inputs(const Signature& sig, std::span<const Tensor> inputs) {
  if (inputs.size() != sig.inputs.size())
    throw Error(fmt::format("{}expected {} input(s), but got {}",
                            sig.graph.empty() ? "" : fmt::format("graph '{}': ", sig.graph), sig.inputs.size(),
                            inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec& spec = sig.inputs[i];
    const Tensor& t = inputs[i];
    if (t.dtype() != spec.type.dtype || t.rank() != spec.type.rank())
      throw Error(fmt::format("input '{}'{} must be {}, but got {}", spec.name, of_graph(sig), spec.type.str(),
                              concrete_str(t)));
  }
  // A symbol takes its value from the first dim that determines it — single-symbol dims (B, 2*T)
  // first, then products (B*T once T is known) — divided by the rest of the dim, which must divide
  // it; the C runtime of compiled models binds the same way (runtime/capi/weft_rt_run.c).
  SymbolBindings bindings;
  std::map<std::string, size_t> bound_by;  // symbol -> the input that bound it first
  auto sweep = [&](bool singles) {
    bool progress = false;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const TensorSpec& spec = sig.inputs[i];
      for (int d = 0; d < inputs[i].rank(); ++d) {
        const Dim& dim = spec.type.shape[d];
        if (dim.is_static() || (singles && dim.symbols().size() != 1)) continue;
        const int64_t size = inputs[i].shape()[d];
        if (singles && dim.coefficient() == 1) {
          const std::string& s = dim.symbols()[0];
          auto it = bindings.find(s);
          if (it != bindings.end() && it->second != size)
            throw Error(fmt::format("input '{}'{} has {} = {} at dim {}, but input '{}' bound {} = {} ({} vs {})",
                                    spec.name, of_graph(sig), s, size, d, sig.inputs[bound_by.at(s)].name, s,
                                    it->second, spec.type.str(), concrete_str(inputs[i])));
        }
        std::string unknown;
        int occurrences = 0;
        int64_t rest = dim.coefficient();
        bool overflow = false;
        for (const std::string& s : dim.symbols()) {
          auto it = bindings.find(s);
          if (it == bindings.end()) {
            unknown = s;
            ++occurrences;
          } else {
            overflow = overflow || __builtin_mul_overflow(rest, it->second, &rest);
          }
        }
        if (occurrences != 1 || overflow || rest == 0) continue;
        if (size % rest != 0)
          throw Error(fmt::format("input '{}'{} must be {}, but got {}: dim {} ({}) is not a multiple of {}", spec.name,
                                  of_graph(sig), spec.type.str(), concrete_str(inputs[i]), d, size, rest));
        bindings.emplace(unknown, size / rest);
        bound_by.emplace(unknown, i);
        progress = true;
      }
    }
    return progress;
  };
  sweep(true);
  while (sweep(false)) {
  }
  for (const auto& sym : sig.symbols) {
    auto it = bindings.find(sym.name);
    if (it != bindings.end() && sym.bound && it->second > *sym.bound) {
      const size_t i = bound_by.at(sym.name);
      throw Error(
          fmt::format("symbolic dim {} = {} exceeds its declared bound {} <= {} (input '{}'{} is {}, declared {})",
                      sym.name, it->second, sym.name, *sym.bound, sig.inputs[i].name, of_graph(sig),
                      concrete_str(inputs[i]), sig.inputs[i].type.str()));
    }
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec& spec = sig.inputs[i];
    for (int d = 0; d < inputs[i].rank(); ++d) {
      const Dim& dim = spec.type.shape[d];
      if (!dim.is_bound_by(bindings))
        throw Error(fmt::format("input '{}'{}: dim {} ({}) uses a symbol no input's shape determines", spec.name,
                                of_graph(sig), d, dim.str()));
      if (dim.evaluate(bindings) != inputs[i].shape()[d])
        throw Error(fmt::format("input '{}'{} must be {}, but got {} (dim {} should be {})", spec.name, of_graph(sig),
                                spec.type.str(), concrete_str(inputs[i]), d, dim.evaluate(bindings)));
    }
  }
  return bindings;
}

std::map<std::string, Tensor> Executable::run_named(const std::map<std::string, Tensor>& inputs) {
  const Signature& sig = signature();
  std::vector<Tensor> ordered;
  std::vector<std::string> missing, unknown;
  for (const auto& spec : sig.inputs) {
    auto it = inputs.find(spec.name);
    if (it == inputs.end())
      missing.push_back(fmt::format("'{}' ({})", spec.name, spec.type.str()));
    else
      ordered.push_back(it->second);
  }
  for (const auto& [name, t] : inputs)
    if (!sig.find_input(name)) unknown.push_back(fmt::format("'{}'", name));
  // Both lists at once: a misspelled name is one of each.
  if (!missing.empty() || !unknown.empty()) {
    std::string message = sig.graph.empty() ? "" : fmt::format("graph '{}': ", sig.graph);
    if (!missing.empty())
      message += fmt::format("missing input{} {}", missing.size() == 1 ? "" : "s", fmt::join(missing, ", "));
    if (!unknown.empty())
      message += fmt::format("{}unknown input{} {}", missing.empty() ? "" : "; ", unknown.size() == 1 ? "" : "s",
                             fmt::join(unknown, ", "));
    std::vector<std::string> names;
    for (const auto& spec : sig.inputs) names.push_back(spec.name);
    throw Error(fmt::format("{} (its inputs: {})", message, fmt::join(names, ", ")));
  }
  std::vector<Tensor> outs = run(ordered);
  std::map<std::string, Tensor> named;
  for (size_t i = 0; i < outs.size(); ++i) named.emplace(sig.outputs[i].name, outs[i]);
  return named;
}

}  // namespace weft
