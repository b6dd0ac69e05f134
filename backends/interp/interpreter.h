/** \file
 * The reference interpreter: the oracle every other backend and pass is tested against.
 *
 * It evaluates nodes in order with plain C++ kernels (kernels.h); composite ops without a kernel run
 * through their decomposition, so a composite is correct here exactly when its decomposition is.
 * Parameters are held as state; state updates are applied after each run (copying, as the interpreter
 * does not alias).
 */
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "backends/backend.h"
#include "backends/provider.h"
#include "ir/program.h"
#include "ir/graph.h"
#include "runtime/tensor.h"

namespace weft {

struct InterpOptions {
  bool nan_trap = false;
};

/// Evaluates `graph` once. `params` are in graph.params() order. Returns the outputs, then the values
/// of graph.updates() in order.
std::vector<Tensor> interpret(const Graph& graph, std::span<const Tensor> inputs, std::span<const Tensor> params,
                              const InterpOptions& options = {});

/// Initial values of the graph's parameters from their initializers (concrete shapes required).
std::vector<Tensor> initial_params(const Graph& graph);

/// The same one parameter at a time, when asked (the executor's StateInitializer): checks every
/// parameter's shape and initializer now, throwing what initial_params would, and computes
/// parameter i's value only when it is called with i.
std::function<Tensor(size_t)> lazy_initial_params(const Graph& graph);

/// A program call as a graph of its own: the node, its operands as inputs, then one input of shape
/// [S] per symbol S of `symbols` (so that the interpreter binds symbols the operands do not carry).
Graph wrap_call(const KernelCall& call, const std::vector<SymbolDecl>& symbols);

/// Runs `wrapper` (from `wrap_call`) on the call's operands at `buffers` (host memory, call operand
/// order) with the run's `sizes`; returns the results.
std::vector<Tensor> interpret_call(const Graph& wrapper, const KernelCall& call, std::span<void* const> buffers,
                                   const SymbolBindings& sizes, const InterpOptions& options = {});

/// The "interp" backend: the interpreter provider alone (backends/provider.h), running the graph as
/// written on the program executor.
class InterpBackend : public ProviderChain {
 public:
  InterpBackend() : ProviderChain("interp", {interp_provider()}) {}
};

}  // namespace weft
