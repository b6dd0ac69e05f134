// Learning-rate schedules at hand-computed steps.

#include "frontend/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ir/error.h"

namespace weft::train {
namespace {

TEST(Schedule, TransformerScheduleWarmsUpLinearlyThenDecaysAsInverseSqrt) {
  // d_model 512, 4000 warm-up steps (the paper's base model).
  LrSchedule lr = transformer_lr(512, 4000);
  // Peak at the end of warm-up: (512 · 4000)^-0.5 = 1 / 1431.0835 = 6.98771e-4.
  EXPECT_NEAR(lr(4000), 6.987712e-4, 1e-9);
  // Step 1: 512^-0.5 · 4000^-1.5 = 0.0441942 · 3.95285e-6.
  EXPECT_NEAR(lr(1), 1.746928e-7, 1e-12);
  // Warm-up is linear: step 100 is 100 × step 1, step 2000 half the peak.
  EXPECT_NEAR(lr(100), 1.746928e-5, 1e-10);
  EXPECT_NEAR(lr(2000), 3.493856e-4, 1e-9);
  // After warm-up, four times the steps give half the rate: step 16000 is half the peak again.
  EXPECT_NEAR(lr(16000), 3.493856e-4, 1e-9);
  EXPECT_LT(lr(4001), lr(4000));
  EXPECT_LT(lr(3999), lr(4000));
}

TEST(Schedule, TransformerScheduleScalesByItsFactor) {
  EXPECT_NEAR(transformer_lr(512, 4000, 2.0)(4000), 2 * 6.987712e-4, 1e-9);
}

TEST(Schedule, ConstantIsConstant) {
  LrSchedule lr = constant_lr(0.25);
  EXPECT_EQ(lr(1), 0.25);
  EXPECT_EQ(lr(1000000), 0.25);
}

TEST(Schedule, StepDecayMultipliesByGammaEveryStepSizeSteps) {
  LrSchedule lr = step_decay(0.1, 10, 0.5);
  EXPECT_DOUBLE_EQ(lr(1), 0.1);
  EXPECT_DOUBLE_EQ(lr(10), 0.1);
  EXPECT_DOUBLE_EQ(lr(11), 0.05);
  EXPECT_DOUBLE_EQ(lr(25), 0.025);
}

TEST(Schedule, CosineFallsFromTheRateToTheMinimum) {
  LrSchedule lr = cosine_lr(1.0, 100, 0.1);
  EXPECT_DOUBLE_EQ(lr(1), 1.0);
  EXPECT_NEAR(lr(51), 0.55, 1e-12);  // halfway: 0.1 + 0.9 · (1 + cos(π/2)) / 2
  EXPECT_NEAR(lr(101), 0.1, 1e-12);
  EXPECT_NEAR(lr(500), 0.1, 1e-12);
}

TEST(Schedule, LinearWarmupRampsUpToTheScheduleItWraps) {
  LrSchedule lr = linear_warmup(10, constant_lr(1.0));
  EXPECT_DOUBLE_EQ(lr(1), 0.1);
  EXPECT_DOUBLE_EQ(lr(5), 0.5);
  EXPECT_DOUBLE_EQ(lr(10), 1.0);
  EXPECT_DOUBLE_EQ(lr(50), 1.0);
  LrSchedule decayed = linear_warmup(4, step_decay(1.0, 2, 0.5));
  EXPECT_DOUBLE_EQ(decayed(2), 0.5 * 1.0);   // 2/4 of step_decay(2) = 1
  EXPECT_DOUBLE_EQ(decayed(3), 0.75 * 0.5);  // 3/4 of step_decay(3) = 0.5
}

TEST(Schedule, BadArgumentsAreErrors) {
  EXPECT_THROW(transformer_lr(0, 4000), Error);
  EXPECT_THROW(transformer_lr(512, 0), Error);
  EXPECT_THROW(step_decay(0.1, 0, 0.5), Error);
  EXPECT_THROW(cosine_lr(0.1, -1), Error);
  EXPECT_THROW(constant_lr(std::nan("")), Error);
  EXPECT_THROW(linear_warmup(10, {}), Error);
}

}  // namespace
}  // namespace weft::train
