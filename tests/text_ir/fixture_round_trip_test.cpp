// Every fixture in tests/fixtures/*.weft is canonical printer output: parsing and printing it gives
// the same text, the reparsed graph is structurally equal, it computes the same results, and no
// prefix of it crashes the parser.
#include <gtest/gtest.h>

#include "ir/text.h"
#include "tests/text_ir/graph_compare.h"
#include "tests/text_ir/test_util.h"

namespace weft {
namespace {

using testing::fixture_names;
using testing::fixtures_dir;
using testing::read_text;

class FixtureRoundTrip : public ::testing::TestWithParam<std::string> {
 protected:
  std::string text() const { return read_text(fixtures_dir() + "/" + GetParam()); }
};

TEST_P(FixtureRoundTrip, PrintingTheParsedFileGivesTheSameText) {
  std::string original = text();
  ASSERT_FALSE(original.empty());
  EXPECT_EQ(print_graph(parse_graph(original, GetParam())), original);
}

TEST_P(FixtureRoundTrip, ReparsedGraphIsStructurallyEqual) {
  Graph first = parse_graph(text(), GetParam());
  Graph second = parse_graph(print_graph(first), GetParam());
  EXPECT_EQ(testing::graph_difference(first, second), "");
}

TEST_P(FixtureRoundTrip, ReparsedGraphGivesIdenticalInterpreterResults) {
  Graph first = parse_graph(text(), GetParam());
  Graph second = parse_graph(print_graph(first), GetParam());
  std::vector<Tensor> a = testing::run_interpreter(first);
  std::vector<Tensor> b = testing::run_interpreter(second);
  ASSERT_EQ(a.size(), first.outputs().size() + first.updates().size());
  EXPECT_EQ(testing::results_difference(a, b), "");
}

TEST_P(FixtureRoundTrip, EveryPrefixParsesOrThrowsWeftError) {
  std::string original = text();
  int parsed = 0;
  for (size_t n = 0; n <= original.size(); ++n) {
    try {
      parse_graph(std::string_view(original).substr(0, n), GetParam());
      ++parsed;
    } catch (const Error& e) {
      // A prefix that does not parse must say where.
      EXPECT_EQ(std::string(e.what()).rfind(GetParam() + ":", 0), 0u) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "prefix of length " << n << " threw a non-weft::Error: " << e.what();
    }
  }
  // The whole file, and the file without its final newline, parse; nothing shorter does.
  EXPECT_EQ(parsed, 2);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureRoundTrip, ::testing::ValuesIn(fixture_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(0, info.param.size() - 5);
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

}  // namespace
}  // namespace weft
