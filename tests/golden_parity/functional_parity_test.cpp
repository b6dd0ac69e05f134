// PyTorch parity of the functional ops the layers and losses rest on: cross-entropy (label
// smoothing, ignore_index, every reduction), KL divergence, MSE, softmax / log_softmax and GELU.
#include <gtest/gtest.h>

#include "frontend/nn/nn.h"
#include "tests/golden_parity/golden.h"

namespace weft::golden {
namespace {

using dsl::Builder;

/// Runs a graph without parameters on the file's inputs and compares the named outputs.
void check_outputs(const Builder& b, const SafetensorsFile& f, const std::vector<std::string>& inputs,
                   const std::vector<std::string>& outputs) {
  std::map<std::string, Tensor> in;
  for (const std::string& name : inputs) in[name] = tensor_of(f, "in." + name);
  auto out = run_with_torch_weights(b.finish(), f, in);
  for (const std::string& name : outputs) expect_close(out.at(name), tensor_of(f, "out." + name), name);
}

TEST(CrossEntropyParity, EveryReductionSmoothingAndIgnoreIndexMatchTorch) {
  SafetensorsFile f = read_golden("cross_entropy");
  Builder b("cross_entropy");
  auto logits = b.input("logits", DType::f32, shape_of(f, "in.logits"));
  auto targets = b.input("targets", DType::i64, shape_of(f, "in.targets"));
  auto targets0 = b.input("targets_ignore0", DType::i64, shape_of(f, "in.targets_ignore0"));
  b.output("ce_mean", dsl::cross_entropy(logits, targets, {.label_smoothing = 0.1, .ignore_index = -100}));
  b.output("ce_sum", dsl::cross_entropy(logits, targets, {.label_smoothing = 0.1, .reduction = "sum"}));
  b.output("ce_none", dsl::cross_entropy(logits, targets, {.label_smoothing = 0.1, .reduction = "none"}));
  b.output("ce_mean_ignore0", dsl::cross_entropy(logits, targets0, {.label_smoothing = 0.1, .ignore_index = 0}));
  b.output("ce_mean_no_smoothing", dsl::cross_entropy(logits, targets, {.label_smoothing = 0.0}));
  check_outputs(b, f, {"logits", "targets", "targets_ignore0"},
                {"ce_mean", "ce_sum", "ce_none", "ce_mean_ignore0", "ce_mean_no_smoothing"});
}

TEST(KlDivParity, BatchMeanOfLogSoftmaxInputMatchesTorch) {
  SafetensorsFile f = read_golden("kl_div");
  Builder b("kl_div");
  auto x = b.input("x", DType::f32, shape_of(f, "in.x"));
  auto target = b.input("target", DType::f32, shape_of(f, "in.target"));
  b.output("kl_div", dsl::kl_div(dsl::log_softmax(x, -1), target, {.reduction = "batchmean"}));
  check_outputs(b, f, {"x", "target"}, {"kl_div"});
}

TEST(MseLossParity, MeanAndSumMatchTorch) {
  SafetensorsFile f = read_golden("mse_loss");
  Builder b("mse_loss");
  auto x = b.input("input", DType::f32, shape_of(f, "in.input"));
  auto target = b.input("target", DType::f32, shape_of(f, "in.target"));
  b.output("mse_mean", dsl::mse_loss(x, target, "mean"));
  b.output("mse_sum", dsl::mse_loss(x, target, "sum"));
  check_outputs(b, f, {"input", "target"}, {"mse_mean", "mse_sum"});
}

TEST(SoftmaxParity, LargeLogitsOverTwoAxesMatchTorch) {
  SafetensorsFile f = read_golden("softmax");
  Builder b("softmax");
  auto x = b.input("x", DType::f32, shape_of(f, "in.x"));
  b.output("softmax_last", dsl::softmax(x, -1));
  b.output("softmax_dim1", dsl::softmax(x, 1));
  b.output("log_softmax_last", dsl::log_softmax(x, -1));
  b.output("log_softmax_dim1", dsl::log_softmax(x, 1));
  check_outputs(b, f, {"x"}, {"softmax_last", "softmax_dim1", "log_softmax_last", "log_softmax_dim1"});
}

TEST(GeluParity, ExactAndTanhFormsMatchTorch) {
  SafetensorsFile f = read_golden("gelu");
  Builder b("gelu");
  auto x = b.input("x", DType::f32, shape_of(f, "in.x"));
  b.output("gelu_exact", dsl::gelu(x));
  b.output("gelu_tanh", dsl::gelu(x, "tanh"));
  check_outputs(b, f, {"x"}, {"gelu_exact", "gelu_tanh"});
}

}  // namespace
}  // namespace weft::golden
