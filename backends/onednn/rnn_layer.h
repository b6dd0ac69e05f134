/** \file
 * The recurrent layer ops (ir/ops/composite_recurrent.cpp) on oneDNN's RNN primitives: `lstm` on
 * the LSTM primitive, `rnn` on the vanilla RNN primitive (tanh), `gru` on the linear-before-reset
 * GRU primitive (PyTorch's GRU), and their `*_backward` ops on the backward primitives: one
 * forward (or backward) primitive over the whole sequence, where the decomposed program runs a
 * projection and then one step call per time step.
 *
 * Layouts: Weft's operands are used in place. The input and output sequences are batch-first
 * (oneDNN's `ntc`), the states [batch, hidden] (`ldnc` with one layer and one direction), and
 * PyTorch's [G·hidden, input] weights are oneDNN's `ldgoi`. The LSTM's gate order is oneDNN's
 * (i, f, g, o); the GRU's is not (PyTorch r, z, n; oneDNN u = z, r, o = n), so its first two gate
 * blocks are swapped on the way in and its weights' gradients on the way out. The primitive's own
 * weight layout (`any`) is made by a reorder that is kept and redone only when the weights' values
 * change (a parameter update), checked against a copy at each call.
 *
 * Biases: the LSTM and the RNN have one bias of G·hidden in oneDNN, the sum b_ih + b_hh (its
 * gradient is both biases'). The LBR GRU has four, [u, r, o, u']: b_ih + b_hh for z and r, b_in
 * for o and b_hn for u' (the hidden bias that r multiplies); their gradients map back the same way.
 *
 * Training: a forward on a gradient path (the op's `saved` attribute) runs as forward_training
 * and keeps its workspace with copies of its results; the backward call finds it by its y operand,
 * checks that its forward's results are still what that forward wrote from the same operands, and
 * uses it. Otherwise (the forward ran elsewhere) the backward first runs the forward itself.
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
#include "ir/graph.h"

namespace weft::onednn {

/// Whether `op` is a recurrent layer op or its backward (lstm, rnn, gru and their *_backward).
bool is_recurrent_layer(OpKind op);

/// The operand of a recurrent layer call (forward or backward) that holds its rows' lengths, or
/// nullopt when the call has none (`has_lengths` false, or not a recurrent layer).
std::optional<int> lengths_operand(const KernelCall& call);

/// A training recurrent layer — the forward (`lstm`, `rnn` or `gru`) and the `*_backward` that reads
/// its results — as a graph of its own, from either node of the pair in `graph`: the pair's
/// operands from outside are its inputs (parameters included), the backward's results and then the
/// forward's its outputs, `graph`'s symbols declared. Nullopt when `node` is not one of such a pair.
std::optional<Graph> training_pair(const Graph& graph, const Node& node);

/// Whether the pipeline keeps `node` whole for the oneDNN provider: an f32 recurrent layer op.
bool keeps_recurrent_layer(const Graph& graph, const Node& node);

/// What a kernel measured of its last run: the seconds a backward spent running the forward
/// itself (no workspace of its forward's; 0 when it had one).
struct LayerProbe {
  std::atomic<double> recompute_seconds{0};
};

/// The kernel of a recurrent layer call, or empty with `*why` set; `probe`, when given, receives
/// what the kernel measures of itself (for `auto`'s timing).
std::optional<ProvidedKernel> recurrent_layer_kernel(const KernelCall& call, const ProviderContext& context,
                                                     std::string* why, std::shared_ptr<LayerProbe>* probe = nullptr);

/// The call's decomposition compiled by the chain (what another provider would run), as a kernel.
ProvidedKernel decomposed_layer_kernel(const KernelCall& call, const ProviderContext& context);

}  // namespace weft::onednn
