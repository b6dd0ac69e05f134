// LSTM encoder-decoders with and without attention: output shapes, parameter names, decode_step
// agreeing with teacher-forced decoding, attention weights over the source, and shape errors.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/nn/nn_testing.h"

namespace weft::nn {
namespace {

using testing::error_of;
using testing::here;
using testing::values;

weft::Tensor ids(std::vector<int64_t> shape, std::vector<int64_t> v) { return weft::Tensor::from<int64_t>(shape, v); }

void expect_near_all(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5) << what << "[" << i << "]";
}

/// Elements [.., 0, ..] of a [batch, T, n] tensor: each sequence's first step.
std::vector<float> first_step(const weft::Tensor& t) {
  std::vector<float> all = values(t), out;
  int64_t steps = t.shape()[1], n = t.shape()[2];
  for (int64_t b = 0; b < t.shape()[0]; ++b)
    for (int64_t i = 0; i < n; ++i) out.push_back(all[static_cast<size_t>(b * steps * n + i)]);
  return out;
}

TEST(Seq2Seq, TeacherForcedLogitsAndTheFirstDecodeStepAgree) {
  Builder b("g");
  auto src = b.input("src", "i64[B, S]");
  auto tgt = b.input("tgt", "i64[B, T]");
  Seq2Seq model(b, "s2s", {.src_vocab = 7, .tgt_vocab = 9, .embed_dim = 3, .hidden_size = 4, .num_layers = 2});
  b.output("logits", model(src, tgt));
  Encoded enc = model.encode(src);
  DecodeStep step =
      model.decode_step(dsl::reshape(dsl::slice(tgt, 1, 0, 1), {src.dim(0)}), enc.state, model.context_of(enc.state));
  b.output("step_logits", step.logits);
  EXPECT_NE(b.graph().find_param("s2s.decoder.weight_ih_l0"), nullptr);
  EXPECT_EQ(b.graph().type(b.graph().find_param("s2s.decoder.weight_ih_l0")->value).str(), "f32[16, 7]");  // E + H
  EXPECT_NE(b.graph().find_param("s2s.out.weight"), nullptr);
  auto out =
      testing::run(b, {{"src", ids({2, 5}, {1, 2, 3, 4, 5, 6, 5, 4, 3, 2})}, {"tgt", ids({2, 3}, {0, 1, 2, 0, 8, 7})}});
  EXPECT_EQ(out.at("logits").shape(), (std::vector<int64_t>{2, 3, 9}));
  expect_near_all(first_step(out.at("logits")), values(out.at("step_logits")), "step 0 logits");
}

void check_attention_model(AttentionKind kind) {
  Builder b("g");
  auto src = b.input("src", "i64[2, 4]");
  auto lengths = b.input("lengths", "i64[2]");
  auto tgt = b.input("tgt", "i64[2, 3]");
  Seq2SeqAttention model(b, "model",
                         {.src_vocab = 6, .tgt_vocab = 5, .embed_dim = 3, .hidden_size = 4, .attention = kind});
  Seq2SeqAttentionOutput r = model(src, tgt, lengths);
  b.output("logits", r.logits);
  b.output("weights", r.weights);
  Encoded enc = model.encode(src, lengths);
  DecodeStep step = model.decode_step(dsl::reshape(dsl::slice(tgt, 1, 0, 1), {2}), enc.state, enc);
  b.output("step_logits", step.logits);
  b.output("step_weights", step.weights);
  EXPECT_NE(b.graph().find_param("model.combine.weight"), nullptr);
  auto out = testing::run(b, {{"src", ids({2, 4}, {1, 2, 3, 4, 5, 4, 0, 0})},
                              {"lengths", ids({2}, {4, 2})},
                              {"tgt", ids({2, 3}, {0, 1, 2, 0, 4, 3})}});
  EXPECT_EQ(out.at("logits").shape(), (std::vector<int64_t>{2, 3, 5}));
  weft::Tensor w = out.at("weights");
  ASSERT_EQ(w.shape(), (std::vector<int64_t>{2, 3, 4}));
  for (int seq = 0; seq < 2; ++seq)
    for (int t = 0; t < 3; ++t) {
      double total = 0;
      for (int s = 0; s < 4; ++s) total += w.at((seq * 3 + t) * 4 + s);
      EXPECT_NEAR(total, 1.0, 1e-6);
    }
  for (int t = 0; t < 3; ++t) {  // the second source has 2 tokens: positions 2 and 3 are padding
    EXPECT_EQ(w.at((3 + t) * 4 + 2), 0.0);
    EXPECT_EQ(w.at((3 + t) * 4 + 3), 0.0);
  }
  expect_near_all(first_step(out.at("logits")), values(out.at("step_logits")), "step 0 logits");
  expect_near_all(first_step(out.at("weights")), values(out.at("step_weights")), "step 0 weights");
}

TEST(Seq2SeqAttention, GeneralScoreWeightsSumToOneSkipPaddingAndMatchDecodeStep) {
  check_attention_model(AttentionKind::general);
}
TEST(Seq2SeqAttention, AdditiveScoreToo) { check_attention_model(AttentionKind::additive); }
TEST(Seq2SeqAttention, DotScoreToo) { check_attention_model(AttentionKind::dot); }
TEST(Seq2SeqAttention, ScaledDotScoreToo) { check_attention_model(AttentionKind::scaled_dot); }

TEST(Seq2Seq, ShapeErrorsNameTheCallersLine) {
  Builder b("g");
  auto src = b.input("src", "f32[2, 5]");
  auto good = b.input("good", "i64[2, 5]");
  auto tgt = b.input("tgt", "i64[3, 4]");
  Seq2Seq model(b, "s2s", {.src_vocab = 7, .tgt_vocab = 9, .embed_dim = 3, .hidden_size = 4});
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, model(src, tgt); });
  EXPECT_NE(msg.find("Seq2Seq 's2s': the source ids must have an integer dtype (i32 or i64), but got f32[2, 5]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
  msg = error_of([&] { line = __LINE__, model(good, tgt); });
  EXPECT_NE(msg.find("Seq2Seq 's2s': the target ids must be i64[2, length], but got i64[3, 4]"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
  msg = error_of([&] { Seq2Seq(b, "bad", {.src_vocab = 0, .tgt_vocab = 9}); });
  EXPECT_NE(msg.find("src_vocab and tgt_vocab must be positive"), std::string::npos) << msg;
}

TEST(Seq2SeqAttention, ShapeErrorNamesTheCallersLine) {
  Builder b("g");
  auto src = b.input("src", "i64[2, 5]");
  auto lengths = b.input("lengths", "i64[3]");
  auto tgt = b.input("tgt", "i64[2, 4]");
  Seq2SeqAttention model(b, "att", {.src_vocab = 7, .tgt_vocab = 9, .embed_dim = 3, .hidden_size = 4});
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, model(src, tgt, lengths); });
  EXPECT_NE(msg.find("Seq2SeqAttention 'att': src_lengths must be i64[2], but got i64[3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

}  // namespace
}  // namespace weft::nn
