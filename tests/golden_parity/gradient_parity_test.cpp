/** \file
 * PyTorch parity of gradients: every `grad.*` tensor of every golden file (tests/golden/README.md),
 * computed by PyTorch's `loss.backward()`, against Weft's `differentiate` on the same layer with
 * PyTorch's weights loaded, on the interpreter and, where built, on the LLVM backend.
 *
 * Each case builds the forward graph exactly as the forward parity tests do (inputs named as the
 * file's `in.*`, outputs as its `out.*`), then appends the loss the file's gradients are of: one
 * input `grad_seed.<k>` per output and `loss = Σ_k sum(out.k * grad_seed.k)` (a file's "joint"
 * mode), or one such loss per output (its "per_output" mode). It differentiates with respect to
 * every float input and every parameter and compares elementwise within
 * |weft - torch| <= 1e-4 + 1e-3·|torch|. PyTorch's packed `in_proj_weight` / `in_proj_bias` are
 * compared whole: Weft's q, k and v gradients are stacked back in that order, using the same name
 * mapping that loads the weights (frontend/nn/load_torch.h). Each case then checks that the keys it
 * compared are exactly the file's `grad.*` keys, so a gradient cannot be skipped silently.
 */
#include <fmt/format.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "frontend/nn/nn.h"
#include "ir/graph_builder.h"
#include "passes/autodiff.h"
#include "tests/golden_parity/golden.h"
#include "tests/golden_parity/golden_models.h"

