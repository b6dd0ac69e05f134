/** \file
 * The one lowering pipeline. See pipeline.h.
 */
#include "passes/pipeline.h"

#include <fmt/format.h>

#include <chrono>

#include "ir/ops.h"
#include "passes/cse.h"
#include "passes/dce.h"
#include "passes/decompose.h"
#include "passes/fuse_attention.h"
#include "passes/hoist_scan_invariants.h"
#include "passes/infer_shapes.h"
#include "passes/verify.h"

namespace weft {

namespace {

constexpr LoweringStage kStages[] = {LoweringStage::checked, LoweringStage::decomposed, LoweringStage::simplified,
                                     LoweringStage::fused};

/// Each scan's body through the same list (its own scans included, recursively): a body is lowered
/// once, here, not by whoever later compiles or emits it.
Graph lower_scan_bodies(const Graph& graph, const LoweringOptions& options) {
  LoweringOptions inner = options;
  inner.print_after_change = false;
  inner.time_passes = false;
  Graph out = graph;
  for (Node& node : out.mutable_nodes())
    if (node.op == OpKind::scan && node.body) node.body = std::make_shared<const Graph>(lower_graph(*node.body, inner));
  return out;
}

}  // namespace

std::string_view stage_name(LoweringStage stage) {
  switch (stage) {
    case LoweringStage::checked:
      return "checked";
    case LoweringStage::decomposed:
      return "decomposed";
    case LoweringStage::simplified:
      return "simplified";
    case LoweringStage::fused:
      return "fused";
  }
  return "?";
}

LoweringStage stage_by_name(std::string_view name) {
  for (LoweringStage s : kStages)
    if (stage_name(s) == name) return s;
  throw Error(
      fmt::format("unknown lowering stage '{}' (the stages are: checked, decomposed, simplified, fused)", name));
}

std::vector<Pass> lowering_passes(const LoweringOptions& options) {
  PassContext context{options.evaluate_constants};
  std::vector<Pass> list;
  list.push_back(pass_by_name("verify"));
  list.push_back(pass_by_name("inline-fusions"));
  list.push_back(pass_by_name("infer-shapes"));
  if (options.until == LoweringStage::checked) return list;

  if (options.decompose) {
    KeepComposite keep = options.keep_composites;
    if (options.fusion.fuse && options.fusion.options.attention) {  // kept for fuse's attention regions
      keep = keep ? KeepComposite(
                        [keep](const Graph& g, const Node& n) { return keep(g, n) || is_fusible_attention(g, n); })
                  : KeepComposite(is_fusible_attention);
    }
    if (keep)
      list.push_back(Pass{"decompose", [keep](const Graph& g) { return decompose_except(g, keep); }});
    else
      list.push_back(pass_by_name("decompose"));
  }
  if (options.until == LoweringStage::decomposed) return list;

  if (options.simplify) {
    if (context.evaluate_constants) list.push_back(pass_by_name("fold-constants", context));
    list.push_back(pass_by_name("hoist-scan-invariants"));
    list.push_back(pass_by_name("sink-scan-accumulations"));
    list.push_back(pass_by_name("cse"));
    list.push_back(pass_by_name("dce"));
  }
  if (options.until == LoweringStage::simplified) return list;

  if (options.fusion.fuse) {
    FuseOptions fuse_options = options.fusion.options;
    list.push_back(Pass{"fuse", [fuse_options](const Graph& g) { return fuse(g, fuse_options); }});
  }
  list.push_back(Pass{"lower-scan-bodies", [options](const Graph& g) { return lower_scan_bodies(g, options); }});
  return list;
}

Graph lower_graph(const Graph& graph, const LoweringOptions& options) {
  PassManager passes(PassManagerOptions{.verify_each = options.verify_each,
                                        .print_after_change = options.print_after_change,
                                        .time_passes = options.time_passes,
                                        .log = options.log});
  passes.add(lowering_passes(options));
  return passes.run(graph);
}

Program plan_program(const Graph& lowered, const SymbolBindings& sizes, const PlanOptions& options) {
  bool all_bounded = true;
  for (const SymbolDecl& s : lowered.symbols()) all_bounded = all_bounded && s.bound.has_value();
  if (all_bounded) return plan_memory(lowered, options);
  Graph bounded = lowered;
  for (const SymbolDecl& s : lowered.symbols()) {
    if (s.bound) continue;
    auto it = sizes.find(s.name);
    if (it == sizes.end())
      throw Error(fmt::format("graph '{}': symbol {} has no bound and no value, so its memory cannot be planned",
                              lowered.name(), s.name));
    bounded.declare_symbol(s.name, it->second);
  }
  return plan_memory(bounded, options);
}

Graph with_outer_bounds(const Graph& body, const std::vector<SymbolDecl>& outer) {
  Graph g = body;
  for (const SymbolDecl& s : body.symbols()) {
    if (s.bound) continue;
    for (const SymbolDecl& o : outer)
      if (o.name == s.name) g.declare_symbol(s.name, o.bound);
  }
  return g;
}

Lowered lower(const Graph& graph, const LoweringOptions& options) {
  auto start = std::chrono::steady_clock::now();
  LoweringOptions to_fused = options;
  to_fused.until = LoweringStage::fused;
  Lowered out{lower_graph(graph, to_fused), std::nullopt, 0};
  bool all_bounded = true;
  for (const SymbolDecl& s : out.graph.symbols()) all_bounded = all_bounded && s.bound.has_value();
  if (all_bounded) out.program = plan_program(out.graph);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace weft
