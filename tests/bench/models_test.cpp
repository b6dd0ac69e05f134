// The whole models that `make bench` times (bench/models.h) compute what they should: the JIT's
// outputs equal the interpreter's, training lowers a finite loss, greedy decoding with the KV cache
// decodes what the prefix re-run decodes. Small sizes; the timings stay in the benchmark.
#include "bench/models.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "bench/shared_object.h"
#include "frontend/decode.h"
#include "frontend/inference.h"
#include "frontend/train_step.h"
#include "passes/hoist_scan_invariants.h"

namespace weft::bench {
namespace {

Tensor ids(std::vector<int64_t> shape, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> id(3, vocab - 1);
  std::vector<int64_t> v(static_cast<size_t>(shape[0] * shape[1]));
  for (int64_t& t : v) t = id(rng);
  return Tensor::from<int64_t>(shape, v);
}

/// The train step's losses over `steps` Adam updates on one batch (lr 1e-2), on the LLVM backend.
std::vector<float> losses(const Graph& model, std::map<std::string, Tensor> inputs, int steps) {
  auto exe = make_backend("llvm")->compile(train::make_train_step(model), {.num_threads = 2});
  inputs["lr"] = Tensor::from<float>({}, {1e-2f});
  std::vector<float> out;
  for (int64_t step = 1; step <= steps; ++step) {
    inputs["step"] = Tensor::from<int64_t>({}, {step});
    out.push_back(exe->run_named(inputs).at("loss").to_vector<float>()[0]);
  }
  return out;
}

void expect_finite_and_decreasing(const std::vector<float>& loss) {
  for (size_t i = 0; i < loss.size(); ++i) {
    EXPECT_TRUE(std::isfinite(loss[i])) << "step " << i + 1;
    if (i > 0) {
      EXPECT_LT(loss[i], loss[i - 1]) << "step " << i + 1;
    }
  }
}

float loss_on(const std::string& backend, const Graph& model, const std::map<std::string, Tensor>& inputs) {
  return make_backend(backend)->compile(model, {.num_threads = 2})->run_named(inputs).at("loss").to_vector<float>()[0];
}

TEST(BenchModels, FlopCountsAreTheIssues) {
  // The benchmark's sizes, counted as the issue counts them: 6.71 and 36.3 GFLOP.
  EXPECT_NEAR(EncoderLayerSize{}.flops() / 1e9, 6.71, 0.005);
  EXPECT_NEAR(TransformerSize{}.train_flops() / 1e9, 36.3, 0.05);
}

TEST(BenchModels, EncoderLayerOnTheJitEqualsTheInterpreter) {
  EncoderLayerSize size{.batch = 2, .length = 8, .d_model = 32, .heads = 4, .ff = 64};
  Graph g = encoder_layer_graph(size);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> x(2 * 8 * 32);
  for (float& v : x) v = dist(rng);
  std::vector<Tensor> in{Tensor::from<float>({2, 8, 32}, x)};
  std::vector<float> jit = make_backend("llvm")->compile(g, {.num_threads = 2})->run(in)[0].to_vector<float>();
  std::vector<float> ref = make_backend("interp")->compile(g)->run(in)[0].to_vector<float>();
  ASSERT_EQ(jit.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(jit[i], ref[i], 1e-4) << "element " << i;
}

TEST(BenchModels, EncoderLayerInASharedObjectEqualsTheInterpreter) {
  // encoder_layer_so's program: compile_shared_object, dlopen, weft_run (bench/shared_object.h).
  EncoderLayerSize size{.batch = 2, .length = 8, .d_model = 32, .heads = 4, .ff = 64};
  Graph g = encoder_layer_graph(size);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> x(2 * 8 * 32), y(x.size());
  for (float& v : x) v = dist(rng);
  LoadedModel so({g}, nullptr, "test_encoder_layer");
  std::vector<int64_t> shape{2, 8, 32};
  weft_tensor in{WEFT_F32, 3, shape.data(), x.data()}, out{WEFT_F32, 3, shape.data(), y.data()};
  so.check(so.run(so.model(), 0, &in, 1, &out, 1), "weft_run");
  std::vector<float> ref =
      make_backend("interp")->compile(g)->run({{Tensor::from<float>(shape, x)}})[0].to_vector<float>();
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-4) << "element " << i;
}

TransformerSize small_transformer() {
  return {
      .vocab = 40, .d_model = 32, .heads = 2, .layers = 1, .ff = 64, .batch = 4, .source = 6, .target = 5, .steps = 6};
}

TEST(BenchModels, TransformerTrainStepLowersAFiniteLossThatTheInterpreterAgreesWith) {
  TransformerSize s = small_transformer();
  std::map<std::string, Tensor> inputs{{"src", ids({s.batch, s.source}, s.vocab, 1)},
                                       {"tgt_in", ids({s.batch, s.target}, s.vocab, 2)},
                                       {"tgt_out", ids({s.batch, s.target}, s.vocab, 3)}};
  Graph model = transformer_train_graph(s);
  EXPECT_NEAR(loss_on("llvm", model, inputs), loss_on("interp", model, inputs), 1e-4);
  expect_finite_and_decreasing(losses(model, inputs, 5));
}

TEST(BenchModels, LstmAttentionTrainStepLowersAFiniteLossAsWrittenAndHoisted) {
  LstmAttentionSize s{.vocab = 40, .embed = 16, .hidden = 24, .batch = 4, .length = 6};
  std::map<std::string, Tensor> inputs{{"src", ids({s.batch, s.length}, s.vocab, 1)},
                                       {"tgt_in", ids({s.batch, s.length}, s.vocab, 2)},
                                       {"tgt_out", ids({s.batch, s.length}, s.vocab, 3)}};
  Graph model = lstm_attention_graph(s);
  EXPECT_NEAR(loss_on("llvm", model, inputs), loss_on("interp", model, inputs), 1e-4);
  std::vector<float> written = losses(model, inputs, 4);
  std::vector<float> hoisted = losses(hoist_scan_invariants(model), inputs, 4);
  expect_finite_and_decreasing(written);
  for (size_t i = 0; i < written.size(); ++i) EXPECT_NEAR(hoisted[i], written[i], 1e-4) << "step " << i + 1;
}

TEST(BenchModels, GreedyDecodingWithTheKvCacheDecodesWhatThePrefixReRunDecodes) {
  TransformerSize s = small_transformer();
  auto backend = make_backend("llvm");
  train::Compiler compile = [&](const Graph& g) { return backend->compile(g, {.num_threads = 2}); };
  auto prefix = compile(transformer_prefix_graph(s));
  auto encode = train::inference_executable(
      *prefix, "encode", [&](dsl::Builder& b) { transformer_encode_graph(b, s); }, compile);
  auto step = train::inference_executable(
      *prefix, "step", [&](dsl::Builder& b) { transformer_step_graph(b, s); }, compile);
  const int64_t batch = 3;
  Tensor src = ids({batch, s.source}, s.vocab, 5);
  auto cached =
      decode::greedy_decode(*encode, *step, {{"src", src}}, {.bos = 1, .eos = s.vocab, .max_length = s.steps});
  std::vector<std::vector<int64_t>> rows(batch, std::vector<int64_t>{1});  // BOS, then each argmax
  for (int64_t t = 0; t < s.steps; ++t) {
    std::vector<int64_t> flat;
    for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
    auto next = prefix
                    ->run_named({{"src", src},
                                 {"tgt_in", Tensor::from<int64_t>({batch, t + 1}, flat)},
                                 {"last", Tensor::from<int64_t>({}, {t})}})
                    .at("next")
                    .to_vector<int64_t>();
    for (int64_t b = 0; b < batch; ++b) rows[static_cast<size_t>(b)].push_back(next[static_cast<size_t>(b)]);
  }
  ASSERT_EQ(cached.size(), static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b)
    EXPECT_EQ(cached[static_cast<size_t>(b)].best[0].tokens,
              std::vector<int64_t>(rows[static_cast<size_t>(b)].begin() + 1, rows[static_cast<size_t>(b)].end()))
        << "source " << b;
}

}  // namespace
}  // namespace weft::bench
