// PyTorch parity of the LSTM (nn.LSTM, 2 layers, batch-first): zero initial state, a given initial
// state, and packed sequences of different lengths. The Weft LSTM runs one scan per layer.
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

TEST(LayerNormParity, MatchesTorchWithAffineParameters) {
  SafetensorsFile f = read_golden("layer_norm");
  auto out = run_with_torch_weights(layer_norm_graph(f), f, inputs_of(f, {"input"}));
  expect_close(out.at("output"), tensor_of(f, "out.output"), "layer_norm output");
}

}  // namespace
}  // namespace weft::golden
