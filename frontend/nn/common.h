/** \file
 * What every layer of the library shares: how it names itself, how it checks its inputs, and how
 * it keeps the user's source location on everything it emits.
 *
 * A layer is a plain struct over the DSL. Its constructor creates parameters inside a name scope,
 * so the parameters are named as PyTorch's `state_dict` names them (`encoder.layers.0.norm1.weight`);
 * its call operator emits nodes in the same scope. An empty name keeps the enclosing scope, so a
 * layer's parameters can sit directly in its parent's (as `linear1` sits in a PyTorch encoder layer).
 *
 * Every call takes a trailing `std::source_location` that defaults to the caller's line. The layer
 * checks its inputs against its configuration up front ("MultiHeadAttention 'self_attn': query must
 * be f32[batch, length, 8], but got f32[2, 7, 256]"), then emits its nodes under a location guard
 * (`Builder::at`, outermost wins) and passes the location to every op, so its own errors, the op
 * table's errors and every node it emits name the user's line, never the library's.
 */
#pragma once

#include <cstdint>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/builder.h"
#include "frontend/tensor_ops.h"

namespace weft::nn {

using dsl::Builder;
using dsl::Tensor;
using Loc = std::source_location;

/// `a.b`, or whichever is non-empty.
std::string join_name(const std::string& a, const std::string& b);

/// While a layer emits its nodes: its scope, and the user's location on every node (see
/// `Builder::at`; the outermost layer's call wins, so nested layers point at the user's line too).
struct LayerCall {
  dsl::Scope scope;
  dsl::LocationGuard location;
};

/// A layer's kind and full scope path, for scopes and messages.
struct LayerId {
  std::string kind;   // "MultiHeadAttention"
  std::string scope;  // "encoder.layers.0.self_attn"; "" at the top level
  const Builder* builder;

  /// Records `kind` and the scope path of a layer called `name` created in `b`'s current scope.
  LayerId(std::string kind, const Builder& b, const std::string& name);

  /// "MultiHeadAttention 'encoder.layers.0.self_attn'" (or just the kind at the top level).
  std::string describe() const;
  /// Throws weft::Error: "<describe()>: <message> (at <loc>)".
  [[noreturn]] void fail(const std::string& message, const Loc& loc) const;
  /// Enters the layer's scope (see `enter_scope`) and location for the nodes it emits.
  LayerCall enter(Builder& b, const Loc& loc) const;
};

/// Throws weft::Error "<message> (at <loc>)", with `loc` as `b` records locations.
[[noreturn]] void config_error(const Builder& b, const std::string& message, const Loc& loc);

/// Enters scope path `path` relative to the builder's current scope: a no-op when already there,
/// the remaining suffix when the current scope is a prefix of it (the usual case: a layer called
/// where it was made, or inside its parent's call), otherwise its last component.
dsl::Scope enter_scope(Builder& b, const std::string& path);
/// Enters `name` for a constructor creating parameters; a no-op for an empty name.
dsl::Scope open_scope(Builder& b, const std::string& name, const Loc& loc);

/// One expected dim in a shape check: a required size, a dim that must match another tensor's
/// (symbolic or not), or any size (written with its name in the message: "batch").
class DimSpec {
 public:
  DimSpec(int size) : dim_(int64_t{size}), fixed_(true) {}  // NOLINT: implicit, as dims read in a list
  DimSpec(int64_t size) : dim_(size), fixed_(true) {}       // NOLINT
  DimSpec(const Dim& dim) : dim_(dim), fixed_(true) {}      // NOLINT
  DimSpec(const char* name) : name_(name) {}                // NOLINT

  bool accepts(const Dim& d) const { return !fixed_ || d == dim_; }
  std::string str() const { return fixed_ ? dim_.str() : name_; }

 private:
  Dim dim_;
  std::string name_;
  bool fixed_ = false;
};

/// Checks that `x` is defined and is `dtype[dims...]`; otherwise fails with
/// "<layer>: <what> must be f32[batch, length, 8], but got f32[2, 7, 256]".
void expect_shape(const LayerId& who, const std::string& what, const Tensor& x, DType dtype,
                  const std::vector<DimSpec>& dims, const Loc& loc);
/// Checks that `x` is defined and floating-point of `dtype` with rank >= 1 and last dim `last`.
void expect_last_dim(const LayerId& who, const std::string& what, const Tensor& x, DType dtype, int64_t last,
                     const Loc& loc);
/// Checks that `x` is defined and has an integer dtype (token ids, lengths).
void expect_integer(const LayerId& who, const std::string& what, const Tensor& x, const Loc& loc);
/// "f32[batch, length, 8]".
std::string spec_str(DType dtype, const std::vector<DimSpec>& dims);

/// The activations the layers offer; gelu is the exact erf form (PyTorch's default).
enum class Activation { relu, gelu, tanh };
std::string_view activation_name(Activation a);
Tensor activate(Activation a, const Tensor& x, const Loc& loc);

/// An i64 scalar that varies dropout masks between runs (usually the training step), or an empty
/// handle for inference, where dropout is the identity.
using DropoutStep = Tensor;

/// PyTorch's `model.train()` / `model.eval()`, chosen per graph: the same model code builds the
/// train graph in `train` mode and the inference graphs in `eval` mode (frontend/inference.h).
enum class Mode { train, eval };
/// The DropoutStep of a graph built in `mode`: in train mode the graph's i64 scalar input `step`
/// (declared on first use; make_train_step then shares it with the optimizer), in eval mode none.
DropoutStep dropout_step(Builder& b, Mode mode, Loc loc = Loc::current());

// Binary ops that carry the given location (a C++ operator would capture the library's line).
namespace ops {
Tensor add(const Tensor& a, const Tensor& b, const Loc& loc);
Tensor mul(const Tensor& a, const Tensor& b, const Loc& loc);
Tensor mul(const Tensor& a, double s, const Loc& loc);
Tensor sub(const Tensor& a, const Tensor& b, const Loc& loc);
}  // namespace ops

}  // namespace weft::nn
