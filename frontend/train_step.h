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
 * (`clip_grad_norm`, `adam.<param>`, `data_parallel`), so the NaN trap and weft-dump point at them.
 *
 * With `data_parallel`, every rank of a communicator group runs the same train step on its own
 * shard of the batch, and the gradients are averaged over the ranks before clipping and the
 * update, so the parameters stay the same on every rank (PyTorch's DistributedDataParallel). The
 * gradients go in buckets of about `bucket_bytes`, largest gradient first (each bucket one
 * concat, one all_reduce(mean), then slices back), so that one call carries many small tensors.
 * A model that reads the `step` input (dropout's offset) gets `step + rank * 2^32` there instead,
 * from a new i64 scalar input `rank`, so that each rank draws its own dropout masks; the optimizer
 * still sees `step`. See docs/distributed.md.
 */
#pragma once

#include <optional>
#include <source_location>
#include <string>
#include <vector>

#include "frontend/data_parallel.h"
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
  /// Average the gradients over the ranks of a communicator group (see the file comment).
  std::optional<DataParallelOptions> data_parallel = std::nullopt;
};

/// Builds the train step of `model` (see the file comment). Throws weft::Error, ending with the
/// caller's location, for a missing or non-scalar loss, an unknown trainable parameter, an input
/// named like `lr`/`step`/`rank` with another type, an op on the gradient path without a gradient,
/// or a data-parallel bucket size below 1 byte or an empty group name.
Graph make_train_step(const Graph& model, const TrainStepOptions& options = {},
                      std::source_location loc = std::source_location::current());

}  // namespace weft::train
