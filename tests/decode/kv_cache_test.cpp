// The Transformer decoder's step with a KV cache gives the full decoder's numbers at every step.
//
// The full graph runs the whole target prefix with a causal mask; the step graph runs one token
// at a time against caches this test keeps by hand (docs/decoding.md's layout: [capacity, rows,
// d_model] per layer, the prefix of position + 1 slots passed as the input, the step's `.new` rows
// written into slot `position`). Every step's logits must match the full graph's row at that
// position to 1e-5, for post-norm and pre-norm layers, with a padded source.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>

#include "frontend/inference.h"
#include "tests/decode/decode_models.h"

namespace weft::decode::testing {
namespace {

struct KvCacheCase {
  std::string backend;
  bool norm_first;
};

class KvCache : public ::testing::TestWithParam<KvCacheCase> {};

TEST_P(KvCache, StepMatchesFullDecoderAtEveryStep) {
  const KvCacheCase& param = GetParam();
  Translator::Config config{.norm_first = param.norm_first};
  auto backend = make_backend(param.backend);
  auto full = backend->compile(Translator::full(config));
  randomize(*full, 7);
  auto encode = backend->compile(Translator::encode(config));
  auto step = backend->compile(Translator::step(config));
  train::copy_parameters(*full, *encode);
  train::copy_parameters(*full, *step);

  const int64_t batch = 3, src_len = 5, steps = 7, d = config.d_model;
  weft::Tensor src = random_ids({batch, src_len}, 0, config.vocab, 1);
  std::vector<bool> pad(static_cast<size_t>(batch * src_len), false);
  pad[static_cast<size_t>(src_len - 1)] = pad[static_cast<size_t>(src_len - 2)] = true;  // source 0 is shorter
  weft::Tensor padding = weft::Tensor::from<bool>({batch, src_len}, pad);
  weft::Tensor tgt = random_ids({batch, steps}, 0, config.vocab, 2);
  std::vector<float> want =
      full->run_named({{"src", src}, {"src_padding", padding}, {"tgt_in", tgt}}).at("logits").to_vector<float>();

  std::map<std::string, weft::Tensor> feed = encode->run_named({{"src", src}, {"src_padding", padding}});
  std::map<std::string, weft::Tensor> caches;
  for (int64_t l = 0; l < config.layers; ++l)
    for (const char* kv : {"k", "v"})
      caches[fmt::format("cache.{}.{}", l, kv)] = weft::Tensor::zeros(DType::f32, {kMaxLength, batch, d});

  std::vector<int64_t> tokens = tgt.to_vector<int64_t>();
  for (int64_t t = 0; t < steps; ++t) {
    std::vector<int64_t> column;
    for (int64_t b = 0; b < batch; ++b) column.push_back(tokens[static_cast<size_t>(b * steps + t)]);
    feed["tokens"] = weft::Tensor::from<int64_t>({batch}, column);
    feed["position"] = weft::Tensor::from<int64_t>({}, {t});
    for (auto& [name, buffer] : caches) feed[name] = buffer.leading(t + 1);
    std::map<std::string, weft::Tensor> out = step->run_named(feed);
    for (auto& [name, buffer] : caches) {
      const weft::Tensor& row = out.at(name + ".new");
      std::memcpy(static_cast<std::byte*>(buffer.raw()) + static_cast<size_t>(t) * row.nbytes(), row.raw(),
                  row.nbytes());
    }
    std::vector<float> got = out.at("logits").to_vector<float>();
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t v = 0; v < config.vocab; ++v)
        EXPECT_NEAR(got[static_cast<size_t>(b * config.vocab + v)],
                    want[static_cast<size_t>((b * steps + t) * config.vocab + v)], 1e-5)
            << "step " << t << ", row " << b << ", token " << v;
    // The cross-attention weights of every head sum to 1 and never touch a padded source position.
    std::vector<float> attention = out.at("attention").to_vector<float>();
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t h = 0; h < config.heads; ++h) {
        float total = 0.0f;
        for (int64_t s = 0; s < src_len; ++s) {
          float w = attention[static_cast<size_t>((b * config.heads + h) * src_len + s)];
          total += w;
          if (pad[static_cast<size_t>(b * src_len + s)]) {
            EXPECT_EQ(w, 0.0f);
          }
        }
        EXPECT_NEAR(total, 1.0f, 1e-5);
      }
  }
}

std::vector<KvCacheCase> cases() {
  std::vector<KvCacheCase> out;
  for (const std::string& backend : backend_names())
    if (backend == "interp" || backend == "llvm")
      for (bool norm_first : {false, true}) out.push_back({backend, norm_first});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Backends, KvCache, ::testing::ValuesIn(cases()), [](const auto& info) {
  return info.param.backend + (info.param.norm_first ? "_pre_norm" : "_post_norm");
});

TEST(KvCacheErrors, StepRejectsACacheOfAnotherRowCount) {
  Builder b("step");
  Translator m(b, {});
  Tensor x = b.input("x", "f32[R, 16]");
  Tensor position = b.input("position", "i64[]");
  Tensor cache = b.input("cache", "f32[P, 3, 16]");
  const nn::MultiHeadAttention& attn = m.transformer.decoder.layers[0].self_attn;
  int line = __LINE__ + 2;
  try {
    attn.self_attention_step(x, cache, cache, position);
    ADD_FAILURE() << "expected a weft::Error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.substr(0, msg.find(" (at ")),
              "MultiHeadAttention 'transformer.decoder.layers.0.self_attn': cache_k must be f32[past, R, 16], but "
              "got f32[P, 3, 16]");
    EXPECT_NE(msg.find(fmt::format("tests/decode/kv_cache_test.cpp:{})", line)), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace weft::decode::testing
