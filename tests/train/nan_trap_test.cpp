// The NaN/Inf trap: compiled with CompileOptions::nan_trap, a run stops at the first op producing
// a NaN or an Inf, naming the op, its scope path and the DSL line that wrote it.

#include <gtest/gtest.h>

#include <cmath>

#include "frontend/trainer.h"
#include "tests/train/train_testing.h"

namespace weft::train {
namespace {

using namespace testing;

TEST(NanTrap, NamesTheOpItsScopeAndTheDslLine) {
  Builder b("trap");
  auto x = b.input("x", DType::f32, {3});
  dsl::Tensor y;
  int log_line = 0;
  {
    auto scope = b.scope("features");
    auto inner = b.scope("logs");
    log_line = __LINE__ + 1;
    y = dsl::log(x) * 2.0;
  }
  b.output("y", dsl::sum(y));
  auto exe = compile(b.finish(), {.nan_trap = true});

  // Positive inputs run normally.
  EXPECT_NO_THROW(exe->run_named({{"x", f32s({3}, {1.0f, 2.0f, 3.0f})}}));
  try {
    exe->run_named({{"x", f32s({3}, {1.0f, 0.0f, 3.0f})}});  // log(0) = -inf
    FAIL() << "expected the trap to fire";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("NaN/Inf trap: log produced"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'features.logs'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("nan_trap_test.cpp:" + std::to_string(log_line)), std::string::npos) << msg;
  }
}

TEST(NanTrap, WithoutTheTrapTheInfFlowsThrough) {
  Builder b("trap");
  auto x = b.input("x", DType::f32, {1});
  b.output("y", dsl::sum(dsl::log(x)));
  auto exe = compile(b.finish());
  EXPECT_TRUE(std::isinf(exe->run_named({{"x", f32s({1}, {0.0f})}}).at("y").at(0)));
}

TEST(NanTrap, FiresInsideATrainStepAtTheLineWhoseGradientOverflows) {
  // d/dw sqrt(w) = 0.5 / sqrt(w) is infinite at w = 0: the forward pass is finite, the reverse
  // pass is not, and the trap names the sqrt's line (gradient nodes carry their forward op's).
  Builder b("root");
  auto x = b.input("x", DType::f32, {2});
  auto w = b.param("w", DType::f32, {2});  // zeros
  dsl::Tensor r;
  int sqrt_line = 0;
  {
    auto scope = b.scope("root_layer");
    sqrt_line = __LINE__ + 1;
    r = dsl::sqrt(w);
  }
  b.output("loss", dsl::sum(r * x));
  auto exe = compile(make_train_step(b.finish(), {.optimizer = SgdOptions{}}), {.nan_trap = true});
  try {
    exe->run_named({{"x", f32s({2}, {1.0f, 1.0f})}, {"lr", f32_scalar(0.1f)}, {"step", i64_scalar(1)}});
    FAIL() << "expected the trap to fire";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("NaN/Inf trap"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'root_layer'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("nan_trap_test.cpp:" + std::to_string(sqrt_line)), std::string::npos) << msg;
  }
}

TEST(NanTrap, TrainerStopsOnANonFiniteLossAndSuggestsTheTrap) {
  Builder b("blowup");
  auto x = b.input("x", DType::f32, {1});
  auto w = b.param("w", DType::f32, {1});
  b.output("loss", dsl::sum(dsl::log(w * x)));  // log(0) at the zero-initialized w
  auto exe = compile(make_train_step(b.finish(), {.optimizer = SgdOptions{}}));
  Trainer trainer(*exe, {.total_steps = 2, .progress = nullptr});
  try {
    trainer.run([](int64_t) { return Batch{{{"x", f32s({1}, {1.0f})}}}; });
    FAIL() << "expected weft::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nan_trap"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("at step 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace weft::train
