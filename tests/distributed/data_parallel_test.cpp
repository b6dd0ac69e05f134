// make_train_step's data_parallel option and the Trainer's data-parallel mode, in one process:
// bucketing, the single-process equivalence, per-rank dropout, sharding and the errors that stop
// every rank (through a communicator whose abort_all throws).

#include "frontend/data_parallel.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "backends/backend.h"
#include "tests/distributed/ddp_model.h"
#include "tests/distributed/distributed_testing.h"

namespace weft::train {
namespace {

using ddp_testing::MirrorCommunicator;

std::unique_ptr<Executable> compile_interp(const Graph& g) { return make_backend("interp")->compile(g); }

std::map<std::string, std::vector<float>> trained_state(Executable& exe, const TrainerOptions& options,
                                                        const BatchSource& batches) {
  Trainer trainer(exe, options);
  trainer.run(batches);
  std::map<std::string, std::vector<float>> out;
  for (const TensorSpec& s : exe.signature().state)
    if (s.type.dtype == DType::f32) out[s.name] = exe.state(s.name).to_vector<float>();
  return out;
}

TEST(GradientBuckets, FillLargestFirstUpToTheCap) {
  // Sizes 40, 100, 30, 60, 10 with a cap of 100: [100], [60, 40], [30, 10].
  EXPECT_EQ(gradient_buckets({40, 100, 30, 60, 10}, 100), (std::vector<std::vector<size_t>>{{1}, {3, 0}, {2, 4}}));
}

TEST(GradientBuckets, AGradientLargerThanTheCapGoesAloneAndTiesKeepTheirOrder) {
  EXPECT_EQ(gradient_buckets({8, 500, 8, 8}, 16), (std::vector<std::vector<size_t>>{{1}, {0, 2}, {3}}));
  EXPECT_EQ(gradient_buckets({}, 16), (std::vector<std::vector<size_t>>{}));
}

TEST(DataParallelTrainStep, OnOneProcessItTrainsBitForBitAsTheOrdinaryStep) {
  const BatchSource batches = ddp_testing::whole_batch;
  const TrainerOptions options{.total_steps = 3, .lr = constant_lr(0.05), .progress = nullptr};
  auto plain = compile_interp(make_train_step(ddp_testing::regression_model(), ddp_testing::step_options(false)));
  auto parallel = compile_interp(make_train_step(ddp_testing::regression_model(), ddp_testing::step_options(true)));
  EXPECT_EQ(trained_state(*parallel, options, batches), trained_state(*plain, options, batches));
}

TEST(DataParallelTrainStep, AveragesTheGradientsInOneAllReducePerBucket) {
  Graph step = make_train_step(ddp_testing::regression_model(), ddp_testing::step_options(true));
  std::vector<int64_t> sizes;
  for (const Node& n : step.nodes())
    if (n.op == OpKind::all_reduce) {
      EXPECT_EQ(n.attrs.get_string("reduce"), "mean");
      EXPECT_EQ(n.attrs.get_string("group"), "world");
      EXPECT_EQ(n.scope, "data_parallel");
      sizes.push_back(num_elements(step.type(n.results[0]).shape).value());
    }
  // fc1.weight (48 floats) alone; fc2.weight, fc1.bias and fc2.bias (32 + 16 + 2) together.
  EXPECT_EQ(sizes, (std::vector<int64_t>{48, 50}));

  // With a peer whose gradients are this rank's own, the mean is the rank's gradient: the run
  // matches one process, and each step makes the two bucket calls and the trainer's loss call.
  auto comm = std::make_shared<MirrorCommunicator>(0);
  CommunicatorScope scope("world", comm);
  auto parallel = compile_interp(step);
  auto plain = compile_interp(make_train_step(ddp_testing::regression_model(), ddp_testing::step_options(false)));
  TrainerOptions options{.total_steps = 2, .lr = constant_lr(0.05), .progress = nullptr};
  auto expected = trained_state(*plain, options, [](int64_t s) {
    Batch b = ddp_testing::whole_batch(s);
    for (auto& [name, t] : b.inputs)
      t = Tensor::from_bytes(t.dtype(), {t.shape()[0] / 2, t.shape()[1]}, t.bytes().subspan(0, t.nbytes() / 2));
    return b;
  });
  options.data_parallel_group = "world";
  EXPECT_EQ(trained_state(*parallel, options, ddp_testing::whole_batch), expected);
  EXPECT_EQ(comm->calls, (std::vector<size_t>{48, 50, 1, 48, 50, 1}));
}

TEST(DataParallelTrainStep, EachRankDrawsItsOwnDropoutMasksAndRankZeroDrawsTheSingleProcessOnes) {
  Builder b("dropout_model");
  auto x = b.input("x", "f32[4, 64]");
  auto step = b.input("step", "i64[]");
  auto w = b.param("w", "f32[64]", Initializer{});
  b.output("loss", dsl::sum(dsl::dropout(x * w, step, {.p = 0.5, .seed = 7})));
  Graph model = b.finish();
  auto plain = compile_interp(make_train_step(model, {.optimizer = SgdOptions{}}));
  auto parallel =
      compile_interp(make_train_step(model, {.optimizer = SgdOptions{}, .data_parallel = DataParallelOptions{}}));
  ASSERT_NE(parallel->signature().find_input("rank"), nullptr);
  std::vector<float> ones(4 * 64, 1.0f);
  auto loss = [&](Executable& exe, std::optional<int64_t> rank) {
    std::map<std::string, Tensor> in{{"x", Tensor::from<float>({4, 64}, ones)},
                                     {"lr", Tensor::from<float>({}, {0.0f})},
                                     {"step", Tensor::from<int64_t>({}, {3})}};
    if (rank) in["rank"] = Tensor::from<int64_t>({}, {*rank});
    return exe.run_named(in).at("loss").at(0);
  };
  parallel->set_state("w", Tensor::from<float>({64}, std::vector<float>(64, 1.0f)));
  plain->set_state("w", Tensor::from<float>({64}, std::vector<float>(64, 1.0f)));
  EXPECT_EQ(loss(*parallel, 0), loss(*plain, std::nullopt));
  EXPECT_NE(loss(*parallel, 1), loss(*parallel, 0));
}

TEST(DataParallelTrainer, FeedsEachRankItsRowsOfTheBatchAndItsRank) {
  auto comm = std::make_shared<MirrorCommunicator>(1);
  CommunicatorScope scope("world", comm);
  auto parallel = compile_interp(make_train_step(ddp_testing::regression_model(), ddp_testing::step_options(true)));
  Trainer trainer(*parallel,
                  {.total_steps = 1, .lr = constant_lr(0.0), .progress = nullptr, .data_parallel_group = "world"});
  StepReport report = trainer.step(ddp_testing::whole_batch(1));

  // Rank 1 of 2 computed the loss of rows 4 to 7 (the mirror peer's loss is the same).
  Batch whole = ddp_testing::whole_batch(1), rows;
  for (auto& [name, t] : whole.inputs)
    rows.inputs[name] = Tensor::from_bytes(t.dtype(), {4, t.shape()[1]}, t.bytes().subspan(t.nbytes() / 2));
  auto forward = compile_interp(ddp_testing::regression_model());
  for (const TensorSpec& s : forward->signature().state) forward->set_state(s.name, parallel->state(s.name));
  EXPECT_FLOAT_EQ(report.loss, forward->run_named(rows.inputs).at("loss").at(0));
  for (auto& [name, t] : whole.inputs)
    rows.inputs[name] = Tensor::from_bytes(t.dtype(), {4, t.shape()[1]}, t.bytes().subspan(0, t.nbytes() / 2));
  EXPECT_NE(report.loss, forward->run_named(rows.inputs).at("loss").at(0)) << "rank 0's rows give another loss";
}

TEST(DataParallelTrainer, ABatchThatDoesNotSplitEvenlyStopsEveryRankWithTheRule) {
  auto comm = std::make_shared<MirrorCommunicator>(0);
  CommunicatorScope scope("world", comm);
  auto parallel = compile_interp(make_train_step(ddp_testing::regression_model(), ddp_testing::step_options(true)));
  Trainer trainer(*parallel, {.total_steps = 1, .progress = nullptr, .data_parallel_group = "world"});
  Batch odd{{{"x", Tensor::zeros(DType::f32, {7, 3})}, {"y", Tensor::zeros(DType::f32, {7, 2})}}};
  try {
    trainer.step(odd);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "abort_all: Trainer: in data-parallel training each of the 2 ranks takes an equal share of the batch, "
              "so input 'x' must have a multiple of 2 rows, but batch 1 has 7 (f32[7, 3])");
  }
}

TEST(DataParallelTrainer, AnErrorOfTheBatchSourceOnOneRankStopsEveryRank) {
  auto comm = std::make_shared<MirrorCommunicator>(1);
  CommunicatorScope scope("world", comm);
  auto parallel = compile_interp(make_train_step(ddp_testing::regression_model(), ddp_testing::step_options(true)));
  Trainer trainer(*parallel, {.total_steps = 3, .progress = nullptr, .data_parallel_group = "world"});
  try {
    trainer.run([](int64_t step) {
      if (step == 2) throw Error("cannot read shard 2");
      return ddp_testing::whole_batch(step);
    });
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "abort_all: cannot read shard 2");
  }
  EXPECT_EQ(trainer.steps_done(), 1);
}

