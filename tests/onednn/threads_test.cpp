/** \file
 * One set of threads (backends/onednn/omp_threads.cpp): oneDNN's OpenMP workers sleep after each
 * primitive unless the user asked otherwise, and its team is as large as the Weft pool the call
 * runs under.
 */
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/onednn/testing.h"

#ifdef WEFT_HAVE_ONEDNN
#include <omp.h>
#endif

namespace weft::onednn_tests {
namespace {

/// The environment this process was started with (before anything in it ran).
std::string initial_environment() {
  std::ifstream in("/proc/self/environ", std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

#ifdef WEFT_HAVE_ONEDNN
/// What libgomp itself says it read from the environment (omp_display_env prints it on stderr).
std::string openmp_settings() {
  ::testing::internal::CaptureStderr();
  omp_display_env(1);
  return ::testing::internal::GetCapturedStderr();
}

TEST(OnednnThreads, OpenmpWorkersWaitPassivelyUnlessTheUserSetAPolicy) {
  SKIP_WITHOUT_ONEDNN();
  const std::string initial = initial_environment();
  const std::string settings = openmp_settings();
  if (initial.find("OMP_WAIT_POLICY=") == std::string::npos && initial.find("GOMP_SPINCOUNT=") == std::string::npos) {
    // Set before libgomp started: its workers never spin (without it: GOMP_SPINCOUNT '300000').
    EXPECT_STREQ(std::getenv("OMP_WAIT_POLICY"), "PASSIVE");
    EXPECT_NE(settings.find("GOMP_SPINCOUNT = '0'"), std::string::npos) << settings;
  } else if (const char* policy = std::getenv("OMP_WAIT_POLICY")) {
    EXPECT_NE(initial.find(std::string("OMP_WAIT_POLICY=") + policy), std::string::npos);  // the user's, untouched
  }
}

TEST(OnednnThreads, OnednnRunsWithAsManyOpenmpThreadsAsTheCallsPool) {
  SKIP_WITHOUT_ONEDNN();
  // 65·65·65 multiply-adds: big enough to share; 31·7·65 is not, and runs on the caller alone.
  Graph g = parse_graph(
      "weft 1\ngraph mm(a: f32[65, 65], b: f32[65, 65], c: f32[31, 65], d: f32[65, 7]) -> "
      "(y: f32[65, 65], z: f32[31, 7]) {\n"
      "  %0 = matmul(a, b) : f32[65, 65]\n  %1 = matmul(c, d) : f32[31, 7]\n  return %0, %1\n}\n");
  std::vector<Tensor> inputs = random_inputs(g, {}, 5);
  Graph big = parse_graph(
      "weft 1\ngraph mm(a: f32[65, 65], b: f32[65, 65]) -> (y: f32[65, 65]) {\n"
      "  %0 = matmul(a, b) : f32[65, 65]\n  return %0\n}\n");
  for (int threads : {1, 3}) {
    compile_onednn(g, {.num_threads = threads})->run(inputs);
    EXPECT_EQ(omp_get_max_threads(), 1) << "the small product ran last";
    compile_onednn(big, {.num_threads = threads})->run(std::vector<Tensor>{inputs[0], inputs[1]});
    EXPECT_EQ(omp_get_max_threads(), threads);
  }
}
#endif

}  // namespace
}  // namespace weft::onednn_tests
