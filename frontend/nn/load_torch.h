/** \file
 * Loading a PyTorch `state_dict` (saved as safetensors) into a compiled model's parameters.
 *
 * Weft's layers name their parameters as PyTorch's modules do, so most names map to themselves.
 * The rules, applied to each tensor name in order (docs/pytorch-mapping.md has the full table):
 *
 *   1. keep only names starting with `prefix` ("param." in the golden files) and strip it;
 *   2. skip names listed in `ignore`;
 *   3. rewrite the first matching `renames` prefix (PyTorch prefix -> Weft prefix);
 *   4. split nn.MultiheadAttention's packed projections: `X.in_proj_weight [3E, E]` becomes
 *      `X.q_proj.weight`, `X.k_proj.weight`, `X.v_proj.weight` (row blocks in that order), and
 *      `X.in_proj_bias [3E]` the three biases; `X.{q,k,v}_proj_weight` (PyTorch's unpacked form)
 *      become `X.{q,k,v}_proj.weight`;
 *   5. prepend `weft_prefix` (the scope the Weft layer was built in).
 *
 * Loading checks everything before it sets anything: a PyTorch tensor that matches no Weft
 * parameter, a Weft parameter left unset, and a dtype or shape that disagrees are reported
 * together, by name, in one weft::Error.
 */
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ir/safetensors.h"
#include "runtime/executable.h"
#include "runtime/tensor.h"

namespace weft::nn {

struct TorchLoadOptions {
  std::string prefix = "param.";
  std::string weft_prefix{};
  std::vector<std::pair<std::string, std::string>> renames{};
  std::vector<std::string> ignore{};
  /// Weft state whose name starts with one of these may stay unset (e.g. optimizer slots).
  std::vector<std::string> allow_unset{};
};

struct MappedTensor {
  std::string torch_name;  // without `prefix`
  std::string weft_name;
  weft::Tensor value;  // the runtime tensor (weft::nn::Tensor is the DSL handle)
};

/// The Weft name and value of every PyTorch tensor in `file` (no executable needed). Throws
/// weft::Error for a packed projection whose shape is not [3E, ...], or two tensors mapping to one name.
std::vector<MappedTensor> map_torch_state_dict(const SafetensorsFile& file, const TorchLoadOptions& options = {});

/// Maps `file` and sets every parameter of `exe` from it; returns what was set.
std::vector<MappedTensor> load_torch_state_dict(Executable& exe, const SafetensorsFile& file,
                                                const TorchLoadOptions& options = {});

}  // namespace weft::nn
