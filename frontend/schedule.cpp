#include "frontend/schedule.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "ir/error.h"

namespace weft::train {

namespace {

void check_positive(const char* who, const char* what, double value) {
  if (!std::isfinite(value) || value <= 0.0)
    throw Error(fmt::format("{}: '{}' must be positive and finite, but it is {}", who, what, value));
}

void check_non_negative(const char* who, const char* what, double value) {
  if (!std::isfinite(value) || value < 0.0)
    throw Error(fmt::format("{}: '{}' must be non-negative and finite, but it is {}", who, what, value));
}

/// Steps count from 1; a caller asking about step 0 (before any update) gets step 1's rate.
int64_t first_step_at_least_one(int64_t step) { return std::max<int64_t>(step, 1); }

}  // namespace

LrSchedule constant_lr(double lr) {
  check_non_negative("constant_lr", "lr", lr);
  return [lr](int64_t) { return lr; };
}

LrSchedule step_decay(double lr, int64_t step_size, double gamma) {
  check_non_negative("step_decay", "lr", lr);
  check_positive("step_decay", "step_size", static_cast<double>(step_size));
  check_non_negative("step_decay", "gamma", gamma);
  return [=](int64_t step) {
    int64_t decays = (first_step_at_least_one(step) - 1) / step_size;
    return lr * std::pow(gamma, static_cast<double>(decays));
  };
}

LrSchedule cosine_lr(double lr, int64_t total_steps, double min_lr) {
  check_non_negative("cosine_lr", "lr", lr);
  check_positive("cosine_lr", "total_steps", static_cast<double>(total_steps));
  check_non_negative("cosine_lr", "min_lr", min_lr);
  return [=](int64_t step) {
    int64_t t = std::min(first_step_at_least_one(step) - 1, total_steps);
    double progress = static_cast<double>(t) / static_cast<double>(total_steps);
    return min_lr + (lr - min_lr) * (1.0 + std::cos(std::numbers::pi * progress)) / 2.0;
  };
}

LrSchedule linear_warmup(int64_t warmup_steps, LrSchedule after) {
  check_positive("linear_warmup", "warmup_steps", static_cast<double>(warmup_steps));
  if (!after) throw Error("linear_warmup: needs the schedule to follow the warm-up, but it was empty");
  return [warmup_steps, after = std::move(after)](int64_t step) {
    int64_t s = first_step_at_least_one(step);
    double rate = after(s);
    if (s >= warmup_steps) return rate;
    return rate * static_cast<double>(s) / static_cast<double>(warmup_steps);
  };
}

LrSchedule transformer_lr(int64_t d_model, int64_t warmup_steps, double factor) {
  check_positive("transformer_lr", "d_model", static_cast<double>(d_model));
  check_positive("transformer_lr", "warmup_steps", static_cast<double>(warmup_steps));
  check_non_negative("transformer_lr", "factor", factor);
  return [=](int64_t step) {
    auto s = static_cast<double>(first_step_at_least_one(step));
    double w = static_cast<double>(warmup_steps);
    return factor * std::pow(static_cast<double>(d_model), -0.5) * std::min(std::pow(s, -0.5), s * std::pow(w, -1.5));
  };
}

}  // namespace weft::train
