/** \file
 * The one lowering pipeline: a Graph in, the Graph a provider generates code for and its `Program`
 * (ir/program.h) out.
 *
 * Every caller that turns a graph into something that runs goes through here — the backends' compile
 * (the JIT, the interpreter backend), the AOT emitter, scan bodies, the train step's clean-up and
 * `weft-dump --stage` — so the list below is the only copy. It reads top to bottom, like Halide's
 * `lower_impl`:
 *
 *   verify                 the input is well formed (the user's error if not)
 *   inline-fusions         fusion nodes from the input give way to the fuser's own
 *   infer-shapes           every result type from the op table            → stage "checked"
 *   decompose              composites (softmax, layer_norm, lstm, ...) become core ops
 *                                                                         → stage "decomposed"
 *   fold-constants         constant sub-graphs become constants
 *   hoist-scan-invariants  what a scan body computes from its consts alone moves out
 *   cse, dce               duplicates merge, dead nodes go               → stage "simplified"
 *   fuse                   regions, under the providers' fusion policy
 *   lower-scan-bodies      each scan's body goes through this same list   → stage "fused"
 *   plan memory            the Program: calls, buffers, arena offsets, run-time checks
 *
 * A provider that runs composites itself and wants the graph as written (the interpreter, the oracle)
 * turns decompose, simplify and fuse off; the rest always runs. Options verify after every pass,
 * print the graph after each pass that changed it, and time each pass (`CompileOptions`, `weft-opt`
 * and `weft-dump --stage` reach them).
 *
 * Needs: any graph (a malformed one is reported by the first verify). Guarantees: a verified graph at
 * every stage; at "fused", regions legal for their kind (passes/fuse.h) and scan bodies lowered the
 * same way; a Program whose calls mirror the lowered graph's top-level nodes.
 */
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "ir/program.h"
#include "passes/decompose.h"
#include "passes/fold_constants.h"
#include "passes/fuse.h"
#include "passes/pass_manager.h"
#include "passes/plan_memory.h"

namespace weft {

/// Where lowering stops (each stage includes the ones before it).
enum class LoweringStage { checked, decomposed, simplified, fused };

std::string_view stage_name(LoweringStage stage);
/// "checked", "decomposed", "simplified", "fused"; weft::Error listing them for another name.
LoweringStage stage_by_name(std::string_view name);

/// How a chain of providers wants its graphs fused (backends/provider.h).
struct FusionPolicy {
  bool fuse = true;
  FuseOptions options;
};

struct LoweringOptions {
  LoweringStage until = LoweringStage::fused;
  bool decompose = true;  // off: composites stay (a provider runs them itself)
  bool simplify = true;   // off: no folding, hoisting, CSE or DCE
  FusionPolicy fusion;
  /// Composites decomposition leaves whole, for a provider that runs them itself (the oneDNN
  /// provider's lstm and lstm_backward); empty: none but fusion's attention.
  KeepComposite keep_composites;
  /// Constant folding needs an evaluator from outside passes/ (backends/interp/constant_evaluator.h);
  /// without one there is no folding.
  ConstantEvaluator evaluate_constants;
  /// Verify every pass's output (tests and weft-opt always do); a pass that breaks a verified graph
  /// is an InternalError naming it.
  bool verify_each = false;
  /// Print the graph to `log` after each pass that changed it.
  bool print_after_change = false;
  /// Print each pass's time to `log` at the end.
  bool time_passes = false;
  std::ostream* log = nullptr;  // null: std::cerr
};

/// The passes of the list, up to `options.until`, in order (what weft-opt runs by default).
std::vector<Pass> lowering_passes(const LoweringOptions& options);

/// Runs `lowering_passes(options)` over `graph`.
Graph lower_graph(const Graph& graph, const LoweringOptions& options);

/// Memory planning of a lowered graph: every symbol with a bound is planned at it; `sizes` gives
/// the others (a run's values), and a symbol with neither is a weft::Error naming it.
Program plan_program(const Graph& lowered, const SymbolBindings& sizes = {}, const PlanOptions& options = {});

/// `body`'s symbols without a bound take it from `outer`'s symbol of the same name (a scan body is
/// planned at the bounds of the graph that runs it).
Graph with_outer_bounds(const Graph& body, const std::vector<SymbolDecl>& outer);

/// The result of lowering: the graph as the providers get it, and its Program when every symbol is
/// bounded (else the executor plans one per distinct size, with `plan_program`).
struct Lowered {
  Graph graph;
  std::optional<Program> program;
  double seconds = 0;  // the passes and planning
};

/// `lower_graph` to the "fused" stage, then `plan_program` when every symbol is bounded.
Lowered lower(const Graph& graph, const LoweringOptions& options);

}  // namespace weft
