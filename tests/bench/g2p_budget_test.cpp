// bench/g2p_budget.py, `make bench`'s G2P race (the demo against train_torch.py for one budget), with
// stand-ins for the two trainers: what each was asked to do, the side-by-side table, the ratio line,
// the JSON lines, and a run that fails being reported while the others' rows still print.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/tool_runner.h"

namespace weft::tool_testing {
namespace {

void write_script(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
  fs::permissions(path, fs::perms::owner_all);
}

// example_g2p's stand-in: prints its arguments and a progress line, writes results.json into --out.
const char* kFakeWeft = R"(#!/bin/sh
echo "args: $*"
out=""
while [ $# -gt 0 ]; do if [ "$1" = --out ]; then out="$2"; fi; shift; done
echo "step 10  epoch 0.01  loss 2.0000"
printf '%s\n' '{"model": "transformer", "train_minutes": 0.02, "steps": 120, "train_tokens_per_s": 3400, "dev_greedy_per": 11.78, "dev_greedy_wer": 42.99, "test_greedy_per": 12.18, "test_greedy_wer": 44.19, "test_beam_4_per": 11.70, "test_beam_4_wer": 43.55}' > "$out/results.json"
)";

// train_torch.py's stand-in (run by the script's --python): a progress line, then its JSON line.
const char* kFakeTorch = R"(import sys
print("args:", " ".join(sys.argv[1:]))
print("step 50 epoch 0.13 loss 3.1000")
print('{"model": "transformer", "minutes": 0.02, "steps": 40, "train_tokens_per_s": 2000, "dev_per": 25.19, "dev_wer": 66.61, "test_per": 25.30, "test_wer": 68.20, "train_seconds": 1.2}')
)";

TEST(BenchG2pBudget, RunsBothTrainersAndPrintsTheirRowsSideBySide) {
  fs::path dir = fresh_test_dir("bench_g2p_budget");
  write_script(dir / "example_g2p", kFakeWeft);
  write_script(dir / "train_torch.py", kFakeTorch);
  std::string args = fmt::format(
      "{} --build {} --minutes 0.02 --runs weft,weft-ref,torch --out {} --results {} --python python3 "
      "--weft-exe {} --torch-script {}",
      q(fs::path(WEFT_SOURCE_DIR) / "bench/g2p_budget.py"), q(dir), q(dir / "out"), q(dir / "results.jsonl"),
      q(dir / "example_g2p"), q(dir / "train_torch.py"));
  RunResult r = run_tool("python3", args, dir);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  // Each trainer got the budget; the reference recipe's flags went to weft-ref only.
  EXPECT_NE(r.out.find("[weft] args: --minutes 0.02 --out " + (dir / "out" / "weft").string() + "\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("[weft-ref] args: --minutes 0.02 --out " + (dir / "out" / "weft-ref").string() +
                       " --batch 256 --warmup 4000 --lr-factor 1\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("[torch] args: --model transformer --minutes 0.02\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[torch] step 50 epoch 0.13 loss 3.1000\n"), std::string::npos) << r.out;  // progress
  EXPECT_NE(r.out.find("| Weft, the demo's recipe | 120 | 3,400 | 12.18 / 44.19 | 11.70 / 43.55 | 11.78 |"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("| PyTorch 1.13, the reference recipe | 40 | 2,000 | 25.30 / 68.20 | - | 25.19 |"),
            std::string::npos)
      << r.out;
  // 3,400 / 2,000 tokens/s.
  EXPECT_NE(r.out.find("ratio g2p_budget weft_tok/s=3400 pytorch1.13_tok/s=2000 1.70x test_per weft=12.18 "
                       "pytorch1.13=25.30\n"),
            std::string::npos)
      << r.out;
  std::string results = slurp(dir / "results.jsonl");
  EXPECT_NE(results.find("\"workload\": \"g2p_budget\", \"run\": \"weft-ref\", \"budget_minutes\": 0.02, \"steps\": 120"),
            std::string::npos)
      << results;
  EXPECT_NE(results.find("\"run\": \"torch\", \"budget_minutes\": 0.02, \"steps\": 40, \"tokens_per_s\": 2000"),
            std::string::npos)
      << results;
  fs::remove_all(dir);
}

TEST(BenchG2pBudget, ARunThatFailsIsReportedAndTheOthersStillPrint) {
  fs::path dir = fresh_test_dir("bench_g2p_budget");
  write_script(dir / "example_g2p", kFakeWeft);
  write_script(dir / "train_torch.py", "import sys\nprint('ModuleNotFoundError: No module named torch')\nsys.exit(3)\n");
  std::string args = fmt::format(
      "{} --build {} --minutes 0.02 --out {} --results {} --python python3 --weft-exe {} --torch-script {}",
      q(fs::path(WEFT_SOURCE_DIR) / "bench/g2p_budget.py"), q(dir), q(dir / "out"), q(dir / "results.jsonl"),
      q(dir / "example_g2p"), q(dir / "train_torch.py"));
  RunResult r = run_tool("python3", args, dir);
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("g2p_budget: torch failed (status 3); its last lines:\n"
                       "    ModuleNotFoundError: No module named torch\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("| Weft, the demo's recipe | 120 | 3,400 |"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("ratio g2p_budget"), std::string::npos) << r.out;  // nothing to divide by

  // A trainer that exits 0 without a result is a failure too, not a row of stale numbers.
  write_script(dir / "example_g2p", "#!/bin/sh\necho crashed before writing\n");
  r = run_tool("python3", args + " --runs weft", dir);
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("g2p_budget: weft failed (status 0)"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("| Weft, the demo's recipe |"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace weft::tool_testing
