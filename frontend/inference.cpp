#include "frontend/inference.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "frontend/optim.h"
#include "ir/safetensors.h"

namespace weft::train {

namespace {

bool same_type(const TensorType& spec, const Tensor& t) {
  if (spec.dtype != t.dtype() || spec.rank() != t.rank()) return false;
  for (int i = 0; i < t.rank(); ++i)
    if (!spec.shape[static_cast<size_t>(i)].is_static() ||
        spec.shape[static_cast<size_t>(i)].value() != t.shape()[static_cast<size_t>(i)])
      return false;
  return true;
}

TensorBlob blob_of(const std::string& name, const Tensor& t) {
  auto bytes = t.bytes();
  return TensorBlob{name, t.dtype(), t.shape(), std::vector<std::byte>(bytes.begin(), bytes.end())};
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void copy_parameters(const Executable& from, Executable& to) {
  std::vector<std::string> problems;
  std::vector<std::pair<std::string, Tensor>> values;
  for (const TensorSpec& s : to.signature().state) {
    if (!from.signature().find_state(s.name)) {
      problems.push_back(fmt::format("'{}' ({}) is not in the trained executable", s.name, s.type.str()));
      continue;
    }
    Tensor value = from.state(s.name);
    if (!same_type(s.type, value)) {
      problems.push_back(fmt::format("'{}' is {} there, but {} here", s.name, value.type_str(), s.type.str()));
      continue;
    }
    values.emplace_back(s.name, std::move(value));
  }
  if (!problems.empty())
    throw Error(
        fmt::format("copy_parameters: every state tensor of the inference executable must be in the trained "
                    "one with the same type (build both from the same layers), but:\n  {}",
                    fmt::join(problems, "\n  ")));
  for (const auto& [name, value] : values) to.set_state(name, value);
}

std::unique_ptr<Executable> inference_executable(const Executable& trained, const std::string& name,
                                                 const std::function<void(Builder&)>& build, const Compiler& compile) {
  Builder b(name);
  build(b);
  std::unique_ptr<Executable> exe = compile(b.finish());
  copy_parameters(trained, *exe);
  return exe;
}

bool is_optimizer_state(const std::string& name) {
  for (const OptimizerConfig& config :
       {OptimizerConfig{SgdOptions{}}, OptimizerConfig{AdamOptions{}}, OptimizerConfig{AdamWOptions{}}})
    if (name.rfind(optimizer_name(config) + ".", 0) == 0) return true;
  return false;
}

void save_weights(const std::string& path, const Executable& exe) {
  std::map<std::string, Tensor> params;
  for (const TensorSpec& s : exe.signature().state)
    if (!is_optimizer_state(s.name)) params.emplace(s.name, exe.state(s.name));
  // Pack nn.MultiheadAttention's projections as PyTorch stores them: `X.in_proj_weight` [3E, E] is
  // q, k, v's weights stacked by rows (the inverse of the loader's split).
  SafetensorsFile file;
  std::set<std::string> packed;
  for (const auto& [name, value] : params) {
    for (const char* kind : {"weight", "bias"}) {
      std::string suffix = fmt::format("q_proj.{}", kind);
      if (!ends_with(name, suffix)) continue;
      std::string base = name.substr(0, name.size() - suffix.size());
      auto k = params.find(fmt::format("{}k_proj.{}", base, kind));
      auto v = params.find(fmt::format("{}v_proj.{}", base, kind));
      if (k == params.end() || v == params.end() || k->second.shape() != value.shape() ||
          v->second.shape() != value.shape())
        continue;
      std::vector<int64_t> shape = value.shape();
      shape[0] *= 3;
      TensorBlob blob{fmt::format("{}in_proj_{}", base, kind), value.dtype(), shape, {}};
      for (const Tensor* part : std::initializer_list<const Tensor*>{&value, &k->second, &v->second}) {
        auto bytes = part->bytes();
        blob.data.insert(blob.data.end(), bytes.begin(), bytes.end());
      }
      file.tensors.push_back(std::move(blob));
      packed.insert({name, k->first, v->first});
    }
  }
  for (const auto& [name, value] : params)
    if (!packed.count(name)) file.tensors.push_back(blob_of(name, value));
  file.metadata["format"] = "pt";  // as safetensors' torch writer marks PyTorch weights
  write_safetensors_atomic(path, file);
}

std::vector<nn::MappedTensor> load_weights(const std::string& path, Executable& exe) {
  nn::TorchLoadOptions options{.prefix = ""};
  for (const TensorSpec& s : exe.signature().state)
    if (is_optimizer_state(s.name)) options.allow_unset.push_back(s.name);
  return nn::load_torch_state_dict(exe, read_safetensors(path), options);
}

}  // namespace weft::train
