/** \file
 * The DSL's ops: one free function per op of the op table (ir/op_kind.h), and C++ operators for
 * arithmetic and comparisons.
 *
 * Each function takes its attributes as plain arguments or as an options struct that reads well
 * with designated initializers (`matmul(x, w, {.transpose_b = true})`), and a trailing defaulted
 * `std::source_location`, so errors name the user's line. Attribute names and meanings are the op
 * table's (the files of ir/ops/); defaults are the table's defaults.
 *
 * Binary elementwise functions and operators take `Operand`s: a tensor or a scalar. A scalar
 * becomes a `constant` of the other operand's dtype (it must be exactly representable there), since
 * Weft never promotes dtypes implicitly. Reductions over several axes are `sum`, `mean`, `max`,
 * `min`; the elementwise maximum and minimum of two tensors are `maximum` and `minimum`.
 */
#pragma once

#include <limits>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include "frontend/builder.h"

namespace weft::dsl {

using Loc = std::source_location;

// --- unary elementwise ---

Tensor neg(const Tensor& x, Loc loc = Loc::current());
Tensor abs(const Tensor& x, Loc loc = Loc::current());
Tensor exp(const Tensor& x, Loc loc = Loc::current());
Tensor log(const Tensor& x, Loc loc = Loc::current());
Tensor sqrt(const Tensor& x, Loc loc = Loc::current());
Tensor rsqrt(const Tensor& x, Loc loc = Loc::current());
Tensor tanh(const Tensor& x, Loc loc = Loc::current());
Tensor sigmoid(const Tensor& x, Loc loc = Loc::current());
Tensor relu(const Tensor& x, Loc loc = Loc::current());
/// The exact erf form; `approximate = "tanh"` for the tanh approximation.
Tensor gelu(const Tensor& x, const std::string& approximate = "none", Loc loc = Loc::current());
Tensor sin(const Tensor& x, Loc loc = Loc::current());
Tensor cos(const Tensor& x, Loc loc = Loc::current());
Tensor logical_not(const Tensor& x, Loc loc = Loc::current());

// --- binary elementwise (NumPy broadcasting; a scalar takes the tensor operand's dtype) ---

Tensor add(Operand a, Operand b);
Tensor sub(Operand a, Operand b);
Tensor mul(Operand a, Operand b);
Tensor div(Operand a, Operand b);
Tensor pow(Operand a, Operand b);
Tensor maximum(Operand a, Operand b);
Tensor minimum(Operand a, Operand b);
Tensor eq(Operand a, Operand b);
Tensor ne(Operand a, Operand b);
Tensor lt(Operand a, Operand b);
Tensor le(Operand a, Operand b);
Tensor gt(Operand a, Operand b);
Tensor ge(Operand a, Operand b);
Tensor logical_and(Operand a, Operand b);
Tensor logical_or(Operand a, Operand b);
/// `cond ? a : b` elementwise; `cond` must be a bool tensor, `a` or `b` may be a scalar.
Tensor select(const Tensor& cond, Operand a, Operand b);

Tensor operator+(Operand a, Operand b);
Tensor operator-(Operand a, Operand b);
Tensor operator*(Operand a, Operand b);
Tensor operator/(Operand a, Operand b);
Tensor operator-(Operand x);
Tensor operator<(Operand a, Operand b);
Tensor operator<=(Operand a, Operand b);
Tensor operator>(Operand a, Operand b);
Tensor operator>=(Operand a, Operand b);
/// Elementwise comparison giving a bool tensor (as in PyTorch), not handle identity.
Tensor operator==(Operand a, Operand b);
Tensor operator!=(Operand a, Operand b);
/// Logical not, and, or of bool tensors.
Tensor operator!(Operand x);
Tensor operator&(Operand a, Operand b);
Tensor operator|(Operand a, Operand b);

// --- reductions (`axes` empty: every axis; negative axes count from the end) ---

Tensor sum(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdims = false, Loc loc = Loc::current());
Tensor mean(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdims = false, Loc loc = Loc::current());
Tensor max(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdims = false, Loc loc = Loc::current());
Tensor min(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdims = false, Loc loc = Loc::current());
/// i64 index of the first maximum along `axis`.
Tensor argmax(const Tensor& x, int64_t axis, bool keepdims = false, Loc loc = Loc::current());

// --- data movement ---

Tensor reshape(const Tensor& x, Shape shape, Loc loc = Loc::current());
Tensor transpose(const Tensor& x, std::vector<int64_t> perm, Loc loc = Loc::current());
/// NumPy broadcast to `shape` (the op `broadcast`).
Tensor broadcast_to(const Tensor& x, Shape shape, Loc loc = Loc::current());
constexpr int64_t kToEnd = std::numeric_limits<int64_t>::max();
/// x[start:end:step] along `axis` (Python semantics for negative start and end).
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end = kToEnd, int64_t step = 1,
             Loc loc = Loc::current());
