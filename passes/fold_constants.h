/** \file
 * Constant folding: replaces a node whose operands are all constants with constants of its values.
 *
 * passes/ must not depend on a backend, so the arithmetic is not done here: the caller supplies a
 * `ConstantEvaluator`, and the reference interpreter provides one
 * (backends/interp/constant_evaluator.h). For each candidate the pass builds a small graph, the
 * operand constants followed by the node, and asks the evaluator for the node's results. Folding
 * walks in order, so a chain of foldable nodes folds completely in one run.
 *
 * A node is folded only when: it has operands and all of them are `constant` nodes; it has no body;
 * it is not an rng op (rng_uniform, dropout: their values belong to the seed, and folding them would
 * only bloat the file); each result has a static shape of at most `max_elements` elements (folding a
 * broadcast to a million elements would trade a cheap op for a huge attribute). If the evaluator
 * declines (returns nullopt) or throws weft::Error (an op that fails on these values), the node is
 * left as it is, and the error happens at run time where it can be reported with its inputs.
 *
 * Needs: a verified graph. Guarantees: the verifier's invariants; every folded node is replaced by
 * one `constant` per result, carrying the node's scope and location. The operand constants are left
 * in place even when nothing else reads them: run dce afterwards.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "ir/graph.h"

namespace weft {

/// Evaluates `graph` (no inputs or parameters: `constant` nodes, then the node being folded, whose
/// results are the outputs) and returns each output's elements in row-major order as doubles (exact for every dtype,
/// and for integers up to 2^53); nullopt to decline.
using ConstantEvaluator = std::function<std::optional<std::vector<std::vector<double>>>(const Graph& graph)>;

struct FoldOptions {
  int64_t max_elements = 4096;
};

Graph fold_constants(const Graph& graph, const ConstantEvaluator& evaluate, const FoldOptions& options = {});

/// Whether `node` is a candidate by its op alone: it has operands, no body, and is not an rng op.
bool is_foldable_op(const Node& node);

}  // namespace weft
