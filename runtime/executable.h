/** \file
 * What every backend produces: an `Executable` that runs a compiled graph on tensors.
 *
 * The runtime knows signatures (names, dtypes, shapes with symbolic dims) but never a Graph. State —
 * parameters and optimizer slots — lives inside the executable, initialized deterministically from
 * the graph's initializers when first needed (docs/weights.md), read and written by name, and
 * updated in place by a train step.
 */
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ir/shape.h"
#include "runtime/tensor.h"

namespace weft {

struct TensorSpec {
  std::string name;
  TensorType type;
};

struct SymbolSpec {
  std::string name;
  std::optional<int64_t> bound;
};

struct Signature {
  std::string graph;  // the graph's (or a compiled model's entry's) name, for error messages
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<TensorSpec> state;  // parameters and other persistent tensors
  std::vector<SymbolSpec> symbols;

  const TensorSpec* find_input(const std::string& name) const;
  const TensorSpec* find_state(const std::string& name) const;
};

/// Binds symbolic dims from the inputs' concrete shapes, checking rank, dtype, static dims, agreement
/// of repeated symbols and bounds. A symbol takes its value from the first dim that determines it:
/// single-symbol dims (`B`, `2*T`) first, then products (`B*T` once `T` is known), divided by the rest
/// of the dim, which must divide it — as the C runtime of compiled models does. Throws weft::Error naming the input and
/// its graph, the expected and actual types (for a bound, the input that bound the symbol).
SymbolBindings bind_inputs(const Signature& sig, std::span<const Tensor> inputs);

class Executable {
 public:
  virtual ~Executable() = default;
  virtual const Signature& signature() const = 0;

  /// Runs once on inputs in signature order; returns outputs in signature order. State updates
  /// declared by the graph take effect when the run completes.
  virtual std::vector<Tensor> run(std::span<const Tensor> inputs) = 0;

  /// Current value of a state tensor (a copy that shares nothing with the executable).
  virtual Tensor state(const std::string& name) const = 0;
  /// Replaces a state tensor; throws weft::Error on an unknown name or a wrong dtype/shape.
  virtual void set_state(const std::string& name, const Tensor& value) = 0;

  /// What the runs so far cost, call by call, when the executable was compiled to keep a profile
  /// (CompileOptions::profile); otherwise one line saying it keeps none.
  virtual std::string profile_report() const { return "this executable keeps no profile\n"; }
  /// Starts the profile afresh (after a warm-up, say); nothing to do without one.
  virtual void reset_profile() {}

  /// Runs with inputs by name; convenience over `run`. Throws weft::Error naming every missing and
  /// every unknown input.
  std::map<std::string, Tensor> run_named(const std::map<std::string, Tensor>& inputs);
};

}  // namespace weft
