// The weft-run executable: outputs equal to the interpreter's in process on every backend, weights,
// safetensors inputs and outputs, the summary and the benchmark line, and one-line errors.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "backends/backend.h"
#include "backends/default_backend.h"
#include "ir/safetensors.h"
#include "ir/text.h"
#include "runtime/npy.h"
#include "tests/tool_runner.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

using tool_testing::q;
using tool_testing::RunResult;
using tool_testing::slurp;

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

/// y = x·wᵀ + b with parameters that start at zero, so that only --weights makes y non-zero.
constexpr const char* kAffine = R"(weft 1
graph affine(x: f32[B<=4, 3]) -> (y: f32[B, 2]) {
  param w: f32[2, 3] init=zeros
  param b: f32[2] init=zeros
  %0 = matmul(x, w, transpose_b=true) : f32[B, 2]
  %1 = add(%0, b) : f32[B, 2]
  return %1
}
)";

class WeftRunTool : public ::testing::Test {
 protected:
  void SetUp() override {
    tool_ = fs::path(WEFT_BINARY_DIR) / "tools" / "weft-run";
    if (!fs::exists(tool_)) GTEST_SKIP() << "weft-run is not built at " << tool_;
    dir_ = tool_testing::fresh_test_dir("weft_run_test");
    affine_ = dir_ / "affine.weft";
    std::ofstream(affine_) << kAffine;
    x_ = dir_ / "x.npy";
    write_npy(x_.string(), Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6}));
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  RunResult run(const std::string& args) { return tool_testing::run_tool(tool_, args, dir_); }

  /// w = [[1, 0, -1], [2, 1, 0]], b = [0.5, -1]: for x = [[1, 2, 3], [4, 5, 6]],
  /// y = [[1 - 3 + 0.5, 2 + 2 - 1], [4 - 6 + 0.5, 8 + 5 - 1]] = [[-1.5, 3], [-1.5, 12]].
  fs::path affine_weights() {
    fs::path path = dir_ / "w.safetensors";
    SafetensorsFile f;
    auto blob = [](const std::string& name, std::vector<int64_t> shape, std::vector<float> v) {
      std::vector<std::byte> bytes(v.size() * 4);
      std::memcpy(bytes.data(), v.data(), bytes.size());
      return TensorBlob{name, DType::f32, std::move(shape), std::move(bytes)};
    };
    f.tensors = {blob("w", {2, 3}, {1, 0, -1, 2, 1, 0}), blob("b", {2}, {0.5f, -1})};
    write_safetensors_atomic(path.string(), f);
    return path;
  }

  void expect_one_line_error(const RunResult& r, int status, const std::string& fragment) {
    EXPECT_EQ(r.status, status) << r.err;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_EQ(r.err.rfind("weft-run: ", 0), 0u) << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << "stderr: " << r.err;
  }

  fs::path tool_;
  fs::path dir_;
  fs::path affine_;
  fs::path x_;
};

TEST_F(WeftRunTool, HelpExitsZeroAndListsTheOptions) {
  RunResult r = run("--help");
  EXPECT_EQ(r.status, 0);
  for (const char* opt : {"--backend", "--entry", "--input", "--inputs", "--weights", "--output-dir", "--outputs",
                          "--bench", "--threads", "--quiet"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
}

TEST_F(WeftRunTool, WeightsSetTheParametersAndTheSummaryShowsTheValues) {
  for (const std::string& backend : available_backend_names()) {
    RunResult r = run(fmt::format("{} --backend {} --input x={} --weights {} --output-dir {}", q(affine_), backend,
                                  q(x_), q(affine_weights()), q(dir_ / backend)));
    EXPECT_EQ(r.status, 0) << backend << ": " << r.err;
    EXPECT_EQ(r.out, "y: f32[2, 2] = [-1.5, 3, -1.5, 12]\n") << backend;
    Tensor y = read_npy((dir_ / backend / "y.npy").string());
    EXPECT_EQ(y.type_str(), "f32[2, 2]");
    EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{-1.5f, 3, -1.5f, 12})) << backend;
  }
}

