/** \file
 * weft-opt: runs graph passes over a `.weft` file and prints the result, like mlir-opt.
 *
 *   weft-opt [--passes=infer-shapes,cse,dce] [--print-after-change] [--time-passes] [-o out.weft] in.weft
 *
 * Without --passes it runs the one lowering pipeline's list (passes/pipeline.h); `--passes=` (empty) runs
 * none, which makes weft-opt a round-trip check of the text IR. The input is verified before any pass
 * and every pass's output is verified too, so a pass test is a pair of files: IR in, IR out. The
 * result goes to stdout unless -o is given; printing after changes and timings go to stderr. `-` reads
 * the input from stdin. Errors follow tools/cli.h: `weft-opt: message` on stderr, exit status 1 for
 * bad input, 2 for a bad command line (an unknown pass among them).
 */
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "backends/interp/constant_evaluator.h"
#include "ir/text.h"
#include "passes/pass_manager.h"
#include "passes/pipeline.h"
#include "tools/cli.h"

namespace {

/// The one lowering pipeline's list (passes/pipeline.h), as the LLVM backend runs it.
weft::LoweringOptions default_lowering() {
  weft::LoweringOptions options;
  options.evaluate_constants = weft::interpreter_constant_evaluator();
  return options;
}

int run(const std::string& input, const std::optional<std::string>& pass_list, const std::string& output,
        bool print_after_change, bool time_passes) {
  // The pass list is the command line's: an unknown pass is a usage error, found before any input is read.
  weft::PassContext context{weft::interpreter_constant_evaluator()};
  std::vector<weft::Pass> passes;
  try {
    passes = pass_list ? weft::passes_by_names(*pass_list, context) : weft::lowering_passes(default_lowering());
  } catch (const weft::Error& e) {
    throw weft::tools::UsageError{e.what()};
  }

  weft::Graph graph;
  if (input == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    graph = weft::parse_graph(text, "<stdin>");
  } else {
    graph = weft::read_graph_file(input);
  }

  weft::PassManagerOptions options;
  options.verify_each = true;
  options.print_after_change = print_after_change;
  options.time_passes = time_passes;
  weft::PassManager manager(options);
  manager.add(std::move(passes));
  weft::Graph result = manager.run(graph);

  if (output.empty() || output == "-")
    std::cout << weft::print_graph(result) << std::flush;
  else
    weft::write_graph_file(output, result);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string tool = "weft-opt";
  CLI::App app{"Runs graph passes over a .weft file and prints the resulting graph.\nDocs: docs/passes.md"};
  weft::tools::describe(app, tool, "a file that cannot be read, parsed or verified");
  std::string input;
  std::string passes;
  std::string output;
  bool print_after_change = false;
  bool time_passes = false;
  bool list_passes = false;
  app.add_option("input", input, "the .weft file to read ('-' for stdin)");
  CLI::Option* passes_opt = app.add_option(
      "--passes", passes, "comma-separated passes to run in order (default: the lowering pipeline; empty: none)");
  app.add_option("-o,--output", output, "where to write the result (default: stdout)");
  app.add_flag("--print-after-change", print_after_change, "print the graph to stderr after each pass that changed it");
  app.add_flag("--time-passes", time_passes, "print each pass's time to stderr");
  app.add_flag("--list-passes", list_passes, "list the available passes and exit");

  // CLI11 reads `--passes= next-arg` as `--passes next-arg`; an empty list must stay empty.
  std::vector<std::string> args;
  bool no_passes = false;
  for (int i = argc - 1; i >= 1; --i) {
    if (std::string(argv[i]) == "--passes=")
      no_passes = true;
    else
      args.emplace_back(argv[i]);
  }
  if (int status = weft::tools::parse(app, tool, args); status >= 0) return status;

  if (list_passes) {
    for (const weft::PassInfo& p : weft::registered_passes()) std::cout << fmt::format("{:16} {}\n", p.name, p.summary);
    std::cout << "lowering pipeline (the default):";
    for (const weft::Pass& p : weft::lowering_passes(default_lowering())) std::cout << ' ' << p.name;
    std::cout << '\n';
    return 0;
  }
  return weft::tools::run_main(tool, [&] {
    if (input.empty()) throw weft::tools::UsageError{"no input file (see weft-opt --help)"};
    std::optional<std::string> pass_list;
    if (no_passes)
      pass_list = "";
    else if (passes_opt->count())
      pass_list = passes;
    return run(input, pass_list, output, print_after_change, time_passes);
  });
}
