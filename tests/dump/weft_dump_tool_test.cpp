// The weft-dump executable: exit codes, one-line errors on stderr, and each output format.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "backends/default_backend.h"
#include "ir/dot.h"
#include "ir/safetensors.h"
#include "ir/text.h"
#include "tests/dump/fixtures.h"
#include "tests/tool_runner.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

using tool_testing::q;
using tool_testing::RunResult;
using tool_testing::slurp;

class WeftDumpTool : public ::testing::Test {
 protected:
  void SetUp() override {
    tool_ = fs::path(WEFT_BINARY_DIR) / "tools" / "weft-dump";
    if (!fs::exists(tool_)) GTEST_SKIP() << "weft-dump is not built at " << tool_;
    dir_ = tool_testing::fresh_test_dir("weft_dump_test");
    model_ = (dir_ / "mlp.weft").string();
    write_graph_file(model_, dump_test::mlp(4));
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  /// Runs `env weft-dump args` through the shell, capturing stdout and stderr.
  RunResult run(const std::string& args, const std::string& env = "") {
    return tool_testing::run_tool(tool_, args, dir_, env);
  }

  static int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }
  static int count(const std::string& s, const std::string& what) {
    int n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
  }

  fs::path tool_;
  fs::path dir_;
  std::string model_;
};

