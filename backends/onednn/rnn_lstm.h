/** \file
 * `lstm` and `lstm_backward` calls (ir/ops/composite_lstm.cpp) on oneDNN's LSTM primitives: one
 * forward (or backward) primitive over the whole sequence, where the decomposed program runs a
 * projection and then one step call per time step.
 *
 * Layouts: Weft's operands are used in place. The input and output sequences are batch-first
 * (oneDNN's `ntc`), the states [batch, hidden] (`ldnc` with one layer and one direction), and
 * PyTorch's [4·hidden, input] weights are oneDNN's `ldgoi` — the gate order is the same (i, f, g,
 * o). The primitive's own weight layout (`any`) is made by a reorder that is kept and redone only
 * when the weights' values change (a parameter update), checked against a copy at each call.
 * oneDNN has one bias of 4·hidden: the sum b_ih + b_hh (and its gradient is both biases').
 *
 * Training: a forward on a gradient path (the lstm's `saved` attribute) runs as forward_training
 * and keeps its workspace with copies of its results; the backward call finds it by its y operand,
 * checks that y, h_n and c_n are still what that forward wrote from the same operands, and uses it.
 * Otherwise (the forward ran elsewhere) the backward first runs the forward itself.
 *
 * Lengths: oneDNN has none. A call whose rows all run the full length (every lengths[b] >= T) runs
 * on the primitive; any shorter row makes the whole call run the layer's decomposition (compiled
 * by the chain, as the other providers run it), so a padded step never changes the state.
 */
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "backends/provider.h"

namespace weft::onednn {

/// Whether the pipeline keeps `node` whole for the oneDNN provider: an f32 lstm or lstm_backward.
bool keeps_lstm(const Graph& graph, const Node& node);

/// What a kernel measured of its last run: the seconds a backward spent running the forward
/// itself (no workspace of its forward's; 0 when it had one).
struct LstmProbe {
  std::atomic<double> recompute_seconds{0};
};

/// The kernel of an lstm or lstm_backward call, or empty with `*why` set; `probe`, when given,
/// receives what the kernel measures of itself (for `auto`'s timing).
std::optional<ProvidedKernel> lstm_kernel(const KernelCall& call, const ProviderContext& context, std::string* why,
                                          std::shared_ptr<LstmProbe>* probe = nullptr);

/// The call's decomposition compiled by the chain (what another provider would run), as a kernel.
ProvidedKernel lstm_decomposed_kernel(const KernelCall& call, const ProviderContext& context);

}  // namespace weft::onednn
