// The first thing a training stack must do: a 2-8-1 MLP learns XOR.

#include <gtest/gtest.h>

#include <sstream>

#include "frontend/nn/basic.h"
#include "frontend/trainer.h"
#include "tests/train/train_testing.h"

namespace weft::train {
namespace {

using namespace testing;

/// pred = sigmoid(fc2(tanh(fc1(x)))), loss = MSE(pred, y).
Graph xor_model() {
  Builder b("xor");
  auto x = b.input("x", DType::f32, {4, 2});
  auto y = b.input("y", DType::f32, {4, 1});
  nn::Linear fc1(b, "fc1", 2, 8), fc2(b, "fc2", 8, 1);
  auto pred = dsl::sigmoid(fc2(dsl::tanh(fc1(x))));
  b.output("loss", dsl::mse_loss(pred, y));
  b.output("pred", pred);
  return b.finish();
}

Batch xor_batch() {
  return Batch{{{"x", f32s({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1})}, {"y", f32s({4, 1}, {0, 1, 1, 0})}}, 4};
}

TEST(Xor, TwoLayerMlpLearnsXor) {
  auto exe = compile(make_train_step(xor_model(), {.optimizer = AdamOptions{}}));
  std::ostringstream progress;
  Trainer trainer(*exe, {.total_steps = 400, .lr = constant_lr(0.05), .log_every = 100, .progress = &progress});
  double first_loss = -1;
  trainer.run([](int64_t) { return xor_batch(); },
              [&](const StepReport& r) {
                if (r.step == 1) first_loss = r.loss;
                return true;
              });

  // Predict with the trained parameters in the forward graph.
  auto forward = compile(xor_model());
  copy_state(*exe, *forward);
  Batch batch = xor_batch();
  auto out = forward->run_named(batch.inputs);
  std::vector<float> pred = out.at("pred").to_vector<float>();
  const float want[4] = {0, 1, 1, 0};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pred[i] > 0.5f, want[i] > 0.5f) << "example " << i << ": " << pred[i];
  EXPECT_LT(out.at("loss").at(0), 0.01) << "loss at step 1 was " << first_loss;
  EXPECT_NE(progress.str().find("step 400/400  loss "), std::string::npos) << progress.str();
}

TEST(Xor, SgdWithMomentumLearnsXorToo) {
  auto exe = compile(make_train_step(xor_model(), {.optimizer = SgdOptions{.momentum = 0.9}}));
  Trainer trainer(*exe, {.total_steps = 1500, .lr = constant_lr(0.5), .progress = nullptr});
  trainer.run([](int64_t) { return xor_batch(); });
  auto forward = compile(xor_model());
  copy_state(*exe, *forward);
  std::vector<float> pred = forward->run_named(xor_batch().inputs).at("pred").to_vector<float>();
  EXPECT_LT(pred[0], 0.5f);
  EXPECT_GT(pred[1], 0.5f);
  EXPECT_GT(pred[2], 0.5f);
  EXPECT_LT(pred[3], 0.5f);
}

}  // namespace
}  // namespace weft::train
