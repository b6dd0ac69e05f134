/** \file
 * The builder DSL: a `Builder` that owns the graph being written and `Tensor` handles to its values,
 * so that a model reads like its math (`relu(matmul(x, w, {.transpose_b = true}) + b)`).
 *
 * Every call records its caller's `std::source_location`; a shape or dtype mismatch becomes a
 * `weft::Error` that states the op's rule, both types and the user's own file and line. Named
 * functions take a trailing defaulted `std::source_location`. C++ operators cannot, so they take
 * `Operand`s, whose implicit converting constructor captures the location where the conversion
 * happens — the user's expression (this works with g++ 12 and clang 19).
 *
 * The handle is `weft::dsl::Tensor`: `weft::Tensor` is the runtime's host tensor, and a model's
 * driver code usually needs both. `weft::Builder` is an alias of `weft::dsl::Builder`.
 *
 * Name scopes (`auto s = b.scope("fc1");`) are RAII and nest with '.'; nodes record the scope path
 * and parameters created inside a scope are named with it (`encoder.layers.0.self_attn.q_proj.weight`).
 */
#pragma once

#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ir/graph.h"
#include "ir/graph_builder.h"

namespace weft::dsl {

class Builder;

/// A handle to one value of a Builder's graph. Cheap to copy; valid while its Builder lives.
class Tensor {
 public:
  Tensor() = default;
  Tensor(Builder* builder, ValueId id) : builder_(builder), id_(id) {}

  bool defined() const { return builder_ != nullptr; }
  Builder& builder() const;
  ValueId id() const { return id_; }

  const TensorType& type() const;
  const Shape& shape() const { return type().shape; }
  DType dtype() const { return type().dtype; }
  int rank() const { return type().rank(); }
  /// Dim `axis`; negative counts from the end. Throws weft::Error when out of range.
  const Dim& dim(int64_t axis) const;
  /// The input or parameter name, or "%<id>" for a node's result.
  std::string name() const;

 private:
  Builder* builder_ = nullptr;
  ValueId id_ = kNoValue;
};

/// An operand of an overloaded operator or an elementwise function: a tensor or a scalar, with the
/// source location where it was converted (the user's expression). A scalar becomes a `constant`
/// of the other operand's dtype.
class Operand {
 public:
  Operand(Tensor t, std::source_location loc = std::source_location::current())  // NOLINT: implicit by design
      : tensor_(t), loc_(loc) {}
  template <typename T>
  requires std::is_arithmetic_v<T> Operand(
      T value, std::source_location loc = std::source_location::current())  // NOLINT: implicit by design
      : scalar_(static_cast<double>(value)), is_scalar_(true), loc_(loc) {}

  bool is_scalar() const { return is_scalar_; }
  const Tensor& tensor() const { return tensor_; }
  double scalar() const { return scalar_; }
  SourceLoc loc() const { return SourceLoc::from(loc_); }

 private:
  Tensor tensor_;
  double scalar_ = 0;
  bool is_scalar_ = false;
  std::source_location loc_;
};

/// Restores the enclosing scope when destroyed. Returned by `Builder::scope`.
class [[nodiscard]] Scope {
 public:
  Scope(Builder* builder, std::string previous) : builder_(builder), previous_(std::move(previous)) {}
  Scope(Scope&& other) noexcept : builder_(other.builder_), previous_(std::move(other.previous_)) {
    other.builder_ = nullptr;
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  Scope& operator=(Scope&&) = delete;
  ~Scope();

 private:
  Builder* builder_;
  std::string previous_;
};

/// While alive, makes its Builder record one location for every node. Returned by `Builder::at`.
class [[nodiscard]] LocationGuard {
 public:
  explicit LocationGuard(Builder* builder) : builder_(builder) {}
  LocationGuard(LocationGuard&& other) noexcept : builder_(other.builder_) { other.builder_ = nullptr; }
  LocationGuard(const LocationGuard&) = delete;
  LocationGuard& operator=(const LocationGuard&) = delete;
  LocationGuard& operator=(LocationGuard&&) = delete;
  ~LocationGuard();

 private:
  Builder* builder_;  // null when an enclosing guard already holds the location
};

/// Owns the graph being built. Not copyable or movable: Tensor handles point at it.
class Builder {
 public:
  explicit Builder(std::string name);
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

  // --- the graph's signature ---

