// The four tools keep one command-line convention (tools/cli.h): `--version`, an exit-status
// paragraph in `--help`, `tool: message` on one line of stderr, exit status 2 for a bad command
// line and 1 for bad input. And they treat files that are not regular files with care
// (ir/file_io.h): a FIFO or a device named as output is written through, not replaced by a
// regular file; a directory is a clear error; a stream input is bounded or refused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/file_io.h"
#include "runtime/npy.h"
#include "runtime/tensor.h"
#include "tests/tool_runner.h"

namespace weft {
namespace {

namespace fs = std::filesystem;
using tool_testing::q;
using tool_testing::RunResult;

const std::vector<std::string> kTools = {"weft-dump", "weft-opt", "weft-compile", "weft-run"};

class ToolsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& t : kTools)
      if (!fs::exists(tool(t))) GTEST_SKIP() << t << " is not built";
    dir_ = tool_testing::fresh_test_dir("weft_tools_cli");
    model_ = fs::path(WEFT_SOURCE_DIR) / "tests" / "fixtures" / "mlp.weft";
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  static fs::path tool(const std::string& name) { return fs::path(WEFT_BINARY_DIR) / "tools" / name; }
  RunResult run(const std::string& name, const std::string& args) {
    return tool_testing::run_tool(tool(name), args, dir_);
  }

  /// One line on stderr, `tool: ...`, and the status.
  static void expect_failure(const RunResult& r, const std::string& name, int status, const std::string& fragment) {
    EXPECT_EQ(r.status, status) << name << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << name << ": " << r.err;
    EXPECT_EQ(r.err.rfind(name + ": ", 0), 0u) << name << ": " << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << name << ": " << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << name << ": " << r.err;
  }

  /// Reads everything written into a new FIFO `name` while `write` runs (a reader must be there,
  /// or the writer's open would wait).
  std::string through_fifo(const std::string& name, const std::function<void(const fs::path&)>& write) {
    fs::path fifo = dir_ / name;
    EXPECT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    auto reader = std::async(std::launch::async, [fifo] { return tool_testing::slurp(fifo); });
    write(fifo);
    std::string got = reader.get();
    struct stat st {};
    EXPECT_EQ(::stat(fifo.c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode)) << fifo << " was replaced by a regular file";
    return got;
  }

  fs::path dir_, model_;
};

TEST_F(ToolsCli, EveryToolPrintsItsVersion) {
  for (const auto& name : kTools) {
    RunResult r = run(name, "--version");
    EXPECT_EQ(r.status, 0) << name << ": " << r.err;
    EXPECT_EQ(r.out, name + " " + WEFT_VERSION + "\n") << name;
  }
}

TEST_F(ToolsCli, EveryHelpStatesTheExitStatusAndTheErrorFormat) {
  for (const auto& name : kTools) {
    RunResult r = run(name, "--help");
    EXPECT_EQ(r.status, 0) << name << ": " << r.err;
    EXPECT_NE(r.out.find("Exit status: 0 on success; 1 for bad input ("), std::string::npos) << name << ":\n" << r.out;
    EXPECT_NE(r.out.find("2 for a bad command line. A failure prints one line on stderr, '" + name + ": message'."),
              std::string::npos)
        << name << ":\n"
        << r.out;
  }
}

TEST_F(ToolsCli, AnUnknownOptionIsStatus2WithTheToolsNameNotItsPath) {
  for (const auto& name : kTools) {
    std::string args = q(model_) + " --no-such-option";
    if (name == "weft-compile") args += " -o " + q(dir_ / "m.so");  // else "--output is required" comes first
    RunResult r = run(name, args);
    expect_failure(r, name, 2, "--no-such-option");
    EXPECT_EQ(r.err.find(WEFT_BINARY_DIR), std::string::npos) << r.err;
  }
}

TEST_F(ToolsCli, NoInputIsStatus2) {
  for (const auto& name : kTools) {
    RunResult r = run(name, "");
    EXPECT_EQ(r.status, 2) << name << ": " << r.err;
    EXPECT_EQ(r.err.rfind(name + ": ", 0), 0u) << r.err;
  }
}

