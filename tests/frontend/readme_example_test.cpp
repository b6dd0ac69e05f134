// The README's "A model in a few lines" snippet, verbatim, so the first code a user reads compiles and runs.
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "frontend/builder.h"
#include "frontend/nn/nn.h"
#include "frontend/tensor_ops.h"

namespace {

TEST(ReadmeExample, MlpSnippetBuildsAndRunsOnTheInterpreter) {
  using namespace weft;
  Builder b("mlp");
  dsl::Tensor x = b.input("x", "f32[B<=4096, 784]");   // B is symbolic, bounded where it is declared
  nn::Linear fc1(b, "fc1", 784, 256), fc2(b, "fc2", 256, 10);
  b.output("y", fc2(relu(fc1(x))));
  Graph g = b.finish();                                  // print_graph(g) gives the .weft text
  auto exe = make_backend("interp")->compile(g);        // parameters initialized as PyTorch does

  std::vector<Tensor> out = exe->run(std::vector<Tensor>{Tensor::zeros(DType::f32, {3, 784})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].shape(), (std::vector<int64_t>{3, 10}));
  // With a zero input the output is relu(fc1.bias) . fc2.weight^T + fc2.bias: check row 0 by hand.
  Tensor b1 = exe->state("fc1.bias"), w2 = exe->state("fc2.weight"), b2 = exe->state("fc2.bias");
  for (int j = 0; j < 10; ++j) {
    double want = b2.at(j);
    for (int k = 0; k < 256; ++k) want += std::max(0.0, b1.at(k)) * w2.at(j * 256 + k);
    EXPECT_NEAR(out[0].at(j), want, 1e-5);
  }
}

}  // namespace
