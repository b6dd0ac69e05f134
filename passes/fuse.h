/** \file
 * Fusion: groups core ops into regions, each one loop nest that reads its inputs once.
 *
 * A greedy producer-consumer fusion in the manner of XLA's. Walking the nodes in order, each node
 * tries to pull the region of each operand's producer into its own; the union is kept when it is a
 * legal region of one of three kinds and the graph of regions stays acyclic. A region becomes a
 * `fusion` node (attribute `kind`) that owns its body: the body's inputs are the region's external
 * operands, its outputs the values used outside it.
 *
 *  - kind="loop": elementwise ops (with their implicit broadcasting), `broadcast`, `reshape`, a
 *    `transpose` that keeps the innermost axis, `constant` and `iota`. All outputs have one shape,
 *    the iteration space; every value is a function of the output index. An expensive op (exp, log,
 *    tanh, ...) only appears at the iteration space's size (or on one element), so broadcasting never
 *    recomputes it.
 *  - kind="reduction": row-wise reductions sharing one operand shape F and one set of reduced axes,
 *    with the ops around them. Every value is full-level (shape F), row-level (F without the reduced
 *    axes, with or without keepdims 1s) or a scalar; a cheap op may also compute at a shape that
 *    broadcasts to F (a mask from iotas). Outputs are full-level, row-level or scalars. softmax,
 *    log_softmax, layer_norm and the row part of cross_entropy each become one such region; a
 *    backend runs it as, per row, one pass over the row per reduction stage and a last pass writing
 *    the full-level outputs.
 *  - kind="matmul": one matmul plus an elementwise epilogue at the matmul's output shape O (bias add,
 *    activation, residual add, a scale, a mask): every other node is elementwise, a broadcast, a
 *    reshape or a source whose result has shape O or, for cheap ops, broadcasts to O. Outputs have
 *    shape O. The matmul's own operands are region inputs, never computed in the body.
 *
 *  - kind="attention" (with `FuseOptions::attention`): one attention or attention_backward node
 *    with the heads' split and merge around it, made by passes/fuse_attention.h before the rest.
 *
 * Never fused: scan, gather, scatter_add, concat, slice, rng_uniform (a source whose values depend on
 * an operand and a counter), a transpose that moves the innermost axis (a strided copy, best done
 * alone), existing fusion nodes, and composites (run passes/decompose.h first).
 * Work is never duplicated except for scalars: a node computing at most one element (the
 * constants emitted by decompositions, Adam's bias corrections) is copied into every region that
 * reads it, so it neither becomes a region input nor ties regions together. With
 * `wrap_singletons`, a fusible node left alone gets a one-node region, so a backend sees only
 * fusion nodes and the never-fused ops.
 *
 * Needs: a verified graph, decomposed. Guarantees: a verified graph computing the same values (the
 * interpreter evaluates a fusion node by evaluating its body), with the same signature, outputs and
 * updates; each fusion node's body satisfies its kind's rules (`region_rule_violation` is empty);
 * scan bodies are fused too; dead nodes are removed.
 */
#pragma once

#include <string>

#include "ir/graph.h"

namespace weft {

struct FuseOptions {
  /// Wrap each fusible node that no other joined in a region of its own.
  bool wrap_singletons = true;
  /// At most this many distinct external values per region (the arguments of its kernel).
  int max_inputs = 32;
  /// At most this many nodes per region (copied scalars not counted). Checking a candidate merge
  /// costs time in the region's size, so the cap keeps fusion linear in the graph (a chain of
  /// 200,000 elementwise ops fuses in seconds, not hours); and a region's compile time grows faster
  /// than its size while past a few hundred ops it saves no more memory traffic.
  int max_nodes = 512;
  /// Each attention and attention_backward node (kept by decomposition) becomes a region of kind
  /// "attention", with the heads' split and merge around it (passes/fuse_attention.h).
  bool attention = false;
};

Graph fuse(const Graph& graph, const FuseOptions& options = {});

/// Which rule of `kind` ("loop", "reduction", "matmul", "attention") the region `body` breaks, in one sentence;
/// empty when it is a legal region of that kind. Backends may assume the rules of the regions they get.
std::string region_rule_violation(const Graph& body, const std::string& kind);

/// The number of top-level fusion nodes, and of each kind.
struct RegionCounts {
  int total = 0, loop = 0, reduction = 0, matmul = 0, attention = 0;
  /// Top-level nodes that are not fusion regions (scan, gather, ...).
  int unfused = 0;
};
RegionCounts count_regions(const Graph& graph);

}  // namespace weft
