/** \file
 * Random graphs (the fusion tests' generator: chains of elementwise ops with broadcasting,
 * reductions, reshapes, broadcasts, transposes, matmuls and softmaxes over the bounded symbols B
 * and T) on the LLVM backend against the interpreter, each at several sizes of B and T.
 */
#include <gtest/gtest.h>

#include "tests/fuse/random_graphs.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

class LlvmRandomGraphTest : public ::testing::TestWithParam<int> {};

TEST_P(LlvmRandomGraphTest, MatchesInterpreter) {
  auto seed = static_cast<uint64_t>(GetParam());
  fuse_tests::RandomGraph gen(seed);
  Graph g = gen.build(14);
  auto interp = InterpBackend().compile(g);
  auto llvm = LlvmBackend().compile_llvm(g);
  EXPECT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
  // Parameters (matmul weights) start at their zero initializers: give both the same random values.
  std::vector<Tensor> params;
  for (const ParamDecl& p : g.params()) {
    Graph holder;
    holder.add_input("p", g.type(p.value));
    Tensor value = random_inputs(holder, {}, seed * 31 + params.size())[0];
    interp->set_state(p.name, value);
    llvm->set_state(p.name, value);
    params.push_back(value);
  }
  for (int trial = 0; trial < 3; ++trial) {
    SymbolBindings dims = gen.random_dims();
    std::vector<Tensor> inputs = random_inputs(g, dims, seed * 7 + static_cast<uint64_t>(trial));
    std::vector<Tensor> want = interp->run(inputs);
    std::vector<Tensor> got = llvm->run(inputs);
    ASSERT_EQ(want.size(), got.size());
    for (size_t k = 0; k < want.size(); ++k)
      expect_close(want[k], got[k], {1e-4, 1e-5},
                   fmt::format("seed {} B={} T={} output {}\n{}", seed, dims["B"], dims["T"], k, llvm->stats().report()));
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, LlvmRandomGraphTest, ::testing::Range(0, 60));

}  // namespace
}  // namespace weft::llvm_tests
