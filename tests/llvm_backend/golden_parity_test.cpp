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
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

using dsl::Builder;
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
  Builder b("transformer");
  auto src = b.input("src", DType::f32, shape_of(f, "in.src"));
  auto tgt = b.input("tgt", DType::f32, shape_of(f, "in.tgt"));
  auto tgt_mask = b.input("tgt_mask", DType::boolean, shape_of(f, "in.tgt_mask"));
  auto src_pad = b.input("src_key_padding_mask", DType::boolean, shape_of(f, "in.src_key_padding_mask"));
  auto mem_pad = b.input("memory_key_padding_mask", DType::boolean, shape_of(f, "in.memory_key_padding_mask"));
  nn::TransformerOptions o;
  o.layer.d_model = 8;
  o.layer.nhead = 2;
  o.layer.dim_feedforward = 16;
  o.layer.dropout = 0.0;
  o.num_encoder_layers = 2;
  o.num_decoder_layers = 2;
  nn::Transformer model(b, "", o);
  b.output("output",
           model(src, tgt, {.tgt_mask = tgt_mask, .src_key_padding_mask = src_pad, .memory_key_padding_mask = mem_pad}));
  Graph g = b.finish();
  EXPECT_EQ(fallbacks(g), "");
  std::map<std::string, Tensor> inputs;
  for (const char* name : {"src", "tgt", "tgt_mask", "src_key_padding_mask", "memory_key_padding_mask"})
    inputs[name] = tensor_of(f, std::string("in.") + name);
  auto out = run_on_llvm(g, f, inputs);
  golden::expect_close(out.at("output"), tensor_of(f, "out.output"), "transformer output");
}

/// nn.LSTM (2 layers) with a given initial state, or with packed lengths.
void check_lstm(const char* file, bool with_state, bool with_lengths, bool symbolic = false) {
  SafetensorsFile f = read_golden(file);
  Builder b(file);
  auto input = symbolic ? b.input("input", "f32[B, T, 4]") : b.input("input", DType::f32, shape_of(f, "in.input"));
  std::map<std::string, Tensor> inputs{{"input", tensor_of(f, "in.input")}};
  nn::LstmState initial;
  if (with_state) {
    initial.h = b.input("h0", DType::f32, shape_of(f, "in.h0"));
    initial.c = b.input("c0", DType::f32, shape_of(f, "in.c0"));
    inputs["h0"] = tensor_of(f, "in.h0");
    inputs["c0"] = tensor_of(f, "in.c0");
  }
  dsl::Tensor lengths;
  if (with_lengths) {
    lengths = symbolic ? b.input("lengths", "i64[B]") : b.input("lengths", DType::i64, shape_of(f, "in.lengths"));
    inputs["lengths"] = tensor_of(f, "in.lengths");
  }
  nn::LSTM lstm(b, "lstm", 4, 5, {.num_layers = 2});
  nn::LstmOutput r = lstm(input, initial, lengths);
  b.output("output", r.output);
  b.output("h_n", r.h_n);
  b.output("c_n", r.c_n);
  Graph g = b.finish();
  // The scans' loops run on the interpreter's scan kernel; everything else, the cell included, is
  // generated code.
  auto exe = LlvmBackend().compile_llvm(g);
  for (const LlvmNodeStats& n : exe->stats().nodes) {
    if (n.compiled) continue;
    EXPECT_EQ(n.op, "scan") << exe->stats().report();
    EXPECT_NE(n.reason.find("0 on the interpreter"), std::string::npos) << exe->stats().report();
  }
  auto out = run_on_llvm(g, f, inputs, {.weft_prefix = "lstm."});
  for (const char* name : {"output", "h_n", "c_n"})
    golden::expect_close(out.at(name), tensor_of(f, std::string("out.") + name), std::string(file) + " " + name);
}

TEST(LlvmGoldenParity, TwoLayerLstmWithInitialStateMatchesTorch) { check_lstm("lstm_state", true, false); }

TEST(LlvmGoldenParity, LstmOverPackedLengthsMatchesTorch) { check_lstm("lstm_lengths", false, true); }

TEST(LlvmGoldenParity, LstmWithUnboundedSymbolicBatchAndLengthMatchesTorch) {
  check_lstm("lstm_lengths", false, true, true);
}

}  // namespace
}  // namespace weft::llvm_tests
