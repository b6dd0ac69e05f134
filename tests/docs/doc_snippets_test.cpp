// Every ```cpp block of README.md and docs/*.md compiles (or is a verbatim copy of a file that
// does), and every sample error text marked in the docs is the text Weft really prints.
//
// A block is compiled as the body of a function of its own, after its page's `#include` lines
// and using-declarations, which are gathered at the top of the page's translation unit (so the
// preamble of a page holds for the rest of it, as its reader assumes); `#line` directives make the
// compiler's messages name the page and line. An HTML comment on the line before the fence
// changes that (docs/getting-started.md, "Writing docs", lists the markers):
//
//   <!-- compile: top-level -->              the block declares functions or types
//   <!-- compile: context CODE -->           CODE (hidden) comes first in the function body:
//                                            the names the snippet uses but the prose defines
//   <!-- compile: copied from PATH -->       every line of the block occurs in PATH (a file that is
//                                            compiled), but for elisions: lines that start "// ..."
//   <!-- compile: no (REASON) -->            not C++ to compile (a list of signatures, pseudo-code)
//   <!-- error-text: ID -->                  (before a plain ``` block) the real message of case ID
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "frontend/builder.h"
#include "frontend/nn/nn.h"
#include "frontend/tensor_ops.h"
#include "ir/error.h"
#include "ir/op_kind.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = WEFT_SOURCE_DIR;

struct Block {
  std::string lang;    // what follows the fence: "cpp", "" ...
  std::string marker;  // the HTML comment before the fence, without <!-- -->, trimmed; "" if none
  int first_line = 0;  // of the code, 1-based
  std::vector<std::string> lines;
};

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream f(p);
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) lines.push_back(line);
  return lines;
}

/// The fenced blocks of a Markdown page, with the comment that precedes each (which may span lines).
std::vector<Block> blocks_of(const fs::path& page) {
  std::vector<std::string> lines = read_lines(page);
  std::vector<Block> blocks;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string t = trim(lines[i]);
    if (!t.starts_with("```")) continue;
    Block b;
    b.lang = trim(t.substr(3));
    if (i > 0 && trim(lines[i - 1]).ends_with("-->")) {
      size_t start = i - 1;
      while (start > 0 && trim(lines[start]).find("<!--") == std::string::npos) --start;
      std::string comment;
      for (size_t k = start; k < i; ++k) comment += lines[k] + "\n";
      size_t open = comment.find("<!--"), close = comment.rfind("-->");
      if (open != std::string::npos) b.marker = trim(comment.substr(open + 4, close - open - 4));
      while (!b.marker.empty() && (b.marker.back() == '\n' || b.marker.back() == ' ')) b.marker.pop_back();
    }
    b.first_line = static_cast<int>(i) + 2;
    for (++i; i < lines.size() && !trim(lines[i]).starts_with("```"); ++i) b.lines.push_back(lines[i]);
    blocks.push_back(std::move(b));
  }
  return blocks;
}

std::vector<fs::path> pages() {
  std::vector<fs::path> all{kSource / "README.md"};
  for (const auto& e : fs::directory_iterator(kSource / "docs"))
    if (e.path().extension() == ".md") all.push_back(e.path());
  std::sort(all.begin(), all.end());
  return all;
}

std::string page_name(const fs::path& p) { return fs::relative(p, kSource).string(); }

/// The translation unit of a page's compiled blocks, and the blocks checked as copies.
struct PageCheck {
  std::string unit;
  int compiled = 0;
  std::vector<std::string> problems;  // copies that are not copies, unknown markers
};

