// Transformer layers and stacks: PyTorch's parameter names with unshared layers, hand-checkable
// behaviour of post-norm and pre-norm residual blocks, causality, and shape errors.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "tests/nn/nn_testing.h"

namespace weft::nn {
namespace {

using testing::error_of;
using testing::f32;
using testing::here;
using testing::values;

TransformerLayerOptions small(bool norm_first = false) {
  TransformerLayerOptions o;
  o.d_model = 4;
  o.nhead = 2;
  o.dim_feedforward = 8;
  o.dropout = 0.0;
  o.norm_first = norm_first;
  return o;
}

TransformerOptions small_transformer() {
  TransformerOptions o;
  o.layer = small();
  o.num_encoder_layers = 2;
  o.num_decoder_layers = 2;
  return o;
}

std::vector<float> wave(size_t n, float phase = 0) {
  std::vector<float> v;
  for (size_t i = 0; i < n; ++i) v.push_back(std::sin(0.7f * static_cast<float>(i) + phase));
  return v;
}

TEST(Transformer, ParamsFollowTorchNamesWithUnsharedLayersAndFinalNorms) {
  Builder b("g");
  Transformer model(b, "", small_transformer());
  std::set<std::string> names;
  std::set<ValueId> ids;
  for (const ParamDecl& p : b.graph().params()) {
    names.insert(p.name);
    ids.insert(p.value);
  }
  // Per encoder layer 8 attention + 4 feed-forward + 4 norm tensors; per decoder layer 26; 2 final norms.
  EXPECT_EQ(b.graph().params().size(), 2u * 16 + 2 + 2u * 26 + 2);
  EXPECT_EQ(ids.size(), b.graph().params().size());
  for (const char* n : {"encoder.layers.0.self_attn.q_proj.weight", "encoder.layers.1.self_attn.out_proj.bias",
                        "encoder.layers.1.linear2.bias", "encoder.layers.0.norm2.weight", "encoder.norm.weight",
                        "decoder.layers.0.self_attn.v_proj.bias", "decoder.layers.1.multihead_attn.k_proj.weight",
                        "decoder.layers.1.norm3.bias", "decoder.norm.bias"})
    EXPECT_TRUE(names.count(n)) << n;
  // nn.Transformer initializes every matrix with xavier_uniform.
  EXPECT_EQ(b.graph().find_param("encoder.layers.0.linear1.weight")->init.kind, "xavier_uniform");
  EXPECT_EQ(b.graph().find_param("decoder.layers.1.multihead_attn.out_proj.weight")->init.kind, "xavier_uniform");
  EXPECT_EQ(b.graph().find_param("encoder.layers.0.linear1.bias")->init.kind, "linear_bias");
}

/// Runs one encoder layer whose attention and feed-forward outputs are forced to zero.
std::vector<float> encoder_layer_with_silent_sublayers(bool norm_first, const std::vector<float>& x) {
  Builder b("g");
  auto src = b.input("src", "f32[1, 3, 4]");
  TransformerEncoderLayer layer(b, "layer", small(norm_first));
  b.output("y", layer(src));
  auto exe = make_backend("interp")->compile(b.finish());
  for (const char* p : {"layer.self_attn.out_proj", "layer.linear2"}) {
    exe->set_state(std::string(p) + ".weight",
                   weft::Tensor::zeros(DType::f32, exe->state(std::string(p) + ".weight").shape()));
    exe->set_state(std::string(p) + ".bias", weft::Tensor::zeros(DType::f32, {4}));
  }
  return values(exe->run_named({{"src", f32({1, 3, 4}, x)}}).at("y"));
}

TEST(TransformerEncoderLayer, PreNormWithSilentSublayersIsTheIdentity) {
  std::vector<float> x = wave(12);
  std::vector<float> y = encoder_layer_with_silent_sublayers(true, x);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(y[i], x[i]);
}

TEST(TransformerEncoderLayer, PostNormWithSilentSublayersNormalizesEachPosition) {
  std::vector<float> y = encoder_layer_with_silent_sublayers(false, wave(12));
  for (int t = 0; t < 3; ++t) {
    double mean = 0, var = 0;
    for (int i = 0; i < 4; ++i) mean += y[static_cast<size_t>(t * 4 + i)] / 4.0;
    for (int i = 0; i < 4; ++i) var += std::pow(y[static_cast<size_t>(t * 4 + i)] - mean, 2) / 4.0;
    EXPECT_NEAR(mean, 0.0, 1e-5);
    EXPECT_NEAR(var, 1.0, 1e-3);
  }
}

TEST(TransformerDecoder, CausalSelfAttentionIgnoresLaterTargets) {
  Builder b("g");
  auto tgt = b.input("tgt", "f32[1, 3, 4]");
  auto memory = b.input("memory", "f32[1, 2, 4]");
  TransformerDecoder decoder(b, "decoder", small(), 2);
  b.output("y", decoder(tgt, memory, {.self = {.causal = true}}));
  auto exe = make_backend("interp")->compile(b.finish());
  std::vector<float> t1 = wave(12), t2 = t1;
  for (size_t i = 8; i < 12; ++i) t2[i] += 5.0f;  // change only the last target position
  auto mem = f32({1, 2, 4}, wave(8, 1.0f));
  auto y1 = values(exe->run_named({{"tgt", f32({1, 3, 4}, t1)}, {"memory", mem}}).at("y"));
  auto y2 = values(exe->run_named({{"tgt", f32({1, 3, 4}, t2)}, {"memory", mem}}).at("y"));
  for (size_t i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(y1[i], y2[i]) << i;
  bool last_changed = false;
  for (size_t i = 8; i < 12; ++i) last_changed |= y1[i] != y2[i];
  EXPECT_TRUE(last_changed);
}

TEST(TransformerEncoderLayer, ShapeErrorNamesTheCallersLine) {
  Builder b("g");
  auto src = b.input("src", "f32[2, 5, 16]");
  TransformerEncoderLayer layer(b, "enc", small());
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, layer(src); });
  EXPECT_NE(msg.find("TransformerEncoderLayer 'enc': src must be f32[batch, length, 4], but got f32[2, 5, 16]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

TEST(TransformerDecoderLayer, MemoryFromAnotherBatchIsAnErrorAtTheCallersLine) {
  Builder b("g");
  auto tgt = b.input("tgt", "f32[2, 4, 4]");
  auto memory = b.input("memory", "f32[3, 5, 4]");
  TransformerDecoderLayer layer(b, "dec", small());
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, layer(tgt, memory); });
  EXPECT_NE(msg.find("TransformerDecoderLayer 'dec': memory must be f32[2, length, 4], but got f32[3, 5, 4]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

TEST(Transformer, ShapeErrorNamesTheCallersLine) {
  Builder b("g");
  auto src = b.input("src", "f32[B, S, 4]");
  auto tgt = b.input("tgt", "f32[C, T, 4]");
  Transformer model(b, "model", small_transformer());
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, model(src, tgt); });
  EXPECT_NE(msg.find("Transformer 'model': tgt must be f32[B, length, 4], but got f32[C, T, 4]"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

TEST(TransformerEncoder, ShapeErrorNamesTheCallersLine) {
  Builder b("g");
  auto src = b.input("src", "f32[2, 5, 6]");
  TransformerEncoder encoder(b, "encoder", small(), 2);
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, encoder(src); });
  EXPECT_NE(msg.find("TransformerEncoder 'encoder': src must be f32[batch, length, 4], but got f32[2, 5, 6]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

TEST(TransformerDecoder, ShapeErrorNamesTheCallersLine) {
  Builder b("g");
  auto tgt = b.input("tgt", "f32[2, 3, 4]");
  auto memory = b.input("memory", "i64[2, 5, 4]");
  TransformerDecoder decoder(b, "decoder", small(), 2);
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, decoder(tgt, memory); });
  EXPECT_NE(msg.find("TransformerDecoder 'decoder': memory must be f32[2, length, 4], but got i64[2, 5, 4]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

TEST(TransformerEncoder, RejectsZeroLayers) {
  Builder b("g");
  std::string msg = error_of([&] { TransformerEncoder(b, "encoder", small(), 0); });
  EXPECT_NE(msg.find("num_layers must be at least 1, but got 0"), std::string::npos) << msg;
}

}  // namespace
}  // namespace weft::nn
