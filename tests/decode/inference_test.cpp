// From training to inference (frontend/inference.h): copying trained parameters into graphs built
// from the same layers, the train/eval switch for dropout, and weights files under PyTorch's names.

#include "frontend/inference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "backends/backend.h"
#include "frontend/nn/nn.h"
#include "frontend/train_step.h"
#include "ir/safetensors.h"

namespace weft::train {
namespace {

namespace nn = weft::nn;
using dsl::Tensor;

/// A tiny model with a multi-head attention and dropout, in either mode.
void model(Builder& b, nn::Mode mode) {
  Tensor x = b.input("x", "f32[B<=8, T<=8, 8]");
  nn::DropoutStep step = nn::dropout_step(b, mode);
  nn::MultiHeadAttention attn(b, "attn", 8, 2);
  nn::Dropout dropout(b, 0.5);
  nn::Linear head(b, "head", 8, 3);
  Tensor y = head(dropout(attn(x, x, x), step));
  b.output("y", y);
  if (mode == nn::Mode::train) b.output("loss", dsl::mean(y * y));
}

Graph build(nn::Mode mode) {
  Builder b(mode == nn::Mode::train ? "train" : "eval");
  model(b, mode);
  return b.finish();
}

std::unique_ptr<Executable> compile(const Graph& g) { return make_backend("interp")->compile(g); }

weft::Tensor input_x() {
  std::vector<float> v(2 * 3 * 8);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<float>(i));
  return weft::Tensor::from<float>({2, 3, 8}, v);
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("weft_inference_test_" + name)).string();
}

TEST(Mode, TrainModeDeclaresTheStepAndEvalModeHasNoDropout) {
  Graph train_graph = build(nn::Mode::train), eval_graph = build(nn::Mode::eval);
  ASSERT_EQ(train_graph.inputs().size(), 2u);
  EXPECT_EQ(train_graph.inputs()[1].name, "step");
  ASSERT_EQ(eval_graph.inputs().size(), 1u);
  // The train step shares the model's `step` with the optimizer rather than adding another.
  Graph step = make_train_step(train_graph);
  int steps = 0;
  for (const InputDecl& in : step.inputs()) steps += in.name == "step";
  EXPECT_EQ(steps, 1);

  auto trained = compile(step);
  auto eval = inference_executable(
      *trained, "eval", [](Builder& b) { model(b, nn::Mode::eval); }, compile);
  auto again = compile(eval_graph);
  copy_parameters(*trained, *again);
  // Eval mode: deterministic and equal to the same graph built by hand; train mode drops half.
  auto y1 = eval->run_named({{"x", input_x()}}).at("y").to_vector<float>();
  auto y2 = again->run_named({{"x", input_x()}}).at("y").to_vector<float>();
  EXPECT_EQ(y1, y2);
  auto train_forward = compile(train_graph);
  copy_parameters(*trained, *train_forward);
  auto y3 = train_forward->run_named({{"x", input_x()}, {"step", weft::Tensor::from<int64_t>({}, {1})}})
                .at("y")
                .to_vector<float>();
  EXPECT_NE(y1, y3);
}

TEST(Mode, DropoutStepRejectsAStepOfAnotherType) {
  Builder b("m");
  b.input("step", "f32[]");
  try {
    nn::dropout_step(b, nn::Mode::train);
    ADD_FAILURE() << "expected a weft::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.substr(0, msg.find(" (at ")), "dropout_step: the input `step` must be an i64 scalar, but is f32[]");
  }
}

TEST(CopyParameters, ListsEveryMissingOrMistypedParameterAndChangesNothing) {
  auto from = compile(build(nn::Mode::eval));
  Builder b("other");
  Tensor x = b.input("x", "f32[B<=8, 8]");
  nn::Linear head(b, "head", 8, 4);  // head.weight is [4, 8] here, [3, 8] in `from`
  nn::Linear extra(b, "extra", 8, 8);
  b.output("y", head(x));
  b.output("z", extra(x));
  auto to = compile(b.finish());
  weft::Tensor before = to->state("head.bias");
  try {
    copy_parameters(*from, *to);
    ADD_FAILURE() << "expected a weft::Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "copy_parameters: every state tensor of the inference executable must be in the trained one with the "
              "same type (build both from the same layers), but:\n"
              "  'head.weight' is f32[3, 8] there, but f32[4, 8] here\n"
              "  'head.bias' is f32[3] there, but f32[4] here\n"
              "  'extra.weight' (f32[8, 8]) is not in the trained executable\n"
              "  'extra.bias' (f32[8]) is not in the trained executable");
  }
  EXPECT_EQ(to->state("head.bias").to_vector<float>(), before.to_vector<float>());
}

TEST(Weights, SavedUnderPyTorchNamesWithoutOptimizerStateAndLoadedBack) {
  auto trained = compile(make_train_step(build(nn::Mode::train)));
  // Make the parameters differ from any initializer: one update.
  trained->run_named({{"x", input_x()},
                      {"lr", weft::Tensor::from<float>({}, {0.1f})},
                      {"step", weft::Tensor::from<int64_t>({}, {1})}});
  const std::string path = temp_path("weights.safetensors");
  save_weights(path, *trained);

  SafetensorsFile file = read_safetensors(path);
  std::vector<std::string> names;
  for (const TensorBlob& t : file.tensors) names.push_back(t.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"attn.in_proj_bias", "attn.in_proj_weight", "attn.out_proj.bias",
                                             "attn.out_proj.weight", "head.bias", "head.weight"}));
  const TensorBlob* packed = file.find("attn.in_proj_weight");
  ASSERT_NE(packed, nullptr);
  EXPECT_EQ(packed->shape, (std::vector<int64_t>{24, 8}));
  // Rows 8..15 are k_proj's weight, as in PyTorch's packing.
  weft::Tensor k = trained->state("attn.k_proj.weight");
  EXPECT_EQ(std::memcmp(packed->data.data() + 8 * 8 * sizeof(float), k.raw(), k.nbytes()), 0);

  auto eval = compile(build(nn::Mode::eval));
  load_weights(path, *eval);
  for (const TensorSpec& s : eval->signature().state)
    EXPECT_EQ(eval->state(s.name).to_vector<float>(), trained->state(s.name).to_vector<float>()) << s.name;
  // A train step loads them too, keeping its optimizer state.
  auto fresh = compile(make_train_step(build(nn::Mode::train)));
  load_weights(path, *fresh);
  EXPECT_EQ(fresh->state("head.weight").to_vector<float>(), trained->state("head.weight").to_vector<float>());
  std::remove(path.c_str());
}

TEST(Weights, LoadingAFileThatLacksAParameterChangesNothing) {
  auto eval = compile(build(nn::Mode::eval));
  const std::string path = temp_path("partial.safetensors");
  SafetensorsFile file;
  std::vector<float> w(3 * 8, 1.0f);
  TensorBlob blob{"head.weight", DType::f32, {3, 8}, {}};
  blob.data.resize(w.size() * sizeof(float));
  std::memcpy(blob.data.data(), w.data(), blob.data.size());
  file.tensors.push_back(blob);
  write_safetensors_atomic(path, file);
  weft::Tensor before = eval->state("head.weight");
  EXPECT_THROW(load_weights(path, *eval), Error);
  EXPECT_EQ(eval->state("head.weight").to_vector<float>(), before.to_vector<float>());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace weft::train