PageCheck check_page(const fs::path& page) {
  PageCheck check;
  std::string includes, usings, body;
  const std::string name = page_name(page);
  int index = 0;
  for (const Block& b : blocks_of(page)) {
    if (b.lang != "cpp" && b.lang != "c++") continue;
    const std::string where = fmt::format("{}:{}", name, b.first_line);
    if (b.marker.starts_with("compile: no")) continue;
    if (b.marker.starts_with("compile: copied from ")) {
      std::string source = trim(b.marker.substr(std::string("compile: copied from ").size()));
      std::vector<std::string> original = read_lines(kSource / source);
      std::vector<std::string> have;
      for (const auto& l : original) have.push_back(trim(l));
      for (size_t k = 0; k < b.lines.size(); ++k)
        if (!trim(b.lines[k]).empty() && !trim(b.lines[k]).starts_with("// ...") &&
            std::find(have.begin(), have.end(), trim(b.lines[k])) == have.end())
          check.problems.push_back(
              fmt::format("{}:{}: not in {}: {}", name, b.first_line + static_cast<int>(k), source, trim(b.lines[k])));
      continue;
    }
    const bool top_level = b.marker == "compile: top-level";
    std::string context;
    if (b.marker.starts_with("compile: context"))
      context = b.marker.substr(std::string("compile: context").size());
    else if (!b.marker.empty() && !top_level && !b.marker.starts_with("error-text"))
      check.problems.push_back(fmt::format("{}: unknown marker <!-- {} -->", where, b.marker));
    std::string code;
    for (size_t k = 0; k < b.lines.size(); ++k) {
      std::string line = fmt::format("#line {} \"{}\"\n{}\n", b.first_line + static_cast<int>(k), name, b.lines[k]);
      const std::string t = trim(b.lines[k]);
      if (t.starts_with("#include"))
        includes += line;
      else if (!top_level &&
               (t.starts_with("using ") || (t.starts_with("namespace ") && t.find('=') != std::string::npos)))
        usings += line;
      else
        code += line;
    }
    ++check.compiled;
    if (top_level)
      body += code;
    else
      body += fmt::format("[[maybe_unused]] void snippet_{}() {{\n#line {} \"{} (hidden context)\"\n{}\n{}}}\n",
                          index++, b.first_line, name, context, code);
  }
  // Each page in a namespace of its own, so that its using-directives stay its own.
  check.unit = fmt::format("{}\nnamespace page {{\n{}\n{}\n}}  // namespace page\n", includes, usings, body);
  return check;
}

class DocSnippets : public ::testing::TestWithParam<fs::path> {};

