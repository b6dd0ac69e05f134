// MultiHeadAttention, AdditiveAttention and MultiplicativeAttention: names, hand-checked tiny
// cases, properties of the weights (rows sum to 1, masked keys get 0), and shape errors.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/nn/nn_testing.h"

namespace weft::nn {
namespace {

using testing::error_of;
using testing::f32;
using testing::here;
using testing::run;
using testing::values;

weft::Tensor identity2() { return f32({2, 2}, {1, 0, 0, 1}); }

double sigmoid_of_difference(double a, double b) { return std::exp(a) / (std::exp(a) + std::exp(b)); }

TEST(MultiHeadAttention, ParamsAreSeparateQKVAndOutputProjections) {
  Builder b("g");
  {
    auto s = b.scope("encoder.layers.0");
    MultiHeadAttention mha(b, "self_attn", 8, 2);
    EXPECT_EQ(mha.head_dim, 4);
  }
  std::vector<std::string> names;
  for (const ParamDecl& p : b.graph().params()) names.push_back(p.name);
  std::vector<std::string> want;
  for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"})
    for (const char* kind : {"weight", "bias"})
      want.push_back(std::string("encoder.layers.0.self_attn.") + proj + "." + kind);
  EXPECT_EQ(names, want);
  // q/k/v: xavier_uniform over PyTorch's packed [24, 8] matrix, i.e. U(±sqrt(6 / 32)); biases 0.
  const Initializer& q = b.graph().params()[0].init;
  EXPECT_EQ(q.kind, "uniform");
  EXPECT_NEAR(q.args.at(1).second, std::sqrt(6.0 / 32.0), 1e-12);
  EXPECT_EQ(b.graph().params()[1].init.kind, "zeros");
  EXPECT_EQ(b.graph().params()[6].init.kind, "kaiming_uniform");
}

TEST(MultiHeadAttention, OneHeadWithIdentityProjectionsIsHandCheckable) {
  Builder b("g");
  auto q = b.input("q", "f32[1, 1, 2]");
  auto kv = b.input("kv", "f32[1, 2, 2]");
  MultiHeadAttention mha(b, "mha", 2, 1);
  auto r = mha.with_weights(q, kv, kv);
  b.output("out", r.output);
  b.output("w", r.weights);
  std::map<std::string, weft::Tensor> state;
  for (const char* p : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
    state[std::string("mha.") + p + ".weight"] = identity2();
    state[std::string("mha.") + p + ".bias"] = f32({2}, {0, 0});
  }
  auto out = run(b, {{"q", f32({1, 1, 2}, {1, 0})}, {"kv", f32({1, 2, 2}, {1, 0, 0, 1})}}, state);
  // Scores q·k / sqrt(2) = [0.7071, 0]; the output is the weighted sum of the keys [1,0] and [0,1].
  double w0 = sigmoid_of_difference(1 / std::sqrt(2.0), 0);
  EXPECT_NEAR(values(out.at("w"))[0], w0, 1e-6);
  EXPECT_NEAR(values(out.at("w"))[1], 1 - w0, 1e-6);
  EXPECT_NEAR(values(out.at("out"))[0], w0, 1e-6);
  EXPECT_NEAR(values(out.at("out"))[1], 1 - w0, 1e-6);
}

TEST(MultiHeadAttention, WeightsSumToOneAndMaskedKeysGetZero) {
  Builder b("g");
  auto x = b.input("x", "f32[2, 3, 4]");
  auto pad = b.input("pad", "bool[2, 3]");
  MultiHeadAttention mha(b, "mha", 4, 2);
  b.output("w", mha.with_weights(x, x, x, {.key_padding_mask = pad, .causal = true}, /*average_heads=*/false).weights);
  std::vector<float> xs;
  for (int i = 0; i < 24; ++i) xs.push_back(std::sin(static_cast<float>(i)));
  auto out = run(b, {{"x", f32({2, 3, 4}, xs)},
                     {"pad", weft::Tensor::from<bool>({2, 3}, {false, false, false, false, false, true})}});
  weft::Tensor w = out.at("w");
  ASSERT_EQ(w.shape(), (std::vector<int64_t>{2, 2, 3, 3}));
  for (int batch = 0; batch < 2; ++batch)
    for (int head = 0; head < 2; ++head)
      for (int i = 0; i < 3; ++i) {
        double total = 0;
        for (int j = 0; j < 3; ++j) {
          double v = w.at(((batch * 2 + head) * 3 + i) * 3 + j);
          bool masked = j > i || (batch == 1 && j == 2);
          if (masked) {
            EXPECT_EQ(v, 0.0) << batch << head << i << j;
          }
          total += v;
        }
        EXPECT_NEAR(total, 1.0, 1e-6);
      }
}

TEST(MultiHeadAttention, ShapeErrorsNameTheExpectedShapeAndTheCallersLine) {
  Builder b("g");
  auto q = b.input("q", "f32[2, 7, 256]");
  auto k = b.input("k", "f32[3, 4, 8]");
  auto ok = b.input("ok", "f32[2, 7, 8]");
  MultiHeadAttention mha(b, "self_attn", 8, 2);
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, mha(q, q, q); });
  EXPECT_NE(msg.find("MultiHeadAttention 'self_attn': query must be f32[batch, length, 8], but got f32[2, 7, 256]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
  msg = error_of([&] { mha(ok, k, k); });
  EXPECT_NE(msg.find("key must be f32[2, length, 8], but got f32[3, 4, 8]"), std::string::npos) << msg;
  msg = error_of([&] { mha(ok, ok, ok, {.key_padding_mask = ok}); });
  EXPECT_NE(msg.find("key_padding_mask must be bool[2, 7], but got f32[2, 7, 8]"), std::string::npos) << msg;
  msg = error_of([&] { MultiHeadAttention(b, "bad", 8, 3); });
  EXPECT_NE(msg.find("embed_dim must be a positive multiple of num_heads"), std::string::npos) << msg;
}

/// Additive attention with W_q = W_k = I and v = [1, 1]: score(q, k) = tanh(q0 + k0) + tanh(q1 + k1).
TEST(AdditiveAttention, HandSetWeightsGiveHandComputedScores) {
  Builder b("g");
  auto q = b.input("q", "f32[1, 2]");
  auto keys = b.input("keys", "f32[1, 2, 2]");
  auto pad = b.input("pad", "bool[1, 2]");
  AdditiveAttention attn(b, "attn", 2, 2, 2);
  AttentionResult r = attn(q, keys, keys);
  AttentionResult masked = attn(q, keys, keys, pad);
  b.output("context", r.context);
  b.output("w", r.weights);
  b.output("w_masked", masked.weights);
  std::vector<std::string> names;
  for (const ParamDecl& p : b.graph().params()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"attn.query_proj.weight", "attn.key_proj.weight", "attn.v.weight"}));
  auto out = run(b,
                 {{"q", f32({1, 2}, {1, 0})},
                  {"keys", f32({1, 2, 2}, {0, 0, 1, 1})},
                  {"pad", weft::Tensor::from<bool>({1, 2}, {false, true})}},
                 {{"attn.query_proj.weight", identity2()},
                  {"attn.key_proj.weight", identity2()},
                  {"attn.v.weight", f32({1, 2}, {1, 1})}});
  double e0 = std::tanh(1.0) + std::tanh(0.0), e1 = std::tanh(2.0) + std::tanh(1.0);
  double w0 = sigmoid_of_difference(e0, e1);
  EXPECT_EQ(out.at("w").shape(), (std::vector<int64_t>{1, 2}));
  EXPECT_NEAR(values(out.at("w"))[0], w0, 1e-6);
  EXPECT_NEAR(values(out.at("w"))[1], 1 - w0, 1e-6);
  // context = w0·[0, 0] + w1·[1, 1]
  EXPECT_NEAR(values(out.at("context"))[0], 1 - w0, 1e-6);
  EXPECT_NEAR(values(out.at("context"))[1], 1 - w0, 1e-6);
  EXPECT_EQ(values(out.at("w_masked")), (std::vector<float>{1, 0}));
}

