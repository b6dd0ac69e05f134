/** \file
 * An exponential moving average of a train step's parameters (`example_g2p --ema`), to evaluate
 * and export: on a short budget the last weights still carry the noise of the last large steps,
 * and their running average is the better model for the same training.
 *
 * `AveragedTrainStep` wraps the compiled train step and is an Executable itself, so that the
 * Trainer runs it unchanged: each run runs the step, then moves every parameter's average towards
 * the updated parameter,
 *
 *     avg += (1 - d) * (param - avg),   d = min(decay, (1 + t) / (10 + t))   for update t,
 *
 * (the averages start as the initial parameters; the ramp of d, TensorFlow's ExponentialMovingAverage
 * with `num_updates`, keeps the random start from weighing on a run of a few thousand updates: d
 * reaches 0.99 at update 890 and 0.999 at 8,990). t is the train step's `step` input, so the ramp
 * follows the Trainer's counter across a resume.
 *
 * The averages are state tensors of the wrapper, `ema.<parameter>`, beside the step's own: the
 * Trainer's checkpoints save and restore them with the rest, atomically and checksummed, and a
 * resumed run continues exactly. Parameters are the step's floating-point state other than the
 * optimizer's (`adam.m.*`, ...).
 */
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/executable.h"

namespace g2p {

/// The state-name prefix of the averages.
constexpr const char* kAveragePrefix = "ema.";

class AveragedTrainStep : public weft::Executable {
 public:
  /// Wraps `step` (which must outlive this), whose scalar i64 input `step_input` numbers the
  /// updates. Throws weft::Error unless 0 <= decay < 1 and `step` has that input.
  AveragedTrainStep(weft::Executable& step, double decay, const std::string& step_input = "step");

  const weft::Signature& signature() const override { return signature_; }
  /// Runs the train step, then updates every average.
  std::vector<weft::Tensor> run(std::span<const weft::Tensor> inputs) override;
  /// The train step's state, and the averages under `ema.<parameter>`.
  weft::Tensor state(const std::string& name) const override;
  void set_state(const std::string& name, const weft::Tensor& value) override;
  std::string profile_report() const override { return step_.profile_report(); }
  void reset_profile() override { step_.reset_profile(); }

  /// Sets every state tensor of `to` that is an averaged parameter to its average (an inference
  /// executable made from the train step, say); returns how many it set.
  size_t copy_averages_to(weft::Executable& to) const;

  double decay() const { return decay_; }
  /// Wall seconds spent updating the averages so far (their cost beside the train step's).
  double seconds_averaging() const { return seconds_averaging_; }

 private:
  struct Average {
    std::string parameter;
    weft::Tensor value;  // f32, the parameter's shape
  };
  Average* find(const std::string& state_name);
  const Average* find(const std::string& state_name) const;

  weft::Executable& step_;
  double decay_;
  double seconds_averaging_ = 0.0;
  size_t step_index_ = 0;  // of the update counter among the inputs
  weft::Signature signature_;
  std::vector<Average> averages_;
};

/// Whether the checkpoint at `path` holds averages (`ema.*` tensors).
bool checkpoint_has_averages(const std::string& path);

}  // namespace g2p
