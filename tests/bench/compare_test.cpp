// bench/compare.py, the driver of `make bench`, run as `make bench` runs it: a peer whose package pip
// cannot install (here pip's index is a closed port, as on a machine without a network) is reported
// as absent and the run goes on to its table, JSON lines, chart and ratio lines.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

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

TEST(BenchCompare, AWorkerSettlesWithUntimedRepetitionsRightBeforeItsTimedOne) {
  // A stand-in worker (bench/peers/protocol.py, 10 ms a repetition) that logs each repetition's
  // start and end: settle(0.05) runs untimed repetitions for at least 50 ms and then the timed one
  // follows at once; settle(0) runs none.
  fs::path dir = fresh_test_dir("bench_compare");
  std::ofstream(dir / "worker.py") << "import sys, time\nsys.path.insert(0, sys.argv[2])\nimport protocol\n"
                                      "log = open(sys.argv[1], 'w')\n"
                                      "def rep():\n"
                                      "    log.write(f'{time.monotonic()} '); time.sleep(0.01); "
                                      "log.write(f'{time.monotonic()}\\n'); log.flush()\n"
                                      "protocol.serve(rep, 1.0, 0, 'stand-in')\n";
  std::string script = fmt::format(
      "import os, sys; sys.path.insert(0, {0}); import compare\n"
      "w = compare.Worker('stand-in', [sys.executable, {1}, {2}, {3}], dict(os.environ))\n"
      "w.wait_ready()\n"
      "w.settle(0.05); w.run(1)\n"
      "first = w.settle_runs\n"
      "w.settle(0); w.run(1)\n"
      "w.close()\n"
      "print(w.status, first, w.settle_runs, len(w.samples))\n",
      q(fs::path(WEFT_SOURCE_DIR) / "bench"), q(dir / "worker.py"), q(dir / "log.txt"),
      q(fs::path(WEFT_SOURCE_DIR) / "bench" / "peers"));
  std::ofstream(dir / "t.py") << script;
  RunResult r = run_tool("python3", q(dir / "t.py"), dir);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  std::istringstream out(r.out);
  std::string status;
  int settled = 0, settled_total = 0, samples = 0;
  out >> status >> settled >> settled_total >> samples;
  EXPECT_EQ(status, "ok") << r.out;
  EXPECT_GE(settled, 1) << r.out;
  EXPECT_EQ(settled_total, settled) << "settle(0) ran repetitions: " << r.out;
  EXPECT_EQ(samples, 2) << r.out;  // only the timed repetitions are samples
  std::vector<std::pair<double, double>> reps;
  std::istringstream log(slurp(dir / "log.txt"));
  for (double a, b; log >> a >> b;) reps.emplace_back(a, b);
  ASSERT_EQ(reps.size(), static_cast<size_t>(settled + 2)) << slurp(dir / "log.txt");
  // The settling repetitions span at least 50 ms, and the timed one starts right after the last.
  EXPECT_GE(reps[static_cast<size_t>(settled) - 1].second - reps[0].first, 0.05);
  EXPECT_LT(reps[static_cast<size_t>(settled)].first - reps[static_cast<size_t>(settled) - 1].second, 0.05);
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
