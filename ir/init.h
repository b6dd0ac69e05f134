/** \file
 * Deterministic parameter initializers: turning a parameter's `Initializer` (ir/graph.h) into bytes.
 *
 * Element i of a parameter is a pure function of (seed, i) — random kinds draw from Philox4x32-10
 * (ir/philox.h) with the seed as key and i as counter — so the same graph gives bit-identical
 * parameters on every backend, thread count and machine, and any slice can be computed alone.
 * The kinds and their PyTorch counterparts (docs/weights.md has the formulas):
 *
 * | kind                 | arguments (in order) | values                                              |
 * | -------------------- | -------------------- | --------------------------------------------------- |
 * | zeros, ones          | —                    | 0, 1 (also for integer and bool dtypes)             |
 * | constant             | value                | value (integer dtypes: must be an exact integer)    |
 * | uniform              | low, high            | U[low, high)                                        |
 * | normal               | mean, std            | N(mean, std²), Box–Muller                           |
 * | kaiming_uniform      | a                    | U(-b, b), b = sqrt(2/(1+a²)) · sqrt(3/fan_in)        |
 * | xavier_uniform       | gain                 | U(-b, b), b = gain · sqrt(6/(fan_in+fan_out))        |
 * | xavier_normal        | gain                 | N(0, s²), s = gain · sqrt(2/(fan_in+fan_out))        |
 * | linear_bias          | fan_in               | U(-b, b), b = 1/sqrt(fan_in)                         |
 *
 * fan_in = shape[1]·prod(shape[2:]) and fan_out = shape[0]·prod(shape[2:]), as PyTorch computes them
 * for a weight of rank ≥ 2. An argument is matched by name (`{"a", 2.236}`) or, with an empty name,
 * by position.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "ir/dtype.h"
#include "ir/graph.h"

namespace weft {

/// Throws weft::Error for an unknown kind, a missing, unknown, repeated or surplus argument, or an
/// argument out of its range (a non-finite value, low > high, a negative std or gain, fan_in <= 0).
void validate_initializer(const Initializer& init);

/// The value of argument `name` of a valid initializer (by name or position).
double initializer_arg(const Initializer& init, std::string_view name);

/// The parameter's bytes: prod(shape) elements of `dtype`, row-major, native (little-endian) order.
/// Every kind fills f32 and f64; zeros, ones and constant also fill i32, i64 and bool. Throws
/// weft::Error for an invalid initializer, an unsupported dtype, a negative dim, or a fan-based kind
/// on a parameter of rank < 2.
std::vector<std::byte> materialize_initializer(const Initializer& init, DType dtype, const std::vector<int64_t>& shape);

/// Elements [first, first + count) of the same parameter, written to `out` (room for `count`
/// elements of `dtype`): that slice of materialize_initializer's bytes, computed alone (element i
/// depends only on the seed and i), so that a large parameter can be filled in parallel. The same
/// checks and errors, and one for a slice outside the parameter.
void materialize_initializer_slice(const Initializer& init, DType dtype, const std::vector<int64_t>& shape,
                                   uint64_t first, uint64_t count, std::byte* out);

/// Every check of materialize_initializer, with the same weft::Error, without computing the values:
/// for a compiler that reports a bad initializer at compile time but fills the parameter only when
/// it is first needed (runtime/program_executor.h, StateInitializer).
void check_initializer(const Initializer& init, DType dtype, const std::vector<int64_t>& shape);

/// PyTorch's defaults, for the nn layers. nn.Linear's weight: kaiming_uniform(a = sqrt(5)), which is
/// U(-1/sqrt(in), 1/sqrt(in)); its bias: linear_bias(in); nn.Embedding: normal(0, 1); nn.LayerNorm:
/// ones (weight) and zeros (bias).
Initializer linear_weight_init(uint64_t seed);
Initializer linear_bias_init(int64_t fan_in, uint64_t seed);
Initializer embedding_init(uint64_t seed);

/// normal(mean, std) and xavier_uniform(gain), for replacing a layer's default (a seed of 0 lets
/// the layer take the builder's next seed).
Initializer normal_init(double mean, double std, uint64_t seed = 0);
Initializer xavier_uniform_init(double gain = 1.0, uint64_t seed = 0);

}  // namespace weft
