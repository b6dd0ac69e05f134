/** \file
 * The model, batches and train-step options shared by the distributed tests and their MPI worker
 * (tests/distributed/worker): a 3-16-2 regression MLP, trained with Adam and gradient clipping,
 * whose gradients fall into two buckets (one gradient alone, three concatenated).
 */
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "frontend/builder.h"
#include "frontend/nn/basic.h"
#include "frontend/tensor_ops.h"
#include "frontend/train_step.h"
#include "frontend/trainer.h"

namespace weft::ddp_testing {

constexpr int64_t kBatchRows = 8;  // the whole batch: 4 rows per rank with 2 ranks
constexpr int64_t kSteps = 5;

inline Graph regression_model() {
  Builder b("ddp_mlp");
  auto x = b.input("x", "f32[B<=64, 3]");
  auto y = b.input("y", "f32[B, 2]");
  nn::Linear fc1(b, "fc1", 3, 16), fc2(b, "fc2", 16, 2);
  b.output("loss", dsl::mse_loss(fc2(dsl::tanh(fc1(x))), y));
  return b.finish();
}

/// Buckets of 256 bytes: fc1.weight (192 bytes) alone, then fc2.weight, fc1.bias and fc2.bias.
inline train::TrainStepOptions step_options(bool data_parallel) {
  train::TrainStepOptions o{.optimizer = train::AdamOptions{}, .clip_grad_norm = 1.0};
  if (data_parallel) o.data_parallel = train::DataParallelOptions{.bucket_bytes = 256};
  return o;
}

/// The whole batch of update `step`: smooth, distinct values for every row and step.
inline train::Batch whole_batch(int64_t step) {
  std::vector<float> x, y;
  for (int64_t i = 0; i < kBatchRows; ++i) {
    for (int j = 0; j < 3; ++j) x.push_back(static_cast<float>(std::sin(0.3 * step + 0.7 * i + j)));
    for (int j = 0; j < 2; ++j) y.push_back(static_cast<float>(std::cos(0.5 * step - 0.4 * i + 2 * j)));
  }
  return train::Batch{{{"x", Tensor::from<float>({kBatchRows, 3}, x)}, {"y", Tensor::from<float>({kBatchRows, 2}, y)}},
                      kBatchRows};
}

}  // namespace weft::ddp_testing
