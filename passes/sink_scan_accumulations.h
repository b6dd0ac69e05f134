/** \file
 * Moves the sums of outer products that a scan accumulates step by step out of the loop, into one
 * large matrix product after it.
 *
 * A backward scan (backpropagation through time, ir/ops/control.cpp) carries one accumulator per
 * weight: `dW_next = dW + dgᵀ·h` at every step, a product whose inner dimension is the batch (32
 * rows: a skinny, slow GEMM, and a [4H, H] carry read and written at every step). Since
 * Σ_t dg_tᵀ·h_t = Gᵀ·H with G and H the steps' dg and h stacked row after row, the pass has the body
 * emit dg and h as stacked outputs instead, and computes `dW = dW₀ + reshape(G)ᵀ·reshape(H)` after
 * the loop: one GEMM whose inner dimension is steps × batch.
 *
 * A carry is sunk when its body input is read only by one `add(acc, X)` (either order) whose result
 * is the carry's body output and nothing else, and X is a sum of one to four terms
 * `matmul(p, q, transpose_a = true)` (the form matmul's gradient rule writes for a weight:
 * ir/ops/compute_grad.cpp), matrices or batched products with the same batch dims (attention's
 * values, `dkeys += weightsᵀ·dcontext` per batch element, become one batched product over all
 * steps) — each term only where that moves less memory than the loop does: K·(M + N) <= M·N at the
 * symbols' bounds (a recurrent weight under a batch of rows, not a [1, H] attention-score weight
 * under B·S rows, whose per-step product reads what the step just wrote). The scan must have no lengths (a finished row
 * keeps its carry; backward scans mask their values instead) and stack its outputs just before or after K, so that a
 * stacked [..., K, M] step flattens to [..., T·K, M] rows. A carry the body passes through unchanged (the gradient of a
 * const the step does not read, copied at every step) goes too: its result is its initial value.
 * The order of the summation changes: the result equals the loop's up to floating-point rounding.
 *
 * Needs: a verified graph with inferred shapes. Guarantees: the same outputs up to rounding; no
 * scan (bodies nested in bodies included) carries an accumulator of that form; the verifier's
 * invariants are preserved.
 */
#pragma once

#include "ir/graph.h"

namespace weft {

Graph sink_scan_accumulations(const Graph& graph);

}  // namespace weft
