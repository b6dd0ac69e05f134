// libFuzzer target for the text-IR parser (`make fuzz`).
//
// Properties checked on every input: parse_graph either returns a graph or throws weft::Error (any
// other exception escapes and libFuzzer reports it; ASan/UBSan report memory errors and undefined
// behaviour); and a graph that parses round-trips: print(parse(print(g))) == print(g).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ir/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  weft::Graph graph;
  try {
    graph = weft::parse_graph(text, "fuzz.weft");
  } catch (const weft::Error&) {
    return 0;  // a malformed file is a user error, reported properly
  }
  std::string printed = weft::print_graph(graph);
  std::string reprinted;
  try {
    reprinted = weft::print_graph(weft::parse_graph(printed, "printed.weft"));
  } catch (const weft::Error& e) {
    std::fprintf(stderr, "printed text does not parse: %s\n--- printed ---\n%s\n", e.what(), printed.c_str());
    std::abort();
  }
  if (reprinted != printed) {
    std::fprintf(stderr, "round trip changed the text\n--- printed ---\n%s\n--- reprinted ---\n%s\n", printed.c_str(),
                 reprinted.c_str());
    std::abort();
  }
  return 0;
}
