/** \file
 * The LLVM CPU backend: `make_backend("llvm")`.
 *
 * `compile` runs the pipeline — decompose composites, the standard passes (infer shapes, fold
 * constants, CSE, DCE), fuse into regions, plan memory — and generates code for every region
 * (backends/llvm/region_codegen.h): loop nests over the symbolic dims, vectorized for the host CPU,
 * parallel across the thread pool, compiled by ORC LLJIT at -O3. A scan's loop runs on the
 * interpreter's scan kernel, each step's body being a compiled executable of its own. A top-level
 * node the generators do not take (an f64 matmul, a region of f16, a slice window of a symbolic
 * dim) runs through the interpreter's kernel for that node alone, so every graph
 * compiles; which nodes did is recorded (`LlvmExecutable::stats()`), so tests can insist that a
 * pattern (softmax, layer_norm, matmul + bias + relu) became generated code.
 *
 * The executable runs the memory plan (ir/program.h): one arena for every temporary, planned once
 * when every symbol is bounded, else once per distinct size of the unbounded symbols. Results
 * match the interpreter's up to rounding: reductions sum in a different order, and f32
 * transcendentals use polynomials a few ULP from libm (docs/llvm-backend.md lists the tolerances).
 */
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace weft {

class ThreadPool;

/// How one top-level node of the compiled (fused) graph runs.
struct LlvmNodeStats {
  std::string op;     // "loop", "reduction", "matmul" for regions; the op's name otherwise
  std::string scope;  // of the node naming the region
  bool compiled = false;  // generated code; false: the interpreter's kernel
  std::string reason;     // why it was not compiled
  bool cache_hit = false;
  double compile_seconds = 0;
};

struct LlvmCompileStats {
  std::vector<LlvmNodeStats> nodes;
  int compiled = 0;
  int fallback = 0;
  int cache_hits = 0;
  double pass_seconds = 0;     // the graph passes
  double codegen_seconds = 0;  // generating and JIT-compiling regions (0 when all were cached)
  /// A table: one line per node (op, scope, compiled or why not, compile time), then totals.
  std::string report() const;
};

class LlvmExecutable : public Executable {
 public:
  ~LlvmExecutable() override;
  const Signature& signature() const override;
  std::vector<Tensor> run(std::span<const Tensor> inputs) override;
  Tensor state(const std::string& name) const override;
  void set_state(const std::string& name, const Tensor& value) override;

  const LlvmCompileStats& stats() const;
  /// The pool its loops run on: the global one, or (CompileOptions::num_threads = N, not the
  /// global pool's size) a pool of N threads of its own, made at the first run.
  ThreadPool& thread_pool();
  /// The graph as compiled: decomposed, simplified and fused.
  const Graph& compiled_graph() const;

 private:
  friend class LlvmBackend;
  struct Impl;
  explicit LlvmExecutable(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class LlvmBackend : public Backend {
 public:
  std::string name() const override { return "llvm"; }
  std::unique_ptr<Executable> compile(const Graph& graph, const CompileOptions& options = {}) const override;
  /// `compile`, keeping the executable's type (for its stats).
  std::unique_ptr<LlvmExecutable> compile_llvm(const Graph& graph, const CompileOptions& options = {}) const;
};

/// The factory behind `make_backend("llvm")`.
std::unique_ptr<Backend> make_llvm_backend();
/// Adds "llvm" to the backends `make_backend` knows, once (backends/backend.cpp already does this
/// when Weft is built with LLVM; calling it again is harmless).
void register_llvm_backend();

}  // namespace weft
