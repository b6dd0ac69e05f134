/** \file
 * The op table: every op defined once.
 *
 * An `OpDef` holds everything Weft knows about an op: its operands, its attributes with defaults,
 * its shape rule (which is also its verifier: it rejects bad operand types and attributes with a
 * `weft::Error` stating the rule and the facts), its fusion kind, its cost class, which kernel
 * providers implement it, its gradient rule and, for composite ops, its decomposition into core ops. The definitions
 * live in the files of ir/ops/, grouped by family; `op_def(kind)` finds one.
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

/// What computing one element of an op costs. The fuser never recomputes an `expensive` op per
/// broadcast copy (passes/fuse.h) and the reduction generator keeps an `expensive` value rather than
/// evaluate it again in a later pass over the row (backends/llvm/reduction_codegen.cpp): both read it here.
enum class CostClass : uint8_t {
  cheap,      // an instruction or a few: arithmetic (div included), comparisons, select, cast, relu, sources
  expensive,  // well above a load and a store: transcendentals, sqrt and rsqrt, pow, the Philox RNG
  reduction,  // reads a row for each element it writes
  matmul,     // a contraction: a multiply-add per element of the reduced dim
  movement,   // no arithmetic, only addressing: reshape, transpose, broadcast, slice, concat, gather, scatter_add
  control,    // owns a sub-graph (scan, fusion): it costs what its body costs
  composite,  // decomposed into core ops before fusion, so never costed itself
};

/// How one kernel provider runs an op: a column of the op table per provider (the LLVM code
/// generators today; a oneDNN or CUDA provider adds a column of its own). Per op, not per dtype: a
/// provider may still turn a dtype down (the generated GEMM is f32 only; nothing generates f16),
/// saying so when it compiles the node.
enum class ProviderImpl : uint8_t {
  fused,           // generated inside the fuser's regions (the fuser gives a lone one a region of its own)
  fused_or_alone,  // also as a one-node loop region when the fuser leaves it alone (transpose, slice)
  alone,           // a generator of its own, as a one-node region of the kind named after the op (gather)
  region,          // a fusion node: the region is its body, whose ops are what is generated
  interpreter,     // the declared fallback: the interpreter's kernel runs it, for the stated reason
  decomposed,      // a composite: lowered into core ops before any provider sees it
};

struct ProviderSupport {
  ProviderImpl impl = ProviderImpl::interpreter;
  std::string reason;  // for `interpreter`: why there is no generated code (empty: undeclared)
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

/// Body values whose forward value is already known where a body is differentiated: (value of the
/// body, value of the builder's graph). A scan's saved residuals (ir/ops/control.cpp): the body's
/// consumers read the known value instead of a recomputed one, and the node that made the value
/// still has its gradient taken (its recomputed copy is left unread, for DCE).
using KnownValues = std::vector<std::pair<ValueId, ValueId>>;

/// Differentiates a sub-graph where it is used (supplied by autodiff to the rules of ops with a body):
/// emits `body` evaluated at `inputs` into the builder's graph, then its reverse pass seeded with
/// `cotangents` (one per body output; nullopt: none), and returns the gradient of each body input
/// flagged in `wrt` (nullopt where none flows). `known`: body values not to recompute (may be empty).
using BodyVjp = std::function<std::vector<std::optional<ValueId>>(
    GraphBuilder& builder, const Graph& body, const std::vector<ValueId>& inputs,
    const std::vector<std::optional<ValueId>>& cotangents, const std::vector<bool>& wrt, const KnownValues& known)>;

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
  CostClass cost = CostClass::cheap;
  ProviderSupport llvm;        // how the LLVM backend runs it (backends/llvm/node_region.h)
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
/// All defined ops, in OpKind order.
std::vector<const OpDef*> all_ops();
/// "cheap", "expensive", ...: the names docs/ops.md uses for the op table's columns.
std::string_view cost_class_name(CostClass cost);
std::string_view provider_impl_name(ProviderImpl impl);

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
