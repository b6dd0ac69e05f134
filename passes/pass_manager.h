/** \file
 * The pass manager: runs a list of named passes, with verification, print-after-change and timing.
 *
 * A `Pass` is a name and a graph -> graph function. `PassManager::run` applies its passes in order
 * and, as asked by its options: verifies the input and each pass's output (tests always do), prints
 * the graph after each pass that changed it (changed = its printed text differs, as MLIR's
 * -print-ir-after-change), and reports the time each pass took.
 *
 * Passes are also registered by name (`pass_by_name("cse")`) so weft-opt can take a list; the list
 * every backend runs is passes/pipeline.h. Passes that need a service from outside passes/
 * (constant folding needs an evaluator, which only a backend has) get it through `PassContext`.
 */
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "passes/fold_constants.h"

namespace weft {

struct Pass {
  std::string name;
  std::function<Graph(const Graph&)> run;
};

struct PassManagerOptions {
  /// Verify the input and every pass's output. A broken input is the user's weft::Error; a pass
  /// that breaks a verified graph is an InternalError naming the pass.
  bool verify_each = false;
  /// After each pass whose output prints differently from its input, print it to `log`.
  bool print_after_change = false;
  /// Print a per-pass timing report to `log` at the end of `run`.
  bool time_passes = false;
  /// Where printing and timing go; null means std::cerr.
  std::ostream* log = nullptr;
};

struct PassTiming {
  std::string name;
  std::chrono::duration<double> time{};
  bool changed = false;  // only computed when print_after_change is on
};

class PassManager {
 public:
  explicit PassManager(PassManagerOptions options = {}) : options_(options) {}

  PassManager& add(Pass pass);
  PassManager& add(std::vector<Pass> passes);
  const std::vector<Pass>& passes() const { return passes_; }

  /// Runs every pass in order; returns the final graph.
  Graph run(const Graph& graph);

  /// The timings of the last `run`, one per pass.
  const std::vector<PassTiming>& timings() const { return timings_; }
  /// A table of the last run's timings: name, milliseconds, share of the total.
  std::string timing_report() const;

 private:
  std::ostream& log() const;

  PassManagerOptions options_;
  std::vector<Pass> passes_;
  std::vector<PassTiming> timings_;
};

/// What registered passes may need from outside passes/.
struct PassContext {
  /// For fold-constants; backends supply one (backends/interp/constant_evaluator.h).
  ConstantEvaluator evaluate_constants;
};

struct PassInfo {
  std::string name;
  std::string summary;
};

/// Every registered pass, in a fixed order, with a one-line summary (for weft-opt --list-passes).
const std::vector<PassInfo>& registered_passes();

/// The registered pass called `name`; weft::Error listing the names for an unknown one, or when it
/// needs something `context` lacks.
Pass pass_by_name(std::string_view name, const PassContext& context = {});

/// Passes named in a comma-separated list ("infer-shapes,cse,dce"); empty text gives none.
std::vector<Pass> passes_by_names(std::string_view names, const PassContext& context = {});

}  // namespace weft