TEST(DataParallelTrainer, OnlyRankZeroWritesCheckpointsLogsAndProgress) {
  auto parallel = compile_interp(make_train_step(ddp_testing::regression_model(), ddp_testing::step_options(true)));
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "weft_ddp_rank_zero";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (int rank : {1, 0}) {
    CommunicatorScope scope("world", std::make_shared<MirrorCommunicator>(rank));
    std::ostringstream progress;
    const std::string suffix = std::to_string(rank);
    Trainer trainer(*parallel, {.total_steps = 2,
                                .lr = constant_lr(0.01),
                                .log_every = 1,
                                .progress = &progress,
                                .csv_path = (dir / ("loss" + suffix + ".csv")).string(),
                                .checkpoint_path = (dir / ("ckpt" + suffix + ".safetensors")).string(),
                                .checkpoint_every = 1,
                                .data_parallel_group = "world"});
    trainer.run(ddp_testing::whole_batch);
    EXPECT_EQ(std::filesystem::exists(dir / ("ckpt" + suffix + ".safetensors")), rank == 0) << "rank " << rank;
    EXPECT_EQ(std::filesystem::exists(dir / ("loss" + suffix + ".csv")), rank == 0) << "rank " << rank;
    EXPECT_EQ(progress.str().find("step 2/2  loss ") != std::string::npos, rank == 0) << progress.str();
  }
  std::filesystem::remove_all(dir);
}

