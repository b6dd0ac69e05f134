/** \file
 * How an attention region's kernel (attention_codegen.cpp) addresses its tensors: the attention or
 * attention_backward node of the body, its operands and results as strided views of the region's
 * buffers through the reshapes and transposes of the heads' split and merge (region_views.h).
 * Internal to the LLVM provider.
 */
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace weft::llvm_backend {

/// A tensor of the attention node's (an operand or a result) as the kernel addresses it.
struct TensorAccess {
  int buffer = -1;           // index into the region's buffers (inputs, then outputs)
  std::vector<Dim> strides;  // one per axis of the tensor as the node sees it
  std::vector<Dim> offset;
};

/// An attention region as its kernel sees it.
struct AttentionLayout {
  bool backward = false;
  bool causal = false;
  double scale = 1;
  Shape batch;  // the leading dims
  Dim tq, tk;
  int64_t d = 0, dv = 0;
  TensorAccess q, k, v, g;  // g: the output's gradient (backward)
  bool stats = false;       // forward: also writes lse; backward: reads o and lse
  TensorAccess o, lse;      // backward with stats: the forward's output and its rows' log-sum-exps
  std::optional<TensorAccess> mask;
  bool bool_mask = false;
  std::vector<TensorAccess> results;  // out; or dq, dk, dv
};

/// Fills `L` from the region `body`; the reason in one sentence when the kernel does not take it
/// (an operand that is not a strided view with unit inner stride, a non-f32 attention, ...).
std::string attention_layout(const Graph& body, AttentionLayout& L);

}  // namespace weft::llvm_backend
