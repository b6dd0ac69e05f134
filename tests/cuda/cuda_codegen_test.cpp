// The CUDA backend's code generation, on every machine: each fused region of real models (a
// Transformer train step, an LSTM train step with sequence lengths, greedy decoding's pieces) and
// of one region per elementwise op becomes CUDA C that NVRTC compiles, with the kernel in its PTX.
// NVRTC needs no GPU; the tests that run kernels are in cuda_device_test.cpp and skip without one.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>

#include "backends/cuda/cuda_driver.h"
#include "backends/cuda/cuda_source.h"
#include "backends/cuda/nvrtc.h"
#include "backends/llvm/llvm_backend.h"
#include "backends/provider.h"
#include "frontend/builder.h"
#include "frontend/nn/nn.h"
#include "frontend/tensor_ops.h"
#include "frontend/train_step.h"
#include "ir/error.h"

namespace weft::cuda_backend {
namespace {

using namespace dsl;
using dsl::Tensor;
using train::AdamOptions;
using train::make_train_step;

/// Every fused region of `g` as the LLVM provider lowers it (scan bodies included): its body and kind.
void for_each_region(const Graph& g, const std::function<void(const Node&)>& f) {
  for (const Node& n : g.nodes()) {
    if (!n.body) continue;
    if (n.op == OpKind::fusion)
      f(n);
    else
      for_each_region(*n.body, f);
  }
}

struct Counts {
  int compiled = 0, declined = 0;
  std::map<std::string, int> kinds;
};

/// Generates and compiles every region of `model` lowered by the LLVM provider.
Counts compile_all(const Graph& model) {
  auto exe = LlvmBackend().compile(model);
  auto* compiled = dynamic_cast<CompiledExecutable*>(exe.get());
  EXPECT_NE(compiled, nullptr);
  Counts counts;
  if (!compiled) return counts;
  int index = 0;
  for_each_region(compiled->compiled_graph(), [&](const Node& n) {
    const std::string kind = n.attrs.get_string("kind");
    llvm_backend::LowerResult lowered = llvm_backend::lower_region(*n.body, kind);
    if (!lowered.region) {
      ++counts.declined;  // the LLVM provider runs it on the interpreter, and so would CUDA's
      return;
    }
    const std::string name = fmt::format("region_{}", index++);
    KernelSource k = cuda_source(*lowered.region, name);
    if (getenv("WEFT_DUMP_CUDA")) fmt::print("// {} {}\n{}\n", n.scope, kind, k.source);
    Ptx ptx;
    ASSERT_NO_THROW(ptx = compile_to_ptx(k.source, k.name)) << n.scope << " (" << kind << ")";
    EXPECT_NE(ptx.text.find(".entry " + name), std::string::npos) << n.scope;
    ++counts.compiled;
    ++counts.kinds[kind];
  });
  return counts;
}

Graph transformer_train_step() {
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

Graph lstm_train_step() {
  Builder b("lstm");
  Tensor x = b.input("x", "f32[B<=4, T<=6, 3]");
  Tensor lengths = b.input("lengths", "i64[B]");
  Tensor target = b.input("target", "f32[B, 5]");
  nn::LSTM lstm(b, "lstm", 3, 5, {.num_layers = 2});
  nn::LstmOutput out = lstm(x, {}, lengths);
  b.output("loss", dsl::mse_loss(dsl::mean(out.output, {1}), target));
  return make_train_step(b.finish(), {.optimizer = AdamOptions{}});
}

TEST(CudaCodegen, EveryRegionOfATransformerTrainStepCompiles) {
  Counts c = compile_all(transformer_train_step());
  EXPECT_GT(c.kinds["loop"], 10);
  EXPECT_GT(c.kinds["reduction"], 5);  // softmax, layer norm, the loss, their gradients
  EXPECT_GT(c.kinds["matmul"], 5);     // the epilogues of the GEMMs
}

TEST(CudaCodegen, EveryRegionOfAnLstmTrainStepWithLengthsCompiles) {
  Counts c = compile_all(lstm_train_step());
  EXPECT_GT(c.compiled, 5);
}

/// One loop region per elementwise op of the op table that generated code takes, at f32 and at the
/// op's integer type where it has one, and the casts between every pair of types.
TEST(CudaCodegen, EveryElementwiseOpAndCastCompiles) {
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
  Counts c = compile_all(b.finish());
  EXPECT_GT(c.compiled, 0);
  EXPECT_EQ(c.declined, 0);
}

TEST(CudaCodegen, ACompileErrorNamesTheKernelAndShowsTheNumberedSource) {
  try {
    compile_to_ptx("extern \"C\" __global__ void broken(float* p) { p[0] = undefined_name; }\n", "broken");
    FAIL() << "NVRTC compiled an undefined name";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("'broken'"), std::string::npos) << m;
    EXPECT_NE(m.find("undefined_name"), std::string::npos) << m;
    EXPECT_NE(m.find("   1 extern"), std::string::npos) << m;
  }
}

TEST(CudaCodegen, TheSecondCompileOfTheSameSourceIsACacheHit) {
  const std::string src = "extern \"C\" __global__ void twice(float* p) { p[threadIdx.x] *= 2.0f; }\n";
  Ptx first = compile_to_ptx(src, "twice", 86);
  Ptx second = compile_to_ptx(src, "twice", 86);
  EXPECT_TRUE(second.cache_hit);
  EXPECT_EQ(first.text, second.text);
  EXPECT_FALSE(compile_to_ptx(src, "twice", 90).cache_hit) << "another architecture is another entry";
}

TEST(CudaDriver, NoGpuIsAReasonNeverACrash) {
  // On a machine without a driver or a device, the answer is a sentence; with one, device 0's name.
  if (std::optional<std::string> why = gpu_unavailable()) {
    EXPECT_FALSE(why->empty());
    EXPECT_THROW(driver(), Error);
  } else {
    EXPECT_FALSE(device_info().name.empty());
    EXPECT_GE(device_info().compute_capability, 50);
  }
}

}  // namespace
}  // namespace weft::cuda_backend
