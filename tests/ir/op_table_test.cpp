/** \file
 * The op table is the one place for an op (ir/ops.h): every op it defines must run on the
 * interpreter, have a gradient rule or say it has none, say how the LLVM backend runs it, and have
 * a row in docs/ops.md that agrees with the table. A new op missing any of these fails here.
 *
 * What counts, and why:
 * - interpreter: a kernel, or a decomposition — the interpreter runs an op without a kernel
 *   through its decomposition (`run_decomposition`), so a composite needs no kernel of its own;
 * - gradient: a rule, `differentiable = false` (its results carry none), or a decomposition, which
 *   autodiff differentiates when there is no rule;
 * - LLVM: generated code of some form (`fused`, `fused or alone`, `alone`, `region` with a body,
 *   `decomposed` with a decomposition), or the interpreter with a stated reason.
 */
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "backends/interp/kernels.h"
#include "ir/ops.h"

namespace weft {
namespace {

std::string read_docs() {
  std::ifstream in(std::filesystem::path(WEFT_SOURCE_DIR) / "docs" / "ops.md");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string_view fusion_kind_name(FusionKind kind) {
  switch (kind) {
    case FusionKind::elementwise:
      return "elementwise";
    case FusionKind::injective:
      return "injective";
    case FusionKind::reduction:
      return "reduction";
    case FusionKind::matmul:
      return "matmul";
    case FusionKind::source:
      return "source";
    case FusionKind::opaque:
      return "opaque";
    case FusionKind::composite:
      return "composite";
  }
  return "?";
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

/// The rows of docs/ops.md's "Cost class and providers" table: op name -> its cells after the first.
std::map<std::string, std::vector<std::string>> provider_rows(const std::string& docs,
                                                              std::vector<std::string>& twice) {
  std::map<std::string, std::vector<std::string>> rows;
  size_t at = docs.find("\n## Cost class and providers");
  if (at == std::string::npos) return rows;
  std::istringstream lines(docs.substr(at));
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("| `")) continue;
    std::vector<std::string> cells;
    std::istringstream parts(line.substr(1));
    std::string cell;
    while (std::getline(parts, cell, '|')) cells.push_back(trim(cell));
    std::vector<std::string> rest(cells.begin() + 1, cells.end());
    for (size_t tick = cells[0].find('`'); tick != std::string::npos; tick = cells[0].find('`', tick)) {
      size_t end = cells[0].find('`', tick + 1);
      std::string name = cells[0].substr(tick + 1, end - tick - 1);
      if (rows.count(name)) twice.push_back(name);
      rows[name] = rest;
      tick = end + 1;
    }
  }
  return rows;
}

TEST(OpTable, EveryOpRunsOnTheInterpreter) {
  for (const OpDef* def : all_ops())
    EXPECT_TRUE(interp::find_kernel(def->kind) != nullptr || def->decompose)
        << def->name << ": no interpreter kernel and no decomposition for the interpreter to run";
}

TEST(OpTable, EveryOpHasAGradientRuleOrSaysItHasNone) {
  for (const OpDef* def : all_ops())
    EXPECT_TRUE(def->gradient || !def->differentiable || def->decompose)
        << def->name << ": differentiable, but no gradient rule and no decomposition to differentiate";
}

TEST(OpTable, EveryOpSaysHowTheLlvmBackendRunsIt) {
  for (const OpDef* def : all_ops()) {
    switch (def->llvm.impl) {
      case ProviderImpl::interpreter:
        EXPECT_FALSE(def->llvm.reason.empty()) << def->name << ": no generated code and no reason for the fallback";
        break;
      case ProviderImpl::decomposed:  // by its decomposition, or by its body (lstm_backward)
        EXPECT_TRUE(def->decompose || def->has_body) << def->name << ": declared decomposed, but has no decomposition";
        break;
      case ProviderImpl::region:
        EXPECT_TRUE(def->has_body) << def->name << ": declared a region, but has no body";
        break;
      default:
        EXPECT_TRUE(def->llvm.reason.empty()) << def->name << ": generated code needs no fallback reason";
    }
  }
}

TEST(OpTable, DocsHaveARowForEveryOpThatAgreesWithTheTable) {
  std::string docs = read_docs();
  ASSERT_FALSE(docs.empty()) << "docs/ops.md";
  std::vector<std::string> twice;
  std::map<std::string, std::vector<std::string>> rows = provider_rows(docs, twice);
  EXPECT_TRUE(twice.empty()) << "listed in two rows: " << twice.front();
  std::string reference = docs.substr(0, docs.find("\n## Cost class and providers"));
  for (const OpDef* def : all_ops()) {
    EXPECT_NE(reference.find("`" + def->name), std::string::npos) << def->name << ": no entry in docs/ops.md";
    auto row = rows.find(def->name);
    if (row == rows.end()) {
      ADD_FAILURE() << def->name << ": no row in docs/ops.md's table of cost classes and providers";
      continue;
    }
    const std::vector<std::string>& cells = row->second;
    ASSERT_GE(cells.size(), 4u) << def->name;
    EXPECT_EQ(cells[0], fusion_kind_name(def->fusion)) << def->name << ": fusion kind";
    EXPECT_EQ(cells[1], cost_class_name(def->cost)) << def->name << ": cost class";
    EXPECT_EQ(cells[2], provider_impl_name(def->llvm.impl)) << def->name << ": LLVM column";
    EXPECT_EQ(cells[3], def->llvm.reason) << def->name << ": the reason for the fallback";
    rows.erase(row);
  }
  for (const auto& [name, cells] : rows) ADD_FAILURE() << "docs/ops.md lists " << name << ", which is not an op";
}

// The fuser and the code generators used lists of their own that disagreed on sqrt and rsqrt; the
// table's answer is the one both read now.
TEST(OpTable, TranscendentalsSqrtAndPowAreExpensiveAndArithmeticIsCheap) {
  for (OpKind op : {OpKind::exp, OpKind::log, OpKind::sqrt, OpKind::rsqrt, OpKind::tanh, OpKind::sigmoid, OpKind::gelu,
                    OpKind::sin, OpKind::cos, OpKind::pow})
    EXPECT_EQ(op_def(op).cost, CostClass::expensive) << op_name(op);
  for (OpKind op : {OpKind::neg, OpKind::abs, OpKind::relu, OpKind::add, OpKind::mul, OpKind::div, OpKind::select,
                    OpKind::cast, OpKind::maximum})
    EXPECT_EQ(op_def(op).cost, CostClass::cheap) << op_name(op);
}

}  // namespace
}  // namespace weft
