// weft-compile on a graph it cannot compile says which node, its scope and its DSL line, and why,
// on one line with the tool's name once (docs/shared-object.md); and the convention of tools/cli.h
// never doubles the tool's name or "internal error".
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "ir/error.h"
#include "tests/tool_runner.h"
#include "tools/cli.h"

namespace weft {
namespace {

namespace fs = std::filesystem;
using tool_testing::q;
using tool_testing::RunResult;

class CompileErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(tool())) GTEST_SKIP() << "weft-compile is not built";
    dir_ = tool_testing::fresh_test_dir("weft_compile_errors");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  static fs::path tool() { return fs::path(WEFT_BINARY_DIR) / "tools" / "weft-compile"; }

  /// weft-compile on a file holding `text`: its status and stderr.
  RunResult compile(const std::string& text) {
    std::ofstream(dir_ / "model.weft") << text;
    return tool_testing::run_tool(tool(), q(dir_ / "model.weft") + " -o " + q(dir_ / "model.so"), dir_);
  }

  fs::path dir_;
};

TEST_F(CompileErrors, AnF64MatMulNamesTheMatMulItsScopeAndLine) {
  RunResult r = compile(
      "weft 1\n"
      "graph f64mm(x: f64[B<=64, 8]) -> (y: f64[B, 4]) {\n"
      "  param w: f64[4, 8] init=uniform(low=-1.0, high=1.0, seed=1)\n"
      "  %0 = matmul(x, w, transpose_b=true) : f64[B, 4]  scope=\"fc\" loc=\"model.cpp:14\"\n"
      "  %1 = tanh(%0) : f64[B, 4]  scope=\"act\" loc=\"model.cpp:15\"\n"
      "  return %1\n"
      "}\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "weft-compile: graph 'f64mm': matmul (fused into a matmul region) in scope 'fc' cannot be compiled into a "
            "shared object: the generated GEMM is f32 only, not f64[B, 4]; the JIT runs it on the interpreter, which "
            "a shared object does not have (at model.cpp:14)\n");
}

TEST_F(CompileErrors, AnF16ValueNamesTheNodeThatMakesIt) {
  RunResult r = compile(
      "weft 1\n"
      "graph half(x: f32[B<=64, 8]) -> (y: f16[B, 8]) {\n"
      "  %0 = neg(x) : f32[B, 8]  scope=\"enc\" loc=\"model.cpp:6\"\n"
      "  %1 = cast(%0, dtype=f16) : f16[B, 8]  scope=\"enc.out\" loc=\"model.cpp:7\"\n"
      "  return %1\n"
      "}\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "weft-compile: graph 'half': cast (fused into a loop region) in scope 'enc.out' cannot be compiled into a "
            "shared object: generated code has no f16[B, 8] values; the JIT runs it on the interpreter, which a "
            "shared object does not have (at model.cpp:7)\n");
}

TEST_F(CompileErrors, ASliceWindowOfASymbolicDimSaysWhyItNeedsTheInterpreter) {
  RunResult r = compile(
      "weft 1\n"
      "graph win(x: f32[B<=64, T<=32]) -> (y: f32[B, 2]) {\n"
      "  %0 = slice(x, axis=1, start=1, end=3) : f32[B, 2]  loc=\"model.cpp:21\"\n"
      "  return %0\n"
      "}\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "weft-compile: graph 'win': slice cannot be compiled into a shared object: a window of symbolic dim T "
            "needs a run-time check that T reaches the window's end, which only the interpreter makes; the JIT runs "
            "it on the interpreter, which a shared object does not have (at model.cpp:21)\n");
}

/// What run_main prints on stderr for `body`, and its status.
std::pair<int, std::string> run_main_output(const std::function<int()>& body) {
  std::ostringstream captured;
  std::streambuf* saved = std::cerr.rdbuf(captured.rdbuf());
  int status = tools::run_main("weft-compile", body);
  std::cerr.rdbuf(saved);
  return {status, captured.str()};
}

TEST(ToolErrorLines, NameTheToolOnceAndSayInternalErrorOnce) {
  auto user = run_main_output([]() -> int { throw Error("weft-compile: no entry point: give at least one graph"); });
  EXPECT_EQ(user, (std::pair<int, std::string>{1, "weft-compile: no entry point: give at least one graph\n"}));

  auto bug = run_main_output([]() -> int {
    throw InternalError("internal error (a bug in Weft, please report it): weft-compile: a region symbol is missing");
  });
  EXPECT_EQ(bug.second, "weft-compile: internal error (a bug in Weft, please report it): a region symbol is missing\n");

  auto plain = run_main_output([]() -> int { throw InternalError("weft-compile: a region symbol is missing"); });
  EXPECT_EQ(plain.second, "weft-compile: internal error: a region symbol is missing\n");

  auto other = run_main_output([]() -> int { throw std::runtime_error("weft-compile: out of range"); });
  EXPECT_EQ(other.second, "weft-compile: internal error: out of range\n");
}

}  // namespace
}  // namespace weft
