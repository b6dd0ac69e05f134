/** \file
 * weft-opt as a Unix tool: output on stdout matching the IR-out files, -o, the empty pass list,
 * and one line on stderr with a non-zero status on failure. Skipped when weft-opt is not built
 * (it is a separate target).
 */
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/tool_runner.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

using ToolRun = tool_testing::RunResult;
using tool_testing::slurp;

class WeftOpt : public ::testing::Test {
 protected:
  void SetUp() override {
    tool_ = fs::path(WEFT_BINARY_DIR) / "tools" / "weft-opt";
    if (!fs::exists(tool_)) GTEST_SKIP() << tool_ << " is not built";
    dir_ = fs::temp_directory_path() /
           ("weft_opt_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  ToolRun run(const std::string& args) { return tool_testing::run_tool(tool_, args, dir_); }

  static std::string case_file(const std::string& name) {
    return (fs::path(WEFT_SOURCE_DIR) / "tests" / "passes" / "cases" / name).string();
  }

  fs::path tool_;
  fs::path dir_;
};

TEST_F(WeftOpt, PrintsTheResultOnStdout) {
  ToolRun r = run("--passes=fold-constants,dce " + case_file("fold_scalar_chain.in.weft"));
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, slurp(case_file("fold_scalar_chain.out.weft")));
  EXPECT_EQ(r.err, "");
}

TEST_F(WeftOpt, RunsTheSimplifyingPassesInOrder) {
  ToolRun r = run("--passes=infer-shapes,fold-constants,hoist-scan-invariants,cse,dce " + case_file("standard_pipeline.in.weft"));
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, slurp(case_file("standard_pipeline.out.weft")));
}

TEST_F(WeftOpt, RunsTheLoweringPipelineByDefault) {
  ToolRun r = run(case_file("standard_pipeline.in.weft"));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("= fusion("), std::string::npos) << r.out;  // down to the fused regions
}

TEST_F(WeftOpt, AnEmptyPassListOnlyRoundTrips) {
  ToolRun r = run("--passes= --print-after-change " + case_file("dce_dead_chain.out.weft"));
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, slurp(case_file("dce_dead_chain.out.weft")));
  EXPECT_EQ(r.err, "");  // nothing ran, so nothing changed
}

TEST_F(WeftOpt, WritesToTheOutputFileInsteadOfStdout) {
  fs::path target = dir_ / "result.weft";
  ToolRun r = run("--passes=cse -o " + target.string() + " " + case_file("cse_duplicate_chains.in.weft"));
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(slurp(target), slurp(case_file("cse_duplicate_chains.out.weft")));
}

TEST_F(WeftOpt, ReportsTimingsAndChangesOnStderr) {
  ToolRun r = run("--passes=cse,dce --print-after-change --time-passes " + case_file("dce_dead_chain.in.weft"));
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, slurp(case_file("dce_dead_chain.out.weft")));
  EXPECT_EQ(r.err.find("# after cse"), std::string::npos);
  EXPECT_NE(r.err.find("# after dce\n" + r.out), std::string::npos);
  EXPECT_NE(r.err.find("# pass timing"), std::string::npos);
}

TEST_F(WeftOpt, FailsWithStatus2AndOneLineForAnUnknownPass) {
  ToolRun r = run("--passes=cse,dead " + case_file("dce_dead_chain.in.weft"));
  EXPECT_EQ(r.status, 2);  // the pass list is part of the command line
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "weft-opt: unknown pass 'dead' (the passes are: verify, infer-shapes, fold-constants, "
            "hoist-scan-invariants, sink-scan-accumulations, outer-products, cse, dce, inline-fusions, decompose, fuse)\n");
}

TEST_F(WeftOpt, FailsWithOneLineForAMalformedFile) {
  std::ofstream(dir_ / "bad.weft")
      << "weft 1\ngraph g(x: f32[3]) -> (y: f32[3]) {\n  %0 = nope(x) : f32[3]\n  return %0\n}\n";
  ToolRun r = run((dir_ / "bad.weft").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("weft-opt: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bad.weft:3:"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(WeftOpt, FailsWithStatus2ForABadCommandLine) {
  ToolRun r = run("--no-such-flag");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(WeftOpt, ListsThePasses) {
  ToolRun r = run("--list-passes");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("fold-constants"), std::string::npos);
  EXPECT_NE(r.out.find("lowering pipeline (the default): verify inline-fusions infer-shapes decompose fold-constants "
                       "hoist-scan-invariants sink-scan-accumulations cse dce fuse lower-scan-bodies\n"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace weft
