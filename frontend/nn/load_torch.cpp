#include "frontend/nn/load_torch.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace weft::nn {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

/// If `name` is `<base>suffix` with `base` empty or ending in '.', returns true and sets `base`.
bool split_suffix(const std::string& name, const std::string& suffix, std::string& base) {
  if (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  base = name.substr(0, name.size() - suffix.size());
  return base.empty() || base.back() == '.';
}

std::string type_of(const TensorBlob& blob) {
  return fmt::format("{}[{}]", dtype_name(blob.dtype), fmt::join(blob.shape, ", "));
}

/// Rows [part·n, (part+1)·n) of a [3n, ...] tensor.
weft::Tensor row_block(const TensorBlob& blob, int part) {
  std::vector<int64_t> shape = blob.shape;
  shape[0] /= 3;
  size_t bytes = blob.data.size() / 3;
  return weft::Tensor::from_bytes(blob.dtype, shape,
                                  std::span(blob.data).subspan(static_cast<size_t>(part) * bytes, bytes));
}

/// Applies rule 4 (see the header) to one tensor; returns its Weft-named pieces (before weft_prefix).
std::vector<std::pair<std::string, weft::Tensor>> split_packed(const std::string& name, const TensorBlob& blob) {
  static const char* kParts[] = {"q_proj", "k_proj", "v_proj"};
  std::string base;
  for (const char* kind : {"weight", "bias"}) {
    if (!split_suffix(name, fmt::format("in_proj_{}", kind), base)) continue;
    if (blob.shape.empty() || blob.shape[0] % 3 != 0)
      throw Error(
          fmt::format("load_torch_state_dict: the packed projection '{}' must have 3E rows (q, k, v), but "
                      "it is {}",
                      name, type_of(blob)));
    std::vector<std::pair<std::string, weft::Tensor>> out;
    for (int p = 0; p < 3; ++p) out.emplace_back(fmt::format("{}{}.{}", base, kParts[p], kind), row_block(blob, p));
    return out;
  }
  for (const char* part : kParts)
    if (split_suffix(name, fmt::format("{}_weight", part), base))
      return {{fmt::format("{}{}.weight", base, part), weft::Tensor::from_bytes(blob.dtype, blob.shape, blob.data)}};
  return {{name, weft::Tensor::from_bytes(blob.dtype, blob.shape, blob.data)}};
}

std::string renamed(const std::string& name, const TorchLoadOptions& options) {
  for (const auto& [from, to] : options.renames)
    if (starts_with(name, from)) return to + name.substr(from.size());
  return name;
}

}  // namespace

std::vector<MappedTensor> map_torch_state_dict(const SafetensorsFile& file, const TorchLoadOptions& options) {
  std::vector<MappedTensor> out;
  std::set<std::string> seen;
  for (const TensorBlob& blob : file.tensors) {
    if (!starts_with(blob.name, options.prefix)) continue;
    std::string torch_name = blob.name.substr(options.prefix.size());
    if (std::find(options.ignore.begin(), options.ignore.end(), torch_name) != options.ignore.end()) continue;
    for (auto& [name, value] : split_packed(renamed(torch_name, options), blob)) {
      std::string weft_name = options.weft_prefix + name;
      if (!seen.insert(weft_name).second)
        throw Error(
            fmt::format("load_torch_state_dict: two PyTorch tensors map to the Weft parameter '{}' (the "
                        "second is '{}'); check TorchLoadOptions::renames",
                        weft_name, torch_name));
      out.push_back(MappedTensor{torch_name, weft_name, std::move(value)});
    }
  }
  return out;
}

std::vector<MappedTensor> load_torch_state_dict(Executable& exe, const SafetensorsFile& file,
                                                const TorchLoadOptions& options) {
  std::vector<MappedTensor> mapped = map_torch_state_dict(file, options);
  const Signature& sig = exe.signature();
  std::vector<std::string> problems;
  std::set<std::string> set_names;
  for (const MappedTensor& m : mapped) {
    const TensorSpec* spec = sig.find_state(m.weft_name);
    std::string what = m.torch_name == m.weft_name ? fmt::format("'{}'", m.torch_name)
                                                   : fmt::format("'{}' (as '{}')", m.torch_name, m.weft_name);
    if (!spec) {
      problems.push_back(fmt::format("PyTorch tensor {} matches no Weft parameter", what));
      continue;
    }
    bool same = spec->type.dtype == m.value.dtype() && spec->type.rank() == m.value.rank();
    for (int i = 0; same && i < m.value.rank(); ++i)
      same = spec->type.shape[i].is_static() && spec->type.shape[i].value() == m.value.shape()[i];
    if (!same) {
      problems.push_back(fmt::format("PyTorch tensor {} is {}, but the Weft parameter is {}", what, m.value.type_str(),
                                     spec->type.str()));
      continue;
    }
    set_names.insert(m.weft_name);
  }
  for (const TensorSpec& s : sig.state) {
    bool allowed = std::any_of(options.allow_unset.begin(), options.allow_unset.end(),
                               [&](const std::string& p) { return starts_with(s.name, p); });
    if (!set_names.count(s.name) && !allowed)
      problems.push_back(fmt::format("Weft parameter '{}' ({}) is left unset", s.name, s.type.str()));
  }
  if (!problems.empty())
    throw Error(
        fmt::format("load_torch_state_dict: every PyTorch tensor must match a Weft parameter of the same type "
                    "and every Weft parameter must be set (names map as in docs/pytorch-mapping.md; "
                    "prefix \"{}\", weft_prefix \"{}\"), but:\n  {}",
                    options.prefix, options.weft_prefix, fmt::join(problems, "\n  ")));
  for (const MappedTensor& m : mapped) exe.set_state(m.weft_name, m.value);
  return mapped;
}

}  // namespace weft::nn
