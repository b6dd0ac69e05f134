/** \file
 * PyTorch parity on the LLVM backend: the committed golden files (tests/golden/, made by
 * make_golden.py) checked against Weft's layers compiled by the LLVM backend, with PyTorch's
 * weights loaded, as tests/golden_parity does on the interpreter, with the same tolerance
 * (|a - b| <= 1e-5 + 1e-4·|b|). The Transformer is all generated code; the LSTM's scans run their
 * loops on the interpreter's scan kernel, each step's body (the cell) as generated code.
 */
#include <gtest/gtest.h>

#include "frontend/nn/nn.h"
#include "tests/golden_parity/golden.h"
#include "tests/golden_parity/golden_models.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

using golden::read_golden;
using golden::shape_of;
using golden::tensor_of;

std::map<std::string, Tensor> run_on_llvm(const Graph& graph, const SafetensorsFile& file,
                                          const std::map<std::string, Tensor>& inputs,
                                          const nn::TorchLoadOptions& options = {}) {
  auto exe = make_backend("llvm")->compile(graph);
  nn::load_torch_state_dict(*exe, file, options);
  return exe->run_named(inputs);
}

TEST(LlvmGoldenParity, TransformerWithPaddingAndCausalMasksMatchesTorch) {
  SafetensorsFile f = read_golden("transformer");
  Graph g = golden::transformer_graph(f);
  EXPECT_EQ(fallbacks(g), "");
  auto out = run_on_llvm(g, f, golden::transformer_inputs(f));
  golden::expect_close(out.at("output"), tensor_of(f, "out.output"), "transformer output");
}

/// nn.LSTM (2 layers) with a given initial state, or with packed lengths.
void check_lstm(const char* file, golden::LstmCase c) {
  SafetensorsFile f = read_golden(file);
  Graph g = golden::lstm_graph(f, c);
  // The scans' loops run on the interpreter's scan kernel; everything else, the cell included, is
  // generated code.
  auto exe = LlvmBackend().compile_llvm(g);
  for (const NodeStats& n : exe->stats().nodes) {
    if (n.compiled) continue;
    EXPECT_EQ(n.op, "scan") << exe->stats().report();
    EXPECT_NE(n.reason.find("0 on the interpreter"), std::string::npos) << exe->stats().report();
  }
  auto out = run_on_llvm(g, f, golden::lstm_inputs(f, c), golden::kLstmNames);
  for (const char* name : {"output", "h_n", "c_n"})
    golden::expect_close(out.at(name), tensor_of(f, std::string("out.") + name), std::string(file) + " " + name);
}

/// nn.RNN or nn.GRU (2 layers), as check_lstm.
void check_h_state(const char* file, bool gru, golden::LstmCase c) {
  SafetensorsFile f = read_golden(file);
  Graph g = golden::h_state_graph(f, gru, c);
  auto exe = LlvmBackend().compile_llvm(g);
  for (const NodeStats& n : exe->stats().nodes) {
    if (n.compiled) continue;
    EXPECT_EQ(n.op, "scan") << exe->stats().report();
  }
  auto out = run_on_llvm(g, f, golden::h_state_inputs(f, c), gru ? golden::kGruNames : golden::kRnnNames);
  for (const char* name : {"output", "h_n"})
    golden::expect_close(out.at(name), tensor_of(f, std::string("out.") + name), std::string(file) + " " + name);
}

TEST(LlvmGoldenParity, RnnWithInitialStateMatchesTorch) { check_h_state("rnn", false, {.with_state = true}); }

TEST(LlvmGoldenParity, RnnOverPackedLengthsMatchesTorch) {
  check_h_state("rnn_lengths", false, {.with_lengths = true});
}

TEST(LlvmGoldenParity, GruFromZeroStateMatchesTorch) { check_h_state("gru", true, {}); }

TEST(LlvmGoldenParity, GruWithInitialStateMatchesTorch) { check_h_state("gru_state", true, {.with_state = true}); }

TEST(LlvmGoldenParity, GruOverPackedLengthsMatchesTorch) { check_h_state("gru_lengths", true, {.with_lengths = true}); }

TEST(LlvmGoldenParity, TwoLayerLstmWithInitialStateMatchesTorch) { check_lstm("lstm_state", {.with_state = true}); }

TEST(LlvmGoldenParity, LstmOverPackedLengthsMatchesTorch) { check_lstm("lstm_lengths", {.with_lengths = true}); }

TEST(LlvmGoldenParity, LstmWithUnboundedSymbolicBatchAndLengthMatchesTorch) {
  check_lstm("lstm_lengths", {.with_lengths = true, .symbolic = true});
}

}  // namespace
}  // namespace weft::llvm_tests
