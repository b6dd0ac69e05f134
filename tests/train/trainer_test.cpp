// The training loop helper: its progress line, its CSV log, its checkpoints and its checks.

#include "frontend/trainer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "tests/train/train_testing.h"

namespace weft::train {
namespace {

using namespace testing;
namespace fs = std::filesystem;

TEST(Trainer, ProgressLineReadsStepLossThroughputAndEta) {
  EXPECT_EQ(progress_line(120, 2000, 0.43124, 3410.4, 42.2), "step 120/2000  loss 0.4312  3,410 tok/s  ETA 0:42");
  EXPECT_EQ(progress_line(5, 10, 1.5, 1234567.0, 3725.0), "step 5/10  loss 1.5000  1,234,567 tok/s  ETA 1:02:05");
  EXPECT_EQ(progress_line(1, 3, 2.0, 0.0, 61.0), "step 1/3  loss 2.0000  ETA 1:01");
}

/// loss = Σ (w - t)², w starting at 0: SGD walks w towards t.
Graph regression() {
  Builder b("regression");
  auto t = b.input("t", DType::f32, {2});
  auto w = b.param("w", DType::f32, {2});
  auto d = w - t;
  b.output("loss", dsl::sum(d * d));
  return b.finish();
}

Batch target_batch(int64_t) { return Batch{{{"t", f32s({2}, {1.0f, -1.0f})}}, 2}; }

std::string temp_file(const std::string& name) {
  return (fs::temp_directory_path() / fmt::format("weft_trainer_{}_{}", ::getpid(), name)).string();
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(Trainer, LogsProgressAtIntervalsAndEveryStepToCsv) {
  const std::string csv = temp_file("curve.csv");
  auto exe = compile(make_train_step(regression(), {.optimizer = SgdOptions{}}));
  std::ostringstream progress;
  Trainer trainer(
      *exe, {.total_steps = 5, .lr = step_decay(0.1, 2, 0.5), .log_every = 2, .progress = &progress, .csv_path = csv});
  trainer.run(target_batch);

  // Progress lines after steps 2, 4 and the last, 5.
  std::vector<std::string> lines;
  std::istringstream in(progress.str());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u) << progress.str();
  EXPECT_EQ(lines[0].rfind("step 2/5  loss ", 0), 0u) << lines[0];
  EXPECT_EQ(lines[2].rfind("step 5/5  loss ", 0), 0u) << lines[2];
  EXPECT_NE(lines[0].find(" tok/s  ETA "), std::string::npos) << lines[0];

  // Step 1 from w = 0: loss = 1 + 1 = 2 at lr 0.1; the rate halves every 2 steps.
  std::vector<std::string> rows = lines_of(csv);
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0], "step,loss,lr,tokens_per_s");
  EXPECT_EQ(rows[1].rfind("1,2,0.1,", 0), 0u) << rows[1];
  EXPECT_EQ(rows[3].rfind("3,", 0), 0u) << rows[3];
  EXPECT_NE(rows[3].find(",0.05,"), std::string::npos) << rows[3];
  EXPECT_NE(rows[5].find(",0.025,"), std::string::npos) << rows[5];
  // w moved towards t: w = 0.2·t after step 1 (w -= 0.1 · 2(w - t)).
  EXPECT_NEAR(exe->state("w").at(0), 1.0 - 0.8 * 0.8 * 0.9 * 0.9 * 0.95, 1e-6);
  fs::remove(csv);
}

TEST(Trainer, ResumedRunContinuesTheCsvFromItsCheckpoint) {
  const std::string csv = temp_file("resume.csv"), ckpt = temp_file("resume.safetensors");
  {
    auto exe = compile(make_train_step(regression(), {.optimizer = SgdOptions{}}));
    Trainer trainer(*exe, {.total_steps = 6,
                           .lr = constant_lr(0.1),
                           .log_every = 0,
                           .csv_path = csv,
                           .checkpoint_path = ckpt,
                           .checkpoint_every = 4});
    trainer.run(target_batch);  // checkpoints at 4 and 6; the CSV has rows 1..6
  }
  {
    auto exe = compile(make_train_step(regression(), {.optimizer = SgdOptions{}}));
    Trainer first(
        *exe,
        {.total_steps = 4, .lr = constant_lr(0.1), .log_every = 0, .checkpoint_path = ckpt, .checkpoint_every = 4});
    first.run(target_batch);  // overwrite the checkpoint with step 4's
  }
  auto exe = compile(make_train_step(regression(), {.optimizer = SgdOptions{}}));
  Trainer resumed(*exe, {.total_steps = 6, .lr = constant_lr(0.1), .log_every = 0, .csv_path = csv});
  resumed.load(ckpt);
  EXPECT_EQ(resumed.steps_done(), 4);
  resumed.run(target_batch);
  std::vector<std::string> rows = lines_of(csv);
  ASSERT_EQ(rows.size(), 7u) << "header and steps 1..6, with 5 and 6 written once";
  for (int s = 1; s <= 6; ++s) EXPECT_EQ(rows[s].rfind(std::to_string(s) + ",", 0), 0u) << rows[s];
  fs::remove(csv);
  fs::remove(ckpt);
}