Tensor concat(const std::vector<Tensor>& xs, int64_t axis, Loc loc = Loc::current());
/// `numpy.take(x, indices, axis)`.
Tensor gather(const Tensor& x, const Tensor& indices, int64_t axis = 0, Loc loc = Loc::current());
/// The adjoint of gather: a zero tensor of `shape` with `updates` added at `indices` along `axis`.
Tensor scatter_add(const Tensor& updates, const Tensor& indices, Shape shape, int64_t axis = 0,
                   Loc loc = Loc::current());

// --- compute and sources ---

struct MatMulOptions {
  bool transpose_a = false;
  bool transpose_b = false;
};
/// Batched matrix product over the last two dims; `{.transpose_b = true}` for x · wᵀ.
Tensor matmul(const Tensor& a, const Tensor& b, MatMulOptions options = {}, Loc loc = Loc::current());
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b, Loc loc = Loc::current());
/// Explicit dtype conversion (saturating float -> int, NaN -> 0).
Tensor cast(const Tensor& x, DType dtype, Loc loc = Loc::current());
/// A tensor of `shape` whose elements count 0, 1, 2, ... along `axis`.
Tensor iota(Builder& b, Shape shape, int64_t axis, DType dtype = DType::i64, Loc loc = Loc::current());
/// Uniform [0, 1) numbers from Philox keyed by `seed` and the i64 scalar `offset`.
Tensor rng_uniform(const Tensor& offset, Shape shape, DType dtype = DType::f32, int64_t seed = 0,
                   Loc loc = Loc::current());

// --- composites ---

Tensor softmax(const Tensor& x, int64_t axis = -1, Loc loc = Loc::current());
Tensor log_softmax(const Tensor& x, int64_t axis = -1, Loc loc = Loc::current());

struct LayerNormOptions {
  int64_t axis = -1;  // normalize over dims [axis, rank)
  double eps = 1e-5;
};
/// `gamma` and `beta` may be empty handles (no affine transform).
Tensor layer_norm(const Tensor& x, const Tensor& gamma = {}, const Tensor& beta = {}, LayerNormOptions options = {},
                  Loc loc = Loc::current());

struct AttentionOptions {
  bool causal = false;
  double scale = 0.0;  // 0: 1/sqrt(d)
};
/// softmax(q kᵀ · scale + mask) v. `mask` may be empty, bool (true = masked out) or additive float.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask = {},
                 AttentionOptions options = {}, Loc loc = Loc::current());
/// The same, also returning the attention weights.
std::pair<Tensor, Tensor> attention_with_weights(const Tensor& q, const Tensor& k, const Tensor& v,
                                                 const Tensor& mask = {}, AttentionOptions options = {},
                                                 Loc loc = Loc::current());

struct CrossEntropyOptions {
  double label_smoothing = 0.0;
  int64_t ignore_index = -100;
  std::string reduction = "mean";  // "mean", "sum" or "none"
};
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, CrossEntropyOptions options = {},
                     Loc loc = Loc::current());

struct KlDivOptions {
  std::string reduction = "batchmean";
  bool log_target = false;
};
/// PyTorch's F.kl_div(input, target): `input` holds log-probabilities.
Tensor kl_div(const Tensor& input, const Tensor& target, KlDivOptions options = {}, Loc loc = Loc::current());
Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean",
                Loc loc = Loc::current());

struct DropoutOptions {
  double p = 0.1;
  int64_t seed = 0;
  bool training = true;
};
/// `offset` is an i64 scalar (e.g. the step) that varies the mask between runs.
Tensor dropout(const Tensor& x, const Tensor& offset, DropoutOptions options = {}, Loc loc = Loc::current());
Tensor one_hot(const Tensor& indices, int64_t depth, DType dtype = DType::f32, Loc loc = Loc::current());
/// Rows of a [V, D] `table` for integer `ids`.
Tensor embedding(const Tensor& table, const Tensor& ids, Loc loc = Loc::current());
/// The element-wise "sum" or "mean" (`reduce`) of `x` over the ranks of communicator `group`
/// (docs/distributed.md); `x` itself on one process.
Tensor all_reduce(const Tensor& x, const std::string& reduce = "sum", const std::string& group = "world",
                  Loc loc = Loc::current());

// --- regions ---

struct ScanOperands {
  // Default member initializers keep `{.carries = ..., .sequences = ...}` free of -Wmissing-field-initializers.
  std::vector<Tensor> carries = {};
  std::vector<Tensor> sequences = {};
  std::vector<Tensor> consts = {};
  Tensor lengths = {};  // empty: every row runs all steps
};
struct ScanOptions {
  int64_t time_axis = 1;
  bool reverse = false;
};
/// Runs `body(carries..., x_t..., consts...) -> (new carries..., y_t...)` over the time axis;
/// returns the final carries, then each y stacked along the time axis.
std::vector<Tensor> scan(const Graph& body, const ScanOperands& operands, ScanOptions options = {},
                         Loc loc = Loc::current());
/// A fused region evaluating `body` on `inputs`.
std::vector<Tensor> fusion(const Graph& body, const std::vector<Tensor>& inputs, const std::string& kind = "loop",
                           Loc loc = Loc::current());

}  // namespace weft::dsl
