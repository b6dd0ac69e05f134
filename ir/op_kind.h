/** \file
 * The list of op kinds. Each op's definition (operands, attributes, shape rule, verifier, fusion
 * kind, gradient rule, decomposition) is in ir/ops/, one registration per op; this list only names
 * them so that kernels can switch on an enum.
 */
#pragma once

#include <cstdint>
#include <string_view>

// X(enum_name, "text name")
#define WEFT_OP_LIST(X)                       \
  /* unary elementwise */                     \
  X(neg, "neg")                               \
  X(abs, "abs")                               \
  X(exp, "exp")                               \
  X(log, "log")                               \
  X(sqrt, "sqrt")                             \
  X(rsqrt, "rsqrt")                           \
  X(tanh, "tanh")                             \
  X(sigmoid, "sigmoid")                       \
  X(relu, "relu")                             \
  X(gelu, "gelu")                             \
  X(sin, "sin")                               \
  X(cos, "cos")                               \
  X(logical_not, "logical_not")               \
  /* binary elementwise, NumPy broadcasting */ \
  X(add, "add")                               \
  X(sub, "sub")                               \
  X(mul, "mul")                               \
  X(div, "div")                               \
  X(pow, "pow")                               \
  X(maximum, "max")                           \
  X(minimum, "min")                           \
  X(eq, "eq")                                 \
  X(ne, "ne")                                 \
  X(lt, "lt")                                 \
  X(le, "le")                                 \
  X(gt, "gt")                                 \
  X(ge, "ge")                                 \
  X(logical_and, "logical_and")               \
  X(logical_or, "logical_or")                 \
  X(select, "select")                         \
  /* reductions */                            \
  X(reduce_sum, "reduce_sum")                 \
  X(reduce_mean, "reduce_mean")               \
  X(reduce_max, "reduce_max")                 \
  X(reduce_min, "reduce_min")                 \
  X(argmax, "argmax")                         \
  /* data movement */                         \
  X(reshape, "reshape")                       \
  X(transpose, "transpose")                   \
  X(broadcast, "broadcast")                   \
  X(slice, "slice")                           \
  X(concat, "concat")                         \
  X(gather, "gather")                         \
  X(scatter_add, "scatter_add")               \
  /* compute and sources */                   \
  X(matmul, "matmul")                         \
  X(constant, "constant")                     \
  X(iota, "iota")                             \
  X(cast, "cast")                             \
  X(rng_uniform, "rng_uniform")               \
  /* collectives: across the ranks of a data-parallel run */ \
  X(all_reduce, "all_reduce")                 \
  /* composites: decompose into the ops above */ \
  X(softmax, "softmax")                       \
  X(log_softmax, "log_softmax")               \
  X(layer_norm, "layer_norm")                 \
  X(attention, "attention")                   \
  X(attention_backward, "attention_backward") \
  X(lstm, "lstm")                             \
  X(lstm_backward, "lstm_backward")           \
  X(rnn, "rnn")                               \
  X(rnn_backward, "rnn_backward")             \
  X(gru, "gru")                               \
  X(gru_backward, "gru_backward")             \
  X(cross_entropy, "cross_entropy")           \
  X(kl_div, "kl_div")                         \
  X(mse_loss, "mse_loss")                     \
  X(dropout, "dropout")                       \
  X(one_hot, "one_hot")                       \
  X(embedding, "embedding")                   \
  /* control and regions: own a sub-graph */  \
  X(scan, "scan")                             \
  X(fusion, "fusion")

namespace weft {

enum class OpKind : uint16_t {
#define WEFT_OP_ENUM(name, text) name,
  WEFT_OP_LIST(WEFT_OP_ENUM)
#undef WEFT_OP_ENUM
};

constexpr int kNumOps = 0
#define WEFT_OP_COUNT(name, text) +1
    WEFT_OP_LIST(WEFT_OP_COUNT)
#undef WEFT_OP_COUNT
    ;

/// The op's name as the text IR spells it ("matmul"); defined with the op table (ir/ops.cpp).
std::string_view op_name(OpKind kind);

}  // namespace weft