TEST(Trainer, ChecksTheExecutableAndTheBatches) {
  Builder b("m");
  auto t = b.input("t", DType::f32, {2});
  auto w = b.param("w", DType::f32, {2});
  b.output("loss", dsl::sum(w * t));
  auto forward = compile(b.finish());
  try {
    Trainer trainer(*forward, {});
    FAIL() << "a forward graph is not a train step";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input 'lr'"), std::string::npos) << e.what();
  }

  auto exe = compile(make_train_step(regression(), {.optimizer = SgdOptions{}}));
  Trainer trainer(*exe, {.total_steps = 1, .progress = nullptr});
  try {
    trainer.step(Batch{{{"target", f32s({2}, {1.0f, 1.0f})}}});
    FAIL() << "expected weft::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no 't' (f32[2])"), std::string::npos) << e.what();
  }
  try {
    trainer.step(Batch{{{"t", f32s({2}, {1.0f, 1.0f})}, {"lr", f32_scalar(1.0f)}}});
    FAIL() << "expected weft::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gives input 'lr'"), std::string::npos) << e.what();
  }
}

// The validation hook: called every N steps and after the last, the best score's state saved and
// kept while later, worse scores pass, and the best carried through a checkpoint into a resumed run.
TEST(Trainer, ValidatesEveryNStepsAndKeepsTheBestState) {
  const std::string best_path = temp_file("best.ckpt"), last_path = temp_file("last.ckpt");
  auto exe = compile(make_train_step(regression(), {.optimizer = SgdOptions{}}));
  // Scores by step: the best, 1.0, comes at step 6; steps 8 and 9 are worse.
  const std::map<int64_t, double> scores{{2, 5.0}, {4, 3.0}, {6, 1.0}, {8, 2.0}, {9, 4.0}};
  std::vector<int64_t> called;
  std::vector<float> w_at_best;
  std::ostringstream progress;
  Trainer trainer(*exe, {.total_steps = 9,
                         .lr = constant_lr(0.1),
                         .log_every = 0,
                         .progress = &progress,
                         .checkpoint_path = last_path,
                         .checkpoint_every = 9,
                         .validate_every = 2,
                         .validate =
                             [&](int64_t step) {
                               called.push_back(step);
                               if (step == 6) w_at_best = state_of(*exe, "w");
                               return scores.at(step);
                             },
                         .best_checkpoint_path = best_path});
  std::vector<std::optional<double>> reported;
  trainer.run(target_batch, [&](const StepReport& r) {
    reported.push_back(r.validation);
    return true;
  });
  EXPECT_EQ(called, (std::vector<int64_t>{2, 4, 6, 8, 9}));  // every 2 steps, and the last
  ASSERT_EQ(reported.size(), 9u);
  EXPECT_EQ(reported[5], std::optional<double>(1.0));
  EXPECT_EQ(reported[4], std::nullopt);
  ASSERT_TRUE(trainer.best());
  EXPECT_EQ(trainer.best()->step, 6);
  EXPECT_EQ(trainer.best()->score, 1.0);
  EXPECT_NE(progress.str().find("validation at step 6: 1.0000 (best)\n"), std::string::npos) << progress.str();
  EXPECT_NE(progress.str().find("validation at step 8: 2.0000 (best 1.0000 at step 6)\n"), std::string::npos)
      << progress.str();

  // The best checkpoint holds step 6's state, not the last step's.
  auto restored = compile(make_train_step(regression(), {.optimizer = SgdOptions{}}));
  Trainer reader(*restored, {.total_steps = 9, .progress = nullptr});
  reader.load(best_path);
  EXPECT_EQ(reader.steps_done(), 6);
  EXPECT_EQ(state_of(*restored, "w"), w_at_best);
  EXPECT_NE(state_of(*exe, "w"), w_at_best);

  // A run resumed from the last checkpoint knows the best so far.
  reader.load(last_path);
  ASSERT_TRUE(reader.best());
  EXPECT_EQ(reader.best()->step, 6);
  EXPECT_EQ(reader.best()->score, 1.0);
  fs::remove(best_path);
  fs::remove(last_path);
}

TEST(Trainer, AValidationScheduleNeedsAValidation) {
  auto exe = compile(make_train_step(regression(), {.optimizer = SgdOptions{}}));
  try {
    Trainer trainer(*exe, {.validate_every = 10});
    FAIL() << "accepted validate_every without validate";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "Trainer: validate_every is 10, but there is no `validate` function to call");
  }
  EXPECT_THROW(Trainer(*exe, {.best_checkpoint_path = "best.ckpt"}), Error);
}

}  // namespace
}  // namespace weft::train
