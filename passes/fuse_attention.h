/** \file
 * Attention regions: each `attention` and `attention_backward` node becomes one fusion node of kind
 * "attention", which a provider runs as one kernel (the LLVM provider's flash-style loops:
 * docs/llvm-backend.md, "Attention regions") instead of two batched matmuls, a softmax and the
 * copies of the heads' split and merge.
 *
 * Attention arrives here as the composite the DSL writes (`dsl::attention`, which every attention
 * layer uses), kept by the pipeline's decomposition for a provider whose fusion policy asks for
 * attention regions (`FusionPolicy::attention`); its gradient arrives as one `attention_backward`
 * (ir/ops/composite_attention.cpp). Recognising the decomposed pattern (matmul, scale, select,
 * max, exp, sum, div, matmul) would also find attention written by hand, but the pattern has many
 * spellings (mask before or after the scale, additive or boolean, causal iotas, a with_weights
 * output) and the gradient's would have more; the composite says what it is.
 *
 * The region also takes in the head split and merge around the node, as views: an operand q, k, v
 * or g that is `transpose(reshape(x))` (the transpose swapping the two axes before the last, as
 * `[B, T, H, D] -> [B, H, T, D]`), or one of the two alone, is read from x through the region's
 * body; a result whose only reader is such a transpose and/or a reshape (`[B, H, T, D] -> [B, T,
 * H, D] -> [B, T, H·D]`) is written through them, and the region's output is the merged tensor.
 * Those nodes are copied into the body; the outer ones die when nothing else reads them. On a
 * gradient path the forward's output is also the backward's `o` operand (ir/ops/composite_attention.cpp):
 * the forward's region still writes it merged, and the backward's region reads it back through the
 * inverse reshape and transpose, so the output is neither copied nor kept twice.
 *
 * Needs: a verified graph. Guarantees: the same values (the interpreter runs a region's body, the
 * composite through its decomposition); each attention region's body satisfies
 * `attention_region_violation`.
 */
#pragma once

#include <string>

#include "ir/graph.h"

namespace weft {

/// Whether `node` of `graph` is an attention or attention_backward the regions take: f32, no
/// weights output, the head dims static and at most 1024.
bool is_fusible_attention(const Graph& graph, const Node& node);

/// Wraps every fusible attention and attention_backward node of `graph` (not inside scan bodies:
/// `fuse` recurses into them) in an attention region.
Graph fuse_attention(const Graph& graph);

/// The rule an attention region's body breaks, in one sentence; empty when it is legal: exactly one
/// fusible attention or attention_backward node, and otherwise only reshapes and transposes that keep
/// the innermost axis.
std::string attention_region_violation(const Graph& body);

}  // namespace weft
