#include "frontend/nn/recurrent.h"

#include <fmt/format.h>

#include <cmath>

namespace weft::nn {

namespace {

void check_sizes(const Builder& b, const char* kind, int64_t input_size, int64_t hidden_size, int64_t num_layers,
                 const Loc& loc) {
  if (input_size <= 0 || hidden_size <= 0 || num_layers <= 0)
    config_error(b,
                 fmt::format("{}: input_size, hidden_size and num_layers must be positive, but got {}, "
                             "{} and {}",
                             kind, input_size, hidden_size, num_layers),
                 loc);
}

/// Creates `weight_ih<suffix>` etc. in the builder's current scope, initialized U(±1/sqrt(H)) as PyTorch.
RecurrentWeights make_weights(Builder& b, const std::string& suffix, int64_t gates, int64_t input_size,
                              int64_t hidden_size, bool bias, const Loc& loc) {
  double k = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  auto init = [&] { return Initializer{"uniform", {{"low", -k}, {"high", k}}, b.next_seed()}; };
  RecurrentWeights w;
  w.weight_ih = b.param("weight_ih" + suffix, DType::f32, {gates * hidden_size, input_size}, init(), loc);
  w.weight_hh = b.param("weight_hh" + suffix, DType::f32, {gates * hidden_size, hidden_size}, init(), loc);
  if (bias) {
    w.bias_ih = b.param("bias_ih" + suffix, DType::f32, {gates * hidden_size}, init(), loc);
    w.bias_hh = b.param("bias_hh" + suffix, DType::f32, {gates * hidden_size}, init(), loc);
  }
  return w;
}

/// A cell's weights (`kind` "RNNCell", with `gates` gate blocks) in the scope `name`.
RecurrentWeights make_cell_weights(Builder& b, const char* kind, const std::string& name, int64_t gates,
                                   int64_t input_size, int64_t hidden_size, bool bias, const Loc& loc) {
  check_sizes(b, kind, input_size, hidden_size, 1, loc);
  auto s = open_scope(b, name, loc);
  return make_weights(b, "", gates, input_size, hidden_size, bias, loc);
}

/// The per-layer weights of a multi-layer module of `kind` ("RNN") with `gates` gate blocks, in the
/// scope `name`.
std::vector<RecurrentWeights> make_layers(Builder& b, const char* kind, const std::string& name, int64_t gates,
                                          int64_t input_size, int64_t hidden_size, const RecurrentOptions& options,
                                          const Loc& loc) {
  check_sizes(b, kind, input_size, hidden_size, options.num_layers, loc);
  auto s = open_scope(b, name, loc);
  std::vector<RecurrentWeights> layers;
  for (int64_t l = 0; l < options.num_layers; ++l)
    layers.push_back(make_weights(b, fmt::format("_l{}", l), gates, l == 0 ? input_size : hidden_size, hidden_size,
                                  options.bias, loc));
  return layers;
}

/// x · wᵀ (+ bias).
Tensor project(const Tensor& x, const Tensor& w, const Tensor& bias, const Loc& loc) {
  Tensor y = dsl::matmul(x, w, {.transpose_b = true}, loc);
  return bias.defined() ? ops::add(y, bias, loc) : y;
}

/// The LSTM's gate arithmetic on pre-activations [batch, 4H] in PyTorch's order i, f, g, o.
LstmState lstm_update(const Tensor& gates, const Tensor& c, int64_t hidden, const Loc& loc) {
  auto gate = [&](int64_t k) { return dsl::slice(gates, -1, k * hidden, (k + 1) * hidden, 1, loc); };
  Tensor i = dsl::sigmoid(gate(0), loc);
  Tensor f = dsl::sigmoid(gate(1), loc);
  Tensor g = dsl::tanh(gate(2), loc);
  Tensor o = dsl::sigmoid(gate(3), loc);
  Tensor c_next = ops::add(ops::mul(f, c, loc), ops::mul(i, g, loc), loc);
  return LstmState{ops::mul(o, dsl::tanh(c_next, loc), loc), c_next};
}

Tensor zeros(Builder& b, const Shape& shape, const Loc& loc) {
  return dsl::broadcast_to(b.constant(0.0, DType::f32, loc), shape, loc);
}

/// Layer `l` of a [num_layers, batch, H] state as [batch, H].
Tensor layer_of(const Tensor& state, int64_t l, const Loc& loc) {
  return dsl::reshape(dsl::slice(state, 0, l, l + 1, 1, loc), {state.dim(1), state.dim(2)}, loc);
}

/// Stacks per-layer [batch, H] states into [num_layers, batch, H].
Tensor stack_layers(const std::vector<Tensor>& states, const Loc& loc) {
  std::vector<Tensor> parts;
  for (const Tensor& s : states) parts.push_back(dsl::reshape(s, {1, s.dim(0), s.dim(1)}, loc));
  return parts.size() == 1 ? parts[0] : dsl::concat(parts, 0, loc);
}

/// The GRU's gate arithmetic on the input and hidden projections [batch, 3H], PyTorch's order r, z,
/// n; h' = n + z·(h − n) is (1 − z)·n + z·h as PyTorch's kernel computes it.
Tensor gru_update(const Tensor& gi, const Tensor& gh, const Tensor& h, int64_t hidden, const Loc& loc) {
  auto gate = [&](const Tensor& g, int64_t k) { return dsl::slice(g, -1, k * hidden, (k + 1) * hidden, 1, loc); };
  Tensor r = dsl::sigmoid(ops::add(gate(gi, 0), gate(gh, 0), loc), loc);
  Tensor z = dsl::sigmoid(ops::add(gate(gi, 1), gate(gh, 1), loc), loc);
  Tensor n = dsl::tanh(ops::add(gate(gi, 2), ops::mul(r, gate(gh, 2), loc), loc), loc);
  return ops::add(n, ops::mul(z, ops::sub(h, n, loc), loc), loc);
}

/// One layer over the whole sequence as one `rnn`, `lstm` or `gru` node
/// (ir/ops/composite_recurrent.cpp): it decomposes into the input projection and a scan of the
/// recurrent half, and a provider with a whole-layer kernel takes it as is. `initial` is h0 (and
/// c0 for the LSTM); returns y [batch, T, H], h_n (and c_n).
std::vector<Tensor> layer_node(OpKind op, const RecurrentWeights& w, const Tensor& x,
                               const std::vector<Tensor>& initial, const Tensor& lengths, const Loc& loc) {
  std::vector<Tensor> operands{x, w.weight_ih, w.weight_hh};
  if (w.bias_ih.defined()) operands.insert(operands.end(), {w.bias_ih, w.bias_hh});
  operands.insert(operands.end(), initial.begin(), initial.end());
  if (lengths.defined()) operands.push_back(lengths);
  Attrs attrs{{"bias", w.bias_ih.defined()}, {"has_lengths", lengths.defined()}};
  return x.builder().emit(op, operands, attrs, SourceLoc::from(loc));
}

/// Checks a sequence module's input, initial state and lengths; returns the batch dim.
Dim check_sequence_call(const LayerId& id, const Tensor& input, int64_t input_size, int64_t hidden, int64_t layers,
                        const std::vector<std::pair<const char*, const Tensor*>>& states, const Tensor& lengths,
                        const Loc& loc) {
  expect_shape(id, "the input", input, DType::f32, {"batch", "length", input_size}, loc);
  const Dim batch = input.dim(0);
  for (const auto& [name, state] : states)
    if (state->defined()) expect_shape(id, name, *state, DType::f32, {layers, batch, hidden}, loc);
  if (lengths.defined()) {
    expect_integer(id, "lengths", lengths, loc);
    expect_shape(id, "lengths", lengths, lengths.dtype(), {batch}, loc);
  }
  return batch;
}

/// The layers of an RNN or a GRU (`op`), one node each, the next reading the last one's y; checks
/// the call first.
RnnOutput run_layers(OpKind op, const LayerId& id, const std::vector<RecurrentWeights>& layers, int64_t input_size,
                     int64_t hidden, const Tensor& input, const Tensor& h0, const Tensor& lengths, const Loc& loc) {
  auto n = static_cast<int64_t>(layers.size());
  const Dim batch = check_sequence_call(id, input, input_size, hidden, n, {{"h0", &h0}}, lengths, loc);
  auto s = id.enter(input.builder(), loc);
  Tensor x = input;
  std::vector<Tensor> finals;
  for (size_t l = 0; l < layers.size(); ++l) {
    Tensor h = h0.defined() ? layer_of(h0, static_cast<int64_t>(l), loc) : zeros(input.builder(), {batch, hidden}, loc);
    std::vector<Tensor> r = layer_node(op, layers[l], x, {h}, lengths, loc);
    x = r[0];
    finals.push_back(r[1]);
  }
  return RnnOutput{x, stack_layers(finals, loc)};
}

}  // namespace

// --- cells ---

RNNCell::RNNCell(Builder& b, const std::string& name, int64_t input_size_, int64_t hidden_size_, bool bias, Loc loc)
    : id("RNNCell", b, name), input_size(input_size_), hidden_size(hidden_size_) {
  RecurrentWeights w = make_cell_weights(b, "RNNCell", name, 1, input_size, hidden_size, bias, loc);
  weight_ih = w.weight_ih, weight_hh = w.weight_hh, bias_ih = w.bias_ih, bias_hh = w.bias_hh;
}

Tensor RNNCell::operator()(const Tensor& x, const Tensor& h, Loc loc) const {
  expect_shape(id, "x", x, DType::f32, {"batch", input_size}, loc);
  expect_shape(id, "h", h, DType::f32, {x.dim(0), hidden_size}, loc);
  auto s = id.enter(x.builder(), loc);
  Tensor pre = ops::add(project(x, weight_ih, bias_ih, loc), project(h, weight_hh, bias_hh, loc), loc);
  return dsl::tanh(pre, loc);
}

LSTMCell::LSTMCell(Builder& b, const std::string& name, int64_t input_size_, int64_t hidden_size_, bool bias, Loc loc)
    : id("LSTMCell", b, name), input_size(input_size_), hidden_size(hidden_size_) {
  RecurrentWeights w = make_cell_weights(b, "LSTMCell", name, 4, input_size, hidden_size, bias, loc);
  weight_ih = w.weight_ih, weight_hh = w.weight_hh, bias_ih = w.bias_ih, bias_hh = w.bias_hh;
}

LstmState LSTMCell::operator()(const Tensor& x, const LstmState& state, Loc loc) const {
  expect_shape(id, "x", x, DType::f32, {"batch", input_size}, loc);
  expect_shape(id, "h", state.h, DType::f32, {x.dim(0), hidden_size}, loc);
  expect_shape(id, "c", state.c, DType::f32, {x.dim(0), hidden_size}, loc);
  auto s = id.enter(x.builder(), loc);
  Tensor gates = ops::add(project(x, weight_ih, bias_ih, loc), project(state.h, weight_hh, bias_hh, loc), loc);
  return lstm_update(gates, state.c, hidden_size, loc);
}

GRUCell::GRUCell(Builder& b, const std::string& name, int64_t input_size_, int64_t hidden_size_, bool bias, Loc loc)
    : id("GRUCell", b, name), input_size(input_size_), hidden_size(hidden_size_) {
  RecurrentWeights w = make_cell_weights(b, "GRUCell", name, 3, input_size, hidden_size, bias, loc);
  weight_ih = w.weight_ih, weight_hh = w.weight_hh, bias_ih = w.bias_ih, bias_hh = w.bias_hh;
}

Tensor GRUCell::operator()(const Tensor& x, const Tensor& h, Loc loc) const {
  expect_shape(id, "x", x, DType::f32, {"batch", input_size}, loc);
  expect_shape(id, "h", h, DType::f32, {x.dim(0), hidden_size}, loc);
  auto s = id.enter(x.builder(), loc);
  return gru_update(project(x, weight_ih, bias_ih, loc), project(h, weight_hh, bias_hh, loc), h, hidden_size, loc);
}

// --- RNN ---

RNN::RNN(Builder& b, const std::string& name, int64_t input_size_, int64_t hidden_size_, RecurrentOptions options,
         Loc loc)
    : id("RNN", b, name),
      input_size(input_size_),
      hidden_size(hidden_size_),
      layers(make_layers(b, "RNN", name, 1, input_size_, hidden_size_, options, loc)) {}

RnnOutput RNN::operator()(const Tensor& input, const Tensor& h0, const Tensor& lengths, Loc loc) const {
  return run_layers(OpKind::rnn, id, layers, input_size, hidden_size, input, h0, lengths, loc);
}

// --- GRU ---

GRU::GRU(Builder& b, const std::string& name, int64_t input_size_, int64_t hidden_size_, RecurrentOptions options,
         Loc loc)
    : id("GRU", b, name),
      input_size(input_size_),
      hidden_size(hidden_size_),
      layers(make_layers(b, "GRU", name, 3, input_size_, hidden_size_, options, loc)) {}

RnnOutput GRU::operator()(const Tensor& input, const Tensor& h0, const Tensor& lengths, Loc loc) const {
  return run_layers(OpKind::gru, id, layers, input_size, hidden_size, input, h0, lengths, loc);
}

// --- LSTM ---

LSTM::LSTM(Builder& b, const std::string& name, int64_t input_size_, int64_t hidden_size_, RecurrentOptions options,
           Loc loc)
    : id("LSTM", b, name),
      input_size(input_size_),
      hidden_size(hidden_size_),
      layers(make_layers(b, "LSTM", name, 4, input_size_, hidden_size_, options, loc)) {}

LstmOutput LSTM::operator()(const Tensor& input, const LstmState& initial, const Tensor& lengths, Loc loc) const {
  auto n = static_cast<int64_t>(layers.size());
  if (initial.h.defined() != initial.c.defined())
    id.fail("the initial state needs both h0 and c0, or neither (zeros)", loc);
  const Dim batch = check_sequence_call(id, input, input_size, hidden_size, n, {{"h0", &initial.h}, {"c0", &initial.c}},
                                        lengths, loc);
  auto s = id.enter(input.builder(), loc);
  Tensor x = input;
  std::vector<Tensor> hs, cs;
  for (int64_t l = 0; l < n; ++l) {
    LstmState start;
    if (initial.h.defined()) {
      start = LstmState{layer_of(initial.h, l, loc), layer_of(initial.c, l, loc)};
    } else {
      start = LstmState{zeros(input.builder(), {batch, hidden_size}, loc),
                        zeros(input.builder(), {batch, hidden_size}, loc)};
    }
    std::vector<Tensor> r =
        layer_node(OpKind::lstm, layers[static_cast<size_t>(l)], x, {start.h, start.c}, lengths, loc);
    x = r[0];
    hs.push_back(r[1]);
    cs.push_back(r[2]);
  }
  return LstmOutput{x, stack_layers(hs, loc), stack_layers(cs, loc)};
}

LstmState LSTM::step(const Tensor& x, const LstmState& state, Loc loc) const {
  auto n = static_cast<int64_t>(layers.size());
  expect_shape(id, "x", x, DType::f32, {"batch", input_size}, loc);
  expect_shape(id, "h", state.h, DType::f32, {n, x.dim(0), hidden_size}, loc);
  expect_shape(id, "c", state.c, DType::f32, {n, x.dim(0), hidden_size}, loc);
  auto s = id.enter(x.builder(), loc);
  Tensor input = x;
  std::vector<Tensor> hs, cs;
  for (int64_t l = 0; l < n; ++l) {
    const RecurrentWeights& w = layers[static_cast<size_t>(l)];
    Tensor gates = ops::add(project(input, w.weight_ih, w.bias_ih, loc),
                            project(layer_of(state.h, l, loc), w.weight_hh, w.bias_hh, loc), loc);
    LstmState next = lstm_update(gates, layer_of(state.c, l, loc), hidden_size, loc);
    input = next.h;
    hs.push_back(next.h);
    cs.push_back(next.c);
  }
  return LstmState{stack_layers(hs, loc), stack_layers(cs, loc)};
}

}  // namespace weft::nn
