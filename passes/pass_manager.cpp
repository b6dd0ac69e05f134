#include "passes/pass_manager.h"

#include <fmt/format.h>

#include <iostream>

#include "ir/text.h"
#include "passes/cse.h"
#include "passes/dce.h"
#include "passes/decompose.h"
#include "passes/fuse.h"
#include "passes/hoist_scan_invariants.h"
#include "passes/infer_shapes.h"
#include "passes/inline_fusions.h"
#include "passes/outer_products.h"
#include "passes/sink_scan_accumulations.h"
#include "passes/verify.h"

namespace weft {

// --- the registry ---

namespace {

struct Registration {
  PassInfo info;
  std::function<Pass(const PassContext&)> make;
};

Pass simple(const char* name, Graph (*fn)(const Graph&)) { return Pass{name, fn}; }

const std::vector<Registration>& registry() {
  static const std::vector<Registration> r = {
      {{"verify", "check the verifier's invariants; the graph is unchanged"},
       [](const PassContext&) {
         return Pass{"verify", [](const Graph& g) {
                       verify(g);
                       return g;
                     }};
       }},
      {{"infer-shapes", "recompute every node's result types from the op table"},
       [](const PassContext&) { return simple("infer-shapes", infer_shapes); }},
      {{"fold-constants", "replace nodes whose operands are all constants by constants (needs an evaluator)"},
       [](const PassContext& c) {
         if (!c.evaluate_constants)
           throw Error("the pass 'fold-constants' needs a constant evaluator, which this caller does not provide");
         ConstantEvaluator evaluate = c.evaluate_constants;
         return Pass{"fold-constants", [evaluate](const Graph& g) { return fold_constants(g, evaluate); }};
       }},
      {{"hoist-scan-invariants", "compute once before a scan what its body computes from its consts alone"},
       [](const PassContext&) { return simple("hoist-scan-invariants", hoist_scan_invariants); }},
      {{"sink-scan-accumulations", "sum a scan's per-step outer products after the loop, as one GEMM over all steps"},
       [](const PassContext&) { return simple("sink-scan-accumulations", sink_scan_accumulations); }},
      {{"outer-products", "turn a matmul whose inner dimension is 1 into a broadcast multiply, which fuses"},
       [](const PassContext&) { return simple("outer-products", outer_products); }},
      {{"cse", "merge nodes with the same op, operands, attributes and body"},
       [](const PassContext&) { return simple("cse", cse); }},
      {{"dce", "remove nodes whose results reach no output or state update, and scans' unread outputs"},
       [](const PassContext&) { return simple("dce", dce); }},
      {{"inline-fusions", "replace fusion nodes (from a file, or a dumped fused graph) by their bodies"},
       [](const PassContext&) { return simple("inline-fusions", inline_fusions); }},
      {{"decompose", "replace composite ops (softmax, layer_norm, attention, ...) by their core-op definitions"},
       [](const PassContext&) { return simple("decompose", decompose); }},
      {{"fuse", "group elementwise ops, reductions and matmul epilogues into fused regions"},
       [](const PassContext&) { return Pass{"fuse", [](const Graph& g) { return fuse(g); }}; }},
  };
  return r;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

const std::vector<PassInfo>& registered_passes() {
  static const std::vector<PassInfo> infos = [] {
    std::vector<PassInfo> out;
    for (const Registration& r : registry()) out.push_back(r.info);
    return out;
  }();
  return infos;
}

Pass pass_by_name(std::string_view name, const PassContext& context) {
  for (const Registration& r : registry())
    if (r.info.name == name) return r.make(context);
  std::string known;
  for (const Registration& r : registry()) known += (known.empty() ? "" : ", ") + r.info.name;
  throw Error(fmt::format("unknown pass '{}' (the passes are: {})", name, known));
}

std::vector<Pass> passes_by_names(std::string_view names, const PassContext& context) {
  std::vector<Pass> out;
  if (trim(names).empty()) return out;
  size_t start = 0;
  while (start <= names.size()) {
    size_t comma = names.find(',', start);
    if (comma == std::string_view::npos) comma = names.size();
    std::string_view name = trim(names.substr(start, comma - start));
    if (name.empty()) throw Error(fmt::format("empty pass name in the list '{}'", names));
    out.push_back(pass_by_name(name, context));
    start = comma + 1;
  }
  return out;
}

// --- the manager ---

PassManager& PassManager::add(Pass pass) {
  WEFT_CHECK(static_cast<bool>(pass.run), "pass '" + pass.name + "' has no function");
  passes_.push_back(std::move(pass));
  return *this;
}

PassManager& PassManager::add(std::vector<Pass> passes) {
  for (Pass& p : passes) add(std::move(p));
  return *this;
}

std::ostream& PassManager::log() const { return options_.log ? *options_.log : std::cerr; }

Graph PassManager::run(const Graph& graph) {
  timings_.clear();
  if (options_.verify_each) verify(graph);  // the input is the caller's: a failure is a weft::Error
  Graph current = graph;
  std::string before = options_.print_after_change ? print_graph(current) : std::string();
  for (const Pass& pass : passes_) {
    auto start = std::chrono::steady_clock::now();
    Graph next = pass.run(current);
    PassTiming timing{pass.name, std::chrono::steady_clock::now() - start, false};
    if (options_.verify_each) {
      try {
        verify(next);
      } catch (const Error& e) {
        throw InternalError(
            fmt::format("internal error (a bug in Weft, please report it): the pass '{}' turned a "
                        "valid graph into an invalid one: {}",
                        pass.name, e.what()));
      }
    }
    if (options_.print_after_change) {
      std::string after = print_graph(next);
      timing.changed = after != before;
      if (timing.changed) log() << "# after " << pass.name << "\n" << after << std::flush;
      before = std::move(after);
    }
    timings_.push_back(std::move(timing));
    current = std::move(next);
  }
  if (options_.time_passes) log() << timing_report() << std::flush;
  return current;
}

std::string PassManager::timing_report() const {
  double total = 0;
  for (const PassTiming& t : timings_) total += t.time.count();
  std::string out = "# pass timing\n#   time (ms)   share  pass\n";
  for (const PassTiming& t : timings_)
    out += fmt::format("#  {:10.3f}  {:5.1f}%  {}\n", t.time.count() * 1e3,
                       total > 0 ? 100 * t.time.count() / total : 0.0, t.name);
  out += fmt::format("#  {:10.3f}  {:5.1f}%  total\n", total * 1e3, 100.0);
  return out;
}

}  // namespace weft