TEST(AdditiveAttention, ShapeErrorNamesTheCallersLine) {
  Builder b("g");
  auto q = b.input("q", "f32[2, 3]");
  auto keys = b.input("keys", "f32[2, 5, 4]");
  AdditiveAttention attn(b, "attn", 3, 6, 8);
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, attn(q, keys, keys); });
  EXPECT_NE(msg.find("AdditiveAttention 'attn': keys must be f32[2, length, 6], but got f32[2, 5, 4]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

/// query [1, 0]; keys [1, 0] and [0, 1]; values = keys, so the context equals the weights.
std::vector<float> luong_weights(ScoreKind kind, const weft::Tensor* general_weight) {
  Builder b("g");
  auto q = b.input("q", "f32[1, 1, 2]");
  auto keys = b.input("keys", "f32[1, 2, 2]");
  MultiplicativeAttention attn(b, "attn", kind, 2, 2);
  AttentionResult r = attn(q, keys, keys);
  b.output("w", r.weights);
  b.output("context", r.context);
  std::map<std::string, weft::Tensor> state;
  if (general_weight) state["attn.weight"] = *general_weight;
  auto out = run(b, {{"q", f32({1, 1, 2}, {1, 0})}, {"keys", f32({1, 2, 2}, {1, 0, 0, 1})}}, state);
  EXPECT_EQ(values(out.at("w")), values(out.at("context")));
  return values(out.at("w"));
}

TEST(MultiplicativeAttention, DotGeneralAndScaledScoresAreHandCheckable) {
  EXPECT_NEAR(luong_weights(ScoreKind::dot, nullptr)[0], sigmoid_of_difference(1, 0), 1e-6);
  EXPECT_NEAR(luong_weights(ScoreKind::scaled_dot, nullptr)[0], sigmoid_of_difference(1 / std::sqrt(2.0), 0), 1e-6);
  weft::Tensor w = f32({2, 2}, {2, 0, 0, 1});  // qᵀ W k: 2 for the first key, 0 for the second
  EXPECT_NEAR(luong_weights(ScoreKind::general, &w)[0], sigmoid_of_difference(2, 0), 1e-6);
}

TEST(MultiplicativeAttention, DotScoreNeedsEqualSizesAndShapeErrorsNameTheCallersLine) {
  Builder b("g");
  std::string msg = error_of([&] { MultiplicativeAttention(b, "attn", ScoreKind::dot, 4, 6); });
  EXPECT_NE(msg.find("the dot score needs query_dim == key_dim, but got 4 and 6"), std::string::npos) << msg;
  auto q = b.input("q", "f32[2, 4]");
  auto keys = b.input("keys", "f32[2, 5, 4]");
  auto pad = b.input("pad", "bool[2, 6]");
  MultiplicativeAttention attn(b, "attn", ScoreKind::general, 4, 4);
  int line = 0;
  msg = error_of([&] { line = __LINE__, attn(q, keys, keys, pad); });
  EXPECT_NE(msg.find("MultiplicativeAttention 'attn': key_padding_mask must be bool[2, 5], but got bool[2, 6]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

TEST(Masks, PaddingMaskMarksPositionsPastEachLengthAndCausalMaskTheFuture) {
  Builder b("g");
  auto lengths = b.input("lengths", "i64[2]");
  b.output("pad", padding_mask(lengths, Dim(3)));
  b.output("causal", causal_mask(b, Dim(3)));
  auto out = run(b, {{"lengths", weft::Tensor::from<int64_t>({2}, {3, 1})}});
  EXPECT_EQ(out.at("pad").to_vector<bool>(), (std::vector<bool>{false, false, false, false, true, true}));
  EXPECT_EQ(out.at("causal").to_vector<bool>(),
            (std::vector<bool>{false, true, true, false, false, true, false, false, false}));
}

}  // namespace
}  // namespace weft::nn
