/** \file
 * The pass manager and the pass registry: printing only after changes, verification that tells a
 * broken input from a broken pass, timings, and lookup by name.
 */
#include "passes/pass_manager.h"
#include "passes/pipeline.h"

#include <gtest/gtest.h>

#include <sstream>

#include "backends/interp/constant_evaluator.h"
#include "ir/text.h"
#include "passes/cse.h"
#include "passes/dce.h"
#include "test_graphs.h"

namespace weft {
namespace {

using pass_tests::error_of;
using pass_tests::f32;
using pass_tests::small_graph;

/// small_graph with a dead exp(x) added: dce changes it, cse does not.
Graph graph_with_dead_node() {
  Graph g = small_graph();
  GraphBuilder b(g);
  b.unary(OpKind::exp, g.inputs()[0].value);
  return g;
}

int count(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST(PassManager, RunsPassesInOrder) {
  std::string order;
  PassManager pm;
  pm.add(Pass{"first", [&](const Graph& g) {
                order += "1";
                return g;
              }});
  pm.add(Pass{"second", [&](const Graph& g) {
                order += "2";
                return g;
              }});
  pm.run(small_graph());
  EXPECT_EQ(order, "12");
}

TEST(PassManager, PrintsOnlyAfterPassesThatChangeTheGraph) {
  std::ostringstream log;
  PassManager pm(PassManagerOptions{.print_after_change = true, .log = &log});
  pm.add({pass_by_name("cse"), pass_by_name("dce")});
  Graph out = pm.run(graph_with_dead_node());
  EXPECT_EQ(count(log.str(), "# after cse"), 0);
  EXPECT_EQ(count(log.str(), "# after dce\n"), 1);
  EXPECT_EQ(count(log.str(), "exp("), 0);  // what is printed is the graph after dce
  EXPECT_EQ(log.str(), "# after dce\n" + print_graph(out));
  ASSERT_EQ(pm.timings().size(), 2u);
  EXPECT_FALSE(pm.timings()[0].changed);
  EXPECT_TRUE(pm.timings()[1].changed);
}

TEST(PassManager, PrintsNothingWhenNoPassChangesTheGraph) {
  std::ostringstream log;
  PassManager pm(PassManagerOptions{.print_after_change = true, .log = &log});
  pm.add(passes_by_names("infer-shapes,hoist-scan-invariants,sink-scan-accumulations,cse,dce"));
  pm.run(small_graph());
  EXPECT_EQ(log.str(), "");
}

TEST(PassManager, VerifyEachReportsABrokenInputAsTheUsersError) {
  Graph g = small_graph();
  g.add_update("missing", g.outputs()[0].value);
  PassManager pm(PassManagerOptions{.verify_each = true});
  pm.add(pass_by_name("dce"));
  EXPECT_CONTAINS(error_of([&] { pm.run(g); }), "invariant 11");
}

TEST(PassManager, VerifyEachBlamesThePassThatBreaksAValidGraph) {
  PassManager pm(PassManagerOptions{.verify_each = true});
  pm.add(pass_by_name("cse"));
  pm.add(Pass{"clumsy", [](const Graph& g) {
                Graph out = g;
                out.mutable_outputs()[0].name = "";
                return out;
              }});
  try {
    pm.run(small_graph());
    FAIL() << "expected an internal error";
  } catch (const InternalError& e) {
    EXPECT_CONTAINS(e.what(), "the pass 'clumsy' turned a valid graph into an invalid one");
    EXPECT_CONTAINS(e.what(), "invariant 8");
  }
}

TEST(PassManager, ReportsATimePerPass) {
  std::ostringstream log;
  PassManager pm(PassManagerOptions{.time_passes = true, .log = &log});
  pm.add(passes_by_names("infer-shapes,hoist-scan-invariants,sink-scan-accumulations,cse,dce"));
  pm.run(small_graph());
  const std::string report = log.str();
  EXPECT_CONTAINS(report, "# pass timing\n");
  for (const char* name : {"infer-shapes", "cse", "dce", "total"})
    EXPECT_EQ(count(report, "  " + std::string(name) + "\n"), 1) << name;
  EXPECT_EQ(report, pm.timing_report());
}

TEST(PassRegistry, ListsEveryPassWithASummary) {
  std::vector<std::string> names;
  for (const PassInfo& p : registered_passes()) {
    names.push_back(p.name);
    EXPECT_FALSE(p.summary.empty()) << p.name;
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"verify", "infer-shapes", "fold-constants", "hoist-scan-invariants",
                                      "sink-scan-accumulations", "outer-products", "cse", "dce", "inline-fusions", "decompose", "fuse"}));
}

TEST(PassRegistry, RejectsAnUnknownNameListingTheKnownOnes) {
  EXPECT_EQ(error_of([] { pass_by_name("dead-code"); }),
            "unknown pass 'dead-code' (the passes are: verify, infer-shapes, fold-constants, "
            "hoist-scan-invariants, sink-scan-accumulations, outer-products, cse, dce, inline-fusions, decompose, fuse)");
}

TEST(PassRegistry, FoldConstantsNeedsAnEvaluator) {
  EXPECT_CONTAINS(error_of([] { pass_by_name("fold-constants"); }), "needs a constant evaluator");
  PassContext context{interpreter_constant_evaluator()};
  EXPECT_EQ(pass_by_name("fold-constants", context).name, "fold-constants");
}

TEST(PassRegistry, ParsesACommaSeparatedList) {
  std::vector<Pass> passes = passes_by_names(" cse, dce ");
  ASSERT_EQ(passes.size(), 2u);
  EXPECT_EQ(passes[0].name, "cse");
  EXPECT_EQ(passes[1].name, "dce");
  EXPECT_TRUE(passes_by_names("").empty());
  EXPECT_CONTAINS(error_of([] { passes_by_names("cse,,dce"); }), "empty pass name in the list 'cse,,dce'");
}

TEST(Pipeline, TheLoweringListReadsInOrderAndStopsAtItsStage) {
  auto names = [](const LoweringOptions& options) {
    std::string out;
    for (const Pass& p : lowering_passes(options)) out += (out.empty() ? "" : ",") + p.name;
    return out;
  };
  LoweringOptions o;
  EXPECT_EQ(names(o),
            "verify,inline-fusions,infer-shapes,decompose,hoist-scan-invariants,sink-scan-accumulations,cse,dce,fuse,"
            "lower-scan-bodies");
  o.evaluate_constants = interpreter_constant_evaluator();
  EXPECT_EQ(names(o),
            "verify,inline-fusions,infer-shapes,decompose,fold-constants,hoist-scan-invariants,sink-scan-accumulations,"
            "cse,dce,fuse,"
            "lower-scan-bodies");
  o.until = LoweringStage::simplified;
  EXPECT_EQ(names(o),
            "verify,inline-fusions,infer-shapes,decompose,fold-constants,hoist-scan-invariants,sink-scan-accumulations,"
            "cse,dce");
  o.until = LoweringStage::decomposed;
  EXPECT_EQ(names(o), "verify,inline-fusions,infer-shapes,decompose");
  o.until = LoweringStage::checked;
  EXPECT_EQ(names(o), "verify,inline-fusions,infer-shapes");
  // The interpreter's policy: the graph as written.
  LoweringOptions as_written;
  as_written.decompose = as_written.simplify = as_written.fusion.fuse = false;
  EXPECT_EQ(names(as_written), "verify,inline-fusions,infer-shapes,lower-scan-bodies");
  EXPECT_EQ(stage_by_name("simplified"), LoweringStage::simplified);
  EXPECT_CONTAINS(error_of([] { stage_by_name("planned"); }),
                  "unknown lowering stage 'planned' (the stages are: checked, decomposed, simplified, fused)");
}

TEST(Pipeline, VerifiesItsInputAlways) {
  Graph g = small_graph();
  g.mutable_outputs()[0].name = "";
  EXPECT_CONTAINS(error_of([&] { lower_graph(g, LoweringOptions{}); }), "invariant 8");
}

TEST(PassRegistry, TheVerifyPassChecksWithoutChanging) {
  Graph g = small_graph();
  EXPECT_EQ(print_graph(pass_by_name("verify").run(g)), print_graph(g));
  g.mutable_outputs()[0].name = "";
  EXPECT_CONTAINS(error_of([&] { pass_by_name("verify").run(g); }), "invariant 8");
}

}  // namespace
}  // namespace weft
