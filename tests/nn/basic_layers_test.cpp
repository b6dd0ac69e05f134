// Linear, LayerNorm, Dropout, FeedForward, Embedding and PositionalEncoding: parameter names as
// PyTorch's, hand-checked values, and shape errors that name the caller's line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "ir/init.h"
#include "tests/nn/nn_testing.h"

namespace weft::nn {
namespace {

using testing::error_of;
using testing::f32;
using testing::here;
using testing::run;
using testing::values;

TEST(Linear, ParamsAreNamedShapedAndInitializedAsTorch) {
  Builder b("g");
  {
    auto s = b.scope("encoder");
    Linear fc(b, "fc1", 3, 2);
  }
  const Graph& g = b.graph();
  ASSERT_EQ(g.params().size(), 2u);
  EXPECT_EQ(g.params()[0].name, "encoder.fc1.weight");
  EXPECT_EQ(g.type(g.params()[0].value).str(), "f32[2, 3]");
  EXPECT_EQ(g.params()[0].init.kind, "kaiming_uniform");
  EXPECT_NEAR(g.params()[0].init.args.at(0).second, std::sqrt(5.0), 1e-12);
  EXPECT_EQ(g.params()[1].name, "encoder.fc1.bias");
  EXPECT_EQ(g.type(g.params()[1].value).str(), "f32[2]");
  EXPECT_EQ(g.params()[1].init.kind, "linear_bias");
}

TEST(Linear, ComputesInputTimesWeightTransposedPlusBias) {
  Builder b("g");
  auto x = b.input("x", "f32[2, 2]");
  Linear fc(b, "fc", 2, 3);
  b.output("y", fc(x));
  auto out = run(b, {{"x", f32({2, 2}, {1, 1, 0, 2})}},
                 {{"fc.weight", f32({3, 2}, {1, 2, 3, 4, 5, 6})}, {"fc.bias", f32({3}, {0.5, -1, 2})}});
  EXPECT_EQ(values(out.at("y")), (std::vector<float>{3.5, 6, 13, 4.5, 7, 14}));
}

TEST(Linear, AcceptsASingleVectorAndSkipsTheBiasWhenAsked) {
  Builder b("g");
  auto x = b.input("x", "f32[2]");
  Linear fc(b, "fc", 2, 3, /*bias=*/false);
  b.output("y", fc(x));
  EXPECT_EQ(b.graph().params().size(), 1u);
  auto out = run(b, {{"x", f32({2}, {1, -1})}}, {{"fc.weight", f32({3, 2}, {1, 2, 3, 4, 5, 6})}});
  EXPECT_EQ(out.at("y").shape(), (std::vector<int64_t>{3}));
  EXPECT_EQ(values(out.at("y")), (std::vector<float>{-1, -1, -1}));
}

TEST(Linear, NodesCarryTheLayerScopeAndTheCallersLine) {
  Builder b("g");
  auto x = b.input("x", "f32[4, 2]");
  Linear fc(b, "fc", 2, 3);
  const int line = __LINE__ + 1;  // the call below
  fc(x);
  for (const Node& n : b.graph().nodes()) {
    EXPECT_EQ(n.scope, "fc");
    EXPECT_EQ(n.loc.line, line);
    EXPECT_NE(n.loc.file.find("basic_layers_test.cpp"), std::string::npos);
  }
}

TEST(Linear, ShapeErrorNamesTheLayerTheShapesAndTheCallersLine) {
  Builder b("g");
  auto x = b.input("x", "f32[2, 5]");
  Linear fc(b, "fc1", 4, 3);
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, fc(x); });
  EXPECT_NE(msg.find("Linear 'fc1': the input must be f32[..., 4], but got f32[2, 5]"), std::string::npos) << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

TEST(LayerNorm, NormalizesTheLastAxisThenScalesAndShifts) {
  Builder b("g");
  auto x = b.input("x", "f32[1, 4]");
  LayerNorm norm(b, "norm", 4);
  b.output("y", norm(x));
  EXPECT_EQ(b.graph().params()[0].name, "norm.weight");
  EXPECT_EQ(b.graph().params()[0].init.kind, "ones");
  EXPECT_EQ(b.graph().params()[1].init.kind, "zeros");
  auto out = run(b, {{"x", f32({1, 4}, {1, 2, 3, 4})}},
                 {{"norm.weight", f32({4}, {1, 1, 2, 2})}, {"norm.bias", f32({4}, {0, 0, 1, 1})}});
  // mean 2.5, biased variance 1.25.
  double inv = 1.0 / std::sqrt(1.25 + 1e-5);
  std::vector<double> want{-1.5 * inv, -0.5 * inv, 0.5 * inv * 2 + 1, 1.5 * inv * 2 + 1};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(values(out.at("y"))[i], want[i], 1e-5);
}

TEST(LayerNorm, ShapeErrorNamesTheCallersLine) {
  Builder b("g");
  auto x = b.input("x", "f32[2, 6]");
  LayerNorm norm(b, "norm1", 8);
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, norm(x); });
  EXPECT_NE(msg.find("LayerNorm 'norm1': the input must be f32[..., 8], but got f32[2, 6]"), std::string::npos) << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

