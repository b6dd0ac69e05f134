/** \file
 * Pass tests as IR in, IR out: for each `cases/<name>.in.weft`, run the passes its first line names
 * (`# passes: cse,dce`) with verification after each, and compare the printed result with
 * `cases/<name>.out.weft` exactly. The same check from a shell:
 *
 *   weft-opt --passes=cse,dce tests/passes/cases/<name>.in.weft | diff - tests/passes/cases/<name>.out.weft
 *
 * The expected files are written and checked by hand; each must itself be printer-canonical.
 */
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "backends/interp/constant_evaluator.h"
#include "ir/text.h"
#include "passes/pass_manager.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

fs::path cases_dir() { return fs::path(WEFT_SOURCE_DIR) / "tests" / "passes" / "cases"; }

std::string read_text(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  const std::string suffix = ".in.weft";
  for (const auto& entry : fs::directory_iterator(cases_dir())) {
    std::string file = entry.path().filename().string();
    if (file.size() > suffix.size() && file.ends_with(suffix))
      names.push_back(file.substr(0, file.size() - suffix.size()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// The list after "# passes:" on the first line; fails the test when there is none.
std::string pass_list(const std::string& text) {
  const std::string prefix = "# passes:";
  std::string first = text.substr(0, text.find('\n'));
  EXPECT_TRUE(first.starts_with(prefix)) << "the first line must be '# passes: a,b,...', not: " << first;
  return first.starts_with(prefix) ? first.substr(prefix.size()) : "";
}

class PassCase : public ::testing::TestWithParam<std::string> {};

TEST_P(PassCase, GivesTheExpectedIr) {
  const fs::path in = cases_dir() / (GetParam() + ".in.weft");
  const fs::path out = cases_dir() / (GetParam() + ".out.weft");
  ASSERT_TRUE(fs::exists(out)) << out << " is missing";
  const std::string input = read_text(in);
  const std::string expected = read_text(out);

  PassContext context{interpreter_constant_evaluator()};
  PassManager pm(PassManagerOptions{.verify_each = true});
  pm.add(passes_by_names(pass_list(input), context));
  Graph result = pm.run(parse_graph(input, in.string()));
  EXPECT_EQ(print_graph(result), expected);
  // The expectation must be what the printer writes, or the comparison above could never pass.
  EXPECT_EQ(print_graph(parse_graph(expected, out.string())), expected);
}

TEST_P(PassCase, EveryRegisteredPassKeepsItsInputValid) {
  const fs::path in = cases_dir() / (GetParam() + ".in.weft");
  Graph input = parse_graph(read_text(in), in.string());
  PassContext context{interpreter_constant_evaluator()};
  for (const PassInfo& info : registered_passes()) {
    PassManager pm(PassManagerOptions{.verify_each = true});
    pm.add(pass_by_name(info.name, context));
    EXPECT_NO_THROW(pm.run(input)) << info.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, PassCase, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(PassCases, ThereAreCases) { EXPECT_GE(case_names().size(), 8u); }

}  // namespace
}  // namespace weft
