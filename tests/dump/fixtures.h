// Small graphs for the weft-dump tests, written with the DSL.
#pragma once

#include <fmt/format.h>

#include <string>

#include "frontend/builder.h"
#include "frontend/nn/basic.h"
#include "frontend/tensor_ops.h"
#include "frontend/train_step.h"

namespace weft::dump_test {

/// 784 -> 256 -> 10 with ReLU, input f32[B<=bound, 784] (or unbounded B when bound is 0).
inline Graph mlp(int64_t bound = 4) {
  using dsl::Tensor;
  Builder b("mlp");
  Tensor x = bound > 0 ? b.input("x", "f32[B<=" + std::to_string(bound) + ", 784]") : b.input("x", "f32[B, 784]");
  auto linear = [&](const Tensor& in, const std::string& name, int64_t n_in, int64_t n_out) {
    auto s = b.scope(name);
    Tensor w = b.param("weight", DType::f32, {n_out, n_in});
    Tensor bias = b.param("bias", DType::f32, {n_out});
    return matmul(in, w, {.transpose_b = true}) + bias;
  };
  Tensor h = relu(linear(x, "fc1", 784, 256));
  b.output("y", linear(h, "fc2", 256, 10));
  return b.finish();
}

/// Four layers encoder.layers.<i>, each 5 ops: self_attn (matmul, softmax), ffn (matmul, relu) and a
/// residual add in the layer's own scope; 2 parameters per layer.
inline Graph encoder(int layers = 4) {
  using dsl::Tensor;
  Builder b("encoder");
  Tensor x = b.input("x", "f32[B<=8, 16]");
  auto enc = b.scope("encoder");
  auto ls = b.scope("layers");
  for (int i = 0; i < layers; ++i) {
    auto layer = b.scope(std::to_string(i));
    Tensor a, h;
    {
      auto s = b.scope("self_attn");
      a = softmax(matmul(x, b.param("wq", DType::f32, {16, 16})));
    }
    {
      auto s = b.scope("ffn");
      h = relu(matmul(a, b.param("w1", DType::f32, {16, 16})));
    }
    x = x + h;
  }
  b.output("y", x);
  return b.finish();
}

/// The train step (Adam) of `layers` Linear layers split between `transformer.encoder.layers.<i>`
/// and `transformer.decoder.layers.<i>`, as `nn::Transformer(b, "transformer", ...)` names them.
inline Graph wrapped_train_step(int layers = 2) {
  Builder b("wrapped");
  auto x = b.input("x", "f32[2, 4]");
  auto y = b.input("y", "f32[2, 4]");
  dsl::Tensor h = x;
  {
    auto s = b.scope("transformer");
    for (int i = 0; i < layers; ++i) {
      std::string name = fmt::format("{}.layers.{}", i < (layers + 1) / 2 ? "encoder" : "decoder", i);
      h = nn::Linear(b, name, 4, 4)(h);
    }
  }
  b.output("loss", dsl::mse_loss(h, y));
  return train::make_train_step(b.finish());
}

}  // namespace weft::dump_test
