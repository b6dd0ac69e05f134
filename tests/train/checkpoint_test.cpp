// Checkpoints: an interrupted save (an injected failure, or a writer killed mid-write) leaves the
// previous checkpoint intact and loadable; resuming continues bit-identically; loading checks
// names, dtypes and shapes.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "frontend/nn/basic.h"
#include "frontend/trainer.h"
#include "tests/train/train_testing.h"

namespace weft::train {
namespace {

using namespace testing;
namespace fs = std::filesystem;

/// A scratch directory, removed with everything in it when the test ends.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            fmt::format("weft_train_{}_{}_{}", info->test_suite_name(), info->name(), ::getpid());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  fs::path path_;
};

std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// An MLP whose dropout mask is keyed by the step, so resuming must restore the step too.
/// `hidden` makes the checkpoint as large as a test needs (Adam keeps two more copies).
Graph mlp(int64_t hidden = 16) {
  Builder b("mlp");
  auto x = b.input("x", DType::f32, {8, 4});
  auto y = b.input("y", DType::f32, {8, 2});
  auto step = b.input("step", DType::i64, {});
  nn::Linear fc1(b, "fc1", 4, hidden), fc2(b, "fc2", hidden, 2);
  auto h = dsl::dropout(dsl::relu(fc1(x)), step, {.p = 0.25, .seed = 3});
  b.output("loss", dsl::mse_loss(fc2(h), y));
  return b.finish();
}

/// Batch `step`: a deterministic function of the step alone.
Batch batch_for(int64_t step) {
  std::vector<float> x(32), y(16);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(step * 31 + i)));
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<float>(std::cos(0.11 * static_cast<double>(step * 17 + i)));
  return Batch{{{"x", f32s({8, 4}, x)}, {"y", f32s({8, 2}, y)}}, 8};
}

std::unique_ptr<Executable> mlp_train_step(int64_t hidden = 16) {
  return compile(make_train_step(mlp(hidden), {.optimizer = AdamOptions{}, .clip_grad_norm = 1.0}));
}

TrainerOptions quiet(int64_t total_steps) {
  return TrainerOptions{.total_steps = total_steps, .lr = constant_lr(0.01), .progress = nullptr};
}

std::map<std::string, Tensor> all_state(const Executable& exe) {
  std::map<std::string, Tensor> out;
  for (const TensorSpec& s : exe.signature().state) out[s.name] = exe.state(s.name);
  return out;
}

void expect_bit_identical(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    const Tensor& u = b.at(name);
    ASSERT_EQ(t.nbytes(), u.nbytes()) << name;
    EXPECT_EQ(std::memcmp(t.raw(), u.raw(), t.nbytes()), 0) << name << " differs";
  }
}

TEST(Checkpoint, SaveThenLoadRestoresEveryStateTensorAndTheCounters) {
  ScratchDir dir;
  auto exe = mlp_train_step();
  Trainer trainer(*exe, quiet(3));
  trainer.run(batch_for);
  trainer.save(dir.file("ckpt.safetensors"));

  auto fresh = mlp_train_step();
  Trainer resumed(*fresh, quiet(3));
  resumed.load(dir.file("ckpt.safetensors"));
  EXPECT_EQ(resumed.steps_done(), 3);
  expect_bit_identical(all_state(*exe), all_state(*fresh));
  // Parameters and Adam's moments are all in the file.
  EXPECT_EQ(exe->signature().state.size(), 12u);  // 4 parameters × (value, m, v)
}

TEST(Checkpoint, InjectedFailureMidWriteLeavesThePreviousCheckpointIntact) {
  ScratchDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  auto exe = mlp_train_step(2048);  // ~170 KB: three 64 KB write chunks
  Trainer trainer(*exe, quiet(6));
  for (int64_t s = 1; s <= 3; ++s) trainer.step(batch_for(s));
  trainer.save(path);
  const std::vector<char> saved_a = file_bytes(path);
  const auto state_a = all_state(*exe);
  ASSERT_GT(saved_a.size(), 2u * 64 * 1024);

  for (int64_t s = 4; s <= 6; ++s) trainer.step(batch_for(s));
  size_t written_when_failed = 0;
  EXPECT_THROW(trainer.save(path,
                            [&](size_t written) {
                              if (written >= 64 * 1024) {
                                written_when_failed = written;
                                throw Error("injected failure: disk full");
                              }
                            }),
               Error);
  EXPECT_GT(written_when_failed, 0u);
  EXPECT_LT(written_when_failed, saved_a.size()) << "the failure must come part-way through the new file";

  EXPECT_EQ(file_bytes(path), saved_a) << "checkpoint A must be byte-for-byte unchanged";
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt.safetensors"}) << "the temporary file must be removed";
  auto fresh = mlp_train_step(2048);
  Trainer loaded(*fresh, quiet(6));
  loaded.load(path);
  EXPECT_EQ(loaded.steps_done(), 3);
  expect_bit_identical(state_a, all_state(*fresh));
}

