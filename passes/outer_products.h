/** \file
 * Outer products: a matmul whose inner dimension is 1 becomes a broadcast multiply.
 *
 * With K = 1, op(A)[..., M, 1] · op(B)[..., 1, N] is A's column times B's row, element by element:
 * C[..., i, j] = a[..., i] · b[..., j]. Gradients write such products wherever a forward product had
 * a dimension of 1: the additive attention score's `v` (a Linear to one unit) has the input gradient
 * dscore[B·T, 1] · v[1, A], and attention over one query has dkeys = weightsᵀ[B, T, 1] ·
 * dcontext[B, 1, H] per batch element. A GEMM does one multiply per output there and writes the whole
 * output, which the next elementwise op (tanh's gradient) reads back; as `mul` the product fuses into
 * that op's loop instead, and the [M, N] array need not exist. XLA's algebraic simplifier makes the
 * same rewrite (a dot whose contracting dimension has size 1).
 *
 * A transposed operand is a reshape, not a transpose: with K = 1, [..., 1, M] and [..., M, 1] hold
 * the same elements in the same order. Only a K that is 1 whatever the symbols are (the static dim
 * 1) qualifies. Scan bodies are rewritten too. Run it after sink-scan-accumulations, which moves a
 * scan's per-step `matmul(p, q, transpose_a = true)` sums (K = 1 ones included) out of the loop.
 *
 * Needs: a verified graph with inferred shapes. Guarantees: the verifier's invariants; the same
 * values, bit for bit (each output is the same single product); no matmul with a static inner
 * dimension of 1 is left.
 *
 * Not in the default lowering pipeline: where it was meant to help (the LSTM tutorial's additive
 * attention gradient) fusion puts the product into a reduction region that ran slower than the GEMM
 * and column sum it replaced (docs/passes.md, "outer-products").
 */
#pragma once

#include "ir/graph.h"

namespace weft {

Graph outer_products(const Graph& graph);

}  // namespace weft
