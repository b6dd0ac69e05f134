// The parameter average of `example_g2p --ema` (examples/g2p/average.h) on a tiny Transformer: it
// follows the ramped recurrence over the parameters each update leaves, a checkpoint resumes it
// exactly, and the weights exported for weft-compile are the averages.
#include "examples/g2p/average.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "backends/backend.h"
#include "examples/g2p/export.h"
#include "examples/g2p/model.h"
#include "examples/g2p/training.h"
#include "frontend/inference.h"
#include "frontend/train_step.h"
#include "frontend/trainer.h"
#include "ir/error.h"
#include "ir/safetensors.h"
#include "tests/tool_runner.h"

namespace g2p {
namespace {

namespace fs = std::filesystem;
namespace train = weft::train;

const std::vector<Word> kWords = {
    {"cat", {"k", "ae", "t"}},       {"dog", {"d", "ao", "g"}}, {"phone", {"f", "ow", "n"}},
    {"knight", {"n", "ay", "t"}},    {"bee", {"b", "iy"}},      {"shoe", {"sh", "uw"}},
    {"weft", {"w", "eh", "f", "t"}}, {"zoo", {"z", "uw"}},      {"yes", {"y", "eh", "s"}},
};

struct Tiny {
  Tiny() : vocabs(make_vocabs(kWords)), loader(make_loader(kWords, vocabs.first, vocabs.second, 4, 7)) {
    config = {.src_vocab = vocabs.first.size(),
              .tgt_vocab = vocabs.second.size(),
              .d_model = 16,
              .heads = 2,
              .layers = 1,
              .feedforward = 32,
              .dropout = 0.1,  // keyed by the step, so a resumed run draws the same masks
              .label_smoothing = 0.1};
  }
  std::unique_ptr<weft::Executable> train_step() const {
    return compile(train::make_train_step(graph_of("g2p", [&](Builder& b) { build_train_graph(b, config); }),
                                          {.optimizer = train::AdamOptions{.beta1 = 0.9, .beta2 = 0.98}}));
  }
  train::Trainer trainer(weft::Executable& exe) const {
    return train::Trainer(exe, {.total_steps = 100, .lr = train::constant_lr(1e-2), .progress = nullptr});
  }
  /// Runs updates until the trainer has done `until`.
  void train_until(train::Trainer& trainer, int64_t until) const {
    while (trainer.steps_done() < until) trainer.step(target_token_batch(loader, trainer.steps_done() + 1));
  }

  std::pair<Vocab, Vocab> vocabs;
  train::SequenceLoader loader;
  ModelConfig config;
  std::unique_ptr<weft::Backend> backend = weft::make_backend("llvm");
  train::Compiler compile = [this](const weft::Graph& g) { return backend->compile(g); };
};

std::vector<std::string> parameters(const weft::Executable& exe) {
  std::vector<std::string> names;
  for (const weft::TensorSpec& s : exe.signature().state)
    if (!train::is_optimizer_state(s.name)) names.push_back(s.name);
  return names;
}

TEST(G2PAverage, FollowsTheRampedRecurrenceOverEachUpdatesParameters) {
  Tiny s;
  auto exe = s.train_step();
  const std::vector<std::string> names = parameters(*exe);
  ASSERT_GT(names.size(), 10u);
  const std::string name = "generator.weight";
  ASSERT_NE(std::find(names.begin(), names.end(), name), names.end());

  // Expected: avg_0 = the initial parameter; avg_t = d_t avg_{t-1} + (1 - d_t) p_t with
  // d_t = min(0.3, (1 + t) / (10 + t)) = 2/11, 3/12, then 0.3 (the cap) from update 3 on.
  std::vector<double> expected;
  for (float v : exe->state(name).to_vector<float>()) expected.push_back(v);
  AveragedTrainStep averaged(*exe, 0.3);
  // One average per parameter, none for Adam's moments.
  EXPECT_EQ(averaged.signature().state.size(), exe->signature().state.size() + names.size());
  EXPECT_NE(averaged.signature().find_state("ema." + name), nullptr);
  EXPECT_EQ(averaged.signature().find_state("ema.adam.m." + name), nullptr);

  train::Trainer trainer = s.trainer(averaged);
  for (int64_t t = 1; t <= 5; ++t) {
    s.train_until(trainer, t);
    const double d = std::min(0.3, (1.0 + t) / (10.0 + t));
    std::vector<float> p = exe->state(name).to_vector<float>();
    for (size_t i = 0; i < p.size(); ++i) expected[i] = d * expected[i] + (1 - d) * p[i];
  }
  std::vector<float> got = averaged.state("ema." + name).to_vector<float>(), last = exe->state(name).to_vector<float>();
  ASSERT_EQ(got.size(), expected.size());
  double moved = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], expected[i], 1e-6 + 1e-5 * std::abs(expected[i])) << "element " << i;
    moved = std::max(moved, std::abs(double(got[i]) - last[i]));
  }
  EXPECT_GT(moved, 1e-4);  // the average is not the last parameters

  try {
    AveragedTrainStep bad(*exe, 1.0);
    FAIL() << "a decay of 1 was accepted";
  } catch (const weft::Error& e) {
    EXPECT_STREQ(e.what(), "the parameter average's decay must be in [0, 1), but it is 1");
  }
}

