// Shared by the CUDA tests: the models whose regions they generate, and the walk over regions.
#pragma once

#include <fmt/format.h>

#include <functional>

#include "backends/interp/constant_evaluator.h"
#include "passes/pipeline.h"
#include "frontend/builder.h"
#include "frontend/nn/nn.h"
#include "frontend/tensor_ops.h"
#include "frontend/train_step.h"
#include "ir/error.h"
#include "ir/graph.h"

namespace weft::cuda_backend {

// The DSL's ops by their short names, as models are written.
using namespace dsl;  // NOLINT(google-build-using-namespace)
using dsl::Tensor;
using train::AdamOptions;
using train::make_train_step;

/// Every fused region of `g` (scan bodies included).
inline void for_each_region(const Graph& g, const std::function<void(const Node&)>& f) {
  for (const Node& n : g.nodes()) {
    if (!n.body) continue;
    if (n.op == OpKind::fusion)
      f(n);
    else
      for_each_region(*n.body, f);
  }
}

inline Graph transformer_train_step() {
  Builder b("seq2seq");
  Tensor src = b.input("src", "i64[B<=8, S<=12]");
  Tensor tgt = b.input("tgt", "i64[B, T<=10]");
  Tensor labels = b.input("labels", "i64[B, T]");
  nn::Embedding src_embed(b, "src_embed", 13, 24), tgt_embed(b, "tgt_embed", 11, 24);
  nn::PositionalEncoding positions(b, "positions", 24);
  nn::Transformer transformer(b, "transformer",
                              {.layer = {.d_model = 24, .nhead = 3, .dim_feedforward = 40, .dropout = 0.1},
                               .num_encoder_layers = 1,
                               .num_decoder_layers = 1});
  nn::Linear head(b, "head", 24, 11);
  Tensor y = transformer(positions(src_embed(src)), positions(tgt_embed(tgt)), {.causal_tgt = true});
  b.output("loss", dsl::cross_entropy(head(y), labels, {.label_smoothing = 0.1}));
  return make_train_step(b.finish(), {.optimizer = AdamOptions{}, .clip_grad_norm = 1.0});
}

inline Graph lstm_train_step() {
  Builder b("lstm");
  Tensor x = b.input("x", "f32[B<=4, T<=6, 3]");
  Tensor lengths = b.input("lengths", "i64[B]");
  Tensor target = b.input("target", "f32[B, 5]");
  nn::LSTM lstm(b, "lstm", 3, 5, {.num_layers = 2});
  nn::LstmOutput out = lstm(x, {}, lengths);
  b.output("loss", dsl::mse_loss(dsl::mean(out.output, {1}), target));
  return make_train_step(b.finish(), {.optimizer = AdamOptions{}});
}

/// One loop region per elementwise op that generated code takes, at f32 and at an integer type
/// where it has one, and the casts between every pair of types.
inline Graph elementwise_ops() {
  Builder b("ops");
  Tensor x = b.input("x", "f32[N, 7]");
  Tensor y = b.input("y", "f32[N, 7]");
  Tensor i = b.input("i", "i32[N, 7]");
  Tensor j = b.input("j", "i64[N, 7]");
  std::vector<Tensor> outs = {
      neg(x),          abs(x), exp(x), log(x), sqrt(x), rsqrt(x), tanh(x), sigmoid(x),    relu(x),       gelu(x),
      gelu(x, "tanh"), sin(x), cos(x), x + y,  x - y,   x * y,    x / y,   pow(x, y),     maximum(x, y), minimum(x, y),
      neg(i),          abs(j), i + i,  j * j,  i / i,   j / j,    relu(i), maximum(j, j), minimum(i, i)};
  std::vector<Tensor> bools = {x == y, x != y, x<y, x <= y, x> y, x >= y, i == i, j < j};
  Tensor all = logical_and(bools[0], logical_or(bools[1], logical_not(bools[2])));
  for (const Tensor& t : bools) all = logical_or(all, t);
  outs.push_back(select(all, x, y));
  for (DType to : {DType::f32, DType::f64, DType::i32, DType::i64, DType::boolean})
    for (const Tensor& from : {x, i, j, all}) outs.push_back(cast(from, to));
  for (size_t k = 0; k < outs.size(); ++k) b.output(fmt::format("o{}", k), outs[k]);
  return b.finish();
}

/// `model` lowered as the CUDA provider lowers it (the LLVM provider's policy: fused regions, scan
/// bodies lowered), without compiling anything (so this runs where no LLVM JIT is linked).
inline Graph lowered_for_cuda(const Graph& model) {
  LoweringOptions options;
  options.evaluate_constants = interpreter_constant_evaluator();
  return lower_graph(model, options);
}

}  // namespace weft::cuda_backend
