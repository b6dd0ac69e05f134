/** \file
 * PyTorch parity on the "onednn" and "auto" backends: every golden layer of tests/golden (made by
 * make_golden.py) compiled by [onednn, llvm, interp] and by [auto, interp] with PyTorch's weights loaded, compared with
 * PyTorch's outputs within the forward parity tests' tolerance (|a - b| <= 1e-5 + 1e-4·|b|). The
 * gradients and train steps are the GradientParity cases of tests/golden_parity, which run on this
 * backend too. Each case also checks that oneDNN ran some of the calls: a chain that silently
 * declined everything would pass on the LLVM provider alone.
 */
#include <gtest/gtest.h>

#include <ostream>

#include "frontend/nn/nn.h"
#include "tests/golden_parity/golden.h"
#include "tests/golden_parity/golden_models.h"
#include "tests/onednn/testing.h"

namespace weft::onednn_tests {
namespace {

using golden::read_golden;
using golden::tensor_of;

struct GoldenCase {
  const char* name;  // the file, and the test's name
  Graph (*graph)(const SafetensorsFile&);
  nn::TorchLoadOptions load = {};
  /// Whether oneDNN must run some call: the losses and the softmax file compute several results
  /// per region (values shared between outputs), which no single primitive writes.
  bool some_on_onednn = true;
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

void check(const GoldenCase& c, const std::string& backend_name) {
  SafetensorsFile f = read_golden(c.name);
  Graph g = c.graph(f);
  auto backend = make_backend(backend_name);
  auto exe = dynamic_cast<const ProviderChain&>(*backend).compile_chain(g);
  int on_onednn = 0;
  for (const NodeStats& n : exe->stats().nodes) on_onednn += n.provider == "onednn" ? 1 : 0;
  if (c.some_on_onednn && backend_name == "onednn") EXPECT_GT(on_onednn, 0) << exe->stats().report();
  nn::load_torch_state_dict(*exe, f, c.load);
  std::map<std::string, Tensor> inputs;
  for (const InputDecl& in : g.inputs()) inputs[in.name] = tensor_of(f, "in." + in.name);
  auto out = exe->run_named(inputs);
  ASSERT_EQ(out.size(), g.outputs().size());
  for (const auto& [name, value] : out)
    golden::expect_close(value, tensor_of(f, "out." + name), backend_name + " " + c.name + " " + name);
}

class OnednnGoldenParity : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(OnednnGoldenParity, MatchesTorchOnOnednnAndAuto) {
  SKIP_WITHOUT_ONEDNN();
  check(GetParam(), "onednn");
  check(GetParam(), "auto");
}

Graph post_norm_relu(const SafetensorsFile& f) { return golden::encoder_layer_graph(f, false, nn::Activation::relu); }
Graph pre_norm_gelu(const SafetensorsFile& f) { return golden::encoder_layer_graph(f, true, nn::Activation::gelu); }
Graph decoder_layer(const SafetensorsFile& f) { return golden::decoder_layer_graph(f); }
Graph mha(const SafetensorsFile& f) { return golden::mha_graph(f, false); }
Graph mha_masked(const SafetensorsFile& f) { return golden::mha_graph(f, true); }
Graph lstm(const SafetensorsFile& f) { return golden::lstm_graph(f, {}); }
Graph lstm_state(const SafetensorsFile& f) { return golden::lstm_graph(f, {.with_state = true}); }
Graph lstm_lengths(const SafetensorsFile& f) { return golden::lstm_graph(f, {.with_lengths = true}); }
Graph rnn(const SafetensorsFile& f) { return golden::h_state_graph(f, false, {.with_state = true}); }
Graph rnn_lengths(const SafetensorsFile& f) { return golden::h_state_graph(f, false, {.with_lengths = true}); }
Graph gru(const SafetensorsFile& f) { return golden::h_state_graph(f, true, {}); }
Graph gru_state(const SafetensorsFile& f) { return golden::h_state_graph(f, true, {.with_state = true}); }
Graph gru_lengths(const SafetensorsFile& f) { return golden::h_state_graph(f, true, {.with_lengths = true}); }
Graph bahdanau(const SafetensorsFile& f) { return golden::seq2seq_bahdanau_graph(f); }

INSTANTIATE_TEST_SUITE_P(
    Layers, OnednnGoldenParity,
    ::testing::Values(
        GoldenCase{"transformer", golden::transformer_graph}, GoldenCase{"encoder_layer", post_norm_relu},
        GoldenCase{"encoder_layer_prenorm", pre_norm_gelu}, GoldenCase{"decoder_layer", decoder_layer},
        GoldenCase{"mha", mha}, GoldenCase{"mha_masked", mha_masked}, GoldenCase{"lstm", lstm, golden::kLstmNames},
        GoldenCase{"lstm_state", lstm_state, golden::kLstmNames},
        GoldenCase{"lstm_lengths", lstm_lengths, golden::kLstmNames}, GoldenCase{"rnn", rnn, golden::kRnnNames},
        GoldenCase{"rnn_lengths", rnn_lengths, golden::kRnnNames}, GoldenCase{"gru", gru, golden::kGruNames},
        GoldenCase{"gru_state", gru_state, golden::kGruNames},
        GoldenCase{"gru_lengths", gru_lengths, golden::kGruNames}, GoldenCase{"layer_norm", golden::layer_norm_graph},
        GoldenCase{"cross_entropy", golden::cross_entropy_graph, {}, false},
        GoldenCase{"kl_div", golden::kl_div_graph, {}, false},
        GoldenCase{"mse_loss", golden::mse_loss_graph, {}, false},
        GoldenCase{"softmax", golden::softmax_graph, {}, false}, GoldenCase{"gelu", golden::gelu_graph},
        GoldenCase{"seq2seq_bahdanau", bahdanau, golden::kModelNames}),
    [](const ::testing::TestParamInfo<GoldenCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace weft::onednn_tests
