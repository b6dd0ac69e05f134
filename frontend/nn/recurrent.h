/** \file
 * Recurrent layers: the tanh RNN, LSTM and GRU cells, and multi-layer RNNs, LSTMs and GRUs over a
 * sequence.
 *
 * Parameters are named and packed as PyTorch's: a cell has `weight_ih [G·H, I]`, `weight_hh [G·H, H]`,
 * `bias_ih`, `bias_hh` (G = 4 gates for the LSTM, in the order i, f, g, o; 3 for the GRU, in the
 * order r, z, n; 1 for the RNN); a multi-layer module has them per layer with a `_l<k>` suffix
 * (`weight_ih_l0`). All start U(±1/sqrt(H)).
 *
 *   RNN:   h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)
 *   LSTM:  i, f, g, o = split(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)
 *          c' = σ(f)·c + σ(i)·tanh(g);  h' = σ(o)·tanh(c')
 *   GRU:   r = σ(W_ir x + b_ir + W_hr h + b_hr);  z = σ(W_iz x + b_iz + W_hz h + b_hz)
 *          n = tanh(W_in x + b_in + r·(W_hn h + b_hn));  h' = (1 − z)·n + z·h
 *
 * Over a sequence, each layer is one `rnn`, `lstm` or `gru` node (ir/ops/composite_recurrent.cpp),
 * which decomposes into a `scan` (not an unrolled loop), so the length stays symbolic: the input
 * projection x W_ihᵀ + b_ih of every step is one matmul before the scan, and the scan's body is
 * the recurrent half of one step, with W_hh and b_hh passed in as consts; a provider with a
 * whole-layer kernel (oneDNN's RNN primitives) runs the node as is. Optional per-sequence lengths
 * give PyTorch's packed-sequence semantics: outputs past a sequence's length are zero, and its
 * final state is the state at its last valid step.
 */
#pragma once

#include <vector>

#include "frontend/nn/basic.h"

namespace weft::nn {

/// h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh) (nn.RNNCell).
struct RNNCell {
  RNNCell(Builder& b, const std::string& name, int64_t input_size, int64_t hidden_size, bool bias = true,
          Loc loc = Loc::current());

  /// x [batch, I], h [batch, H] -> h' [batch, H].
  Tensor operator()(const Tensor& x, const Tensor& h, Loc loc = Loc::current()) const;

  LayerId id;
  int64_t input_size, hidden_size;
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;  // biases empty without bias
};

struct LstmState {
  Tensor h{}, c{};
};

/// One LSTM step (nn.LSTMCell).
struct LSTMCell {
  LSTMCell(Builder& b, const std::string& name, int64_t input_size, int64_t hidden_size, bool bias = true,
           Loc loc = Loc::current());

  /// x [batch, I], state (h, c) [batch, H] -> (h', c').
  LstmState operator()(const Tensor& x, const LstmState& state, Loc loc = Loc::current()) const;

  LayerId id;
  int64_t input_size, hidden_size;
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;
};

/// h' = (1 − z)·n + z·h with PyTorch's gates r, z, n (nn.GRUCell).
struct GRUCell {
  GRUCell(Builder& b, const std::string& name, int64_t input_size, int64_t hidden_size, bool bias = true,
          Loc loc = Loc::current());

  /// x [batch, I], h [batch, H] -> h' [batch, H].
  Tensor operator()(const Tensor& x, const Tensor& h, Loc loc = Loc::current()) const;

  LayerId id;
  int64_t input_size, hidden_size;
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;  // biases empty without bias
};

/// One layer's weights inside a multi-layer RNN, LSTM or GRU.
struct RecurrentWeights {
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;
};

struct RecurrentOptions {
  int64_t num_layers = 1;
  bool bias = true;
};

struct RnnOutput {
  Tensor output;  // [batch, T, H]: the last layer's h at every step
  Tensor h_n;     // [num_layers, batch, H]
};

/// A multi-layer tanh RNN over a batch-first sequence (nn.RNN(batch_first=True)).
struct RNN {
  RNN(Builder& b, const std::string& name, int64_t input_size, int64_t hidden_size, RecurrentOptions options = {},
      Loc loc = Loc::current());

  /// input [batch, T, I]; h0 [num_layers, batch, H] (empty: zeros); lengths [batch] integer (empty:
  /// every sequence runs T steps).
  RnnOutput operator()(const Tensor& input, const Tensor& h0 = {}, const Tensor& lengths = {},
                       Loc loc = Loc::current()) const;

  LayerId id;
  int64_t input_size, hidden_size;
  std::vector<RecurrentWeights> layers;
};

/// A multi-layer GRU over a batch-first sequence (nn.GRU(batch_first=True)).
struct GRU {
  GRU(Builder& b, const std::string& name, int64_t input_size, int64_t hidden_size, RecurrentOptions options = {},
      Loc loc = Loc::current());

  /// input [batch, T, I]; h0 [num_layers, batch, H] (empty: zeros); lengths as RNN.
  RnnOutput operator()(const Tensor& input, const Tensor& h0 = {}, const Tensor& lengths = {},
                       Loc loc = Loc::current()) const;

  LayerId id;
  int64_t input_size, hidden_size;
  std::vector<RecurrentWeights> layers;
};

struct LstmOutput {
  Tensor output;    // [batch, T, H]: the last layer's h at every step
  Tensor h_n, c_n;  // [num_layers, batch, H]
};

/// A multi-layer LSTM over a batch-first sequence (nn.LSTM(batch_first=True)).
struct LSTM {
  LSTM(Builder& b, const std::string& name, int64_t input_size, int64_t hidden_size, RecurrentOptions options = {},
       Loc loc = Loc::current());

  /// input [batch, T, I]; initial (h0, c0) [num_layers, batch, H] (empty handles: zeros); lengths as RNN.
  LstmOutput operator()(const Tensor& input, const LstmState& initial = {}, const Tensor& lengths = {},
                        Loc loc = Loc::current()) const;
  /// One time step through every layer, for step-by-step decoding: x [batch, I], state (h, c)
  /// [num_layers, batch, H] -> the new state; the top layer's h is `new_state.h[num_layers - 1]`.
  LstmState step(const Tensor& x, const LstmState& state, Loc loc = Loc::current()) const;

  LayerId id;
  int64_t input_size, hidden_size;
  std::vector<RecurrentWeights> layers;
};

}  // namespace weft::nn
