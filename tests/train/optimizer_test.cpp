// Each optimizer's update against PyTorch's formulas, computed here independently with plain loops
// over three steps of a tiny problem whose gradient is known in closed form.

#include <gtest/gtest.h>

#include <cmath>

#include "tests/train/train_testing.h"

namespace weft::train {
namespace {

using namespace testing;
using dsl::Builder;

const std::vector<double> kW0 = {0.5, -1.0, 2.0};
const std::vector<double> kX = {1.0, 2.0, -0.5};
const std::vector<double> kLr = {0.1, 0.05, 0.02};  // a different rate each step

/// loss = 0.5 · Σ x·w², so ∂loss/∂w = x·w.
Graph quadratic_model() {
  Builder b("quadratic");
  auto x = b.input("x", DType::f32, {3});
  auto w = b.param("w", DType::f32, {3});
  b.output("loss", dsl::sum(x * w * w) * 0.5);
  return b.finish();
}

/// Runs three steps of the train step built with `options` from w = kW0, returning the executable.
std::unique_ptr<Executable> run_three_steps(const TrainStepOptions& options) {
  auto exe = compile(make_train_step(quadratic_model(), options));
  exe->set_state("w", f32s({3}, {0.5f, -1.0f, 2.0f}));
  for (int t = 1; t <= 3; ++t)
    exe->run_named({{"x", f32s({3}, {1.0f, 2.0f, -0.5f})},
                    {"lr", f32_scalar(static_cast<float>(kLr[t - 1]))},
                    {"step", i64_scalar(t)}});
  return exe;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-5 * std::max(1.0, std::abs(want[i]))) << what << "[" << i << "]";
}

struct SgdCase {
  double momentum, dampening, weight_decay;
  bool nesterov;
};

/// torch.optim.SGD, written from its documentation.
std::pair<std::vector<double>, std::vector<double>> reference_sgd(const SgdCase& c) {
  std::vector<double> w = kW0, buf(3, 0.0);
  for (int t = 1; t <= 3; ++t) {
    for (size_t i = 0; i < 3; ++i) {
      double g = kX[i] * w[i] + c.weight_decay * w[i];
      if (c.momentum != 0) {
        buf[i] = t == 1 ? g : c.momentum * buf[i] + (1 - c.dampening) * g;
        g = c.nesterov ? g + c.momentum * buf[i] : buf[i];
      }
      w[i] -= kLr[t - 1] * g;
    }
  }
  return {w, buf};
}

TEST(Optimizer, PlainSgdMatchesReference) {
  SgdCase c{0.0, 0.0, 0.0, false};
  auto exe = run_three_steps({.optimizer = SgdOptions{}});
  expect_close(state_of(*exe, "w"), reference_sgd(c).first, "w");
  // Hand-checked first step: w - 0.1·x·w = {0.45, -0.8, 2.1}; the rest follows the reference.
  EXPECT_EQ(exe->signature().state.size(), 1u) << "plain SGD keeps no state";
}

TEST(Optimizer, SgdWithMomentumAndWeightDecayMatchesReference) {
  SgdCase c{0.9, 0.0, 0.01, false};
  auto exe = run_three_steps({.optimizer = SgdOptions{.momentum = 0.9, .weight_decay = 0.01}});
  auto [w, buf] = reference_sgd(c);
  expect_close(state_of(*exe, "w"), w, "w");
  expect_close(state_of(*exe, "sgd.momentum_buffer.w"), buf, "momentum buffer");
}

TEST(Optimizer, SgdWithDampeningStartsTheBufferAtTheFirstGradient) {
  SgdCase c{0.8, 0.3, 0.0, false};
  auto exe = run_three_steps({.optimizer = SgdOptions{.momentum = 0.8, .dampening = 0.3}});
  auto [w, buf] = reference_sgd(c);
  expect_close(state_of(*exe, "w"), w, "w");
  expect_close(state_of(*exe, "sgd.momentum_buffer.w"), buf, "momentum buffer");
}

TEST(Optimizer, NesterovSgdMatchesReference) {
  SgdCase c{0.9, 0.0, 0.05, true};
  auto exe = run_three_steps({.optimizer = SgdOptions{.momentum = 0.9, .weight_decay = 0.05, .nesterov = true}});
  expect_close(state_of(*exe, "w"), reference_sgd(c).first, "w");
}

/// torch.optim.Adam (decoupled = false) and AdamW (decoupled = true), from their documentation.
struct AdamReference {
  std::vector<double> w, m, v;
};
AdamReference reference_adam(double beta1, double beta2, double eps, double weight_decay, bool decoupled) {
  AdamReference r{kW0, std::vector<double>(3, 0.0), std::vector<double>(3, 0.0)};
  for (int t = 1; t <= 3; ++t) {
    double lr = kLr[t - 1];
    for (size_t i = 0; i < 3; ++i) {
      double g = kX[i] * r.w[i];
      if (decoupled)
        r.w[i] *= 1 - lr * weight_decay;
      else
        g += weight_decay * r.w[i];
      r.m[i] = beta1 * r.m[i] + (1 - beta1) * g;
      r.v[i] = beta2 * r.v[i] + (1 - beta2) * g * g;
      double bias_correction1 = 1 - std::pow(beta1, t);
      double bias_correction2 = 1 - std::pow(beta2, t);
      double denom = std::sqrt(r.v[i]) / std::sqrt(bias_correction2) + eps;
      r.w[i] -= lr / bias_correction1 * r.m[i] / denom;
    }
  }
  return r;
}

TEST(Optimizer, AdamMatchesReferenceWithBiasCorrection) {
  auto exe = run_three_steps({.optimizer = AdamOptions{}});
  AdamReference r = reference_adam(0.9, 0.999, 1e-8, 0.0, false);
  expect_close(state_of(*exe, "w"), r.w, "w");
  expect_close(state_of(*exe, "adam.m.w"), r.m, "m");
  expect_close(state_of(*exe, "adam.v.w"), r.v, "v");
}

TEST(Optimizer, AdamWithL2WeightDecayMatchesReference) {
  auto exe = run_three_steps({.optimizer = AdamOptions{.beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1}});
  AdamReference r = reference_adam(0.8, 0.99, 1e-6, 0.1, false);
  expect_close(state_of(*exe, "w"), r.w, "w");
  expect_close(state_of(*exe, "adam.m.w"), r.m, "m");
  expect_close(state_of(*exe, "adam.v.w"), r.v, "v");
}

TEST(Optimizer, AdamWDecaysWeightsDecoupledFromTheGradient) {
  auto exe = run_three_steps({.optimizer = AdamWOptions{.weight_decay = 0.5}});
  AdamReference r = reference_adam(0.9, 0.999, 1e-8, 0.5, true);
  expect_close(state_of(*exe, "w"), r.w, "w");
  expect_close(state_of(*exe, "adamw.m.w"), r.m, "m");
  expect_close(state_of(*exe, "adamw.v.w"), r.v, "v");
  // Decoupled decay is not L2 decay: the two give different weights.
  AdamReference l2 = reference_adam(0.9, 0.999, 1e-8, 0.5, false);
  // (Step 1 by hand for w0 = 0.5: decoupled 0.5·0.95 - 0.1 = 0.375, L2 0.5 - 0.1 = 0.4.)
  EXPECT_GT(std::abs(r.w[0] - l2.w[0]), 1e-2);
}

TEST(Optimizer, FirstAdamStepMovesEachWeightByTheLearningRate) {
  // With bias correction, step 1 is w - lr·g/(|g| + eps): exactly ±lr per weight (hand-checked).
  auto exe = compile(make_train_step(quadratic_model(), {.optimizer = AdamOptions{}}));
  exe->set_state("w", f32s({3}, {0.5f, -1.0f, 2.0f}));
  exe->run_named({{"x", f32s({3}, {1.0f, 2.0f, -0.5f})}, {"lr", f32_scalar(0.1f)}, {"step", i64_scalar(1)}});
  // g = x·w = {0.5, -2, -1}: the signs say which way each weight moves.
  expect_close(state_of(*exe, "w"), {0.4, -0.9, 2.1}, "w");
}

TEST(Optimizer, LearningRateIsARunTimeInput) {
  // One compiled executable, two rates: plain SGD's update scales with the rate, no recompilation.
  auto exe = compile(make_train_step(quadratic_model(), {.optimizer = SgdOptions{}}));
  Tensor w0 = f32s({3}, {0.5f, -1.0f, 2.0f});
  auto step_with = [&](float lr) {
    exe->set_state("w", w0);
    exe->run_named({{"x", f32s({3}, {1.0f, 2.0f, -0.5f})}, {"lr", f32_scalar(lr)}, {"step", i64_scalar(1)}});
    return state_of(*exe, "w");
  };
  std::vector<float> slow = step_with(0.1f), fast = step_with(0.2f);
  // g = x·w = {0.5, -2, -1}.
  expect_close(slow, {0.45, -0.8, 2.1}, "lr 0.1");
  expect_close(fast, {0.40, -0.6, 2.2}, "lr 0.2");
}

TEST(Optimizer, ClippingScalesAllGradientsByTheGlobalNorm) {
  // Two parameters; loss = Σ a·x + b·y, so the gradients are x = {1, 2} and y = {2}: norm 3.
  Builder b("linear");
  auto x = b.input("x", DType::f32, {2});
  auto y = b.input("y", DType::f32, {1});
  auto a = b.param("a", DType::f32, {2});
  auto c = b.param("c", DType::f32, {1});
  b.output("loss", dsl::sum(a * x) + dsl::sum(c * y));
  auto exe = compile(make_train_step(b.finish(), {.optimizer = SgdOptions{}, .clip_grad_norm = 1.5}));
  ASSERT_EQ(exe->signature().outputs.size(), 2u);
  EXPECT_EQ(exe->signature().outputs[1].name, "grad_norm");
  auto out = exe->run_named(
      {{"x", f32s({2}, {1.0f, 2.0f})}, {"y", f32s({1}, {2.0f})}, {"lr", f32_scalar(1.0f)}, {"step", i64_scalar(1)}});
  EXPECT_NEAR(out.at("grad_norm").at(0), 3.0, 1e-6);
  // Scaled by 1.5 / (3 + 1e-6) ≈ 0.5: a = 0 - {0.5, 1}, c = 0 - {1}.
  expect_close(state_of(*exe, "a"), {-0.5, -1.0}, "a");
  expect_close(state_of(*exe, "c"), {-1.0}, "c");
}

TEST(Optimizer, ClippingLeavesSmallGradientsAlone) {
  Builder b("linear");
  auto x = b.input("x", DType::f32, {2});
  auto a = b.param("a", DType::f32, {2});
  b.output("loss", dsl::sum(a * x));
  auto exe = compile(make_train_step(b.finish(), {.optimizer = SgdOptions{}, .clip_grad_norm = 10.0}));
  auto out = exe->run_named({{"x", f32s({2}, {3.0f, 4.0f})}, {"lr", f32_scalar(1.0f)}, {"step", i64_scalar(1)}});
  EXPECT_NEAR(out.at("grad_norm").at(0), 5.0, 1e-6);
  expect_close(state_of(*exe, "a"), {-3.0, -4.0}, "a");
}

TEST(Optimizer, OnlyTheTrainableParametersChange) {
  Builder b("two");
  auto x = b.input("x", DType::f32, {2});
  auto a = b.param("a", DType::f32, {2}, Initializer{"ones", {}, 0});
  auto c = b.param("c", DType::f32, {2}, Initializer{"ones", {}, 0});
  b.output("loss", dsl::sum(a * c * x));
  auto exe = compile(make_train_step(b.finish(), {.optimizer = SgdOptions{}, .trainable = {"c"}}));
  exe->run_named({{"x", f32s({2}, {1.0f, 2.0f})}, {"lr", f32_scalar(0.5f)}, {"step", i64_scalar(1)}});
  expect_close(state_of(*exe, "a"), {1.0, 1.0}, "a (frozen)");
  expect_close(state_of(*exe, "c"), {0.5, 0.0}, "c");  // 1 - 0.5·a·x
}

TEST(Optimizer, OptimizerStateStartsAtZeroAndIsNamedAfterTheParameter) {
  Graph step = make_train_step(quadratic_model(), {.optimizer = AdamOptions{}});
  ASSERT_NE(step.find_param("adam.m.w"), nullptr);
  ASSERT_NE(step.find_param("adam.v.w"), nullptr);
  EXPECT_EQ(step.find_param("adam.m.w")->init.kind, "zeros");
  EXPECT_EQ(step.updates().size(), 3u);  // w, m, v
  ASSERT_NE(step.find_input("lr"), nullptr);
  ASSERT_NE(step.find_input("step"), nullptr);
  EXPECT_EQ(step.type(step.find_input("lr")->value).str(), "f32[]");
  EXPECT_EQ(step.type(step.find_input("step")->value).str(), "i64[]");
}

TEST(Optimizer, MissingLossIsAnErrorAtTheCallersLine) {
  Graph model = quadratic_model();
  int line = __LINE__ + 2;
  try {
    make_train_step(model, {.loss = "cost"});
    FAIL() << "expected weft::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("no output 'cost'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("optimizer_test.cpp:" + std::to_string(line)), std::string::npos) << msg;
  }
}

TEST(Optimizer, StepInputOfAnotherTypeIsRejected) {
  Builder b("m");
  auto x = b.input("x", DType::f32, {2});
  b.input("step", DType::f32, {});
  auto a = b.param("a", DType::f32, {2});
  b.output("loss", dsl::sum(a * x));
  try {
    make_train_step(b.finish());
    FAIL() << "expected weft::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input 'step' is the step count, which must be i64[]"), std::string::npos)
        << e.what();
  }
}

TEST(Optimizer, OutOfRangeOptionIsRejected) {
  EXPECT_THROW(make_train_step(quadratic_model(), {.optimizer = AdamOptions{.beta1 = 1.0}}), Error);
  EXPECT_THROW(make_train_step(quadratic_model(), {.optimizer = SgdOptions{.nesterov = true}}), Error);
  EXPECT_THROW(make_train_step(quadratic_model(), {.clip_grad_norm = 0.0}), Error);
}

}  // namespace
}  // namespace weft::train
