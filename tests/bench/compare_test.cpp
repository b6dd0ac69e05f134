// bench/compare.py, the driver of `make bench`, run as `make bench` runs it: a peer whose package pip
// cannot install (here pip's index is a closed port, as on a machine without a network) is reported
// as absent and the run goes on to its table, JSON lines, chart and ratio lines.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "tests/tool_runner.h"

namespace weft::tool_testing {
namespace {

int count_lines(const std::string& text) {
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

TEST(BenchCompare, PeersPipCannotInstallAreAbsentAndTheRunGoesOn) {
  fs::path dir = fresh_test_dir("bench_compare");
  std::string args = fmt::format(
      "{} --build {} --workloads matmul_256x256x256 --peers pytorch2,onnxruntime,jax --rounds 2 --warmup 1 "
      "--no-cold --venv {} --results {} --svg {}",
      q(fs::path(WEFT_SOURCE_DIR) / "bench/compare.py"), q(fs::path(WEFT_BINARY_DIR)), q(dir / "venv"),
      q(dir / "results.jsonl"), q(dir / "ratios.svg"));
  RunResult r = run_tool("python3", args, dir, "PIP_INDEX_URL=http://127.0.0.1:9/simple PIP_RETRIES=0");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("peers: pip could not install torch"), std::string::npos) << r.out;
  for (const char* peer : {"pytorch2", "onnxruntime", "jax"})
    EXPECT_TRUE(std::regex_search(r.out, std::regex(std::string("\n  ") + peer + " +absent: ModuleNotFoundError")))
        << peer << " in\n"
        << r.out;
  // Weft still ran, and the last line is the one scripts read.
  EXPECT_TRUE(
      std::regex_search(r.out, std::regex("\nratio matmul_256x256x256 weft_ms=[0-9]+\\.[0-9]{3} best=none:nan nan\n$")))
      << r.out;
  std::string results = slurp(dir / "results.jsonl");
  EXPECT_EQ(count_lines(results), 4) << results;  // Weft and the three absent peers, each with its status
  EXPECT_NE(results.find("\"impl\": \"onnxruntime\", \"status\": \"absent\""), std::string::npos) << results;
  EXPECT_NE(results.find("\"impl\": \"weft\", \"status\": \"ok\", \"median_ms\": "), std::string::npos) << results;
  EXPECT_NE(slurp(dir / "ratios.svg").find("<svg"), std::string::npos);
  fs::remove_all(dir);
}

TEST(BenchCompare, APeerThatFailsIsReportedAsAnErrorAndTheRunGoesOn) {
  fs::path dir = fresh_test_dir("bench_compare");
  std::string args = fmt::format(
      "{} --build {} --workloads matmul_256x256x256 --peers pytorch1.13 --rounds 1 --warmup 1 --no-cold "
      "--results {} --svg {}",
      q(fs::path(WEFT_SOURCE_DIR) / "bench/compare.py"), q(fs::path(WEFT_BINARY_DIR)), q(dir / "results.jsonl"),
      q(dir / "ratios.svg"));
  // PyTorch 1.13's python exits at once, without a word: a failed worker, not an absent peer.
  RunResult r = run_tool("python3", args, dir, "WEFT_BENCH_PYTHON=/bin/false");
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\n  pytorch1.13 +error: exited with status 1\n"))) << r.out;
  EXPECT_NE(slurp(dir / "results.jsonl").find("\"impl\": \"pytorch1.13\", \"status\": \"error\""), std::string::npos);
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\nratio matmul_256x256x256 weft_ms=[0-9.]+ best=none:nan nan\n$")))
      << r.out;
  fs::remove_all(dir);
}

TEST(BenchCompare, AnUnknownWorkloadIsAUsageErrorNamingTheKnownOnes) {
  fs::path dir = fresh_test_dir("bench_compare");
  RunResult r = run_tool("python3",
                         fmt::format("{} --build {} --workloads encoder_layr",
                                     q(fs::path(WEFT_SOURCE_DIR) / "bench/compare.py"), q(fs::path(WEFT_BINARY_DIR))),
                         dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown peer or workload: encoder_layr (peers: pytorch1.13, pytorch2"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("workloads: matmul_1024x512x512"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

TEST(BenchCompare, G2PTrainIsReportedInMillisecondsPerThousandTokens) {
  // A repetition is one train step on the demo's batch of 64 words x 10 phonemes (640 tokens): the
  // rounds log the step's milliseconds, the table, the JSON lines and the ratio line 1000/640 of them.
  fs::path dir = fresh_test_dir("bench_compare");
  std::string args = fmt::format(
      "{} --build {} --workloads g2p_train --peers pytorch1.13 --rounds 2 --warmup 1 --no-cold --no-venv "
      "--results {} --svg {}",
      q(fs::path(WEFT_SOURCE_DIR) / "bench/compare.py"), q(fs::path(WEFT_BINARY_DIR)), q(dir / "results.jsonl"),
      q(dir / "ratios.svg"));
  RunResult r = run_tool("python3", args, dir);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  std::vector<double> step_ms;
  std::smatch m;
  for (auto it = r.out.cbegin();
       std::regex_search(it, r.out.cend(), m, std::regex("round [0-9]+/2 load [0-9.]+: weft ([0-9.]+)"));
       it = m.suffix().first)
    step_ms.push_back(std::stod(m[1]));
  ASSERT_EQ(step_ms.size(), 2u) << r.out;
  std::string results = slurp(dir / "results.jsonl");
  ASSERT_TRUE(std::regex_search(results, m,
                                std::regex("\"impl\": \"weft\"[^\n]*\"samples_ms\": \\[([0-9.e+-]+), "
                                           "([0-9.e+-]+)\\]")))
      << results;
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(std::stod(m[i + 1]), step_ms[i] * 1000.0 / 640.0, 0.02) << results;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\nratio g2p_train weft_ms=[0-9]+\\.[0-9]{3} best="))) << r.out;
  fs::remove_all(dir);
}

TEST(BenchCompare, TheProvidersLineIsAutoOverTheFasterOfLlvmAndOnednn) {
  fs::path dir = fresh_test_dir("bench_compare");
  std::string script = fmt::format(
      "import sys; sys.path.insert(0, {}); import compare\n"
      "g = {{'name': 'encoder_layer'}}\n"
      "w = [{{'workload': 'encoder_layer', 'median_ms': 10.0}}, {{'workload': 'encoder_layer_so', 'median_ms': 1.0}},\n"
      "     {{'workload': 'encoder_layer@onednn', 'median_ms': 8.0}}, {{'workload': 'encoder_layer@auto', 'median_ms': "
      "8.4}}]\n"
      "print(compare.providers_line(g, w))\n"
      "print(compare.providers_line(g, w[:3]))\n",
      q(fs::path(WEFT_SOURCE_DIR) / "bench"));
  std::ofstream(dir / "t.py") << script;
  RunResult r = run_tool("python3", q(dir / "t.py"), dir);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  // 8.4 / min(10, 8); the shared object is no provider; without an auto worker there is no line.
  EXPECT_EQ(r.out, "providers encoder_layer llvm_ms=10.000 onednn_ms=8.000 auto_ms=8.400 auto/best=1.050\nNone\n");
  fs::remove_all(dir);
}

TEST(BenchCompare, AWorkloadNamedWithABackendCompilesWithItAndAnUnknownOneIsAnError) {
  fs::path dir = fresh_test_dir("bench_compare");
  std::ofstream(dir / "in.txt") << "run 2\nquit\n";
  fs::path worker = fs::path(WEFT_BINARY_DIR) / "bench" / "bench_models";
  RunResult r = run_tool(worker, "matmul_64x64x64@interp < " + q(dir / "in.txt"), dir);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("^ready setup_ms=[0-9.]+ flops=524288\ntimes [0-9.]+ [0-9.]+\n$")))
      << r.out;
  RunResult bad = run_tool(worker, "matmul_64x64x64@nope < " + q(dir / "in.txt"), dir);
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(bad.out.rfind("error unknown backend 'nope' (available: interp", 0), 0u) << bad.out;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace weft::tool_testing
