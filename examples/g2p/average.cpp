#include "examples/g2p/average.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "frontend/inference.h"
#include "ir/error.h"
#include "ir/safetensors.h"

namespace g2p {

AveragedTrainStep::AveragedTrainStep(weft::Executable& step, double decay, const std::string& step_input)
    : step_(step), decay_(decay), signature_(step.signature()) {
  if (!(decay >= 0.0 && decay < 1.0))
    throw weft::Error(fmt::format("the parameter average's decay must be in [0, 1), but it is {}", decay));
  const auto& inputs = signature_.inputs;
  auto it = std::find_if(inputs.begin(), inputs.end(), [&](const weft::TensorSpec& s) { return s.name == step_input; });
  if (it == inputs.end() || it->type.dtype != weft::DType::i64 || !it->type.shape.empty())
    throw weft::Error(
        fmt::format("averaging the parameters of '{}' needs its update counter, a scalar i64 input "
                    "'{}', but it has none",
                    signature_.graph, step_input));
  step_index_ = static_cast<size_t>(it - inputs.begin());
  for (const weft::TensorSpec& s : step.signature().state) {
    if (weft::train::is_optimizer_state(s.name) || s.type.dtype != weft::DType::f32) continue;
    averages_.push_back({s.name, step.state(s.name)});  // a copy: the initial parameters
    signature_.state.push_back({kAveragePrefix + s.name, s.type});
  }
}

std::vector<weft::Tensor> AveragedTrainStep::run(std::span<const weft::Tensor> inputs) {
  std::vector<weft::Tensor> outputs = step_.run(inputs);
  const auto start = std::chrono::steady_clock::now();
  const double t = static_cast<double>(inputs[step_index_].to_vector<int64_t>().at(0));
  const auto keep = static_cast<float>(std::min(decay_, (1.0 + t) / (10.0 + t))), take = 1.0f - keep;
  for (Average& a : averages_) {
    weft::Tensor p = step_.state(a.parameter);
    const float* src = p.data<float>();
    float* avg = a.value.data<float>();
    const int64_t n = a.value.numel();
    for (int64_t i = 0; i < n; ++i) avg[i] = keep * avg[i] + take * src[i];
  }
  seconds_averaging_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return outputs;
}

AveragedTrainStep::Average* AveragedTrainStep::find(const std::string& state_name) {
  if (state_name.rfind(kAveragePrefix, 0) != 0) return nullptr;
  const std::string parameter = state_name.substr(std::string(kAveragePrefix).size());
  for (Average& a : averages_)
    if (a.parameter == parameter) return &a;
  return nullptr;
}

const AveragedTrainStep::Average* AveragedTrainStep::find(const std::string& state_name) const {
  return const_cast<AveragedTrainStep*>(this)->find(state_name);
}

weft::Tensor AveragedTrainStep::state(const std::string& name) const {
  if (const Average* a = find(name)) return a->value.clone();
  return step_.state(name);
}

void AveragedTrainStep::set_state(const std::string& name, const weft::Tensor& value) {
  Average* a = find(name);
  if (!a) return step_.set_state(name, value);
  if (value.dtype() != a->value.dtype() || value.shape() != a->value.shape())
    throw weft::Error(fmt::format("'{}' must have the shape of '{}', but the value given has another dtype or shape",
                                  name, a->parameter));
  a->value = value.clone();
}

size_t AveragedTrainStep::copy_averages_to(weft::Executable& to) const {
  size_t copied = 0;
  for (const Average& a : averages_)
    if (to.signature().find_state(a.parameter))
      to.set_state(a.parameter, a.value.clone()), ++copied;  // shares nothing with later updates
  return copied;
}

bool checkpoint_has_averages(const std::string& path) {
  for (const weft::TensorBlob& t : weft::read_safetensors(path).tensors)
    if (t.name.rfind(kAveragePrefix, 0) == 0) return true;
  return false;
}

}  // namespace g2p
