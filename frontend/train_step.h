/** \file
 * The train step: one graph that runs the model forward, differentiates its loss, optionally clips
 * the gradients by their global norm, and applies an optimizer, updating the parameters and the
 * optimizer's state in place.
 *
 * `make_train_step` takes a model graph with a scalar loss output and returns a graph with
 *  - the model's inputs, then the f32 scalar `lr` and the i64 scalar `step` (1 for the first update)
 *    unless the model already has inputs of those names and types (a model whose dropout reads
 *    `step` shares it with the optimizer);
 *  - the model's parameters, then the optimizer's state parameters (zeros);
 *  - the model's outputs, then `grad_norm` (the global norm before clipping) when clipping;
 *  - a state update for every trained parameter and every optimizer state tensor.
 * A backend that can alias parameters with their updates does so; the interpreter copies.
 *
 * The added nodes carry the caller's source location and scopes named for what they do
 * (`clip_grad_norm`, `adam.<param>`), so the NaN trap and weft-dump point at them.
 */
#pragma once

#include <optional>
#include <source_location>
#include <string>
#include <vector>

#include "frontend/optim.h"
#include "ir/graph.h"

namespace weft::train {

struct TrainStepOptions {
  /// The model's scalar floating-point output to minimize.
  std::string loss = "loss";
  OptimizerConfig optimizer = AdamOptions{};
  /// Clip the gradients to this global L2 norm (torch.nn.utils.clip_grad_norm_); none by default.
  std::optional<double> clip_grad_norm = std::nullopt;
  /// The parameters to train; empty: every floating-point parameter without a state update.
  std::vector<std::string> trainable = {};
  /// Names of the run-time scalar inputs.
  std::string lr_input = "lr";
  std::string step_input = "step";
};

/// Builds the train step of `model` (see the file comment). Throws weft::Error, ending with the
/// caller's location, for a missing or non-scalar loss, an unknown trainable parameter, an input
/// named like `lr`/`step` with another type, or an op on the gradient path without a gradient.
Graph make_train_step(const Graph& model, const TrainStepOptions& options = {},
                      std::source_location loc = std::source_location::current());

}  // namespace weft::train
