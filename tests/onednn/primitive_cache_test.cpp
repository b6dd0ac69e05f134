/** \file
 * The primitive cache (backends/onednn/primitive_cache.h): one primitive per distinct set of run
 * sizes, made at the first run at that size and reused after, never one per call.
 */
#include <gtest/gtest.h>

#include "tests/onednn/testing.h"

#ifdef WEFT_HAVE_ONEDNN
#include "backends/onednn/primitive_cache.h"
#include "backends/onednn/region_match.h"
#include "passes/pipeline.h"

namespace weft::onednn_tests {
namespace {

TEST(OnednnPrimitiveCache, MakesOnePrimitivePerDistinctSizeAndReusesIt) {
  SKIP_WITHOUT_ONEDNN();
  Graph g = parse_graph(
      "weft 1\ngraph lin(x: f32[B<=8, 5], w: f32[3, 5], b: f32[3]) -> (y: f32[B, 3]) {\n"
      "  %0 = matmul(x, w, transpose_b=true) : f32[B, 3]\n  %1 = add(%0, b) : f32[B, 3]\n  return %1\n}\n");
  Lowered lowered = lower(g, LoweringOptions{});
  ASSERT_TRUE(lowered.program.has_value());
  ASSERT_EQ(lowered.program->calls.size(), 1u);
  const KernelCall& call = lowered.program->calls[0];
  std::string why;
  std::optional<onednn::Plan> plan = onednn::match_call(call, &why);
  ASSERT_TRUE(plan.has_value()) << why;
  EXPECT_EQ(plan->describe(), "matmul + bias");
  onednn::PrimitiveCache cache(*plan, call);
  // x = 1 everywhere, w = 1, b = 0.5: every result element is 5.5, whatever the batch.
  std::vector<float> x(8 * 5, 1.0f), w(3 * 5, 1.0f), b(3, 0.5f), y(8 * 3, 0.0f);
  std::vector<void*> buffers{x.data(), w.data(), b.data(), y.data()};
  for (int64_t batch : {1, 3, 1, 3, 8, 3}) {
    std::fill(y.begin(), y.end(), 0.0f);
    ASSERT_TRUE(cache.run(buffers, {{"B", batch}}));
    for (int64_t i = 0; i < batch * 3; ++i) ASSERT_EQ(y[static_cast<size_t>(i)], 5.5f) << "batch " << batch;
    if (batch < 8) {
      EXPECT_EQ(y[static_cast<size_t>(batch * 3)], 0.0f) << "wrote past batch " << batch;
    }
  }
  EXPECT_EQ(cache.size(), 3u);  // B = 1, 3, 8
  // An empty batch has nothing to compute and makes no primitive to compute it.
  EXPECT_TRUE(cache.run(buffers, {{"B", 0}}));
  EXPECT_EQ(cache.size(), 4u);
}

}  // namespace
}  // namespace weft::onednn_tests
#endif
