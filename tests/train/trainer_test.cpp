// The training loop helper: its progress line, its CSV log, its checkpoints and its checks.

#include "frontend/trainer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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

}  // namespace
}  // namespace weft::train