TEST(Dropout, IsTheIdentityWithoutAStepAndScalesKeptValuesInTraining) {
  Builder b("g");
  auto x = b.input("x", "f32[1000]");
  auto step = b.input("step", "i64[]");
  Dropout drop(b, 0.5);
  EXPECT_EQ(drop(x, {}).id(), x.id());
  b.output("y", drop(x, step));
  std::vector<float> ones(1000, 1.0f);
  auto out = run(b, {{"x", f32({1000}, ones)}, {"step", weft::Tensor::from<int64_t>({}, {7})}});
  int zeros = 0;
  for (float v : values(out.at("y"))) {
    EXPECT_TRUE(v == 0.0f || v == 2.0f) << v;
    zeros += v == 0.0f;
  }
  EXPECT_GT(zeros, 400);
  EXPECT_LT(zeros, 600);
}

TEST(Dropout, RejectsAProbabilityOutsideZeroToOne) {
  Builder b("g");
  std::string msg = error_of([&] { Dropout(b, 1.0); });
  EXPECT_NE(msg.find("Dropout: p must be in [0, 1), but got 1"), std::string::npos) << msg;
}

TEST(Dropout, AStepOfTheWrongTypeIsAnErrorAtTheCallersLine) {
  Builder b("g");
  auto x = b.input("x", "f32[4]");
  auto step = b.input("step", "f32[]");
  Dropout drop(b, 0.1);
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, drop(x, step); });
  EXPECT_NE(msg.find("dropout: the offset must be an i64 scalar (e.g. the step), but got f32[]"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

TEST(FeedForward, ComputesLinear2OfActivationOfLinear1) {
  Builder b("g");
  auto x = b.input("x", "f32[3, 1]");
  FeedForward ff(b, "ff", 1, 2);
  b.output("y", ff(x));
  EXPECT_EQ(b.graph().params()[0].name, "ff.linear1.weight");
  EXPECT_EQ(b.graph().params()[2].name, "ff.linear2.weight");
  // relu(x) + relu(-x) = |x|.
  auto out = run(b, {{"x", f32({3, 1}, {3, -2, 0.5})}},
                 {{"ff.linear1.weight", f32({2, 1}, {1, -1})},
                  {"ff.linear1.bias", f32({2}, {0, 0})},
                  {"ff.linear2.weight", f32({1, 2}, {1, 1})},
                  {"ff.linear2.bias", f32({1}, {0})}});
  EXPECT_EQ(values(out.at("y")), (std::vector<float>{3, 2, 0.5}));
}

TEST(FeedForward, ShapeErrorNamesTheCallersLine) {
  Builder b("g");
  auto x = b.input("x", "f32[2, 7, 16]");
  FeedForward ff(b, "ff", 8, 32);
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, ff(x); });
  EXPECT_NE(msg.find("FeedForward 'ff': the input must be f32[..., 8], but got f32[2, 7, 16]"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

TEST(Embedding, LooksUpRowsAndOptionallyScalesBySqrtDim) {
  Builder b("g");
  auto ids = b.input("ids", "i64[1, 2]");
  Embedding emb(b, "emb", 3, 4);
  Embedding scaled(b, "scaled", 3, 4, {.scale_by_sqrt_dim = true});
  b.output("y", emb(ids));
  b.output("z", scaled(ids));
  EXPECT_EQ(b.graph().params()[0].name, "emb.weight");
  EXPECT_EQ(b.graph().params()[0].init.kind, "normal");
  weft::Tensor table = f32({3, 4}, {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2});
  auto out =
      run(b, {{"ids", weft::Tensor::from<int64_t>({1, 2}, {2, 1})}}, {{"emb.weight", table}, {"scaled.weight", table}});
  EXPECT_EQ(values(out.at("y")), (std::vector<float>{2, 2, 2, 2, 1, 1, 1, 1}));
  EXPECT_EQ(values(out.at("z")), (std::vector<float>{4, 4, 4, 4, 2, 2, 2, 2}));
}

TEST(Embedding, TakesAnInitializerInsteadOfTorchsNormal) {
  Builder b("g");
  Embedding emb(b, "emb", 64, 32, {.scale_by_sqrt_dim = true, .init = normal_init(0.0, 0.125)});
  const ParamDecl& p = b.graph().params()[0];
  EXPECT_EQ(p.init.kind, "normal");
  EXPECT_EQ(p.init.args, (std::vector<std::pair<std::string, double>>{{"mean", 0.0}, {"std", 0.125}}));
  EXPECT_NE(p.init.seed, 0u);  // a seed of 0 takes the builder's next one
  std::vector<std::byte> bytes = materialize_initializer(p.init, DType::f32, {64, 32});
  std::vector<float> w(bytes.size() / 4);
  std::memcpy(w.data(), bytes.data(), bytes.size());
  double sum = 0, squares = 0;
  for (float v : w) sum += v, squares += double(v) * v;
  const double n = static_cast<double>(w.size()), mean = sum / n;
  EXPECT_NEAR(std::sqrt(squares / n - mean * mean), 0.125, 0.01);  // 2048 draws: within 8%
}

TEST(Embedding, RejectsABadInitializerAtTheCallersLine) {
  Builder b("g");
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, Embedding(b, "emb", 4, 2, {.init = normal_init(0.0, -1.0)}); });
  EXPECT_NE(msg.find("param 'emb.weight': "), std::string::npos) << msg;
  EXPECT_NE(msg.find("std"), std::string::npos) << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

TEST(Embedding, ShapeErrorNamesTheCallersLine) {
  Builder b("g");
  auto ids = b.input("ids", "f32[2, 3]");
  Embedding emb(b, "emb", 10, 4);
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, emb(ids); });
  EXPECT_NE(msg.find("Embedding 'emb': the ids must have an integer dtype (i32 or i64), but got f32[2, 3]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

/// PE[t] for d_model 4: frequencies 1 and 10000^(-2/4) = 0.01.
std::vector<double> pe4(double t) { return {std::sin(t), std::cos(t), std::sin(t / 100), std::cos(t / 100)}; }

TEST(PositionalEncoding, AddsSinesAndCosinesForAnyLength) {
  Builder b("g");
  auto x = b.input("x", "f32[B, T, 4]");
  PositionalEncoding pe(b, "pe", 4);
  b.output("y", pe(x));
  auto exe = make_backend("interp")->compile(b.finish());
  for (int64_t length : {3, 60}) {
    std::vector<float> zeros(static_cast<size_t>(2 * length * 4), 0.0f);
    auto y = values(exe->run_named({{"x", f32({2, length, 4}, zeros)}}).at("y"));
    for (int64_t batch : {0, 1})
      for (int64_t t : {int64_t{0}, int64_t{1}, length - 1})
        for (int64_t i = 0; i < 4; ++i)
          EXPECT_NEAR(y[static_cast<size_t>((batch * length + t) * 4 + i)], pe4(static_cast<double>(t))[i], 2e-5)
              << "length " << length << ", t " << t << ", i " << i;
  }
}

TEST(PositionalEncoding, EncodesGivenPositions) {
  Builder b("g");
  auto pos = b.input("pos", "i64[2]");
  PositionalEncoding pe(b, "pe", 4);
  b.output("y", pe.encode(pos));
  auto y = values(run(b, {{"pos", weft::Tensor::from<int64_t>({2}, {7, 2})}}).at("y"));
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(y[static_cast<size_t>(i)], pe4(7)[static_cast<size_t>(i)], 1e-6);
    EXPECT_NEAR(y[static_cast<size_t>(4 + i)], pe4(2)[static_cast<size_t>(i)], 1e-6);
  }
}

TEST(PositionalEncoding, RejectsAnOddModelDimAndNamesTheCallersLineOnShapeErrors) {
  Builder b("g");
  EXPECT_NE(error_of([&] { PositionalEncoding(b, "pe", 5); }).find("d_model must be positive and even"),
            std::string::npos);
  auto x = b.input("x", "f32[2, 3, 6]");
  PositionalEncoding pe(b, "pe", 4);
  int line = 0;
  std::string msg = error_of([&] { line = __LINE__, pe(x); });
  EXPECT_NE(msg.find("PositionalEncoding 'pe': the input must be f32[batch, length, 4], but got f32[2, 3, 6]"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(here(__FILE__, line)), std::string::npos) << msg;
}

}  // namespace
}  // namespace weft::nn
