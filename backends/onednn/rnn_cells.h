/** \file
 * What tells oneDNN's LSTM, vanilla RNN and LBR GRU primitives apart, for the one kernel that runs
 * them all (rnn_layer.cpp): the memory descriptors of a layer, the primitives, the gate order and
 * the packing of PyTorch's two biases into oneDNN's. Internal to backends/onednn.
 */
#pragma once

#include <dnnl.hpp>
#include <span>
#include <vector>

#include "ir/op_kind.h"

namespace weft::onednn {

struct CellSpec {
  OpKind forward, backward;
  const char* primitive;  // for notes: "LSTM"
  int64_t gates;          // blocks of hidden rows in Weft's weights
  int64_t bias_gates;     // blocks of hidden in oneDNN's bias
  bool has_c;             // a cell state beside h
  bool swap_first_gates;  // Weft's first two gate blocks are oneDNN's second and first
};

/// The cell of a layer op or its backward.
const CellSpec& cell_spec(OpKind op);

struct LayerDims {
  int64_t batch = 0, length = 0, input = 0, hidden = 0;
};

/// The memory descriptors of one layer, one direction, batch-first (see rnn_layer.h).
struct LayerDescs {
  dnnl::memory::desc layer_in, state, weights_layer, weights_iter, bias, layer_out;
  LayerDescs(const CellSpec& cell, const LayerDims& d,
             dnnl::memory::format_tag weights = dnnl::memory::format_tag::ldgoi);
};

/// The forward primitive, and the backward one for a backward call.
struct LayerPrimitives {
  dnnl::rnn_primitive_desc_base fwd_pd, bwd_pd;
  dnnl::primitive fwd, bwd;
};

LayerPrimitives make_primitives(const CellSpec& cell, const LayerDims& d, bool training, bool backward);

/// Swaps the first two gate blocks of Weft's [G·hidden, k] weights (or oneDNN's, back) in place.
void swap_first_gates(float* weights, int64_t hidden, int64_t k);

/// oneDNN's bias from PyTorch's b_ih and b_hh (null: no biases, zeros).
void pack_bias(const CellSpec& cell, const float* b_ih, const float* b_hh, int64_t hidden, std::vector<float>& out);

/// The gradients of b_ih and b_hh from oneDNN's bias gradient (bias_gates × hidden, plain).
void unpack_bias_grad(const CellSpec& cell, const float* d_bias, int64_t hidden, float* d_b_ih, float* d_b_hh);

}  // namespace weft::onednn
