/** \file
 * Learning-rate schedules, computed on the host.
 *
 * A schedule maps the step count to a learning rate. The train step reads the rate as a graph
 * input (see optim.h), so a schedule changes it from run to run without recompiling anything.
 * Steps count from 1: `schedule(1)` is the rate of the first update, as Adam's bias correction
 * counts. Each factory checks its arguments and throws weft::Error naming the one out of range.
 */
#pragma once

#include <cstdint>
#include <functional>

namespace weft::train {

/// The learning rate of update number `step` (1, 2, 3, ...).
using LrSchedule = std::function<double(int64_t step)>;

/// `lr` at every step.
LrSchedule constant_lr(double lr);

/// torch.optim.lr_scheduler.StepLR: `lr · gamma^⌊(step - 1) / step_size⌋`, so steps 1..step_size
/// use `lr`, the next step_size steps `lr · gamma`, and so on.
LrSchedule step_decay(double lr, int64_t step_size, double gamma);

/// CosineAnnealingLR over `total_steps`: `min_lr + (lr - min_lr)·(1 + cos(π·(step - 1)/total_steps))/2`,
/// from `lr` at step 1 down to `min_lr`, which it keeps after `total_steps`.
LrSchedule cosine_lr(double lr, int64_t total_steps, double min_lr = 0.0);

/// Scales `after` linearly from `after(step)/warmup_steps` at step 1 up to `after(step)` at step
/// `warmup_steps`, and is `after` from then on.
LrSchedule linear_warmup(int64_t warmup_steps, LrSchedule after);

/// The schedule of "Attention Is All You Need" (section 5.3):
/// `factor · d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5)`: linear warm-up, then decay
/// with the inverse square root of the step. The peak, at `warmup_steps`, is
/// `factor · (d_model · warmup_steps)^-0.5`.
LrSchedule transformer_lr(int64_t d_model, int64_t warmup_steps, double factor = 1.0);

}  // namespace weft::train