namespace weft::golden {
namespace {

using dsl::Builder;

constexpr double kAtol = 1e-4;
constexpr double kRtol = 1e-3;

/// What a file's gradients were compared against and how closely.
struct Comparison {
  std::set<std::string> keys;  // the file's grad.* keys compared
  double worst_abs = 0;        // max |weft - torch| over every element compared
  double worst_share = 0;      // max |weft - torch| / (atol + rtol·|torch|): below 1 passes
};

/// Compares one gradient tensor with PyTorch's `key`, recording the key and the worst error.
void compare(const Tensor& weft, const SafetensorsFile& f, const std::string& key, Comparison& c) {
  Tensor torch = tensor_of(f, key);
  ASSERT_EQ(weft.shape(), torch.shape()) << key;
  EXPECT_TRUE(c.keys.insert(key).second) << key << " compared twice";
  for (int64_t i = 0; i < torch.numel(); ++i) {
    double err = std::abs(weft.at(i) - torch.at(i));
    c.worst_abs = std::max(c.worst_abs, err);
    c.worst_share = std::max(c.worst_share, err / (kAtol + kRtol * std::abs(torch.at(i))));
  }
  expect_close(weft, torch, key, kAtol, kRtol);
}

/// The tensors stacked along axis 0 (row-major, so their bytes one after another).
Tensor stack_rows(const std::vector<Tensor>& parts) {
  std::vector<int64_t> shape = parts.at(0).shape();
  shape[0] = 0;
  for (const Tensor& p : parts) shape[0] += p.shape().at(0);
  Tensor out = Tensor::zeros(parts[0].dtype(), shape);
  auto* dst = static_cast<std::byte*>(out.raw());
  for (const Tensor& p : parts) {
    std::memcpy(dst, p.raw(), p.nbytes());
    dst += p.nbytes();
  }
  return out;
}

/// `forward` with an input `grad_seed.<k>` per output named in `outputs` and the single output
/// `loss = Σ_k sum(out.k * grad_seed.k)`.
Graph with_loss(const Graph& forward, const std::vector<std::string>& outputs) {
  Graph g = forward;
  GraphBuilder b(g);
  ValueId loss = kNoValue;
  for (const std::string& name : outputs) {
    auto out = std::find_if(forward.outputs().begin(), forward.outputs().end(),
                            [&](const OutputDecl& o) { return o.name == name; });
    WEFT_CHECK(out != forward.outputs().end(), "no output " + name);
    ValueId seed = g.add_input("grad_seed." + name, g.type(out->value));
    ValueId term = b.reduce(OpKind::reduce_sum, b.binary(OpKind::mul, out->value, seed), {}, false);
    loss = loss == kNoValue ? term : b.binary(OpKind::add, loss, term);
  }
  g.mutable_outputs() = {OutputDecl{"loss", loss}};
  return g;
}

/// Σ_k sum(out.k * grad_seed.k) from PyTorch's own tensors, in double.
double torch_loss(const SafetensorsFile& f, const std::vector<std::string>& outputs) {
  double loss = 0;
  for (const std::string& name : outputs) {
    Tensor y = tensor_of(f, "out." + name), seed = tensor_of(f, "grad_seed." + name);
    for (int64_t i = 0; i < y.numel(); ++i) loss += y.at(i) * seed.at(i);
  }
  return loss;
}

/// Differentiates the loss over `outputs` with respect to every float input and parameter, runs it
/// on `backend` with PyTorch's weights, and returns the loss and the gradients by Weft name.
std::map<std::string, Tensor> run_gradients(const std::string& backend, const Graph& forward, const SafetensorsFile& f,
                                            const std::vector<std::string>& outputs,
                                            const nn::TorchLoadOptions& names) {
  Graph g = with_loss(forward, outputs);
  std::vector<std::string> wrt;
  std::map<std::string, Tensor> inputs;
  for (const InputDecl& in : g.inputs()) {
    bool seed = in.name.starts_with("grad_seed.");
    inputs[in.name] = tensor_of(f, seed ? in.name : "in." + in.name);
    if (!seed && is_float(g.type(in.value).dtype)) wrt.push_back(in.name);
  }
  for (const ParamDecl& p : g.params()) wrt.push_back(p.name);
  auto exe = make_backend(backend)->compile(differentiate(g, "loss", wrt));
  nn::load_torch_state_dict(*exe, f, names);
  return exe->run_named(inputs);
}

std::vector<std::string> output_names(const Graph& g) {
  std::vector<std::string> names;
  for (const OutputDecl& o : g.outputs()) names.push_back(o.name);
  return names;
}

std::vector<std::string> float_inputs(const Graph& g) {
  std::vector<std::string> names;
  for (const InputDecl& in : g.inputs())
    if (is_float(g.type(in.value).dtype)) names.push_back(in.name);
  return names;
}

/// Joint mode: one loss over all outputs; grad.<torch param> and grad.input.<input>.
void compare_joint(const std::string& backend, const Graph& forward, const SafetensorsFile& f,
                   const nn::TorchLoadOptions& names, Comparison& c) {
  std::vector<std::string> outputs = output_names(forward);
  auto got = run_gradients(backend, forward, f, outputs, names);
  double want = torch_loss(f, outputs);
  EXPECT_NEAR(got.at("loss").at(0), want, kAtol + kRtol * std::abs(want)) << "the loss the gradients are of";
  for (const std::string& in : float_inputs(forward)) compare(got.at("grad." + in), f, "grad.input." + in, c);
  // The PyTorch parameters in file order, each with the Weft parameters it maps to (in_proj: q, k, v).
  std::vector<std::pair<std::string, std::vector<Tensor>>> params;
  for (const nn::MappedTensor& m : nn::map_torch_state_dict(f, names)) {
    if (params.empty() || params.back().first != m.torch_name) params.push_back({m.torch_name, {}});
    params.back().second.push_back(got.at("grad." + m.weft_name));
  }
  for (const auto& [torch_name, parts] : params) compare(stack_rows(parts), f, "grad." + torch_name, c);
}

/// Per-output mode: one loss and one backward pass per output; grad.input.<input>.<output>.
void compare_per_output(const std::string& backend, const Graph& forward, const SafetensorsFile& f,
                        const nn::TorchLoadOptions& names, Comparison& c) {
  ASSERT_TRUE(forward.params().empty()) << "per-output files are of functions without parameters";
  for (const std::string& out : output_names(forward)) {
    SCOPED_TRACE("loss of " + out);
    auto got = run_gradients(backend, forward, f, {out}, names);
    double want = torch_loss(f, {out});
    EXPECT_NEAR(got.at("loss").at(0), want, kAtol + kRtol * std::abs(want)) << "the loss the gradients are of";
    for (const std::string& in : float_inputs(forward))
      compare(got.at("grad." + in), f, "grad.input." + in + "." + out, c);
  }
}

/// Compares every gradient of the golden file `f` (called `file`) with Weft's, for `forward` built as
/// described at the top; `names` maps the file's parameter names to Weft's, as for loading weights.
/// Returns how many gradient tensors were compared.
size_t expect_gradients_match(const std::string& backend, const std::string& file, const SafetensorsFile& f,
                              const Graph& forward, const nn::TorchLoadOptions& names = {}) {
  Comparison c;
  const std::string& mode = f.metadata.at("grad_mode");
  if (mode == "joint")
    compare_joint(backend, forward, f, names, c);
  else if (mode == "per_output")
    compare_per_output(backend, forward, f, names, c);
  else
    ADD_FAILURE() << file << ": unknown grad_mode '" << mode << "'";

  std::set<std::string> in_file;
  for (const TensorBlob& t : f.tensors)
    if (t.name.starts_with("grad.")) in_file.insert(t.name);
  EXPECT_EQ(c.keys.size(), in_file.size()) << file << ": every grad.* tensor must be compared";
  EXPECT_EQ(c.keys, in_file) << file << ": the compared keys must be exactly the file's grad.* keys";
  ::testing::Test::RecordProperty(file + ".gradients_compared", static_cast<int>(c.keys.size()));
  ::testing::Test::RecordProperty(file + ".worst_abs_error", fmt::format("{:.3g}", c.worst_abs));
  ::testing::Test::RecordProperty(file + ".worst_share_of_tolerance", fmt::format("{:.3g}", c.worst_share));
  return c.keys.size();
}

size_t expect_gradients_match(const std::string& backend, const std::string& file, const Graph& forward,
                              const nn::TorchLoadOptions& names = {}) {
  return expect_gradients_match(backend, file, read_golden(file), forward, names);
}

// ---- The cases, each on every backend built (the interpreter always, LLVM where available) ----

class GradientParity : public ::testing::TestWithParam<std::string> {
 protected:
  const std::string& backend() const { return GetParam(); }
};

TEST_P(GradientParity, MultiHeadAttentionMatchesTorch) {
  SafetensorsFile f = read_golden("mha");
  // Gradients: query, key, value; in_proj_{weight,bias}, out_proj.{weight,bias}.
  EXPECT_EQ(expect_gradients_match(backend(), "mha", mha_graph(f, false)), 7u);
}

TEST_P(GradientParity, MultiHeadAttentionWithCausalAndKeyPaddingMasksMatchesTorch) {
  SafetensorsFile f = read_golden("mha_masked");
  // Gradients: query, key, value (the masks are bool); the four projections.
  EXPECT_EQ(expect_gradients_match(backend(), "mha_masked", mha_graph(f, true)), 7u);
}

TEST_P(GradientParity, PostNormReluEncoderLayerMatchesTorch) {
  SafetensorsFile f = read_golden("encoder_layer");
  // Gradients: src; self_attn 4, linear1/2 4, norm1/2 4.
  EXPECT_EQ(expect_gradients_match(backend(), "encoder_layer", encoder_layer_graph(f, false, nn::Activation::relu)),
            13u);
}

TEST_P(GradientParity, PreNormGeluEncoderLayerMatchesTorch) {
  SafetensorsFile f = read_golden("encoder_layer_prenorm");
  // Gradients: src; self_attn 4, linear1/2 4, norm1/2 4.
  EXPECT_EQ(
      expect_gradients_match(backend(), "encoder_layer_prenorm", encoder_layer_graph(f, true, nn::Activation::gelu)),
      13u);
}

TEST_P(GradientParity, DecoderLayerWithCausalTargetMaskMatchesTorch) {
  SafetensorsFile f = read_golden("decoder_layer");
  // Gradients: tgt, memory; self_attn 4, multihead_attn 4, linear1/2 4, norm1/2/3 6.
  EXPECT_EQ(expect_gradients_match(backend(), "decoder_layer", decoder_layer_graph(f)), 20u);
}

TEST_P(GradientParity, TransformerWithPaddingAndCausalMasksMatchesTorch) {
  SafetensorsFile f = read_golden("transformer");
  // Gradients: src, tgt; 2 encoder layers x 12, encoder.norm 2, 2 decoder layers x 18, decoder.norm 2.
  EXPECT_EQ(expect_gradients_match(backend(), "transformer", transformer_graph(f)), 66u);
}

TEST_P(GradientParity, TwoLayerLstmFromZeroStateMatchesTorch) {
  SafetensorsFile f = read_golden("lstm");
  // Gradients: input; {weight,bias}_{ih,hh}_l{0,1}.
  EXPECT_EQ(expect_gradients_match(backend(), "lstm", lstm_graph(f, {}), kLstmNames), 9u);
}

TEST_P(GradientParity, LstmInitialStateGradientsMatchTorch) {
  SafetensorsFile f = read_golden("lstm_state");
  // Gradients: input, h0, c0; {weight,bias}_{ih,hh}_l{0,1}.
  EXPECT_EQ(expect_gradients_match(backend(), "lstm_state", lstm_graph(f, {.with_state = true}), kLstmNames), 11u);
}

TEST_P(GradientParity, LstmOverPackedLengthsMatchesTorch) {
  SafetensorsFile f = read_golden("lstm_lengths");
  // Gradients: input; {weight,bias}_{ih,hh}_l{0,1}.
  EXPECT_EQ(expect_gradients_match(backend(), "lstm_lengths", lstm_graph(f, {.with_lengths = true}), kLstmNames), 9u);
}

TEST_P(GradientParity, TwoLayerRnnWithInitialStateMatchesTorch) {
  SafetensorsFile f = read_golden("rnn");
  // Gradients: input, h0; {weight,bias}_{ih,hh}_l{0,1}.
  EXPECT_EQ(expect_gradients_match(backend(), "rnn", h_state_graph(f, false, {.with_state = true}), kRnnNames), 10u);
}

TEST_P(GradientParity, RnnOverPackedLengthsMatchesTorch) {
  SafetensorsFile f = read_golden("rnn_lengths");
  // Gradients: input; {weight,bias}_{ih,hh}_l{0,1}.
  EXPECT_EQ(
      expect_gradients_match(backend(), "rnn_lengths", h_state_graph(f, false, {.with_lengths = true}), kRnnNames), 9u);
}

TEST_P(GradientParity, TwoLayerGruFromZeroStateMatchesTorch) {
  SafetensorsFile f = read_golden("gru");
  // Gradients: input; {weight,bias}_{ih,hh}_l{0,1}.
  EXPECT_EQ(expect_gradients_match(backend(), "gru", h_state_graph(f, true, {}), kGruNames), 9u);
}

TEST_P(GradientParity, GruInitialStateGradientsMatchTorch) {
  SafetensorsFile f = read_golden("gru_state");
  // Gradients: input, h0; {weight,bias}_{ih,hh}_l{0,1}.
  EXPECT_EQ(expect_gradients_match(backend(), "gru_state", h_state_graph(f, true, {.with_state = true}), kGruNames),
            10u);
}

TEST_P(GradientParity, GruOverPackedLengthsMatchesTorch) {
  SafetensorsFile f = read_golden("gru_lengths");
  // Gradients: input; {weight,bias}_{ih,hh}_l{0,1}.
  EXPECT_EQ(expect_gradients_match(backend(), "gru_lengths", h_state_graph(f, true, {.with_lengths = true}), kGruNames),
            9u);
}

TEST_P(GradientParity, LayerNormMatchesTorch) {
  SafetensorsFile f = read_golden("layer_norm");
  // Gradients: input, weight, bias.
  EXPECT_EQ(expect_gradients_match(backend(), "layer_norm", layer_norm_graph(f)), 3u);
}

TEST_P(GradientParity, LabelSmoothedCrossEntropyEveryReductionAndIgnoreIndexMatchesTorch) {
  SafetensorsFile f = read_golden("cross_entropy");
  // Gradients: logits, for each of the 5 losses.
  EXPECT_EQ(expect_gradients_match(backend(), "cross_entropy", cross_entropy_graph(f)), 5u);
}

TEST_P(GradientParity, KlDivOfLogSoftmaxMatchesTorchForBothArguments) {
  SafetensorsFile f = read_golden("kl_div");
  // Gradients: x and target.
  EXPECT_EQ(expect_gradients_match(backend(), "kl_div", kl_div_graph(f)), 2u);
}

TEST_P(GradientParity, MseLossMeanAndSumMatchTorchForBothArguments) {
  SafetensorsFile f = read_golden("mse_loss");
  // Gradients: input and target, for each of the 2 losses.
  EXPECT_EQ(expect_gradients_match(backend(), "mse_loss", mse_loss_graph(f)), 4u);
}

TEST_P(GradientParity, SoftmaxAndLogSoftmaxOfLargeLogitsMatchTorch) {
  SafetensorsFile f = read_golden("softmax");
  // Gradients: x, for each of the 4 outputs.
  EXPECT_EQ(expect_gradients_match(backend(), "softmax", softmax_graph(f)), 4u);
}

TEST_P(GradientParity, ExactAndTanhGeluMatchTorch) {
  SafetensorsFile f = read_golden("gelu");
  // Gradients: x, for each of the 2 forms.
  EXPECT_EQ(expect_gradients_match(backend(), "gelu", gelu_graph(f)), 2u);
}

TEST_P(GradientParity, BahdanauAttentionDecoderMatchesTorch) {
  SafetensorsFile f = read_golden("seq2seq_bahdanau");
  // Gradients: src_embed, tgt_embed; encoder and decoder 8 each; attention 3; out 2 (the ids are ints).
  EXPECT_EQ(expect_gradients_match(backend(), "seq2seq_bahdanau", seq2seq_bahdanau_graph(f), kModelNames), 23u);
}

/// The golden files the cases above compare; a file in tests/golden/ missing here is never compared.
TEST(GradientParityCoverage, EveryGoldenFileHasAGradientCase) {
  const std::set<std::string> covered{"cross_entropy", "decoder_layer", "encoder_layer", "encoder_layer_prenorm",
                                      "gelu",          "kl_div",        "layer_norm",    "lstm",
                                      "lstm_lengths",  "lstm_state",    "mha",           "mha_masked",
                                      "mse_loss",      "softmax",       "transformer",   "seq2seq_bahdanau",
                                      "rnn",           "rnn_lengths",   "gru",           "gru_state",
                                      "gru_lengths"};
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(WEFT_SOURCE_DIR) + "/tests/golden"))
    if (entry.path().extension() == ".safetensors") files.insert(entry.path().stem().string());
  EXPECT_EQ(files, covered);
}

