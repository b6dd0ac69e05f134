/** \file
 * From training to inference: build the inference (or decode) graphs with the same layer code as
 * the training graph, compile them and copy the trained parameters in, by name; and save or load
 * the weights alone, under PyTorch's names, as distinct from a training checkpoint.
 *
 * Layers name their parameters by scope, so a graph built by the same code in a fresh Builder has
 * the same parameter names; an inference graph simply has fewer state tensors (no optimizer slots)
 * and no dropout. The model code decides train or eval per graph with `nn::Mode` (frontend/nn/common.h).
 *
 * Weights files are safetensors holding every model parameter under its PyTorch `state_dict` name
 * (nn.MultiheadAttention's q/k/v projections packed back into `in_proj_weight`/`in_proj_bias`,
 * docs/pytorch-mapping.md), without optimizer state or training counters: what
 * `torch.load_state_dict` and `nn::load_torch_state_dict` read. A checkpoint (checkpoint.h) is
 * for resuming training.
 */
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "frontend/builder.h"
#include "frontend/nn/load_torch.h"
#include "runtime/executable.h"

namespace weft::train {

/// Copies every state tensor of `to` from the one of the same name in `from`. Checks everything
/// first: throws weft::Error listing each tensor `from` lacks or holds with another type, and then
/// changes nothing.
void copy_parameters(const Executable& from, Executable& to);

/// Whatever compiles a graph (usually `[&](const Graph& g) { return backend->compile(g); }`: the
/// frontend does not depend on the backends).
using Compiler = std::function<std::unique_ptr<Executable>(const Graph&)>;

/// The one call from a trained executable to an inference one: builds a graph called `name` with
/// `build` in a fresh Builder (the same layer code as training, in eval mode), compiles it with
/// `compile` and copies `trained`'s parameters into it (copy_parameters).
std::unique_ptr<Executable> inference_executable(const Executable& trained, const std::string& name,
                                                 const std::function<void(Builder&)>& build, const Compiler& compile);

/// True for a state name that belongs to an optimizer (`adam.m.fc1.weight`, ...), not to the model.
bool is_optimizer_state(const std::string& name);

/// Writes every model parameter of `exe` (optimizer state left out) to `path` under PyTorch's names,
/// atomically. Throws weft::Error on an I/O failure.
void save_weights(const std::string& path, const Executable& exe);

/// Loads a weights file (save_weights, or a PyTorch `state_dict` saved as safetensors without a
/// prefix) into every model parameter of `exe`; optimizer state is left as it is. Throws
/// weft::Error, changing nothing, when a parameter is missing or has another type.
std::vector<nn::MappedTensor> load_weights(const std::string& path, Executable& exe);

}  // namespace weft::train
