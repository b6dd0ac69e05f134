// A 2-8-1 perceptron learns XOR on the llvm backend: built with the DSL, trained with the Trainer,
// run with the trained parameters, then saved as xor.weft (the graph) and xor.safetensors (the
// trained weights) for weft-compile and weft-dump. Exits 0 when all four predictions are right.
#include <cstdio>

#include "backends/backend.h"
#include "frontend/checkpoint.h"
#include "frontend/nn/nn.h"
#include "frontend/train_step.h"
#include "frontend/trainer.h"
#include "ir/text.h"

weft::Graph xor_model() {
  weft::Builder b("xor");
  auto x = b.input("x", "f32[4, 2]");
  auto y = b.input("y", "f32[4, 1]");
  weft::nn::Linear fc1(b, "fc1", 2, 8), fc2(b, "fc2", 8, 1);
  auto pred = weft::dsl::sigmoid(fc2(weft::dsl::tanh(fc1(x))));
  b.output("loss", weft::dsl::mse_loss(pred, y));
  b.output("pred", pred);
  return b.finish();
}

int main() {
  using weft::Tensor;
  std::map<std::string, Tensor> data{{"x", Tensor::from<float>({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1})},
                                     {"y", Tensor::from<float>({4, 1}, {0, 1, 1, 0})}};
  auto backend = weft::make_backend("llvm");
  auto train_step = backend->compile(weft::train::make_train_step(xor_model()));
  weft::train::Trainer trainer(*train_step, {.total_steps = 400, .lr = weft::train::constant_lr(0.05)});
  trainer.run([&](int64_t) { return weft::train::Batch{data}; });

  auto model = backend->compile(xor_model());
  for (const weft::TensorSpec& s : model->signature().state) model->set_state(s.name, train_step->state(s.name));
  std::vector<float> pred = model->run_named(data).at("pred").to_vector<float>();
  int right = 0;
  for (int i = 0; i < 4; ++i) {
    std::printf("xor(%g, %g) = %.3f\n", data.at("x").at(2 * i), data.at("x").at(2 * i + 1), pred[i]);
    right += (pred[i] > 0.5f) == (data.at("y").at(i) > 0.5);
  }
  weft::write_graph_file("xor.weft", xor_model());
  weft::train::save_checkpoint("xor.safetensors", *model);
  return right == 4 ? 0 : 1;
}
