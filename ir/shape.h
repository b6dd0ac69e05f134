/** \file
 * Shapes whose dims are static or symbolic.
 *
 * A dim is a monomial: a positive integer coefficient times a product of named symbols, so that
 * `B`, `T`, `64`, `B*T` and `8*T` are all dims and reshapes such as [B, T, 512] -> [B*T, 512] keep
 * their symbols. Two dims are equal when their monomials are equal. A symbol's upper bound (`T<=512`)
 * is declared once, on the graph (see `SymbolDecl` in graph.h), where the input using it is declared.
 */
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/dtype.h"

namespace weft {

/// Values of symbolic dims at run time: {"B": 4, "T": 7}.
using SymbolBindings = std::map<std::string, int64_t>;

class Dim {
 public:
  Dim() = default;
  Dim(int64_t value);  // NOLINT(google-explicit-constructor): dims read like integers.
  static Dim symbol(const std::string& name);

  bool is_static() const { return symbols_.empty(); }
  /// The static value; internal error if symbolic.
  int64_t value() const;
  int64_t coefficient() const { return coeff_; }
  /// Sorted, with repeats for powers (T*T).
  const std::vector<std::string>& symbols() const { return symbols_; }

  /// The value under `bindings`; throws weft::Error naming an unbound symbol, or a product that
  /// overflows 64 bits.
  int64_t evaluate(const SymbolBindings& bindings) const;
  /// Whether every symbol is in `bindings`.
  bool is_bound_by(const SymbolBindings& bindings) const;

  /// `this / other` when it divides exactly (coefficient and symbols), else nullopt.
  std::optional<Dim> divided_by(const Dim& other) const;

  /// "64", "T", "B*T", "8*T".
  std::string str() const;
  /// Parses what `str()` prints; nullopt if malformed.
  static std::optional<Dim> parse(const std::string& text);

  friend Dim operator*(const Dim& a, const Dim& b);
  bool operator==(const Dim& other) const = default;
  bool operator<(const Dim& other) const;

 private:
  int64_t coeff_ = 0;
  std::vector<std::string> symbols_;
};

using Shape = std::vector<Dim>;

/// The largest tensor Weft declares, plans or allocates: 2^48 elements, so that every byte count
/// (and a sum of a few) fits in 64 bits; and at most 64 dims (NumPy's and the C runtime's limit).
/// A shape beyond either is a user error wherever it is met: built, parsed, bound or planned.
inline constexpr int64_t kMaxElements = int64_t{1} << 48;
inline constexpr int kMaxRank = 64;

/// The element count of concrete sizes; throws weft::Error naming `what` and the sizes when a size
/// is negative, the rank exceeds kMaxRank or the count exceeds kMaxElements (never overflows).
int64_t checked_num_elements(const std::vector<int64_t>& sizes, const std::string& what);

/// The product of all dims (1 for a scalar).
Dim num_elements(const Shape& shape);
/// "[B, 784]".
std::string shape_str(const Shape& shape);
/// Concrete sizes under `bindings`.
std::vector<int64_t> evaluate_shape(const Shape& shape, const SymbolBindings& bindings);
/// Static shape from concrete sizes.
Shape static_shape(const std::vector<int64_t>& sizes);

/// A value's type: dtype and shape. "f32[B, 784]".
struct TensorType {
  DType dtype = DType::f32;
  Shape shape;

  int rank() const { return static_cast<int>(shape.size()); }
  std::string str() const;
  bool operator==(const TensorType& other) const = default;
};

/// Normalizes a possibly negative axis against `rank`; throws weft::Error mentioning `what` if out of range.
int normalize_axis(int64_t axis, int rank, const std::string& what);

}  // namespace weft
