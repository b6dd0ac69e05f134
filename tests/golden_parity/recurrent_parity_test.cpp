// PyTorch parity of the LSTM, the tanh RNN and the GRU (nn.LSTM, nn.RNN, nn.GRU, 2 layers,
// batch-first): zero initial state, a given initial state, and packed sequences of different
// lengths. Each Weft layer is one lstm, rnn or gru node, which the interpreter runs as its scan.
#include <gtest/gtest.h>

#include "frontend/nn/nn.h"
#include "tests/golden_parity/golden.h"
#include "tests/golden_parity/golden_models.h"

namespace weft::golden {
namespace {

void check_lstm(const char* file, LstmCase c) {
  SafetensorsFile f = read_golden(file);
  auto out = run_with_torch_weights(lstm_graph(f, c), f, lstm_inputs(f, c), kLstmNames);
  for (const char* name : {"output", "h_n", "c_n"})
    expect_close(out.at(name), tensor_of(f, std::string("out.") + name), std::string(file) + " " + name);
}

TEST(LstmParity, TwoLayersFromZeroStateMatchTorch) { check_lstm("lstm", {}); }

TEST(LstmParity, GivenInitialStateMatchesTorch) { check_lstm("lstm_state", {.with_state = true}); }

TEST(LstmParity, PackedLengthsZeroPaddedOutputsAndKeepLastValidState) {
  check_lstm("lstm_lengths", {.with_lengths = true});
}

TEST(LstmParity, SymbolicBatchAndLengthMatchTorch) {
  check_lstm("lstm_lengths", {.with_lengths = true, .symbolic = true});
  check_lstm("lstm_state", {.with_state = true, .symbolic = true});
}

void check_h_state(const char* file, bool gru, LstmCase c) {
  SafetensorsFile f = read_golden(file);
  auto out = run_with_torch_weights(h_state_graph(f, gru, c), f, h_state_inputs(f, c), gru ? kGruNames : kRnnNames);
  for (const char* name : {"output", "h_n"})
    expect_close(out.at(name), tensor_of(f, std::string("out.") + name), std::string(file) + " " + name);
}

TEST(RnnParity, TwoLayersWithInitialStateMatchTorch) { check_h_state("rnn", false, {.with_state = true}); }

TEST(RnnParity, PackedLengthsZeroPaddedOutputsAndKeepLastValidState) {
  check_h_state("rnn_lengths", false, {.with_lengths = true});
}

TEST(GruParity, TwoLayersFromZeroStateMatchTorch) { check_h_state("gru", true, {}); }

TEST(GruParity, GivenInitialStateMatchesTorch) { check_h_state("gru_state", true, {.with_state = true}); }

TEST(GruParity, PackedLengthsZeroPaddedOutputsAndKeepLastValidState) {
  check_h_state("gru_lengths", true, {.with_lengths = true});
}

TEST(GruParity, SymbolicBatchAndLengthMatchTorch) {
  check_h_state("gru_lengths", true, {.with_lengths = true, .symbolic = true});
  check_h_state("gru_state", true, {.with_state = true, .symbolic = true});
}

TEST(LayerNormParity, MatchesTorchWithAffineParameters) {
  SafetensorsFile f = read_golden("layer_norm");
  auto out = run_with_torch_weights(layer_norm_graph(f), f, inputs_of(f, {"input"}));
  expect_close(out.at("output"), tensor_of(f, "out.output"), "layer_norm output");
}

}  // namespace
}  // namespace weft::golden
