/** \file
 * Fusion on random graphs: for a few hundred generated DAGs, the fused graph verifies, every region
 * keeps its kind's rules, and on the interpreter it computes exactly what the unfused graph does at
 * random sizes of the symbolic dims.
 */
#include <gtest/gtest.h>

#include "random_graphs.h"
#include "testing.h"

namespace weft {
namespace {

using fuse_tests::decompose_and_fuse;
using fuse_tests::expect_same_results;
using fuse_tests::RandomGraph;

constexpr int kGraphs = 300;

TEST(FuseRandomGraphs, FusedGraphsVerifyAndMatchTheUnfusedOnTheInterpreter) {
  int64_t nodes_before = 0, kernels_after = 0;
  for (int seed = 1; seed <= kGraphs; ++seed) {
    RandomGraph gen(static_cast<uint64_t>(seed));
    Graph g = gen.build(4 + seed % 14);
    SCOPED_TRACE(::testing::Message() << "seed " << seed << "\n" << print_graph(g));
    Graph fused;
    ASSERT_NO_THROW(fused = decompose_and_fuse(g));
    nodes_before += static_cast<int64_t>(decompose(g).nodes().size());
    kernels_after += static_cast<int64_t>(fused.nodes().size());
    for (int run = 0; run < 2; ++run) expect_same_results(g, fused, gen.random_dims(), seed * 7 + run);
    if (::testing::Test::HasFailure()) return;  // one failing graph is enough to read
  }
  // Fusion did something overall: far fewer kernels than nodes.
  EXPECT_LT(kernels_after * 2, nodes_before);
}

TEST(FuseRandomGraphs, WithoutWrappingTheResultsMatchToo) {
  for (int seed = 1000; seed < 1100; ++seed) {
    RandomGraph gen(static_cast<uint64_t>(seed));
    Graph g = gen.build(10);
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    Graph fused = decompose_and_fuse(g, FuseOptions{.wrap_singletons = false});
    expect_same_results(g, fused, gen.random_dims(), seed);
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace weft
