/** \file
 * weft-dump: shows a `.weft` graph as text, Graphviz DOT or SVG, and reports its statistics.
 *
 *   weft-dump model.weft [--format text|dot|svg] [-o out] [--depth N] [--stats] [--weights w.safetensors]
 *
 * The graph goes to stdout unless `-o` names a file. `--stats` and `--weights` print reports
 * instead of the graph; the graph is written too when `--format` or `-o` is also given. SVG is
 * rendered by Graphviz's `dot`, run as a child process fed through a pipe, stopped after
 * --dot-timeout seconds and killed with weft-dump; a drawing of more than 400 nodes is folded automatically (a note on
 * stderr says at which depth). Errors follow tools/cli.h: `weft-dump:
 * message` on stderr, exit status 1 when the input is bad, the weights disagree with the graph or
 * `dot` fails, 2 for a bad command line.
 */
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backends/default_backend.h"
#include "backends/interp/constant_evaluator.h"
#include "backends/provider.h"
#include "ir/dot.h"
#include "ir/error.h"
#include "ir/file_io.h"
#include "ir/safetensors.h"
#include "ir/stats.h"
#include "ir/text.h"
#include "passes/pipeline.h"
#include "passes/plan_memory.h"
#include "tools/cli.h"

namespace {

constexpr const char* kUsage = R"(usage: weft-dump MODEL.weft [options]

Shows a Weft graph (a text IR file) as text, Graphviz DOT or SVG, and reports its statistics.

options:
  --format FMT        text (default: the text IR), dot (Graphviz source) or svg (rendered by
                      Graphviz's `dot`, which must be on the PATH)
  -o, --output FILE   write the graph to FILE instead of stdout
  --depth N           fold every scope with N or more components into one box per scope
                      (e.g. --depth 3 draws each encoder.layers.<i> as one node); components are
                      counted below the scope that holds the whole model, and an optimizer's
                      update folds with its parameter; dot and svg only. A drawing of more than
                      400 nodes is folded automatically at the deepest depth that keeps it under
                      400, with a note on stderr; --depth 0 draws every node
  --dot-timeout S     stop Graphviz's `dot` after S seconds (default 120; svg only)
  --stage STAGE       the graph to show, as the one lowering pipeline (docs/passes.md) leaves it:
                      input (default, as read), checked (verified, types inferred), decomposed
                      (composites in core ops), simplified (folded, CSE, DCE) or fused (what the
                      LLVM backend compiles: fused regions, drawn as clusters with their bodies)
  --print-after-change  with --stage: print the graph to stderr after each pass that changed it
  --time-passes       with --stage: print each pass's time to stderr
  --verify-each       with --stage: verify the graph after every pass
  --stats             print op counts, parameter count and bytes, a FLOP estimate, each value's
                      bytes (symbolic dims at their declared bounds) and the peak memory without
                      reuse and with the planned arena
  --compile           compile the graph with the default backend (auto where oneDNN is built: per
                      call the faster of oneDNN and LLVM, both times shown; else llvm) and print
                      which provider runs each call and why, each region's compile time and the
                      totals
  --backend NAME      with --compile: compile with this backend instead (auto, llvm, onednn,
                      interp, as built); the report says which provider runs each call and why
                      the ones before it declined
  --weights FILE      check that a safetensors file has every parameter with its dtype and shape
  -h, --help          show this help and exit
  --version           print the version and exit

--stats, --compile and --weights print reports to stdout instead of the graph; the graph is written as well
when --format or -o is given.

)";

using weft::tools::UsageError;

struct Options {
  std::string input;
  std::optional<std::string> format;
  std::optional<std::string> output;
  std::optional<int> depth;  // 0: draw every node, no automatic folding
  double dot_timeout = 120;
  bool stats = false;
  bool compile = false;
  std::optional<std::string> backend;  // for --compile; the LLVM backend when absent
  std::string stage = "input";
  bool print_after_change = false;
  bool time_passes = false;
  bool verify_each = false;
  std::optional<std::string> weights;
  bool help = false;
  bool version = false;
};

int parse_depth(const std::string& text) {
  try {
    size_t used = 0;
    int v = std::stoi(text, &used);
    if (used == text.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw UsageError{fmt::format("--depth takes a whole number of scope components >= 0, but got '{}'", text)};
}

Options parse_args(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::optional<std::string> inline_value;
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) {
      inline_value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw UsageError{fmt::format("{} needs a value (see --help)", a)};
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      o.help = true;
    } else if (a == "--version") {
      o.version = true;
    } else if (a == "--format") {
      o.format = value();
      if (*o.format != "text" && *o.format != "dot" && *o.format != "svg")
        throw UsageError{fmt::format("--format must be text, dot or svg, but got '{}'", *o.format)};
    } else if (a == "-o" || a == "--output") {
      o.output = value();
    } else if (a == "--depth") {
      o.depth = parse_depth(value());
    } else if (a == "--dot-timeout") {
      std::string v = value();
      char* end = nullptr;
      o.dot_timeout = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(o.dot_timeout > 0))
        throw UsageError{fmt::format("--dot-timeout takes a number of seconds > 0, but got '{}'", v)};
    } else if (a == "--stage") {
      o.stage = value();
      if (o.stage != "input" && o.stage != "checked" && o.stage != "decomposed" && o.stage != "simplified" &&
          o.stage != "fused")
        throw UsageError{fmt::format(
            "--stage must be input, checked, decomposed, simplified or fused, but got '{}'", o.stage)};
    } else if (a == "--print-after-change") {
      o.print_after_change = true;
    } else if (a == "--time-passes") {
      o.time_passes = true;
    } else if (a == "--verify-each") {
      o.verify_each = true;
    } else if (a == "--compile") {
      o.compile = true;
    } else if (a == "--backend") {
      o.backend = value();
    } else if (a == "--stats") {
      o.stats = true;
    } else if (a == "--weights") {
      o.weights = value();
    } else if (a.size() > 1 && a[0] == '-') {
      throw UsageError{fmt::format("unknown option '{}' (see --help)", a)};
    } else if (o.input.empty()) {
      o.input = a;
    } else {
      throw UsageError{fmt::format("takes one input file, but got '{}' and '{}'", o.input, a)};
    }
  }
  if (o.help || o.version) return o;
  if (o.input.empty()) throw UsageError{"no input file (usage: weft-dump MODEL.weft [options]; see --help)"};
  if (o.depth && *o.depth > 0 && o.format.value_or("text") == "text")
    throw UsageError{"--depth folds scopes in a drawing: use it with --format dot or svg"};
  if (o.backend && !o.compile) throw UsageError{"--backend names the backend --compile uses: use it with --compile"};
  return o;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw weft::Error(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
  f << text;
  f.close();
  if (!f) throw weft::Error(fmt::format("cannot write '{}': the write failed", path));
}

/// Renders DOT to SVG with Graphviz's `dot`, into `output` or to stdout. The DOT text goes through
/// a pipe (no temporary file to leave behind when killed), and `dot` is killed after `timeout`
/// seconds, or when weft-dump dies: its layout is superlinear, and a train step's graph can keep it
/// busy for hours.
void render_svg(const std::string& dot_text, const std::optional<std::string>& output, double timeout, int64_t nodes) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    throw weft::Error(fmt::format("cannot make a pipe for dot: {}", std::strerror(errno)));
  std::vector<std::string> args{"dot", "-Tsvg"};
  if (output) {
    args.push_back("-o");
    args.push_back(*output);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // `exec_error` carries execvp's errno back from the child; it closes unused on a successful exec.
  int exec_error[2];
  if (::pipe2(exec_error, O_CLOEXEC) != 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    throw weft::Error(fmt::format("cannot make a pipe for dot: {}", std::strerror(errno)));
  }
  std::fflush(stdout);
  std::cout.flush();
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    // `dot` dies with weft-dump, however weft-dump ends (Ctrl-C, kill -9): an orphaned layout of a
    // big graph would otherwise run on for hours.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // weft-dump died before the line above
    ::dup2(pipe_fds[0], STDIN_FILENO);
    ::execvp("dot", argv.data());
    int e = errno;
    (void)!::write(exec_error[1], &e, sizeof e);
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(pipe_fds[0]);
  ::close(exec_error[1]);
  int err = pid < 0 ? fork_errno : 0;
  if (pid > 0) {
    ssize_t n;
    while ((n = ::read(exec_error[0], &err, sizeof err)) < 0 && errno == EINTR) {
    }
    if (n != static_cast<ssize_t>(sizeof err))
      err = 0;  // the exec succeeded
    else
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
  }
  ::close(exec_error[0]);
  if (err != 0) {
    ::close(pipe_fds[1]);
    if (err == ENOENT)
      throw weft::Error(
          "--format svg needs Graphviz's `dot`, but it is not on the PATH (install the graphviz "
          "package, or use --format dot)");
    throw weft::Error(fmt::format("cannot run Graphviz's `dot`: {}", std::strerror(err)));
  }
  // A `dot` that exits early closes the pipe: that is its exit status's story, not a SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  for (size_t done = 0; done < dot_text.size();) {
    ssize_t n = ::write(pipe_fds[1], dot_text.data() + done, dot_text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(pipe_fds[1]);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout);
  int status = 0;
  for (;;) {
    pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid) break;
    if (got < 0 && errno != EINTR) throw weft::Error(fmt::format("waiting for `dot` failed: {}", std::strerror(errno)));
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (output) std::remove(output->c_str());  // what dot left is not an SVG
      throw weft::Error(fmt::format(
          "Graphviz's `dot` did not finish within {:g} s laying out {} nodes; fold the drawing (--depth N), allow it "
          "longer (--dot-timeout S), or write the DOT text (--format dot)",
          timeout, nodes));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    throw weft::Error(
        "--format svg needs Graphviz's `dot`, but it could not be run (install the graphviz package, "
        "or use --format dot)");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw weft::Error(fmt::format("Graphviz's `dot` failed (status {}) while rendering the SVG",
                                  WIFEXITED(status) ? WEXITSTATUS(status) : -1));
}

/// Above this many nodes `dot` takes minutes to hours, so weft-dump folds unless told not to.
constexpr int64_t kAutoFoldNodes = 400;

/// The folding depth to draw with: the user's (0: none), or — for a drawing too big for `dot` to
/// lay out quickly — the deepest that keeps it under kAutoFoldNodes, said in a note on stderr.
std::optional<int> drawing_depth(const weft::Graph& graph, const Options& o) {
  if (o.depth) return *o.depth == 0 ? std::nullopt : o.depth;
  const int64_t full = weft::dot_node_count(graph);
  if (full <= kAutoFoldNodes) return std::nullopt;
  int deepest = 1;
  for (const weft::Node& n : graph.nodes()) deepest = std::max(deepest, weft::scope_depth(n.scope));
  int chosen = 1;
  int64_t drawn = 0;
  for (int d = deepest; d >= 1; --d) {
    drawn = weft::dot_node_count(graph, {d});
    chosen = d;
    if (drawn <= kAutoFoldNodes) break;
  }
  std::cerr << fmt::format(
      "weft-dump: note: {} nodes are more than `dot` lays out quickly ({}): drawing scopes folded at --depth {} "
      "({} nodes); --depth N picks another depth, --depth 0 draws every node\n",
      full, kAutoFoldNodes, chosen, drawn);
  return chosen;
}

std::string shape_of(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

/// Compares a weights file with the graph's parameters; returns the number of problems.
int check_weights(const weft::Graph& graph, const std::string& path, std::string& report) {
  weft::SafetensorsFile file = weft::read_safetensors(path);
  int missing = 0, mismatched = 0, unexpected = 0;
  std::string lines;
  for (const auto& p : graph.params()) {
    const weft::TensorType& want = graph.type(p.value);
    const weft::TensorBlob* blob = file.find(p.name);
    if (!blob) {
      lines += fmt::format("  missing:    {} ({})\n", p.name, want.str());
      ++missing;
      continue;
    }
    bool same = blob->dtype == want.dtype && blob->shape.size() == want.shape.size();
    for (size_t d = 0; same && d < want.shape.size(); ++d)
      same = want.shape[d].is_static() && want.shape[d].value() == blob->shape[d];
    if (!same) {
      lines += fmt::format("  mismatch:   {} is {} in the graph but {}{} in the file\n", p.name, want.str(),
                           weft::dtype_name(blob->dtype), shape_of(blob->shape));
      ++mismatched;
    }
  }
  for (const auto& t : file.tensors) {
    if (!graph.find_param(t.name)) {
      lines += fmt::format("  unexpected: {} ({}{}) is not a parameter of the graph\n", t.name,
                           weft::dtype_name(t.dtype), shape_of(t.shape));
      ++unexpected;
    }
  }
  int problems = missing + mismatched + unexpected;
  if (problems == 0) {
    report += fmt::format("weights {}: all {} parameters of graph '{}' match (name, dtype, shape)\n", path,
                          graph.params().size(), graph.name());
  } else {
    report += fmt::format(
        "weights {}: {} missing, {} mismatched, {} unexpected (graph '{}' has {} parameters, the "
        "file {} tensors)\n",
        path, missing, mismatched, unexpected, graph.name(), graph.params().size(), file.tensors.size());
    report += lines;
  }
  return problems;
}

int run(const Options& o) {
  // An output that is a directory is refused before any work (and before `dot` says it its way).
  if (o.output) weft::must_write_through(*o.output);
  weft::Graph graph = weft::read_graph_file(o.input);
  if (o.stage != "input") {
    weft::LoweringOptions lowering;  // the LLVM provider's policy: decompose, simplify, fuse,
    lowering.fusion.options.attention = true;  // attention regions (passes/fuse_attention.h)
    lowering.until = weft::stage_by_name(o.stage);
    lowering.evaluate_constants = weft::interpreter_constant_evaluator();
    lowering.print_after_change = o.print_after_change;
    lowering.time_passes = o.time_passes;
    lowering.verify_each = o.verify_each;
    graph = weft::lower_graph(graph, lowering);
  }
  bool reports = o.stats || o.weights || o.compile;
  bool write_graph = !reports || o.format || o.output;
  if (write_graph) {
    std::string format = o.format.value_or("text");
    std::optional<int> depth = format == "text" ? std::nullopt : drawing_depth(graph, o);
    if (format == "svg") {
      render_svg(weft::graph_to_dot(graph, {depth}), o.output, o.dot_timeout, weft::dot_node_count(graph, {depth}));
    } else {
      std::string text = format == "dot" ? weft::graph_to_dot(graph, {depth}) : weft::print_graph(graph);
      if (o.output)
        write_file(*o.output, text);
      else
        std::cout << text << std::flush;
    }
  }
  int status = 0;
  if (o.stats)
    std::cout << weft::format_stats(graph, weft::compute_stats(graph)) << "\n"
              << weft::memory_summary(graph) << std::flush;
  if (o.compile) {
    // Without --backend: the backend users get by default (auto where this build has oneDNN).
    const std::string name = o.backend.value_or(weft::default_backend_name());
    if (!o.backend && name == "interp")
      throw weft::Error("--compile needs the LLVM backend, and this Weft was built without LLVM 19");
    auto backend = weft::make_backend(name);
    const auto* chain = dynamic_cast<const weft::ProviderChain*>(backend.get());
    if (!chain) throw weft::Error(fmt::format("--compile: backend '{}' is not a chain of providers", name));
    std::cout << chain->compile_chain(graph)->stats().report() << std::flush;
  }
  if (o.weights) {
    std::string report;
    int problems = check_weights(graph, *o.weights, report);
    std::cout << report << std::flush;
    if (problems > 0) {
      std::cerr << fmt::format("weft-dump: the weights in '{}' do not match graph '{}' ({} problem{}; see above)\n",
                               *o.weights, graph.name(), problems, problems == 1 ? "" : "s");
      status = 1;
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string tool = "weft-dump";
  return weft::tools::run_main(tool, [&] {
    Options options = parse_args(argc, argv);
    if (options.help) {
      std::cout << kUsage << '\n'
                << weft::tools::exit_status_help(
                       tool, "a file that cannot be read or parsed, weights that do not match, or `dot` failed")
                << '\n';
    } else if (options.version) {
      std::cout << weft::tools::version_line(tool) << '\n';
    } else {
      return run(options);
    }
    return 0;
  });
}
