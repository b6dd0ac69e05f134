/** \file
 * What the oneDNN provider recognises in a program call: the primitive (and its post-ops) that
 * computes the call exactly, or a reason why none does.
 *
 * The provider lowers graphs as the LLVM provider does (decompose, simplify, fuse), so a call is a
 * fused region, and this file reads the region's body:
 *
 *  - a matmul region: the product (transposes, broadcast batch dims) and its epilogue as a chain
 *    of post-ops, each step taking the previous value: a bias add (the matmul's `bias`), unary
 *    elementwise ops (eltwise post-ops) and binary ops with a region input or a scalar constant
 *    (binary post-ops, the residual add among them);
 *  - a loop region: the same chain starting at one unary op (the eltwise primitive) or one binary
 *    op of two region inputs (the binary primitive); or reshapes around one transpose (a strided
 *    copy: the reorder primitive);
 *  - a reduction region: one reduce_sum/mean/max/min of a region input (the reduction primitive),
 *    or exactly the region the pipeline makes of softmax, log_softmax or layer_norm over one axis
 *    (found by lowering the composite on the region's own inputs and comparing bodies node by
 *    node, so the match follows the decompositions in the op table instead of copying them).
 *
 * The plan names operands by their index among the call's operands (inputs, then the result), so
 * it holds no shapes: the kernel makes (and caches) a primitive per distinct set of run sizes.
 */
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/program.h"

namespace weft::onednn {

enum class Primitive { matmul, eltwise, binary, reduction, softmax, log_softmax, layer_norm, reorder };

std::string_view primitive_name(Primitive p);

/// Weft's ops as oneDNN algorithms (kept apart from dnnl.hpp so this header does not need it).
enum class Eltwise { relu, tanh, logistic, gelu_erf, gelu_tanh, exp, log, sqrt, abs, linear, pow, square };
enum class Binary { add, sub, mul, div, max, min };
enum class Reduce { sum, mean, max, min };

/// One post-op of the chain: an eltwise (`alg`, alpha, beta), or a binary op whose second operand
/// is call operand `operand` (broadcast to the result, right-aligned) or, when `operand` < 0, the
/// scalar `scalar`.
struct PostOp {
  bool is_binary = false;
  Eltwise eltwise = Eltwise::relu;
  float alpha = 0, beta = 0;
  Binary binary = Binary::add;
  int operand = -1;
  float scalar = 0;
};

struct Plan {
  Primitive primitive = Primitive::matmul;
  /// Call operands: `src0` (matmul's a, eltwise's and the reductions' source, binary's first),
  /// `src1` (matmul's b, binary's second), `bias` (matmul's bias; layer_norm's shift), `scale`
  /// (layer_norm's scale), each -1 when absent; `dst` the result.
  int src0 = -1, src1 = -1, bias = -1, scale = -1, dst = -1;
  bool transpose_a = false, transpose_b = false;  // matmul
  Eltwise eltwise = Eltwise::relu;                // eltwise
  float alpha = 0, beta = 0;
  Binary binary = Binary::add;  // binary
  Reduce reduce = Reduce::sum;  // reduction
  std::vector<int64_t> axes;    // reduction (normalized); softmax, layer_norm: one axis; reorder: perm
  TensorType view;              // reorder: the source seen at the transpose's operand shape
  float eps = 0;                // layer_norm
  std::vector<PostOp> post_ops;
  /// What `weft-dump --compile` says about it ("matmul + bias + relu").
  std::string describe() const;
};

/// The plan for `call`, or empty with `*why` set.
std::optional<Plan> match_call(const KernelCall& call, std::string* why);

}  // namespace weft::onednn
