/** \file
 * The three cells on oneDNN's RNN primitives. See rnn_cells.h and rnn_layer.h.
 */
#include "backends/onednn/rnn_cells.h"

#include <algorithm>
#include <cstring>

#include "backends/onednn/dnnl_context.h"
#include "ir/error.h"

namespace weft::onednn {

namespace {

using tag = dnnl::memory::format_tag;
using dnnl::prop_kind;

const CellSpec kLstm{OpKind::lstm, OpKind::lstm_backward, "LSTM", 4, 4, true, false};
const CellSpec kRnn{OpKind::rnn, OpKind::rnn_backward, "vanilla RNN", 1, 1, false, false};
// oneDNN's LBR GRU: gates u (PyTorch's z), r, o (n); a fourth bias u' for the hidden half of o.
const CellSpec kGru{OpKind::gru, OpKind::gru_backward, "LBR GRU", 3, 4, false, true};

constexpr auto kLeftToRight = dnnl::rnn_direction::unidirectional_left2right;

/// Both primitives of one cell type from its descriptors' makers.
template <class Fwd, class Bwd, class FwdDesc, class BwdDesc>
LayerPrimitives build(const FwdDesc& fwd_desc, const BwdDesc& bwd_desc, bool backward) {
  LayerPrimitives p;
  typename Fwd::primitive_desc fwd_pd(fwd_desc(), engine());
  p.fwd_pd = fwd_pd;
  p.fwd = Fwd(fwd_pd);
  if (!backward) return p;
  typename Bwd::primitive_desc bwd_pd(bwd_desc(), engine(), fwd_pd);
  p.bwd_pd = bwd_pd;
  p.bwd = Bwd(bwd_pd);
  return p;
}

}  // namespace

const CellSpec& cell_spec(OpKind op) {
  if (op == OpKind::lstm || op == OpKind::lstm_backward) return kLstm;
  if (op == OpKind::rnn || op == OpKind::rnn_backward) return kRnn;
  WEFT_CHECK(op == OpKind::gru || op == OpKind::gru_backward, "oneDNN: not a recurrent layer op");
  return kGru;
}

LayerDescs::LayerDescs(const CellSpec& cell, const LayerDims& d, tag weights) {
  const auto f = dnnl::memory::data_type::f32;
  layer_in = dnnl::memory::desc({d.length, d.batch, d.input}, f, tag::ntc);
  state = dnnl::memory::desc({1, 1, d.batch, d.hidden}, f, tag::ldnc);
  weights_layer = dnnl::memory::desc({1, 1, d.input, cell.gates, d.hidden}, f, weights);
  weights_iter = dnnl::memory::desc({1, 1, d.hidden, cell.gates, d.hidden}, f, weights);
  bias = dnnl::memory::desc({1, 1, cell.bias_gates, d.hidden}, f, tag::ldgo);
  layer_out = dnnl::memory::desc({d.length, d.batch, d.hidden}, f, tag::ntc);
}

LayerPrimitives make_primitives(const CellSpec& cell, const LayerDims& d, bool training, bool backward) {
  const LayerDescs u(cell, d), a(cell, d, tag::any);
  const prop_kind fwd_kind = training || backward ? prop_kind::forward_training : prop_kind::forward_inference;
  if (cell.forward == OpKind::lstm)
    return build<dnnl::lstm_forward, dnnl::lstm_backward>(
        [&] {
          return dnnl::lstm_forward::desc(fwd_kind, kLeftToRight, u.layer_in, u.state, u.state, a.weights_layer,
                                          a.weights_iter, u.bias, u.layer_out, u.state, u.state);
        },
        [&] {
          return dnnl::lstm_backward::desc(prop_kind::backward, kLeftToRight, u.layer_in, u.state, u.state,
                                           a.weights_layer, a.weights_iter, u.bias, u.layer_out, u.state, u.state,
                                           u.layer_in, u.state, u.state, a.weights_layer, a.weights_iter, u.bias,
                                           u.layer_out, u.state, u.state);
        },
        backward);
  if (cell.forward == OpKind::rnn)
    return build<dnnl::vanilla_rnn_forward, dnnl::vanilla_rnn_backward>(
        [&] {
          return dnnl::vanilla_rnn_forward::desc(fwd_kind, dnnl::algorithm::eltwise_tanh, kLeftToRight, u.layer_in,
                                                 u.state, a.weights_layer, a.weights_iter, u.bias, u.layer_out,
                                                 u.state);
        },
        [&] {
          return dnnl::vanilla_rnn_backward::desc(prop_kind::backward, dnnl::algorithm::eltwise_tanh, kLeftToRight,
                                                  u.layer_in, u.state, a.weights_layer, a.weights_iter, u.bias,
                                                  u.layer_out, u.state, u.layer_in, u.state, a.weights_layer,
                                                  a.weights_iter, u.bias, u.layer_out, u.state);
        },
        backward);
  return build<dnnl::lbr_gru_forward, dnnl::lbr_gru_backward>(
      [&] {
        return dnnl::lbr_gru_forward::desc(fwd_kind, kLeftToRight, u.layer_in, u.state, a.weights_layer, a.weights_iter,
                                           u.bias, u.layer_out, u.state);
      },
      [&] {
        return dnnl::lbr_gru_backward::desc(prop_kind::backward, kLeftToRight, u.layer_in, u.state, a.weights_layer,
                                            a.weights_iter, u.bias, u.layer_out, u.state, u.layer_in, u.state,
                                            a.weights_layer, a.weights_iter, u.bias, u.layer_out, u.state);
      },
      backward);
}

void swap_first_gates(float* weights, int64_t hidden, int64_t k) {
  const int64_t block = hidden * k;
  std::swap_ranges(weights, weights + block, weights + block);
}

void pack_bias(const CellSpec& cell, const float* b_ih, const float* b_hh, int64_t hidden, std::vector<float>& out) {
  const auto h = static_cast<size_t>(hidden);
  out.assign(static_cast<size_t>(cell.bias_gates) * h, 0.0f);
  if (!b_ih) return;
  if (!cell.swap_first_gates) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = b_ih[i] + b_hh[i];
    return;
  }
  // [u, r, o, u'] from PyTorch's [r, z, n] pairs.
  for (size_t i = 0; i < h; ++i) {
    out[i] = b_ih[h + i] + b_hh[h + i];
    out[h + i] = b_ih[i] + b_hh[i];
    out[2 * h + i] = b_ih[2 * h + i];
    out[3 * h + i] = b_hh[2 * h + i];
  }
}

void unpack_bias_grad(const CellSpec& cell, const float* d_bias, int64_t hidden, float* d_b_ih, float* d_b_hh) {
  const auto h = static_cast<size_t>(hidden);
  if (!cell.swap_first_gates) {
    std::memcpy(d_b_ih, d_bias, static_cast<size_t>(cell.gates) * h * sizeof(float));
    std::memcpy(d_b_hh, d_bias, static_cast<size_t>(cell.gates) * h * sizeof(float));
    return;
  }
  for (size_t i = 0; i < h; ++i) {
    d_b_ih[i] = d_b_hh[i] = d_bias[h + i];
    d_b_ih[h + i] = d_b_hh[h + i] = d_bias[i];
    d_b_ih[2 * h + i] = d_bias[2 * h + i];
    d_b_hh[2 * h + i] = d_bias[3 * h + i];
  }
}

}  // namespace weft::onednn
