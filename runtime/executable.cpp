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
  SymbolBindings bindings;
  std::map<std::string, size_t> bound_by;  // symbol -> the input that bound it first
  // Pass 1: plain symbols bind directly; pass 2: checks every dim (monomials included).
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec& spec = sig.inputs[i];
    const Tensor& t = inputs[i];
    if (t.dtype() != spec.type.dtype || t.rank() != spec.type.rank())
      throw Error(fmt::format("input '{}'{} must be {}, but got {}", spec.name, of_graph(sig), spec.type.str(),
                              concrete_str(t)));
    for (int d = 0; d < t.rank(); ++d) {
      const Dim& dim = spec.type.shape[d];
      if (dim.is_static() || dim.coefficient() != 1 || dim.symbols().size() != 1) continue;
      const std::string& s = dim.symbols()[0];
      auto [it, inserted] = bindings.emplace(s, t.shape()[d]);
      if (inserted) bound_by.emplace(s, i);
      if (!inserted && it->second != t.shape()[d])
        throw Error(fmt::format("input '{}'{} has {} = {} at dim {}, but input '{}' bound {} = {} ({} vs {})",
                                spec.name, of_graph(sig), s, t.shape()[d], d, sig.inputs[bound_by.at(s)].name, s,
                                it->second, spec.type.str(), concrete_str(t)));
    }
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
        throw Error(fmt::format("input '{}'{}: dim {} ({}) uses a symbol no input binds alone", spec.name,
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
