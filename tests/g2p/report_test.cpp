// The demo's HTML report: heatmap colours and labels, the curves file read back, and the page
// rendered by headless Chromium (Debian's `chromium`, installed by scripts/install-deps.sh), which
// must lay out every drawing and find the results table.
#include "examples/g2p/report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ir/error.h"
#include "tests/tool_runner.h"

namespace g2p {
namespace {

namespace fs = std::filesystem;
using weft::tool_testing::slurp;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

TEST(G2PReport, HeatmapShadesFromWhiteAtZeroToDarkBlueAtOne) {
  std::string svg = heatmap_svg({0.0f, 1.0f, 0.5f, 0.25f}, {"k", "</s>"}, {"c", "</s>"}, "mean");
  EXPECT_EQ(count(svg, "<rect"), 4u);
  EXPECT_NE(svg.find(R"x(fill="rgb(255,255,255)"><title>0.000</title>)x"), std::string::npos);
  EXPECT_NE(svg.find(R"x(fill="rgb(8,48,107)"><title>1.000</title>)x"), std::string::npos);
  EXPECT_NE(svg.find(">&lt;/s&gt;</text>"), std::string::npos);  // labels are escaped
}

TEST(G2PReport, CurvesRoundTripAndAMalformedRowNamesItsLine) {
  fs::path dir = weft::tool_testing::fresh_test_dir("g2p_report");
  Curves c;
  c.loss = {{1, 0.5, 3.25}, {2, 1.0, 2.5}};
  c.dev_per = {{2, 1.0, 40.5}};
  write_curves(dir.string(), c);
  Curves back = read_curves(dir.string());
  ASSERT_EQ(back.loss.size(), 2u);
  EXPECT_EQ(back.loss[1].step, 2);
  EXPECT_DOUBLE_EQ(back.loss[1].value, 2.5);
  ASSERT_EQ(back.dev_per.size(), 1u);
  EXPECT_DOUBLE_EQ(back.dev_per[0].value, 40.5);
  EXPECT_TRUE(read_curves((dir / "none").string()).loss.empty());

  std::ofstream(dir / "curves.csv", std::ios::app) << "loss,three,1.0,2.0\n";
  try {
    read_curves(dir.string());
    FAIL() << "no error";
  } catch (const weft::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir / "curves.csv").string() + ":5: a row is curve,step,seconds,value, but got 'loss,three,1.0,2.0'");
  }
}

TEST(G2PReport, ChromiumRendersEveryDrawingAndTheTable) {
  fs::path dir = weft::tool_testing::fresh_test_dir("g2p_report");
  Results r;
  r.minutes = 1.5, r.steps = 300, r.tokens_per_s = 1234;
  ErrorRates rates;
  rates.add({"k", "ae", "t"}, {"k", "ae", "t"});
  rates.add({"d", "ao"}, {"d", "ao", "g"});
  r.rows = {{"test, greedy", rates, 1.0}, {"test, beam 4", rates, 2.0}};
  r.samples = {{"cat", "k ae t", "k ae t", true}, {"dog", "d ao g", "d ao", false}};
  // "cat" -> k ae t </s>: two heads, [2, 4, 4], the second looking one letter late.
  std::vector<float> heads(2 * 4 * 4, 0.0f);
  for (int t = 0; t < 4; ++t)
    heads[static_cast<size_t>(t * 4 + t)] = heads[static_cast<size_t>(16 + t * 4 + std::min(t + 1, 3))] = 1.0f;
  r.attention = {{"cat", {{"k", "ae", "t"}, weft::Tensor::from<float>({2, 4, 4}, heads)}}};
  Curves c;
  c.loss = {{1, 1.0, 4.0}, {2, 2.0, 3.0}, {3, 3.0, 2.5}};
  c.dev_per = {{2, 60.0, 50.0}, {3, 120.0, 30.0}};
  fs::path graph = dir / "graph.svg";
  std::ofstream(graph) << R"(<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="80" height="40">)"
                       << R"(<rect x="1" y="1" width="78" height="38" fill="none" stroke="black"/></svg>)";
  fs::path report = dir / "report.html";
  write_report(report.string(), r, c, graph.string());

  std::string html = slurp(report);
  // PER: 1 error in 3 + 3 phonemes; WER: 1 word in 2.
  EXPECT_EQ(count(html, "<svg"), 2u + 3u + 1u);  // two curves, two heads and their mean, the graph
  EXPECT_EQ(count(html, "<?xml"), 0u);
  EXPECT_NE(html.find("<tr><td>test, beam 4</td><td>16.67</td><td>50.00</td><td>2</td><td>2.0</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find(R"(<tr><td>dog</td><td class="bad">d ao</td><td>d ao g</td></tr>)"), std::string::npos);

  const char* chromium = "/usr/bin/chromium";
  ASSERT_TRUE(fs::exists(chromium)) << "Debian's chromium is missing: scripts/install-deps.sh installs it";
  std::string flags =
      fmt::format("--headless --no-sandbox --disable-gpu --user-data-dir={}", weft::tool_testing::q(dir / "profile"));
  auto dom = weft::tool_testing::run_tool(
      chromium, flags + " --virtual-time-budget=5000 --dump-dom " + weft::tool_testing::q("file://" + report.string()),
      dir);
  ASSERT_EQ(dom.status, 0) << dom.err;
  EXPECT_NE(dom.out.find(R"(<p id="render-check">6 of 6 drawings rendered; 2 result rows</p>)"), std::string::npos)
      << dom.out.substr(0, 2000);
  auto shot = weft::tool_testing::run_tool(
      chromium,
      flags + " --window-size=1100,1800 --screenshot=" + weft::tool_testing::q(dir / "report.png") + " " +
          weft::tool_testing::q("file://" + report.string()),
      dir);
  ASSERT_EQ(shot.status, 0) << shot.err;
  EXPECT_GT(fs::file_size(dir / "report.png"), 10000u);  // a blank page is a few hundred bytes
}

}  // namespace
}  // namespace g2p
