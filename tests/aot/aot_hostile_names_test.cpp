// Names are user input, and every name reaches the generated C (as string literals) and the
// generated header (in its listing comment). A name that closes a comment or a string must stay a
// name: the shared object and the header compile, nothing in a name runs when the object is loaded,
// and the C API gives every name back byte for byte.
#include <gtest/gtest.h>

#include <fstream>

#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "ir/text.h"
#include "tests/aot/aot_testing.h"

namespace weft::aot_tests {
namespace {

using Host = weft::Tensor;

// Each payload is a compile error if it escapes its comment or literal (a negative array size), and
// a constructor that ends the process when the object is loaded if it compiles as code.
const std::string kEscape = "*/ static int weft_injected[-1]; /*";
const std::string kRun = "*/ __attribute__((constructor)) static void weft_evil(void) { _exit(77); } /*";

/// A name with both payloads, quotes, backslashes and a trigraph; `control` adds a newline and a
/// control byte (names refuse them, scopes and locations do not).
std::string hostile(const std::string& stem, bool control = false) {
  return stem + kEscape +
         "\"\\ \" ?"
         "?/ " +
         (control ? "\n\x01 " : "") + "/* " + kRun + " \\";
}

/// `s` as a quoted string of the text format.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += {'\\', c};
    else if (c == '\n')
      out += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20)
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    else
      out += c;
  }
  return out + "\"";
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(HostileNames, EveryKindOfNameCompilesLoadsAndComesBackByteForByte) {
  fs::path dir = test_dir();
  const std::string graph = hostile("graph"), input = hostile("input"), output = hostile("output"),
                    param = hostile("param"), scope = hostile("scope", true), loc = hostile("loc", true) + ":7",
                    symbol = hostile("S"), input2 = hostile("input2"), graph2 = hostile("graph2");
  // Graph, input, output, parameter, scope and location names through the text format.
  Graph g = parse_graph(fmt::format("weft 1\ngraph {}({}: f32[B<=8, 3]) -> ({}: f32[B, 3]) {{\n"
                                    "  param {}: f32[3] init=uniform(-1, 1, seed=5)\n"
                                    "  %0 = mul({}, {}) : f32[B, 3]  scope={} loc={}\n"
                                    "  return %0\n}}\n",
                                    quoted(graph), quoted(input), quoted(output), quoted(param), quoted(input),
                                    quoted(param), quoted(scope), quoted(loc)),
                        "hostile.weft");
  // A symbol name: the parser and Builder::symbol take identifiers only, but a Graph made through
  // its own API can carry any name.
  Builder b(graph2);
  auto x2 = b.input(input2, DType::f32, Shape{Dim::symbol(symbol), 3});
  b.output("y", x2 * 2.0);
  Graph g2 = b.finish();
  g2.declare_symbol(symbol, 4);

  Model model(compile({g, g2}, dir, "hostile"));  // the tables' C compiles: no payload left its literal
  EXPECT_EQ(model.weft_model_name(), graph);
  ASSERT_EQ(model.weft_num_entries(), 2);
  EXPECT_EQ(model.weft_entry_name(0), graph);
  EXPECT_EQ(model.weft_entry_name(1), graph2);
  weft_value_info info{};
  ASSERT_EQ(model.weft_input_info(0, 0, &info), WEFT_OK);
  EXPECT_EQ(info.name, input);
  ASSERT_EQ(model.weft_output_info(0, 0, &info), WEFT_OK);
  EXPECT_EQ(info.name, output);
  ASSERT_EQ(model.weft_num_params(), 1);
  ASSERT_EQ(model.weft_param_info(0, &info), WEFT_OK);
  EXPECT_EQ(info.name, param);
  ASSERT_EQ(model.weft_input_info(1, 0, &info), WEFT_OK);
  EXPECT_EQ(info.name, input2);
  ASSERT_NE(info.dim_names[0], nullptr);
  EXPECT_EQ(info.dim_names[0], symbol);
  const char* name = nullptr;
  int64_t bound = 0;
  ASSERT_EQ(model.weft_symbol_info(1, 0, &name, &bound), WEFT_OK);
  EXPECT_EQ(name, symbol);
  EXPECT_EQ(bound, 4);

  // Both entries run and give the JIT's numbers; the scope and location reach messages intact.
  Instance instance(model);
  std::vector<Host> in{random_f32({2, 3}, 3)};
  expect_bitwise_equal(instance.run(graph, in), LlvmBackend().compile(g)->run(in), "hostile names");
  expect_bitwise_equal(instance.run(graph2, in, {{symbol, 2}}), LlvmBackend().compile(g2)->run(in), "symbol");

  // The header compiles as C, and as C++ with trigraphs on (only its own comment close ends the
  // listing).
  std::string header = read_text(dir / "hostile.h");
  EXPECT_EQ(header.find(kEscape), std::string::npos) << "a payload reached the header unescaped";
  EXPECT_EQ(header.find(kRun), std::string::npos) << "a payload reached the header unescaped";
  fs::path probe = dir / "probe.c";
  std::ofstream(probe) << "#include \"hostile.h\"\nint main(void) { return weft_num_entries() == 2 ? 0 : 1; }\n";
  std::string out;
  EXPECT_EQ(
      shell(fmt::format("{} -std=c11 -Wall -Werror -fsyntax-only -I{} {}", test_cc(), dir.string(), probe.string()),
            &out),
      0)
      << out;
  EXPECT_EQ(shell(fmt::format("c++ -x c++ -std=c++14 -trigraphs -Wall -Werror -fsyntax-only -I{} {}", dir.string(),
                              probe.string()),
                  &out),
            0)
      << out;
}

TEST(HostileNames, TheParserRefusesControlCharactersInNames) {
  for (const char* text : {"weft 1\ngraph \"a\\nb\"() -> () {\n  return\n}\n",
                           "weft 1\ngraph g(\"x\\x01\": f32[2]) -> (y: f32[2]) {\n  return \"x\\x01\"\n}\n",
                           "weft 1\ngraph g() -> () {\n  param \"w\\tab\": f32[2] init=zeros\n  return\n}\n"}) {
    try {
      parse_graph(text, "names.weft");
      ADD_FAILURE() << "parsed: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("without control characters, but the name holds byte 0x"), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace weft::aot_tests
