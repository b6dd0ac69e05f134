// The "cuda" backend in the registry (make_backend, available_backend_names) on a machine without
// a GPU; in test_cuda only (the GPU check bundle has no registry: it would link the LLVM provider).
#include <gtest/gtest.h>

#include <algorithm>

#include "backends/backend.h"
#include "backends/cuda/cuda_driver.h"
#include "tests/cuda/cuda_testing.h"

namespace weft::cuda_backend {
namespace {

Graph tiny_model() {
  Builder b("tiny");
  Tensor x = b.input("x", "f32[2, 3]");
  b.output("y", relu(x));
  return b.finish();
}

TEST(CudaProvider, TheCudaBackendWithoutAGpuFailsToCompileWithTheReason) {
  std::optional<std::string> why = gpu_unavailable();
  if (!why) GTEST_SKIP() << "a GPU is present: the CudaDevice tests run instead";
  std::unique_ptr<Backend> cuda = make_backend("cuda");
  EXPECT_EQ(cuda->unavailable(), "no GPU: " + *why);
  std::vector<std::string> available = available_backend_names();
  EXPECT_EQ(std::count(available.begin(), available.end(), "cuda"), 0) << "listed as runnable here";
  EXPECT_EQ(std::count(available.begin(), available.end(), "interp"), 1);
  try {
    cuda->compile(tiny_model());
    FAIL() << "compiled for a GPU that is not there";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find(*why), std::string::npos) << err.what();
  }
}

}  // namespace
}  // namespace weft::cuda_backend
