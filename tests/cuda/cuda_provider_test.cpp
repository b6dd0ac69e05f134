// The CUDA provider end to end on the emulated GPU (emulated_gpu.h): models compiled by a chain
// led by it give the interpreter's answers, with parameters and optimizer state kept in the
// device's memory (only inputs and outputs copied per run); what it cannot run yet is an error
// naming the op. The same tests on the real GPU run when one is present.
#include "backends/cuda/cuda_provider.h"

#include <gtest/gtest.h>

#include <cmath>

#include "backends/cuda/cuda_driver.h"
#include "backends/interp/interpreter.h"
#include "bench/models.h"
#include "tests/cuda/cuda_testing.h"
#include "tests/cuda/emulated_gpu.h"

namespace weft::cuda_backend {
namespace {

using Host = weft::Tensor;

Host random_f32(std::vector<int64_t> shape, uint64_t seed) {
  Host t = Host::zeros(DType::f32, std::move(shape));
  uint64_t x = seed * 2654435761u + 1;
  for (int64_t i = 0; i < t.numel(); ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    t.data<float>()[i] = static_cast<float>(static_cast<int64_t>(x >> 40) % 2000) / 1000.0f - 1.0f;
  }
  return t;
}

void expect_close(const Host& got, const Host& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double w = want.data<float>()[i], g = got.data<float>()[i];
    ASSERT_NEAR(g, w, 1e-4 + 1e-3 * std::fabs(w)) << what << ", element " << i;
  }
}

/// An MLP with a softmax cross-entropy loss: matmuls with bias epilogues, relu, a row reduction.
Graph classifier() {
  Builder b("classifier");
  Tensor x = b.input("x", "f32[B<=16, 12]");
  Tensor labels = b.input("labels", "i64[B]");
  nn::Linear fc1(b, "fc1", 12, 32), fc2(b, "fc2", 32, 5);
  nn::LayerNorm norm(b, "norm", 32);
  b.output("loss", cross_entropy(fc2(relu(norm(fc1(x)))), labels));
  return b.finish();
}

Host labels_of(int64_t batch) {
  Host t = Host::zeros(DType::i64, {batch});
  for (int64_t i = 0; i < batch; ++i) t.data<int64_t>()[i] = (i * 3) % 5;
  return t;
}

Host scalar_f32(float v) {
  Host t = Host::zeros(DType::f32, {});
  t.data<float>()[0] = v;
  return t;
}

Host scalar_i64(int64_t v) {
  Host t = Host::zeros(DType::i64, {});
  t.data<int64_t>()[0] = v;
  return t;
}

struct Emulated {
  std::shared_ptr<EmulatedGpu> gpu = std::make_shared<EmulatedGpu>();
  ProviderChain backend{"cuda", {cuda_provider([g = gpu] { return std::shared_ptr<GpuDevice>(g); })}};
};

TEST(CudaProvider, AClassifierForwardMatchesTheInterpreterAtSeveralBatchSizes) {
  Emulated e;
  Graph g = classifier();
  auto cuda = e.backend.compile_chain(g);
  auto interp = InterpBackend().compile(g);
  for (const NodeStats& n : cuda->stats().nodes) EXPECT_EQ(n.provider, "cuda") << n.op << " " << n.scope;
  for (int64_t batch : {1, 5, 16}) {
    std::vector<Host> in{random_f32({batch, 12}, static_cast<uint64_t>(batch)), labels_of(batch)};
    expect_close(cuda->run(in)[0], interp->run(in)[0], fmt::format("B = {}", batch));
  }
  EXPECT_GT(e.gpu->gemms, 0);
  EXPECT_GT(e.gpu->launches, 0);
}

TEST(CudaProvider, ATrainStepKeepsItsStateOnTheDeviceAndMatchesTheInterpreter) {
  Emulated e;
  Graph step = make_train_step(classifier(), {.optimizer = AdamOptions{}, .clip_grad_norm = 1.0});
  auto cuda = e.backend.compile_chain(step);
  auto interp = InterpBackend().compile(step);
  for (int s = 0; s < 3; ++s) {
    std::vector<Host> in{random_f32({8, 12}, 100 + static_cast<uint64_t>(s)), labels_of(8), scalar_f32(0.01f),
                         scalar_i64(s + 1)};
    const int64_t before_in = e.gpu->copies_in, before_out = e.gpu->copies_out;
    std::vector<Host> got = cuda->run(in);
    // Per run: the inputs in, the outputs out; the parameters and Adam's slots stay on the device,
    // where their initial values go once, when the first run needs them.
    const auto state_in = s == 0 ? static_cast<int64_t>(cuda->signature().state.size()) : 0;
    EXPECT_EQ(e.gpu->copies_in - before_in, static_cast<int64_t>(in.size()) + state_in) << "step " << s;
    EXPECT_EQ(e.gpu->copies_out - before_out, static_cast<int64_t>(got.size())) << "step " << s;
    std::vector<Host> want = interp->run(in);
    ASSERT_EQ(got.size(), want.size());
    for (size_t o = 0; o < got.size(); ++o) expect_close(got[o], want[o], fmt::format("step {}, output {}", s, o));
  }
  for (const char* p : {"fc1.weight", "fc2.bias", "norm.weight"})
    expect_close(cuda->state(p), interp->state(p), fmt::format("{} after 3 steps", p));
}

/// A one-layer Transformer encoder's train step (embeddings and their scatter_add gradient,
/// attention, layer norm, label smoothing, Adam), two steps on `backend` against the interpreter.
void transformer_steps(const Backend& backend) {
  Builder b("reverser");
  Tensor tokens = b.input("tokens", "i64[B<=4, 6]");
  Tensor targets = b.input("targets", "i64[B, 6]");
  nn::Embedding embed(b, "embed", 7, 8);
  nn::PositionalEncoding positions(b, "positions", 8);
  nn::TransformerEncoder encoder(b, "encoder", {.d_model = 8, .nhead = 2, .dim_feedforward = 12, .dropout = 0.0}, 1);
  nn::Linear head(b, "head", 8, 7);
  b.output("loss", cross_entropy(head(encoder(positions(embed(tokens)))), targets, {.label_smoothing = 0.1}));
  Graph step = make_train_step(b.finish(), {.optimizer = AdamOptions{}});
  auto cuda = backend.compile(step);
  auto interp = InterpBackend().compile(step);
  for (int s = 0; s < 2; ++s) {
    Host tok = Host::zeros(DType::i64, {3, 6}), tgt = Host::zeros(DType::i64, {3, 6});
    for (int64_t i = 0; i < 18; ++i) {
      tok.data<int64_t>()[i] = (i * 5 + s) % 7;
      tgt.data<int64_t>()[i] = (i * 3 + 1) % 7;
    }
    std::vector<Host> in{tok, tgt, scalar_f32(0.01f), scalar_i64(s + 1)};
    std::vector<Host> got = cuda->run(in), want = interp->run(in);
    for (size_t o = 0; o < got.size(); ++o) expect_close(got[o], want[o], fmt::format("step {}, output {}", s, o));
  }
  expect_close(cuda->state("embed.weight"), interp->state("embed.weight"), "embed.weight after 2 steps");
}

TEST(CudaProvider, ATransformerTrainStepMatchesTheInterpreter) {
  Emulated e;
  transformer_steps(e.backend);
}

TEST(CudaProvider, DropoutDrawsTheInterpretersMasksOnTheDevice) {
  // rng_uniform's Philox on the device gives the CPU's numbers bit for bit, so a train step with
  // dropout follows the interpreter's step for step.
  Emulated e;
  Builder b("dropout");
  Tensor x = b.input("x", "f32[B, 12]");
  Tensor labels = b.input("labels", "i64[B]");
  Tensor step = b.input("step", "i64[]");
  nn::Linear fc1(b, "fc1", 12, 16), fc2(b, "fc2", 16, 5);
  b.output("loss", cross_entropy(fc2(dropout(relu(fc1(x)), step, {.p = 0.25, .seed = 3})), labels));
  Graph train = make_train_step(b.finish(), {.optimizer = AdamOptions{}});
  auto cuda = e.backend.compile_chain(train);
  auto interp = InterpBackend().compile(train);
  bool has_rng = false;
  for (const NodeStats& n : cuda->stats().nodes) has_rng = has_rng || n.op == "rng_uniform";
  EXPECT_TRUE(has_rng) << "the model's dropout draws its mask with rng_uniform";
  for (int s = 0; s < 3; ++s) {
    std::vector<Host> in{random_f32({6, 12}, 40 + static_cast<uint64_t>(s)), labels_of(6), scalar_i64(s + 1),
                         scalar_f32(0.01f)};
    std::vector<Host> got = cuda->run(in), want = interp->run(in);
    for (size_t o = 0; o < got.size(); ++o) expect_close(got[o], want[o], fmt::format("step {}, output {}", s, o));
  }
}

TEST(CudaProvider, TheBenchmarkModelsCompileWithEveryCallOnTheGpu) {
  // What cuda_gpu_bench runs (bench/models.h, at small sizes): no call is left without a kernel.
  Emulated e;
  bench::EncoderLayerSize enc{.batch = 2, .length = 5, .d_model = 8, .heads = 2, .ff = 12};
  bench::TransformerSize tr{.vocab = 11, .d_model = 8, .heads = 2, .layers = 1, .ff = 12, .batch = 2, .source = 4,
                            .target = 3};
  for (const Graph& g : {bench::encoder_layer_graph(enc), make_train_step(bench::transformer_train_graph(tr))}) {
    auto exe = e.backend.compile_chain(g);
    EXPECT_GT(exe->stats().nodes.size(), 10u) << g.name();
    for (const NodeStats& n : exe->stats().nodes) EXPECT_EQ(n.provider, "cuda") << g.name() << ": " << n.op;
  }
}

TEST(CudaProvider, AnIndexOutOfRangeIsTheInterpretersError) {
  Emulated e;
  Graph g = classifier();
  auto cuda = e.backend.compile(g);
  Host labels = labels_of(4);
  labels.data<int64_t>()[2] = 9;
  try {
    std::vector<Host> in{random_f32({4, 12}, 1), labels};
    cuda->run(in);
    FAIL() << "a label of 9 for 5 classes ran";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("index 9 (at flat position 2 of the indices) is out of range"),
              std::string::npos)
        << err.what();
  }
}

