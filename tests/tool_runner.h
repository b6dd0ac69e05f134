/** \file
 * Running a built command-line tool from a test: weft-dump, weft-opt and weft-run are tested as
 * a user runs them, through the shell, with stdout and stderr captured in files of a scratch
 * directory (tests/dump, tests/passes, tests/tools_run).
 */
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace weft::tool_testing {

namespace fs = std::filesystem;

/// A tool's exit status (-1 if it did not exit normally) and what it printed.
struct RunResult {
  int status = -1;
  std::string out;
  std::string err;
};

/// A path or argument quoted for the shell (the tests' own strings hold no single quotes).
inline std::string q(const std::string& s) { return fmt::format("'{}'", s); }
inline std::string q(const fs::path& p) { return q(p.string()); }

/// A file's bytes ("" if it cannot be read).
inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

/// Runs `env tool args` through the shell; stdout and stderr go through `scratch`/stdout.txt and
/// stderr.txt. `args` is shell text: quote paths with q().
inline RunResult run_tool(const fs::path& tool, const std::string& args, const fs::path& scratch,
                          const std::string& env = "") {
  fs::path out = scratch / "stdout.txt", err = scratch / "stderr.txt";
  std::string cmd = fmt::format("{} {} {} >{} 2>{}", env, q(tool), args, q(out), q(err));
  int raw = std::system(cmd.c_str());
  RunResult r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

/// A fresh, empty scratch directory for the current test: <build>/test-tmp/`prefix`_<test name>.
inline fs::path fresh_test_dir(const std::string& prefix) {
  // Under the build tree, not /tmp: two checkouts' test runs at once (worktrees, CI jobs) would
  // otherwise share, and delete, each other's directories.
  fs::path dir = fs::path(WEFT_BINARY_DIR) / "test-tmp" /
                 (prefix + "_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace weft::tool_testing
