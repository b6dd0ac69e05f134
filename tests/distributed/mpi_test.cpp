// Data-parallel training on Open MPI: `mpirun -np 2` on loopback starts tests/distributed/worker,
// whose ranks train the model of ddp_model.h on half a batch each. Skipped, saying why, where Weft
// was built without Open MPI or mpirun is missing. A `timeout` around mpirun guards against hangs.

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "backends/backend.h"
#include "runtime/communicator.h"
#include "tests/distributed/ddp_model.h"
#include "tests/tool_runner.h"

namespace weft {
namespace {

namespace fs = std::filesystem;
using tool_testing::q;

#ifdef WEFT_DDP_WORKER
constexpr const char* kWorker = WEFT_DDP_WORKER;
constexpr const char* kMpirun = WEFT_MPIRUN;
#else
constexpr const char* kWorker = "";
constexpr const char* kMpirun = "";
#endif

struct MpiRun {
  int status = -1;  // 124: the timeout killed it
  std::string output;
  double seconds = 0;
};

/// `mpirun -np 2 ddp_worker MODE DIR` with a 60-second limit; stdout and stderr together.
MpiRun mpirun_worker(const std::string& mode, const fs::path& dir) {
  const fs::path log = dir / "mpirun.log";
  // As root in CI (--allow-run-as-root), on a machine with fewer cores than ranks (--oversubscribe).
  std::string cmd = fmt::format("timeout 60 {} -np 2 --oversubscribe --allow-run-as-root {} {} {} >{} 2>&1",
                                q(std::string(kMpirun)), q(std::string(kWorker)), mode, q(dir), q(log));
  auto start = std::chrono::steady_clock::now();
  int raw = std::system(cmd.c_str());
  MpiRun r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.output = tool_testing::slurp(log);
  return r;
}

class MpiDataParallel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_mpi() || std::string(kWorker).empty())
      GTEST_SKIP() << "Weft was built without Open MPI (install libopenmpi-dev and openmpi-bin, then configure again)";
    if (std::string(kMpirun).empty() || !fs::exists(kMpirun))
      GTEST_SKIP() << "mpirun is missing (Debian's openmpi-bin), so no process group can be started";
    dir_ = tool_testing::fresh_test_dir("weft_mpi");
  }
  fs::path dir_;
};

/// name -> the values a rank wrote ("name hexfloat..." per line).
std::map<std::string, std::vector<double>> read_state(const fs::path& file) {
  std::map<std::string, std::vector<double>> out;
  std::istringstream lines(tool_testing::slurp(file));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string name, word;
    words >> name;
    while (words >> word) out[name].push_back(std::strtod(word.c_str(), nullptr));
  }
  return out;
}

TEST_F(MpiDataParallel, TwoRanksWithHalfBatchesMatchOneProcessWithTheWholeBatch) {
  MpiRun run = mpirun_worker("train", dir_);
  ASSERT_EQ(run.status, 0) << run.output;
  const std::string rank0 = tool_testing::slurp(dir_ / "rank0.txt");
  ASSERT_FALSE(rank0.empty()) << run.output;
  EXPECT_EQ(tool_testing::slurp(dir_ / "rank1.txt"), rank0) << "the ranks' parameters differ";
  // Rank 0 alone prints progress.
  size_t first = run.output.find("step 5/5  loss ");
  EXPECT_NE(first, std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("step 5/5  loss ", first + 1), std::string::npos) << run.output;

  // One process, the whole batch, the same backend.
  auto exe = make_backend("llvm")->compile(
      train::make_train_step(ddp_testing::regression_model(), ddp_testing::step_options(false)));
  train::Trainer trainer(*exe,
                         {.total_steps = ddp_testing::kSteps, .lr = train::constant_lr(0.05), .progress = nullptr});
  trainer.run(ddp_testing::whole_batch);
  std::map<std::string, std::vector<double>> ranks = read_state(dir_ / "rank0.txt");
  ASSERT_EQ(ranks.size(), exe->signature().state.size());
  for (const TensorSpec& s : exe->signature().state) {
    Tensor want = exe->state(s.name);
    const std::vector<double>& got = ranks[s.name];
    ASSERT_EQ(static_cast<int64_t>(got.size()), want.numel()) << s.name;
    for (int64_t i = 0; i < want.numel(); ++i)
      EXPECT_NEAR(got[i], want.at(i), 1e-5 + 1e-4 * std::abs(want.at(i))) << s.name << "[" << i << "]";
  }
}

TEST_F(MpiDataParallel, ARankWhoseBatchSourceThrowsStopsTheOtherWithItsMessage) {
  MpiRun run = mpirun_worker("throw", dir_);
  EXPECT_NE(run.status, 0) << run.output;
  EXPECT_NE(run.status, 124) << "the run hung until the timeout:\n" << run.output;
  EXPECT_LT(run.seconds, 30) << run.output;
  EXPECT_NE(run.output.find("weft: rank 1 of 2: rank 1 cannot read batch 3"), std::string::npos) << run.output;
  EXPECT_FALSE(fs::exists(dir_ / "rank0.txt")) << "rank 0 went on training";
}

TEST_F(MpiDataParallel, ANanOnOneRankStopsEveryRankWithTheSameError) {
  MpiRun run = mpirun_worker("nan", dir_);
  EXPECT_NE(run.status, 0) << run.output;
  EXPECT_NE(run.status, 124) << "the run hung until the timeout:\n" << run.output;
  const std::string error =
      "Trainer: the loss must stay finite, but it is nan at step 2 (the mean over the ranks); compile the train step "
      "with CompileOptions::nan_trap to find the op that first produces a NaN or Inf";
  EXPECT_NE(run.output.find("rank 0: " + error), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("rank 1: " + error), std::string::npos) << run.output;
}

}  // namespace
}  // namespace weft