/// The interpreter always; the LLVM, oneDNN and auto backends when this build has them.
std::vector<std::string> backends_built() {
  std::vector<std::string> out;
  for (const std::string& name : backend_names())
    if (name == "interp" || name == "llvm" || name == "onednn" || name == "auto") out.push_back(name);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Backends, GradientParity, ::testing::ValuesIn(backends_built()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// ---- The harness can fail: a wrong gradient, or one the file has and the case never compares ----

TensorBlob& blob_named(SafetensorsFile& f, const std::string& name) {
  for (TensorBlob& t : f.tensors)
    if (t.name == name) return t;
  throw Error("golden file has no tensor '" + name + "'");
}

/// The messages of the failures `check` reports, intercepted so that the test itself passes.
template <typename Check>
std::string failures_of(Check check) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    check();
  }
  std::string messages;
  for (int i = 0; i < results.size(); ++i) messages += results.GetTestPartResult(i).message() + std::string("\n");
  return messages;
}

TEST(GradientParityHarness, FailsWhenOneGradientElementIsOffByTwiceTheTolerance) {
  SafetensorsFile f = read_golden("layer_norm");
  TensorBlob& weight = blob_named(f, "grad.weight");
  float w0;
  std::memcpy(&w0, weight.data.data(), sizeof w0);
  float shifted = w0 + static_cast<float>(2 * (kAtol + kRtol * std::abs(w0)));
  std::memcpy(weight.data.data(), &shifted, sizeof shifted);
  std::string failures = failures_of([&] { expect_gradients_match("interp", "layer_norm", f, layer_norm_graph(f)); });
  EXPECT_NE(failures.find("grad.weight[0]: Weft"), std::string::npos) << failures;
  EXPECT_EQ(failures.find("grad.bias"), std::string::npos) << failures;
}

TEST(GradientParityHarness, FailsWhenTheFileHasAGradientTheCaseDoesNotCompare) {
  SafetensorsFile f = read_golden("layer_norm");
  TensorBlob extra = blob_named(f, "grad.bias");
  extra.name = "grad.running_mean";
  f.tensors.push_back(extra);
  std::string failures = failures_of([&] { expect_gradients_match("interp", "layer_norm", f, layer_norm_graph(f)); });
  EXPECT_NE(failures.find("layer_norm: every grad.* tensor must be compared"), std::string::npos) << failures;
  EXPECT_NE(failures.find("grad.running_mean"), std::string::npos) << failures;
}

}  // namespace
}  // namespace weft::golden