// docs/weft-run.md's example: an input written on the command line, no file, no NumPy.
TEST_F(WeftRunTool, TakesAnInputWrittenOutAsALiteral) {
  RunResult r = run(fmt::format("{} --weights {} --input 'x=[[1, 2, 3], [4, 5, 6]]'", q(affine_), q(affine_weights())));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "y: f32[2, 2] = [-1.5, 3, -1.5, 12]\n");
  expect_one_line_error(run(fmt::format("{} --input 'x=[[1, 2, 3], [4, 5]]'", q(affine_))), 1,
                        "--input x: not a tensor literal: rows of different lengths: this list has 2 elements, an "
                        "earlier one 3 (at column 13 of '[[1, 2, 3], [4, 5]]')");
  expect_one_line_error(run(fmt::format("{} --input 'x=[1, 2, 3]'", q(affine_))), 1,
                        "--input x: input 'x' must be f32[B, 3], but the literal is f32[3]");
}

TEST_F(WeftRunTool, WithoutWeightsTheInitializersAreUsed) {
  RunResult r = run(fmt::format("{} --input x={}", q(affine_), q(x_)));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "y: f32[2, 2] = [0, 0, 0, 0]\n");
}

TEST_F(WeftRunTool, ReadsInputsFromAndWritesOutputsToSafetensors) {
  SafetensorsFile in;
  std::vector<float> x{1, 2, 3};
  std::vector<std::byte> bytes(12);
  std::memcpy(bytes.data(), x.data(), 12);
  in.tensors = {TensorBlob{"x", DType::f32, {1, 3}, bytes}};
  write_safetensors_atomic((dir_ / "in.safetensors").string(), in);
  RunResult r = run(fmt::format("{} --inputs {} --weights {} --outputs {} --quiet", q(affine_),
                                q(dir_ / "in.safetensors"), q(affine_weights()), q(dir_ / "out.safetensors")));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "");
  SafetensorsFile out = read_safetensors((dir_ / "out.safetensors").string());
  ASSERT_EQ(out.tensors.size(), 1u);
  EXPECT_EQ(out.tensors[0].name, "y");
  EXPECT_EQ(out.tensors[0].shape, (std::vector<int64_t>{1, 2}));
  std::vector<float> y(2);
  std::memcpy(y.data(), out.tensors[0].data.data(), 8);
  EXPECT_EQ(y, (std::vector<float>{-1.5f, 3}));  // [1 - 3 + 0.5, 2 + 2 - 1]
}

TEST_F(WeftRunTool, BenchPrintsMinMedianAndMean) {
  RunResult r = run(fmt::format("{} --input x={} --bench 3 --threads 1 --quiet", q(affine_), q(x_)));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(lines(r.out), 1) << r.out;
  EXPECT_EQ(r.out.rfind("bench: 3 runs of graph 'affine'", 0), 0u) << r.out;
  for (const char* word : {"after 1 warm-up", "min ", "median ", "mean "})
    EXPECT_NE(r.out.find(word), std::string::npos) << r.out;
}

// ---- errors: one line on stderr, exit status 1 (2 for the command line)

TEST_F(WeftRunTool, MissingInputNamesItAndItsType) {
  expect_one_line_error(run(q(affine_)), 1, "missing input 'x' (f32[B, 3]) of graph 'affine'");
}

TEST_F(WeftRunTool, WrongShapeNamesTheFileTheInputAndTheDim) {
  write_npy((dir_ / "bad.npy").string(), Tensor::zeros(DType::f32, {2, 4}));
  expect_one_line_error(run(fmt::format("{} --input x={}", q(affine_), q(dir_ / "bad.npy"))), 1,
                        "bad.npy: input 'x' must be f32[B, 3], but the file holds f32[2, 4] (dim 1 should be 3)");
}

TEST_F(WeftRunTool, WrongDtypeNamesTheFileAndBothTypes) {
  write_npy((dir_ / "bad.npy").string(), Tensor::zeros(DType::f64, {2, 3}));
  expect_one_line_error(run(fmt::format("{} --input x={}", q(affine_), q(dir_ / "bad.npy"))), 1,
                        "input 'x' must be f32[B, 3], but the file holds f64[2, 3]");
}

TEST_F(WeftRunTool, ADimBeyondItsBoundIsAnError) {
  write_npy((dir_ / "big.npy").string(), Tensor::zeros(DType::f32, {5, 3}));
  expect_one_line_error(run(fmt::format("{} --input x={}", q(affine_), q(dir_ / "big.npy"))), 1,
                        "B = 5 exceeds its declared bound B <= 4");
}

TEST_F(WeftRunTool, MalformedOrMissingFilesAreNamed) {
  std::ofstream(dir_ / "junk.npy") << "not numpy at all";
  expect_one_line_error(run(fmt::format("{} --input x={}", q(affine_), q(dir_ / "junk.npy"))), 1,
                        "junk.npy: not a .npy file");
  expect_one_line_error(run(fmt::format("{} --input x={}", q(affine_), q(dir_ / "none.npy"))), 1,
                        "none.npy: cannot open: No such file or directory");
  expect_one_line_error(run(fmt::format("{} --input x={}", q(dir_ / "none.weft"), q(x_))), 1, "none.weft");
}

