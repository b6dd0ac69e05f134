// PyTorch parity of the LSTM (nn.LSTM, 2 layers, batch-first): zero initial state, a given initial
// state, and packed sequences of different lengths. The Weft LSTM runs one scan per layer.
#include <gtest/gtest.h>

#include "frontend/nn/nn.h"
#include "tests/golden_parity/golden.h"

namespace weft::golden {
namespace {

using dsl::Builder;

struct LstmCase {
  bool with_state = false;
  bool with_lengths = false;
  bool symbolic = false;  // build with input f32[B, T, 4]
};

void check_lstm(const char* file, LstmCase c) {
  SafetensorsFile f = read_golden(file);
  Builder b(file);
  auto input = c.symbolic ? b.input("input", "f32[B, T, 4]") : b.input("input", DType::f32, shape_of(f, "in.input"));
  nn::LstmState initial;
  std::map<std::string, weft::Tensor> inputs{{"input", tensor_of(f, "in.input")}};
  if (c.with_state) {
    initial.h = c.symbolic ? b.input("h0", "f32[2, B, 5]") : b.input("h0", DType::f32, shape_of(f, "in.h0"));
    initial.c = c.symbolic ? b.input("c0", "f32[2, B, 5]") : b.input("c0", DType::f32, shape_of(f, "in.c0"));
    inputs["h0"] = tensor_of(f, "in.h0");
    inputs["c0"] = tensor_of(f, "in.c0");
  }
  dsl::Tensor len;
  if (c.with_lengths) {
    len = c.symbolic ? b.input("lengths", "i64[B]") : b.input("lengths", DType::i64, shape_of(f, "in.lengths"));
    inputs["lengths"] = tensor_of(f, "in.lengths");
  }
  nn::LSTM lstm(b, "lstm", 4, 5, {.num_layers = 2});
  nn::LstmOutput r = lstm(input, initial, len);
  b.output("output", r.output);
  b.output("h_n", r.h_n);
  b.output("c_n", r.c_n);
  auto out = run_with_torch_weights(b.finish(), f, inputs, {.weft_prefix = "lstm."});
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
  Builder b("layer_norm");
  auto x = b.input("input", DType::f32, shape_of(f, "in.input"));
  nn::LayerNorm norm(b, "", 8);
  b.output("output", norm(x));
  auto out = run_with_torch_weights(b.finish(), f, {{"input", tensor_of(f, "in.input")}});
  expect_close(out.at("output"), tensor_of(f, "out.output"), "layer_norm output");
}

}  // namespace
}  // namespace weft::golden
