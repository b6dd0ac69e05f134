/** \file
 * The folders' dependency rules (DESIGN.md, docs/architecture.md), read from the sources' includes:
 * ir/ includes nothing outside ir/; runtime/ includes no graph-level header (it runs programs, never
 * graphs); passes/ includes no backend, runtime or frontend header.
 */
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace weft {
namespace {

namespace fs = std::filesystem;

/// "file:line: #include ..." for every include of a file under `folder` that `allowed` refuses.
std::vector<std::string> offending_includes(const std::string& folder,
                                            const std::function<bool(const std::string&)>& allowed) {
  std::vector<std::string> out;
  const std::regex include(R"(^\s*#\s*include\s+\"([^\"]+)\")");
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(WEFT_SOURCE_DIR) / folder)) {
    const std::string ext = entry.path().extension().string();
    if (ext != ".h" && ext != ".cpp") continue;
    std::ifstream in(entry.path());
    int line_number = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_number;
      std::smatch m;
      if (std::regex_search(line, m, include) && !allowed(m[1].str()))
        out.push_back(fs::relative(entry.path(), WEFT_SOURCE_DIR).string() + ":" + std::to_string(line_number) + ": " +
                      line);
    }
  }
  return out;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

TEST(Layering, IrIncludesNothingOutsideIr) {
  EXPECT_EQ(offending_includes("ir", [](const std::string& h) { return starts_with(h, "ir/"); }),
            std::vector<std::string>{});
}

TEST(Layering, RuntimeIncludesNoGraphHeader) {
  // The program level and what both levels share; never the graph, its builder, the op table or passes.
  const std::vector<std::string> ir_allowed = {"ir/attrs.h",   "ir/decls.h",   "ir/dtype.h",   "ir/error.h",
                                               "ir/file_io.h", "ir/op_kind.h", "ir/program.h", "ir/shape.h"};
  auto allowed = [&](const std::string& h) {
    if (starts_with(h, "runtime/") || h.find('/') == std::string::npos) return true;  // the C runtime's own
    for (const std::string& a : ir_allowed)
      if (h == a) return true;
    return false;
  };
  EXPECT_EQ(offending_includes("runtime", allowed), std::vector<std::string>{});
}

TEST(Layering, PassesIncludeNoBackendRuntimeOrFrontend) {
  auto allowed = [](const std::string& h) { return starts_with(h, "ir/") || starts_with(h, "passes/"); };
  EXPECT_EQ(offending_includes("passes", allowed), std::vector<std::string>{});
}

}  // namespace
}  // namespace weft
