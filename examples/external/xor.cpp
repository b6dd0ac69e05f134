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
  auto y = b.input("y", "i64[4]");  // the class of each row: 0 or 1
  weft::nn::Linear fc1(b, "fc1", 2, 8), fc2(b, "fc2", 8, 2);
  auto logits = fc2(weft::dsl::tanh(fc1(x)));
  b.output("loss", weft::dsl::cross_entropy(logits, y));
  b.output("pred", weft::dsl::argmax(logits, -1));
  return b.finish();
}

int main() {
  using weft::Tensor;
  std::map<std::string, Tensor> data{{"x", Tensor::from<float>({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1})},
                                     {"y", Tensor::from<int64_t>({4}, {0, 1, 1, 0})}};
  auto backend = weft::make_backend("llvm");
  auto train_step = backend->compile(weft::train::make_train_step(xor_model()));
  weft::train::Trainer trainer(*train_step, {.total_steps = 400, .lr = weft::train::constant_lr(0.05)});
  trainer.run([&](int64_t) { return weft::train::Batch{data}; });

  auto model = backend->compile(xor_model());
  for (const weft::TensorSpec& s : model->signature().state) model->set_state(s.name, train_step->state(s.name));
  std::vector<int64_t> pred = model->run_named(data).at("pred").to_vector<int64_t>();
  int right = 0;
  for (int i = 0; i < 4; ++i) {
    std::printf("xor(%g, %g) = %ld\n", data.at("x").at(2 * i), data.at("x").at(2 * i + 1), static_cast<long>(pred[i]));
    right += pred[i] == static_cast<int64_t>(data.at("y").at(i));
  }
  weft::write_graph_file("xor.weft", xor_model());
  weft::train::save_checkpoint("xor.safetensors", *model);
  return right == 4 ? 0 : 1;
}