TEST(CudaProvider, AnOpWithoutAKernelIsACompileErrorNamingIt) {
  Emulated e;
  Builder b("rnn");
  Tensor x = b.input("x", "f32[B, T, 3]");
  nn::LSTM lstm(b, "lstm", 3, 4);
  b.output("y", lstm(x).output);
  try {
    e.backend.compile(b.finish());
    FAIL() << "a scan compiled for the CUDA provider";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("scan"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("CUDA"), std::string::npos) << err.what();
  }
}

/// The provider on the real GPU (what make_backend("cuda") gives, without the registry, which
/// would link every provider: the GPU check bundle, scripts/gpu-bundle.sh, carries no LLVM).
const ProviderChain& gpu_backend() {
  static const ProviderChain chain("cuda", {cuda_provider()});
  return chain;
}

class CudaDeviceProvider : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::optional<std::string> why = gpu_unavailable()) GTEST_SKIP() << "no GPU: " << *why;
  }
};

TEST_F(CudaDeviceProvider, ATrainStepOnTheGpuMatchesTheInterpreter) {
  Graph step = make_train_step(classifier(), {.optimizer = AdamOptions{}, .clip_grad_norm = 1.0});
  auto cuda = gpu_backend().compile(step);
  auto interp = InterpBackend().compile(step);
  for (int s = 0; s < 3; ++s) {
    std::vector<Host> in{random_f32({8, 12}, 100 + static_cast<uint64_t>(s)), labels_of(8), scalar_f32(0.01f),
                         scalar_i64(s + 1)};
    std::vector<Host> got = cuda->run(in), want = interp->run(in);
    for (size_t o = 0; o < got.size(); ++o) expect_close(got[o], want[o], fmt::format("step {}, output {}", s, o));
  }
}

TEST_F(CudaDeviceProvider, ATransformerTrainStepOnTheGpuMatchesTheInterpreter) {
  transformer_steps(gpu_backend());
}

}  // namespace
}  // namespace weft::cuda_backend