TEST(DataParallelTrainer, NeedsTheGroupsCommunicatorRegistered) {
  auto parallel = compile_interp(make_train_step(ddp_testing::regression_model(), ddp_testing::step_options(true)));
  try {
    Trainer trainer(*parallel, {.progress = nullptr, .data_parallel_group = "nobody"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "Trainer: data-parallel training over group 'nobody' needs its communicator registered "
              "(CommunicatorScope, runtime/communicator.h), but none is");
  }
}

TEST(DataParallelTrainStep, RejectsAnEmptyBucketAndAModelThatAlreadyHasARankInput) {
  auto options = ddp_testing::step_options(true);
  options.data_parallel->bucket_bytes = 0;
  try {
    make_train_step(ddp_testing::regression_model(), options);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("make_train_step: data_parallel.bucket_bytes must be at least 1, but it is 0"),
              std::string::npos)
        << e.what();
  }
  Builder b("has_rank");
  auto x = b.input("x", "f32[4]");
  auto step = b.input("step", "i64[]");
  b.input("rank", "f32[]");
  auto w = b.param("w", "f32[4]", Initializer{});
  b.output("loss", dsl::sum(dsl::dropout(x * w, step)));
  try {
    make_train_step(b.finish(), {.data_parallel = DataParallelOptions{}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("make_train_step: data-parallel training adds the input 'rank' (the rank, "
                                         "which keys the randomness read from 'step'), but graph 'has_rank' already "
                                         "has an input or parameter of that name"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace weft::train