TEST(G2PAverage, ACheckpointResumesTheAverageExactly) {
  Tiny s;
  fs::path dir = weft::tool_testing::fresh_test_dir("g2p_average");
  const std::string checkpoint = (dir / "checkpoint.safetensors").string();

  auto straight = s.train_step();
  AveragedTrainStep straight_average(*straight, 0.999);
  train::Trainer straight_trainer = s.trainer(straight_average);
  s.train_until(straight_trainer, 6);

  {
    auto first = s.train_step();
    AveragedTrainStep first_average(*first, 0.999);
    train::Trainer first_trainer = s.trainer(first_average);
    s.train_until(first_trainer, 3);
    first_trainer.save(checkpoint);
  }
  EXPECT_TRUE(checkpoint_has_averages(checkpoint));
  auto resumed = s.train_step();
  AveragedTrainStep resumed_average(*resumed, 0.999);
  train::Trainer resumed_trainer = s.trainer(resumed_average);
  resumed_trainer.load(checkpoint);
  ASSERT_EQ(resumed_trainer.steps_done(), 3);
  s.train_until(resumed_trainer, 6);

  for (const std::string& name : parameters(*straight)) {
    EXPECT_EQ(resumed_average.state("ema." + name).to_vector<float>(),
              straight_average.state("ema." + name).to_vector<float>())
        << name;
    EXPECT_EQ(resumed->state(name).to_vector<float>(), straight->state(name).to_vector<float>()) << name;
  }

  // A checkpoint of the train step alone has no averages (example_g2p refuses to mix the two).
  train::Trainer plain = s.trainer(*straight);
  plain.save((dir / "plain.safetensors").string());
  EXPECT_FALSE(checkpoint_has_averages((dir / "plain.safetensors").string()));
}

TEST(G2PAverage, TheExportedWeightsAreTheAverages) {
  Tiny s;
  auto exe = s.train_step();
  AveragedTrainStep averaged(*exe, 0.9);
  train::Trainer trainer = s.trainer(averaged);
  s.train_until(trainer, 4);

  // As example_g2p makes its decoders: the inference graphs, then the averages copied in.
  auto encode = train::inference_executable(
      *exe, "encode", [&](Builder& b) { build_encode_graph(b, s.config); }, s.compile);
  auto step = train::inference_executable(
      *exe, "decode_step", [&](Builder& b) { build_step_graph(b, s.config); }, s.compile);
  EXPECT_EQ(averaged.copy_averages_to(*encode), encode->signature().state.size());
  EXPECT_EQ(averaged.copy_averages_to(*step), step->signature().state.size());
  fs::path dir = weft::tool_testing::fresh_test_dir("g2p_average_export");
  save_inference_weights((dir / "weights.safetensors").string(), *encode, *step);

  weft::SafetensorsFile file = weft::read_safetensors((dir / "weights.safetensors").string());
  ASSERT_EQ(file.tensors.size(), parameters(*exe).size());  // encode's and step's, each once
  for (const weft::TensorBlob& t : file.tensors) {
    weft::Tensor written = weft::Tensor::from_bytes(t.dtype, t.shape, t.data);
    EXPECT_EQ(written.to_vector<float>(), averaged.state("ema." + t.name).to_vector<float>()) << t.name;
    if (t.name == "generator.weight")
      EXPECT_NE(written.to_vector<float>(), exe->state(t.name).to_vector<float>()) << t.name;
  }
}

}  // namespace
}  // namespace g2p