TEST(Checkpoint, WriterKilledMidSaveLeavesThePreviousCheckpointIntact) {
  ScratchDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  auto exe = mlp_train_step(2048);
  Trainer trainer(*exe, quiet(6));
  for (int64_t s = 1; s <= 3; ++s) trainer.step(batch_for(s));
  trainer.save(path);
  const std::vector<char> saved_a = file_bytes(path);
  const auto state_a = all_state(*exe);
  for (int64_t s = 4; s <= 6; ++s) trainer.step(batch_for(s));

  std::fflush(nullptr);
  pid_t child = ::fork();
  ASSERT_GE(child, 0) << "fork failed";
  if (child == 0) {
    // The child dies by SIGKILL after writing its first 64 KB of checkpoint B: no destructor, no
    // cleanup runs, as when a machine's OOM killer or an operator ends a job.
    try {
      trainer.save(path, [](size_t) { ::kill(::getpid(), SIGKILL); });
    } catch (...) {
    }
    ::_exit(3);  // not reached
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child should have been killed, status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  EXPECT_EQ(file_bytes(path), saved_a) << "checkpoint A must be byte-for-byte unchanged";
  // The killed writer's temporary file may remain beside it (nothing could remove it); it never
  // has the checkpoint's name.
  for (const std::string& name : dir.entries()) {
    if (name != "ckpt.safetensors") {
      EXPECT_NE(name.find(".tmp."), std::string::npos) << name;
    }
  }
  auto fresh = mlp_train_step(2048);
  Trainer loaded(*fresh, quiet(6));
  loaded.load(path);
  EXPECT_EQ(loaded.steps_done(), 3);
  expect_bit_identical(state_a, all_state(*fresh));
}

TEST(Checkpoint, ResumingContinuesBitIdenticallyToAnUninterruptedRun) {
  ScratchDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  const int64_t n = 5, m = 7;

  // Uninterrupted: n + m steps, with a checkpoint after n.
  auto exe = mlp_train_step();
  Trainer trainer(*exe, quiet(n + m));
  std::vector<double> losses;
  trainer.run(batch_for, [&](const StepReport& r) {
    if (r.step == n) trainer.save(path);
    if (r.step > n) losses.push_back(r.loss);
    return true;
  });

  // Resumed: a fresh executable (initialized anew) loads the checkpoint and runs the last m steps.
  auto fresh = mlp_train_step();
  Trainer resumed(*fresh, quiet(n + m));
  resumed.load(path);
  std::vector<double> resumed_losses;
  resumed.run(batch_for, [&](const StepReport& r) {
    resumed_losses.push_back(r.loss);
    return true;
  });

  ASSERT_EQ(resumed_losses.size(), static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) EXPECT_EQ(resumed_losses[i], losses[i]) << "loss at step " << n + 1 + i;
  expect_bit_identical(all_state(*exe), all_state(*fresh));
}

TEST(Checkpoint, LoadRejectsAnotherModelsCheckpointNamingEachDisagreement) {
  ScratchDir dir;
  auto exe = mlp_train_step(16);
  save_checkpoint(dir.file("a.safetensors"), *exe, {.step = 1});
  auto other = compile(make_train_step(mlp(8), {.optimizer = SgdOptions{}}));
  const Tensor before = other->state("fc1.weight");
  try {
    load_checkpoint(dir.file("a.safetensors"), *other);
    FAIL() << "expected weft::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("'fc1.weight' must be f32[8, 4], but the file has f32[16, 4]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'adam.m.fc1.weight' (f32[16, 4]) is not state of this executable"), std::string::npos) << msg;
    EXPECT_NE(msg.find(dir.file("a.safetensors")), std::string::npos) << msg;
  }
  EXPECT_EQ(std::memcmp(before.raw(), other->state("fc1.weight").raw(), before.nbytes()), 0)
      << "a failed load must change nothing";
}

TEST(Checkpoint, LoadRejectsAWeightsFileThatIsNotACheckpoint) {
  ScratchDir dir;
  SafetensorsFile weights;
  weights.tensors.push_back(TensorBlob{"fc1.weight", DType::f32, {1}, std::vector<std::byte>(4)});
  write_safetensors_atomic(dir.file("w.safetensors"), weights);
  auto exe = mlp_train_step();
  try {
    load_checkpoint(dir.file("w.safetensors"), *exe);
    FAIL() << "expected weft::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no 'weft.format'"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, UserMetadataRoundTripsAndReservedKeysAreRejected) {
  ScratchDir dir;
  auto exe = mlp_train_step();
  save_checkpoint(dir.file("c.safetensors"), *exe, {.step = 42, .rng_offset = 99, .metadata = {{"epoch", "3"}}});
  TrainingState s = load_checkpoint(dir.file("c.safetensors"), *exe);
  EXPECT_EQ(s.step, 42);
  EXPECT_EQ(s.rng_offset, 99u);
  EXPECT_EQ(s.metadata, (std::map<std::string, std::string>{{"epoch", "3"}}));
  EXPECT_THROW(save_checkpoint(dir.file("d.safetensors"), *exe, {.metadata = {{"weft.step", "1"}}}), Error);
}

TEST(Checkpoint, AFlippedByteAnywhereIsCaughtOnLoadNamingTheTensorOrTheHeader) {
  ScratchDir dir;
  auto exe = mlp_train_step();
  Trainer(*exe, quiet(2)).run(batch_for);
  const std::string path = dir.file("c.safetensors");
  save_checkpoint(path, *exe, {.step = 1});
  const std::vector<char> good = file_bytes(path);
  const SafetensorsFile parsed = read_safetensors(path);
  uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = header << 8 | static_cast<unsigned char>(good[static_cast<size_t>(i)]);
  const size_t data_start = 8 + header;
  auto other = mlp_train_step();
  const Tensor before = other->state("fc1.weight");
  auto load_error = [&](const std::vector<char>& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    try {
      load_checkpoint(path, *other);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(loaded)");
  };
  // The first and the last byte of the data region: the first and the last tensor in file order.
  for (auto [at, tensor] : {std::pair{data_start, parsed.tensors.front().name},
                            std::pair{good.size() - 1, parsed.tensors.back().name}}) {
    std::vector<char> bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    std::string msg = load_error(bad);
    EXPECT_NE(msg.find(fmt::format("is corrupt: tensor '{}' has CRC-32C", tensor)), std::string::npos) << msg;
  }
  // A counter changed in the header (same length, still valid JSON): the header's checksum.
  std::string text(good.begin(), good.end());
  size_t step = text.find("\"weft.step\"");
  ASSERT_NE(step, std::string::npos);
  size_t digit = text.find('1', step + 11);
  ASSERT_LT(digit, data_start);
  std::vector<char> bad = good;
  bad[digit] = '7';
  std::string msg = load_error(bad);
  EXPECT_NE(msg.find("is corrupt: its header's CRC-32C is"), std::string::npos) << msg;
  EXPECT_EQ(std::memcmp(before.raw(), other->state("fc1.weight").raw(), before.nbytes()), 0)
      << "a failed load must change nothing";
  // The intact file loads.
  EXPECT_EQ(load_error(good), "(loaded)");
}

TEST(Checkpoint, AFormatOneCheckpointWithoutChecksumsStillLoads) {
  ScratchDir dir;
  auto exe = mlp_train_step();
  Trainer(*exe, quiet(1)).run(batch_for);
  SafetensorsFile old;
  old.metadata = {{"weft.format", "weft-checkpoint-1"}, {"weft.step", "1"}, {"weft.rng_offset", "1"}};
  for (const TensorSpec& spec : exe->signature().state) {
    Tensor t = exe->state(spec.name);
    old.tensors.push_back(TensorBlob{spec.name, t.dtype(), t.shape(), {t.bytes().begin(), t.bytes().end()}});
  }
  write_safetensors_atomic(dir.file("old.safetensors"), old);
  auto fresh = mlp_train_step();
  TrainingState s = load_checkpoint(dir.file("old.safetensors"), *fresh);
  EXPECT_EQ(s.step, 1);
  Tensor w = fresh->state("fc2.weight"), want = exe->state("fc2.weight");
  EXPECT_EQ(std::memcmp(w.raw(), want.raw(), w.nbytes()), 0);
}

}  // namespace
}  // namespace weft::train
