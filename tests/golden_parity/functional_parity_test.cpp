// PyTorch parity of the functional ops the layers and losses rest on: cross-entropy (label
// smoothing, ignore_index, every reduction), KL divergence, MSE, softmax / log_softmax and GELU.
#include <gtest/gtest.h>

#include "frontend/nn/nn.h"
#include "tests/golden_parity/golden.h"
#include "tests/golden_parity/golden_models.h"

namespace weft::golden {
namespace {

/// Runs graph `g` (no parameters) on the file's inputs and compares each of its outputs.
void check_outputs(const Graph& g, const SafetensorsFile& f) {
  std::map<std::string, Tensor> in;
  for (const InputDecl& input : g.inputs()) in[input.name] = tensor_of(f, "in." + input.name);
  auto out = run_with_torch_weights(g, f, in);
  ASSERT_EQ(out.size(), g.outputs().size());
  for (const auto& [name, value] : out) expect_close(value, tensor_of(f, "out." + name), name);
}

/// The golden file `name` against the graph `build` makes of it.
void check_golden(const std::string& name, Graph (*build)(const SafetensorsFile&)) {
  SafetensorsFile f = read_golden(name);
  check_outputs(build(f), f);
}

TEST(CrossEntropyParity, EveryReductionSmoothingAndIgnoreIndexMatchTorch) {
  check_golden("cross_entropy", cross_entropy_graph);
}

TEST(KlDivParity, BatchMeanOfLogSoftmaxInputMatchesTorch) { check_golden("kl_div", kl_div_graph); }

TEST(MseLossParity, MeanAndSumMatchTorch) { check_golden("mse_loss", mse_loss_graph); }

TEST(SoftmaxParity, LargeLogitsOverTwoAxesMatchTorch) { check_golden("softmax", softmax_graph); }

TEST(GeluParity, ExactAndTanhFormsMatchTorch) { check_golden("gelu", gelu_graph); }

}  // namespace
}  // namespace weft::golden
