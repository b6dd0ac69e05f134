/** \file
 * The op table: every op defined once.
 *
 * An `OpDef` holds everything Weft knows about an op: its operands, its attributes with defaults,
 * its shape rule (which is also its verifier: it rejects bad operand types and attributes with a
 * `weft::Error` stating the rule and the facts), its fusion kind, its gradient rule and, for
 * composite ops, its decomposition into core ops. The definitions live in the files of ir/ops/, grouped by
 * family; `op_def(kind)` finds one.
 */
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ir/attrs.h"
#include "ir/graph.h"
#include "ir/op_kind.h"

namespace weft {

class GraphBuilder;

/// How the fuser may group an op.
enum class FusionKind : uint8_t {
  elementwise,  // out[i] = f(in[i]) after broadcasting
  injective,    // pure data movement: reshape, transpose, broadcast, slice, concat, gather
  reduction,    // reduces axes
  matmul,       // contraction; may take an elementwise epilogue
  source,       // constant, iota, rng: no tensor operands
  opaque,       // never fused (scatter, scan)
  composite,    // expands into core ops before fusion
};

struct AttrSpec {
  std::string name;
  AttrKind kind;
  std::optional<AttrValue> default_value;  // nullopt: required
};

/// What a shape rule sees. `body` is the node's sub-graph for scan and fusion.
struct ShapeQuery {
  const std::vector<TensorType>& operands;
  const Attrs& attrs;
  const Graph* body = nullptr;
};

/// Differentiates a sub-graph where it is used (supplied by autodiff to the rules of ops with a body):
/// emits `body` evaluated at `inputs` into the builder's graph, then its reverse pass seeded with
/// `cotangents` (one per body output; nullopt: none), and returns the gradient of each body input
/// flagged in `wrt` (nullopt where none flows).
using BodyVjp = std::function<std::vector<std::optional<ValueId>>(
    GraphBuilder& builder, const Graph& body, const std::vector<ValueId>& inputs,
    const std::vector<std::optional<ValueId>>& cotangents, const std::vector<bool>& wrt)>;

/// What a gradient rule sees: values of the graph being built, and the gradient flowing into each
/// result (nullopt where no gradient flows). It returns one entry per operand (nullopt: no gradient,
/// e.g. for integer indices). Each gradient has exactly its operand's type (a rule for a
/// broadcasting op reduces it back; see ir/ops/grad_util.h).
struct GradQuery {
  GraphBuilder& builder;
  const Node& node;  // the forward node (its operands/results are ids in the builder's graph)
  const std::vector<std::optional<ValueId>>& result_grads;
  /// Which operands need a gradient; a rule may skip the others (autodiff ignores what it returns for them).
  const std::vector<bool>& wanted;
  /// What the op's `save` rule made the forward node also return (empty for ops without one).
  const std::vector<ValueId>& saved;
  /// For ops with a body (scan); null otherwise.
  const BodyVjp* body_vjp = nullptr;
};

/// Rewrites a forward node on the gradient path so that it also returns what its gradient rule
/// needs (scan: the carries entering each step), instead of recomputing it. Emits the replacement
/// (operands as in `node`) and returns its results: the node's own results first, then the saved values.
using SaveRule = std::function<std::vector<ValueId>(GraphBuilder& builder, const Node& node)>;

using ShapeRule = std::function<std::vector<TensorType>(const ShapeQuery&)>;
using GradRule = std::function<std::vector<std::optional<ValueId>>(const GradQuery&)>;
/// Emits core ops computing the node's results from `operands`; returns the result values.
using Decomposition =
    std::function<std::vector<ValueId>(GraphBuilder&, const std::vector<ValueId>& operands, const Attrs&)>;

struct OpDef {
  OpKind kind{};
  std::string name;
  int min_operands = 0;
  int max_operands = 0;  // -1: any number
  std::vector<AttrSpec> attrs;
  FusionKind fusion = FusionKind::opaque;
  bool has_body = false;       // scan, fusion
  bool differentiable = true;  // false for comparisons, argmax, iota, ... (their outputs carry no gradient)
  ShapeRule infer;
  GradRule gradient;           // empty: no rule (autodiff names the op, or differentiates `decompose`)
  SaveRule save;               // optional; see SaveRule
  Decomposition decompose;     // empty for core ops
  std::string summary;         // one line for docs and --help
};

const OpDef& op_def(OpKind kind);
std::optional<OpKind> op_by_name(std::string_view name);
std::string_view op_name(OpKind kind);
/// All defined ops, in OpKind order.
std::vector<const OpDef*> all_ops();

/// Checks `attrs` against the op's specs: rejects unknown names and wrong kinds, fills defaults,
/// coerces ints to reals where a real is declared. Throws weft::Error naming the op and attribute.
Attrs normalize_attrs(const OpDef& def, const Attrs& attrs);

// --- shared shape helpers for the op definitions (throw weft::Error without a location) ---

/// NumPy broadcasting of two shapes; throws naming `op` and both types.
Shape broadcast_shapes(const std::string& op, const TensorType& a, const TensorType& b);

namespace ops_detail {
// One registration function per family, called once by the table (no static-init tricks).
void register_elementwise_ops(std::vector<OpDef>& table);
void register_reduction_ops(std::vector<OpDef>& table);
void register_movement_ops(std::vector<OpDef>& table);
void register_compute_ops(std::vector<OpDef>& table);
void register_composite_ops(std::vector<OpDef>& table);
void register_control_ops(std::vector<OpDef>& table);
void register_collective_ops(std::vector<OpDef>& table);
// Gradient rules of the families whose files are written separately; called after all registrations.
void attach_reduction_gradients(std::vector<OpDef>& table);
void attach_movement_gradients(std::vector<OpDef>& table);
void attach_compute_gradients(std::vector<OpDef>& table);
}  // namespace ops_detail

}  // namespace weft
