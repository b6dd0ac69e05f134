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
#include "backends/provider.h"
#include "ir/error.h"
#include "tests/cuda/cuda_testing.h"

namespace weft::cuda_backend {
namespace {

struct Counts {
  int compiled = 0, declined = 0;
  std::map<std::string, int> kinds;
};

/// Generates and compiles every region of `model` lowered by the LLVM provider.
Counts compile_all(const Graph& model) {
  Counts counts;
  int index = 0;
  for_each_region(lowered_for_cuda(model), [&](const Node& n) {
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

TEST(CudaCodegen, EveryElementwiseOpAndCastCompiles) {
  Counts c = compile_all(elementwise_ops());
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