TEST_F(WeftRunTool, UnknownOrRepeatedInputsAreErrors) {
  expect_one_line_error(run(fmt::format("{} --input z={}", q(affine_), q(x_))), 1,
                        "'z' is not an input of graph 'affine' (its inputs: 'x')");
  expect_one_line_error(run(fmt::format("{} --input x={} --input x={}", q(affine_), q(x_), q(x_))), 1,
                        "input 'x' is given twice");
}

TEST_F(WeftRunTool, WeightsThatDoNotMatchAreAnError) {
  SafetensorsFile f;
  f.tensors = {TensorBlob{"w", DType::f32, {2, 3}, std::vector<std::byte>(24)},
               TensorBlob{"bias", DType::f32, {2}, std::vector<std::byte>(8)}};
  write_safetensors_atomic((dir_ / "w.safetensors").string(), f);
  expect_one_line_error(run(fmt::format("{} --input x={} --weights {}", q(affine_), q(x_), q(dir_ / "w.safetensors"))),
                        1, "missing: [b], not parameters of the graph: [bias]");
  f.tensors[1] = TensorBlob{"b", DType::f32, {3}, std::vector<std::byte>(12)};
  write_safetensors_atomic((dir_ / "w.safetensors").string(), f);
  expect_one_line_error(run(fmt::format("{} --input x={} --weights {}", q(affine_), q(x_), q(dir_ / "w.safetensors"))),
                        1, "parameter 'b' must be f32[2], but the file holds f32[3]");
}

TEST_F(WeftRunTool, ProfilePrintsEachCallOfTheProgramSlowestFirst) {
  RunResult r = run(fmt::format("{} --input x={} --bench 3 --profile -q", q(affine_), q(x_)));
  ASSERT_EQ(r.status, 0) << r.err;
  // On the default backend: auto where this build has oneDNN (docs/onednn-backend.md).
  EXPECT_NE(r.out.find(fmt::format("profile of graph 'affine' on {}:\n", default_backend_name())), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("GFLOP/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 4 "), std::string::npos) << "1 run + 3 bench runs of each call:\n" << r.out;
  EXPECT_NE(r.out.find("total "), std::string::npos) << r.out;
}

TEST_F(WeftRunTool, CommandLineMistakesExitTwo) {
  expect_one_line_error(run(fmt::format("{} --input x", q(affine_))), 2, "NAME=FILE.npy");
  expect_one_line_error(run(fmt::format("{} --bench 0", q(affine_))), 2, "--bench");
  expect_one_line_error(run(q(affine_) + " --frobnicate"), 2, "frobnicate");
  expect_one_line_error(run(""), 2, "model is required");
  expect_one_line_error(run(fmt::format("{} --input x={} --backend nope", q(affine_), q(x_))), 1,
                        "unknown backend 'nope' (available: interp");
}

TEST_F(WeftRunTool, OddOutputNamesAreQuotedAndOnesThatAreNotFileNamesAreRefusedBeforeRunning) {
  fs::path model = fs::path(WEFT_SOURCE_DIR) / "tests" / "fixtures" / "names.weft";
  write_npy((dir_ / "a.npy").string(), Tensor::from<float>({2, 3}, {1, 2, 3, 4, 5, 6}));
  std::string inputs =
      fmt::format("--input {} --input x.y_z={}", q("input 1=" + (dir_ / "a.npy").string()), q(dir_ / "a.npy"));
  RunResult r = run(fmt::format("{} {}", q(model), inputs));
  EXPECT_EQ(r.status, 0) << r.err;
  // Output ".." returns input "input 1"; the other is (a + w)·a - (a + w) = a² - 1 for a = both inputs, w = 1.
  EXPECT_EQ(r.out,
            "\"out\\\"quoted\\\"\": f32[2, 3] = [0, 3, 8, 15, 24, 35]\n"
            "..: f32[2, 3] = [1, 2, 3, 4, 5, 6]\n");
  expect_one_line_error(run(fmt::format("{} {} --output-dir {}", q(model), inputs, q(dir_ / "out"))), 1,
                        "output .. cannot be a file name in --output-dir");
  EXPECT_FALSE(fs::exists(dir_ / "out" / "out\"quoted\".npy"));
}

}  // namespace
}  // namespace weft