TEST_F(ToolsCli, AMissingInputFileIsStatus1) {
  for (const auto& name : kTools) {
    std::string args = q(dir_ / "absent.weft");
    if (name == "weft-compile") args += " -o " + q(dir_ / "m.so");
    expect_failure(run(name, args), name, 1, "absent.weft");
  }
}

TEST_F(ToolsCli, WeftOptWritesThroughAFifoInsteadOfReplacingIt) {
  std::string text = through_fifo("out.weft", [&](const fs::path& fifo) {
    RunResult r = run("weft-opt", "--passes= " + q(model_) + " -o " + q(fifo));
    EXPECT_EQ(r.status, 0) << r.err;
  });
  EXPECT_EQ(text, tool_testing::slurp(model_));  // --passes= (none): the file round-trips
}

TEST_F(ToolsCli, WeftRunWritesThroughAFifoInsteadOfReplacingIt) {
  write_npy((dir_ / "x.npy").string(), Tensor::zeros(DType::f32, {2, 784}));
  std::string bytes = through_fifo("out.safetensors", [&](const fs::path& fifo) {
    RunResult r = run("weft-run", q(model_) + " --input x=" + q(dir_ / "x.npy") + " -q --outputs " + q(fifo));
    EXPECT_EQ(r.status, 0) << r.err;
  });
  EXPECT_NE(bytes.find("\"y\""), std::string::npos);  // a safetensors header naming the output
}

TEST_F(ToolsCli, WeftCompileWritesThroughAFifoInsteadOfReplacingIt) {
  std::string header = through_fifo("m.h", [&](const fs::path& fifo) {
    RunResult r = run("weft-compile", q(model_) + " -q -o " + q(dir_ / "m.so") + " --header " + q(fifo));
    EXPECT_EQ(r.status, 0) << r.err;
  });
  EXPECT_NE(header.find("#include"), std::string::npos) << header.substr(0, 200);
  EXPECT_EQ(tool_testing::slurp(dir_ / "m.so")
                .rfind("\x7f"
                       "ELF",
                       0),
            0u);
}

// As root, a tool that renames a temporary file over its output replaces the device. The test
// writes to /dev/null, or to /dev/zero (whose writes are discarded too) when something else on this
// machine has already replaced /dev/null by a file.
TEST_F(ToolsCli, DevNullStaysACharacterDevice) {
  std::string device;
  for (const char* d : {"/dev/null", "/dev/zero"})
    if (non_regular_kind(d) == "a character device") {
      device = d;
      break;
    }
  if (device.empty()) GTEST_SKIP() << "neither /dev/null nor /dev/zero is a character device on this machine";
  write_npy((dir_ / "x.npy").string(), Tensor::zeros(DType::f32, {1, 784}));
  EXPECT_EQ(run("weft-opt", q(model_) + " -o " + device).status, 0);
  EXPECT_EQ(run("weft-run", q(model_) + " --input x=" + q(dir_ / "x.npy") + " -q --outputs " + device).status, 0);
  EXPECT_EQ(run("weft-compile", q(model_) + " -o " + device + " --header " + device).status, 0);
  EXPECT_EQ(run("weft-dump", q(model_) + " --format dot -o " + device).status, 0);
  EXPECT_EQ(non_regular_kind(device), "a character device") << device << " was replaced";
}

TEST_F(ToolsCli, AnOutputThatIsADirectoryIsAClearError) {
  fs::create_directories(dir_ / "out");
  const std::string out = q(dir_ / "out");
  const std::string expected = "cannot write '" + (dir_ / "out").string() + "': it is a directory";
  expect_failure(run("weft-opt", q(model_) + " -o " + out), "weft-opt", 1, expected);
  expect_failure(run("weft-compile", q(model_) + " -o " + out), "weft-compile", 1, expected);
  for (const char* format : {"text", "dot", "svg"})  // svg: refused before Graphviz says it its way
    expect_failure(run("weft-dump", q(model_) + " --format " + format + " -o " + out), "weft-dump", 1, expected);
  write_npy((dir_ / "x.npy").string(), Tensor::zeros(DType::f32, {1, 784}));
  expect_failure(run("weft-run", q(model_) + " --input x=" + q(dir_ / "x.npy") + " --outputs " + out), "weft-run", 1,
                 expected);
  EXPECT_TRUE(fs::is_directory(dir_ / "out"));
}