  /// A graph input. Its symbolic dims are declared (unbounded unless `symbol` bounded them first).
  Tensor input(const std::string& name, DType dtype, Shape shape,
               std::source_location loc = std::source_location::current());
  /// A graph input from its type written as in the text IR, bounds included: "f32[B<=4096, 784]".
  Tensor input(const std::string& name, std::string_view type,
               std::source_location loc = std::source_location::current());
  /// Declares symbol `name` with an upper bound (as `B<=4096` does in a type string); returns the dim.
  Dim symbol(const std::string& name, std::optional<int64_t> bound = std::nullopt,
             std::source_location loc = std::source_location::current());
  /// A parameter, named `<scope>.<name>` inside a scope. Its shape must be static.
  Tensor param(const std::string& name, DType dtype, Shape shape, Initializer init = {},
               std::source_location loc = std::source_location::current());
  Tensor param(const std::string& name, std::string_view type, Initializer init = {},
               std::source_location loc = std::source_location::current());
  void output(const std::string& name, const Tensor& value, std::source_location loc = std::source_location::current());
  /// After each run, parameter `param` (its full name) takes `value`, which must have its type.
  void update(const std::string& param, const Tensor& value,
              std::source_location loc = std::source_location::current());

  /// Records source locations under `root` relative to it ("examples/mlp/mlp.cpp" rather than an
  /// absolute path), so that IR files do not depend on where the source tree was checked out.
  void set_source_root(std::string root) { source_root_ = std::move(root); }

  /// A fresh seed for an initializer: 1, 2, 3, ... in call order, so a model's parameters differ.
  uint64_t next_seed() { return ++last_seed_; }

  // --- scopes ---

  /// Enters scope `name` (joined to the current path with '.') until the returned object dies.
  Scope scope(const std::string& name, std::source_location loc = std::source_location::current());
  const std::string& current_scope() const { return scope_; }
  /// `name` prefixed with the current scope path.
  std::string scoped_name(const std::string& name) const;

  // --- locations ---

  /// Until the returned guard dies, every node (and every error) carries `loc` instead of its own
  /// call site. A helper or layer takes a defaulted `std::source_location` and calls this first, so
  /// its nodes point at the user's line that called it. The outermost guard wins, so a layer built
  /// from layers still points at the user's line.
  LocationGuard at(std::source_location loc);
  /// The location recorded for a call at `call_site`: the guard's if one is active, relative to the
  /// source root if one is set.
  SourceLoc location(const SourceLoc& call_site) const;

  // --- nodes ---

  /// Appends a node after checking it against the op table; errors end with `loc`.
  std::vector<Tensor> emit(OpKind op, const std::vector<Tensor>& operands, const Attrs& attrs, const SourceLoc& loc,
                           std::shared_ptr<const Graph> body = nullptr);
  Tensor emit1(OpKind op, const std::vector<Tensor>& operands, const Attrs& attrs, const SourceLoc& loc);
  /// A `constant` node: `values` (one per element, row-major; a single value fills the shape).
  Tensor constant(std::vector<double> values, DType dtype, Shape shape = {},
                  std::source_location loc = std::source_location::current());
  Tensor constant(double value, DType dtype, std::source_location loc = std::source_location::current());

  // --- results ---

  const Graph& graph() const { return graph_; }
  /// The finished graph, after checking that it has an output. The builder stays usable.
  Graph finish(std::source_location loc = std::source_location::current()) const;

  /// Tensor handle for an existing value (e.g. a parameter looked up by name).
  Tensor value(ValueId id) { return Tensor(this, id); }
  /// The parameter called `name` (full name), or throws weft::Error.
  Tensor find_param(const std::string& name, std::source_location loc = std::source_location::current());

 private:
  friend class Scope;
  friend class LocationGuard;
  friend class Tensor;
  ValueId check_operand(const Tensor& t, const char* what, const SourceLoc& loc) const;

  Graph graph_;
  GraphBuilder gb_;
  std::string scope_;
  std::string source_root_;
  std::optional<SourceLoc> loc_override_;
  uint64_t last_seed_ = 0;
};

/// Parses a type as the text IR writes it, with optional bounds on bare symbols: "f32[B<=4096, 784]".
/// Returns the type and the bounds found; throws weft::Error (without a location) when malformed.
struct ParsedType {
  TensorType type;
  std::vector<SymbolDecl> bounds;
};
ParsedType parse_type_with_bounds(std::string_view text);

}  // namespace weft::dsl

namespace weft {
using dsl::Builder;
}  // namespace weft