TEST_F(WeftDumpTool, HelpExitsZeroAndListsTheOptions) {
  RunResult r = run("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("usage: weft-dump"), std::string::npos) << r.out;
  for (const char* opt : {"--format", "--depth", "--stats", "--weights", "-o"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST_F(WeftDumpTool, MissingFileExitsOneWithOneLineNamingIt) {
  RunResult r = run(q(dir_ / "nope.weft"));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.out.empty());
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("weft-dump: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("nope.weft"), std::string::npos) << r.err;
}

TEST_F(WeftDumpTool, MalformedFileExitsOneNamingTheFile) {
  std::ofstream(dir_ / "bad.weft") << "weft 1\ngraph g(x: f32[2) -> (";
  RunResult r = run(q(dir_ / "bad.weft"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("bad.weft"), std::string::npos) << r.err;
}

TEST_F(WeftDumpTool, UsageErrorsExitTwo) {
  RunResult unknown = run("--frobnicate " + q(model_));
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.err.find("unknown option '--frobnicate'"), std::string::npos) << unknown.err;
  EXPECT_EQ(run("").status, 2);
  RunResult format = run("--format png " + q(model_));
  EXPECT_EQ(format.status, 2);
  EXPECT_NE(format.err.find("--format must be text, dot or svg, but got 'png'"), std::string::npos) << format.err;
  RunResult depth = run("--format dot --depth zero " + q(model_));
  EXPECT_EQ(depth.status, 2);
  EXPECT_NE(depth.err.find("--depth"), std::string::npos) << depth.err;
  EXPECT_EQ(run(q(model_) + " --format").status, 2);
}

TEST_F(WeftDumpTool, TextFormatPrintsTheTextIR) {
  RunResult r = run(q(model_));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, print_graph(read_graph_file(model_)));
}

TEST_F(WeftDumpTool, DotFormatWritesToTheOutputFile) {
  std::string out = (dir_ / "mlp.dot").string();
  RunResult r = run(q(model_) + " --format=dot -o " + q(out));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.empty());
  std::string dot = slurp(out);
  EXPECT_EQ(dot.rfind("digraph \"mlp\"", 0), 0u) << dot;
  EXPECT_NE(dot.find("cluster_fc1"), std::string::npos);
}

TEST_F(WeftDumpTool, SvgIsRenderedByGraphviz) {
  if (std::system("command -v dot >/dev/null 2>&1") != 0) GTEST_SKIP() << "Graphviz's dot is not installed";
  std::string out = (dir_ / "mlp.svg").string();
  RunResult r = run(q(model_) + " --format svg --depth 1 -o " + q(out));
  EXPECT_EQ(r.status, 0) << r.err;
  std::string svg = slurp(out);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("f32[B, 256]"), std::string::npos);
}

TEST_F(WeftDumpTool, SvgWithoutGraphvizSaysWhatIsMissing) {
  RunResult r = run(q(model_) + " --format svg -o " + q(dir_ / "x.svg"), "PATH=/nonexistent");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("`dot`"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--format dot"), std::string::npos) << r.err;
}

TEST_F(WeftDumpTool, StatsPrintsTheReportInsteadOfTheGraph) {
  RunResult r = run("--stats " + q(model_));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("flops: 407050*B = 1628200"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parameters: 203530 elements"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("weft 1"), std::string::npos) << r.out;
}

SafetensorsFile mlp_weights(std::vector<int64_t> fc2_weight_shape) {
  auto blob = [](const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return TensorBlob{name, DType::f32, shape, std::vector<std::byte>(static_cast<size_t>(n) * 4)};
  };
  SafetensorsFile f;
  f.tensors = {blob("fc1.weight", {256, 784}), blob("fc1.bias", {256}), blob("fc2.weight", fc2_weight_shape),
               blob("fc2.bias", {10})};
  return f;
}

TEST_F(WeftDumpTool, MatchingWeightsExitZero) {
  std::string w = (dir_ / "w.safetensors").string();
  write_safetensors_atomic(w, mlp_weights({10, 256}));
  RunResult r = run(q(model_) + " --weights " + q(w));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("all 4 parameters of graph 'mlp' match"), std::string::npos) << r.out;
}

TEST_F(WeftDumpTool, MismatchedWeightsExitOneAndNameTheParameter) {
  std::string w = (dir_ / "w.safetensors").string();
  SafetensorsFile f = mlp_weights({256, 10});
  f.tensors.erase(f.tensors.begin() + 1);  // no fc1.bias
  write_safetensors_atomic(w, f);
  RunResult r = run(q(model_) + " --weights " + q(w));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("missing:    fc1.bias (f32[256])"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fc2.weight is f32[10, 256] in the graph but f32[256, 10] in the file"), std::string::npos)
      << r.out;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("2 problems"), std::string::npos) << r.err;
}

TEST_F(WeftDumpTool, StageFusedShowsTheRegionsTheLlvmBackendCompiles) {
  RunResult r = run(q(model_) + " --stage fused");
  ASSERT_EQ(r.status, 0) << r.err;
  // fc1: matmul + bias + relu, fc2: matmul + bias: two matmul regions, each with its body.
  EXPECT_EQ(count(r.out, "= fusion("), 2) << r.out;
  EXPECT_EQ(count(r.out, "kind=\"matmul\""), 2) << r.out;
  EXPECT_NE(r.out.find("relu("), std::string::npos) << "the epilogue is inside the first region:\n" << r.out;
  RunResult dot = run(q(model_) + " --stage fused --format dot");
  ASSERT_EQ(dot.status, 0) << dot.err;
  EXPECT_NE(dot.out.find("body"), std::string::npos) << "regions are drawn as clusters with their bodies";
  EXPECT_EQ(run(q(model_) + " --stage lowered").status, 2);
}

TEST_F(WeftDumpTool, StagesStopTheOneLoweringPipelineWithItsDiagnosticsOnStderr) {
  Builder b("sm");
  b.output("p", dsl::softmax(b.input("x", "f32[B<=4, 8]")));
  const std::string model = (dir_ / "sm.weft").string();
  write_graph_file(model, b.finish());
  // simplified: the composite decomposed into core ops, no regions yet.
  RunResult r = run(q(model) + " --stage simplified --time-passes --print-after-change --verify-each");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(count(r.out, "= fusion("), 0) << r.out;
  EXPECT_EQ(r.out.find("softmax("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reduce_max("), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("# after decompose\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("# pass timing\n"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("fuse"), std::string::npos) << "the list stops before fusion:\n" << r.err;
  RunResult checked = run(q(model) + " --stage checked");
  ASSERT_EQ(checked.status, 0) << checked.err;
  EXPECT_NE(checked.out.find("softmax("), std::string::npos) << checked.out;
  RunResult bad = run(q(model) + " --stage planned");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("--stage must be input, checked, decomposed, simplified or fused, but got 'planned'"),
            std::string::npos)
      << bad.err;
}

TEST_F(WeftDumpTool, StatsReportPeakMemoryBeforeAndAfterPlanning) {
  RunResult r = run(q(model_) + " --stage fused --stats");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("without reuse"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("planned arena"), std::string::npos) << r.out;
}

TEST_F(WeftDumpTool, CompileReportsEachRegionAndItsCompileTime) {
  RunResult r = run(q(model_) + " --compile");
  ASSERT_EQ(r.status, 0) << r.err;
  // The default backend (auto where this build has oneDNN): each product says what it measured.
  const std::string backend = default_backend_name();
  EXPECT_EQ(r.out.rfind(backend + " backend: ", 0), 0u) << r.out;
  if (backend == "auto") EXPECT_TRUE(std::regex_search(r.out, std::regex("measured(?: before)?: onednn "))) << r.out;
  EXPECT_NE(r.out.find("2 compiled"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0 on the interpreter"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("code generation"), std::string::npos) << r.out;
}

TEST_F(WeftDumpTool, CompileReportsTheCallsOfAScansBodyToo) {
  // The scan runs its steps through its body's own program: each of the body's calls gets a line
  // (under auto, with both measured times), after the program's own table.
  RunResult r = run(q(fs::path(WEFT_SOURCE_DIR) / "tests" / "fixtures" / "scan_rnn.weft") + " --compile");
  ASSERT_EQ(r.status, 0) << r.err;
  const size_t body = r.out.find("\nthe body of call 0 (scan, scope rnn):\n");
  ASSERT_NE(body, std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  0  scan ", 0), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("matmul       rnn.cell", body), std::string::npos) << r.out;
}

// A Transformer's train step took `dot` 19 minutes without output. Above 400 nodes the drawing is
// folded, with a note saying how; --depth 0 still draws every node.
TEST_F(WeftDumpTool, ABigGraphIsFoldedWithANote) {
  Graph step = dump_test::wrapped_train_step(24);
  ASSERT_GT(dot_node_count(step), 400);
  std::string big = (dir_ / "big.weft").string();
  write_graph_file(big, step);
  RunResult r = run(q(big) + " --format dot -o " + q(dir_ / "big.dot"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.rfind(fmt::format("weft-dump: note: {} nodes are more than `dot` lays out quickly (400): drawing "
                                    "scopes folded at --depth 3 (",
                                    dot_node_count(step)),
                        0),
            0u)
      << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_EQ(count(slurp(dir_ / "big.dot"), "label=\"transformer.encoder.layers."), 12);
  RunResult all = run(q(big) + " --format dot --depth 0 -o " + q(dir_ / "all.dot"));
  ASSERT_EQ(all.status, 0) << all.err;
  EXPECT_EQ(all.err, "");
  EXPECT_EQ(slurp(dir_ / "all.dot"), graph_to_dot(step));
}

// `dot` is stopped after --dot-timeout seconds, with an error saying what to do; a stand-in `dot`
// that never finishes plays Graphviz on a huge graph.
TEST_F(WeftDumpTool, DotIsStoppedAfterTheTimeout) {
  fs::create_directories(dir_ / "bin");
  std::ofstream(dir_ / "bin" / "dot") << "#!/bin/sh\ncat >/dev/null\nexec sleep 60\n";
  fs::permissions(dir_ / "bin" / "dot", fs::perms::owner_all);
  fs::path out = dir_ / "g.svg";
  const auto start = std::chrono::steady_clock::now();
  RunResult r = run(q(model_) + " --format svg --dot-timeout 0.5 -o " + q(out),
                    "PATH=" + (dir_ / "bin").string() + ":\"$PATH\" TMPDIR=" + q(dir_));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(r.err.rfind("weft-dump: Graphviz's `dot` did not finish within 0.5 s laying out ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("--depth N"), std::string::npos) << r.err;
  EXPECT_LT(seconds, 30) << "weft-dump waited for dot";
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(dir_))  // the DOT text went through a pipe
    EXPECT_NE(e.path().extension(), ".dot") << e.path();
}

// Whether process `pid` has ended: gone, or a zombie no one has reaped yet (a container's init
// may not reap orphans).
bool has_ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  size_t paren = line.rfind(')');
  return paren == std::string::npos || line.substr(paren + 2, 1) == "Z";
}

// A weft-dump killed while `dot` lays out (Ctrl-C, kill -9) takes `dot` with it, instead of leaving
// it to run for as long as a big layout takes. The stand-in `dot` writes its pid, then never ends.
TEST_F(WeftDumpTool, KillingWeftDumpStopsDot) {
  fs::create_directories(dir_ / "bin");
  const fs::path pid_file = dir_ / "dot.pid";
  std::ofstream(dir_ / "bin" / "dot") << "#!/bin/sh\necho $$ > " << q(pid_file) << "\nexec sleep 60\n";
  fs::permissions(dir_ / "bin" / "dot", fs::perms::owner_all);
  for (int signal : {SIGTERM, SIGKILL}) {
    fs::remove(pid_file);
    const std::string path = (dir_ / "bin").string() + ":" + std::getenv("PATH");
    pid_t dump = ::fork();
    ASSERT_GE(dump, 0);
    if (dump == 0) {
      ::setenv("PATH", path.c_str(), 1);
      ::execl(tool_.c_str(), "weft-dump", model_.c_str(), "--format", "svg", "-o", (dir_ / "g.svg").c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pid_t dot = 0;
    for (int i = 0; i < 500 && dot == 0; ++i) {  // up to 10 s for dot to start
      std::ifstream(pid_file) >> dot;
      if (dot == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_GT(dot, 0) << "the stand-in dot did not start";
    EXPECT_FALSE(has_ended(dot));
    ::kill(dump, signal);
    int status = 0;
    ASSERT_EQ(::waitpid(dump, &status, 0), dump);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == signal) << status;
    bool ended = false;
    for (int i = 0; i < 250 && !ended; ++i) {  // up to 5 s
      ended = has_ended(dot);
      if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(ended) << "dot (pid " << dot << ") outlived weft-dump killed by signal " << signal;
    if (!ended) ::kill(dot, SIGKILL);
  }
}

}  // namespace
}  // namespace weft