TEST_F(ToolsCli, InputsThatAreNotRegularFilesAreRefusedOrBounded) {
  expect_failure(run("weft-opt", q(dir_)), "weft-opt", 1, "it is a directory");
  expect_failure(run("weft-dump", q(dir_)), "weft-dump", 1, "it is a directory");
  // A safetensors file must be a regular file: a FIFO without a writer is refused at once, not waited for.
  ASSERT_EQ(::mkfifo((dir_ / "w.safetensors").c_str(), 0600), 0);
  write_npy((dir_ / "x.npy").string(), Tensor::zeros(DType::f32, {1, 784}));
  const std::string model_and_input = q(model_) + " --input x=" + q(dir_ / "x.npy");
  expect_failure(run("weft-run", model_and_input + " --weights " + q(dir_ / "w.safetensors")), "weft-run", 1,
                 "not a regular file");
  expect_failure(run("weft-run", model_and_input + " --weights /dev/zero"), "weft-run", 1, "not a regular file");
}

/// The inode of every entry of a JIT cache directory: a stored entry is renamed in, so a file
/// that keeps its inode was not written again.
std::map<std::string, ino_t> entries(const fs::path& dir) {
  std::map<std::string, ino_t> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    struct stat st {};
    ::stat(e.path().c_str(), &st);
    out.emplace(e.path().filename().string(), st.st_ino);
  }
  return out;
}

// Issue 24: the second run of a program should not pay for JIT compilation again. A process that
// compiles stores each module's object code; the next process loads it (it stores nothing, since
// every miss stores); a damaged entry is ignored and replaced, and the answer stays the same.
TEST_F(ToolsCli, ASecondProcessLoadsTheJitsObjectCodeFromTheDiskCache) {
  const fs::path cache = dir_ / "jit-cache";
  const std::string env = "WEFT_JIT_CACHE_DIR=" + q(cache);
  std::string row = "[";
  for (int i = 0; i < 784; ++i) row += (i ? "," : "") + std::to_string(i % 7 - 3);
  const std::string args = q(model_) + " --backend llvm --input 'x=[" + row + "]]'";
  RunResult first = tool_testing::run_tool(tool("weft-run"), args, dir_, env);
  ASSERT_EQ(first.status, 0) << first.err;
  std::map<std::string, ino_t> stored = entries(cache);
  ASSERT_FALSE(stored.empty());

  RunResult second = tool_testing::run_tool(tool("weft-run"), args, dir_, env);
  ASSERT_EQ(second.status, 0) << second.err;
  EXPECT_EQ(second.out, first.out);
  EXPECT_EQ(entries(cache), stored) << "the second run compiled (and stored) again";

  // Damage one entry: it is not loaded but compiled again and replaced (a new inode).
  const fs::path damaged = cache / stored.begin()->first;
  std::string bytes = tool_testing::slurp(damaged);
  bytes[bytes.size() / 2] ^= 0x55;
  std::ofstream(damaged, std::ios::binary) << bytes;
  RunResult third = tool_testing::run_tool(tool("weft-run"), args, dir_, env);
  ASSERT_EQ(third.status, 0) << third.err;
  EXPECT_EQ(third.out, first.out);
  std::map<std::string, ino_t> after = entries(cache);
  EXPECT_NE(after.at(stored.begin()->first), stored.begin()->second) << "the damaged entry was not replaced";
  EXPECT_NE(tool_testing::slurp(damaged), bytes);
}

TEST(ReadWholeFile, ReadsAStreamUpToItsLimit) {
  std::vector<std::byte> some = read_whole_file("/dev/null", 16);
  EXPECT_TRUE(some.empty());
  try {
    read_whole_file("/dev/zero", 1 << 20);
    ADD_FAILURE() << "read 1 MiB of /dev/zero without a complaint";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot read '/dev/zero': it is a character device that gives more than 1048576 bytes; a model, its "
              "weights and its inputs are read from regular files or streams of at most that size");
  }
}

}  // namespace
}  // namespace weft
