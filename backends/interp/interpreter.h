/** \file
 * The reference interpreter: the oracle every other backend and pass is tested against.
 *
 * It evaluates nodes in order with plain C++ kernels (kernels.h); composite ops without a kernel run
 * through their decomposition, so a composite is correct here exactly when its decomposition is.
 * Parameters are held as state; state updates are applied after each run (copying, as the interpreter
 * does not alias).
 */
#pragma once

#include <map>
#include <memory>
#include <span>
#include <vector>

#include "backends/backend.h"
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

class InterpBackend : public Backend {
 public:
  std::string name() const override { return "interp"; }
  std::unique_ptr<Executable> compile(const Graph& graph, const CompileOptions& options = {}) const override;
};

}  // namespace weft