TEST_P(DocSnippets, EveryCppBlockCompiles) {
  PageCheck check = check_page(GetParam());
  for (const auto& p : check.problems) ADD_FAILURE() << p;
  if (check.compiled == 0) return;
  fs::path dir = fs::temp_directory_path() / fmt::format("weft_doc_snippets_{}", GetParam().stem().string());
  fs::create_directories(dir);
  fs::path unit = dir / "page.cpp", log = dir / "compiler.txt";
  std::ofstream(unit) << check.unit;
  std::string cmd = fmt::format("'{}' -std=c++20 -fsyntax-only -Wno-unused -I'{}' {} '{}' >'{}' 2>&1", WEFT_TEST_CXX,
                                kSource.string(), WEFT_TEST_CXX_FLAGS, unit.string(), log.string());
  int status = std::system(cmd.c_str());
  std::ifstream f(log);
  std::stringstream messages;
  messages << f.rdbuf();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << page_name(GetParam()) << ": its C++ blocks do not compile (" << unit.string() << "):\n"
      << messages.str();
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Pages, DocSnippets, ::testing::ValuesIn(pages()),
                         [](const ::testing::TestParamInfo<fs::path>& info) {
                           std::string n = info.param.stem().string();
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// --- The op reference ---------------------------------------------------------------------------

TEST(DocOps, TheReferenceDocumentsEveryOpOfTheTable) {
  // The ops named in the first cell of a table row: "| `add`, `sub`, `mul` |", "| `select(cond, a, b)` |".
  std::set<std::string> documented;
  for (const std::string& line : read_lines(kSource / "docs" / "ops.md")) {
    if (!line.starts_with("| `")) continue;
    const std::string cell = line.substr(2, line.find(" |", 2) - 2);
    for (size_t open = cell.find('`'); open != std::string::npos; open = cell.find('`', cell.find('`', open + 1) + 1)) {
      size_t end = open + 1;
      while (end < cell.size() && (std::islower(static_cast<unsigned char>(cell[end])) || cell[end] == '_')) ++end;
      documented.insert(cell.substr(open + 1, end - open - 1));
      if (cell.find('`', open + 1) == std::string::npos) break;
    }
  }
#define WEFT_OP_NAME(name, text) text,
  const std::vector<std::string> ops = {WEFT_OP_LIST(WEFT_OP_NAME)};
#undef WEFT_OP_NAME
  for (const std::string& op : ops) EXPECT_TRUE(documented.count(op)) << "docs/ops.md has no table row for " << op;
}

// --- Sample error texts ---------------------------------------------------------------------------

/// The message of the weft::Error that `make` throws ("" if none).
std::string error_of(const std::function<void()>& make) {
  try {
    make();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

/// Each case builds what its sample says and returns the real message.
const std::map<std::string, std::function<std::string()>>& error_cases() {
  using dsl::Tensor;
  static const std::map<std::string, std::function<std::string()>> cases{
      {"dsl-add",
       [] {
         return error_of([] {
           Builder b("m");
           Tensor x = b.input("x", "f32[4, 3]"), y = b.input("y", "f32[5, 2]");
           (void)(x + y);
         });
       }},
      {"dsl-matmul",
       [] {
         return error_of([] {
           Builder b("m");
           Tensor x = b.input("x", "f32[B, 784]"), w = b.input("w", "f32[256, 512]");
           (void)dsl::matmul(x, w);
         });
       }},
      {"mha-query",
       [] {
         return error_of([] {
           Builder b("m");
           Tensor x = b.input("x", "f32[2, 7, 256]");
           nn::MultiHeadAttention self_attn(b, "self_attn", 512, 8);
           (void)self_attn(x, x, x);
         });
       }},
      {"mha-query-in-encoder",
       [] {
         return error_of([] {
           Builder b("m");
           Tensor x = b.input("x", "f32[2, 7, 256]");
           auto layer = b.scope("encoder.layers.0");  // as inside an encoder's first layer
           nn::MultiHeadAttention self_attn(b, "self_attn", 512, 8);
           (void)self_attn(x, x, x);
         });
       }},
  };
  return cases;
}

/// The message without its trailing " (at FILE:LINE)", which differs between the docs' model.cpp
/// and this test; "" when it has none (every sample must show where).
std::string without_location(const std::string& message) {
  static const std::regex at(R"( \(at [^()]+:[0-9]+\)$)");
  std::smatch m;
  if (!std::regex_search(message, m, at)) return "";
  return message.substr(0, static_cast<size_t>(m.position(0)));
}

TEST(DocErrorTexts, EverySampleIsTheRealMessage) {
  int samples = 0;
  for (const fs::path& page : pages()) {
    for (const Block& b : blocks_of(page)) {
      if (!b.marker.starts_with("error-text:")) continue;
      ++samples;
      std::string id = trim(b.marker.substr(std::string("error-text:").size()));
      const std::string where = fmt::format("{}:{}", page_name(page), b.first_line);
      auto it = error_cases().find(id);
      if (it == error_cases().end()) {
        ADD_FAILURE() << where << ": no error case '" << id << "' in this test";
        continue;
      }
      // A sample may be wrapped over several lines; it is one message.
      std::string sample;
      for (const auto& l : b.lines) {
        if (!sample.empty()) sample += ' ';
        sample += trim(l);
      }
      std::string real = it->second();
      ASSERT_FALSE(real.empty()) << where << ": case '" << id << "' threw no weft::Error";
      EXPECT_EQ(without_location(sample), without_location(real))
          << where << ": the sample differs from the real message\n  sample: " << sample << "\n  real:   " << real;
      EXPECT_FALSE(without_location(sample).empty()) << where << ": the sample must end with (at FILE:LINE)";
    }
  }
  EXPECT_GE(samples, 4) << "the markers <!-- error-text: ID --> went missing from the docs";
}

}  // namespace
}  // namespace weft
