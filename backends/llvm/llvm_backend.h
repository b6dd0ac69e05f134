/** \file
 * The LLVM CPU backend: `make_backend("llvm")`, the chain of the LLVM provider then the interpreter
 * (backends/provider.h).
 *
 * The graph goes through the one pipeline (passes/pipeline.h) under the LLVM provider's policy —
 * decompose composites, simplify, fuse into regions, plan memory — and the provider generates code
 * for every region (backends/llvm/region_codegen.h): loop nests over the symbolic dims, vectorized
 * for the host CPU, parallel across the thread pool, compiled by ORC LLJIT at -O3. A call the
 * generators do not take (an f64 matmul, a region of f16, a slice window of a symbolic dim) runs on
 * the interpreter's kernel, so every graph compiles; a scan's loop is the interpreter's scan kernel,
 * each step's body compiled by the same chain. Which provider runs each call is recorded
 * (`CompiledExecutable::stats()`), so tests can insist that a pattern (softmax, layer_norm, matmul +
 * bias + relu) became generated code.
 *
 * Results match the interpreter's up to rounding: reductions sum in a different order, and f32
 * transcendentals use polynomials a few ULP from libm (docs/llvm-backend.md lists the tolerances).
 */
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/provider.h"

namespace weft {

namespace llvm_backend {
class Jit;
}

/// The LLVM provider: generated code for fused regions and lone movement ops, in Jit::global().
/// It compiles a program's regions (region_codegen.h, compile_regions) on WEFT_COMPILE_THREADS
/// threads when set, else CompileOptions::num_threads, else (0) as many as the global pool has
/// (WEFT_NUM_THREADS).
std::shared_ptr<const KernelProvider> llvm_provider();

/// The same provider over another Jit, compiling on `compile_threads` threads (0: as above); for
/// tests that compare compiles.
std::shared_ptr<const KernelProvider> llvm_provider(llvm_backend::Jit& jit, int compile_threads);

class LlvmBackend : public ProviderChain {
 public:
  LlvmBackend();
  /// `compile`, keeping the executable's type (for its stats).
  std::unique_ptr<CompiledExecutable> compile_llvm(const Graph& graph, const CompileOptions& options = {}) const {
    return compile_chain(graph, options);
  }
};

/// The factory behind `make_backend("llvm")`.
std::unique_ptr<Backend> make_llvm_backend();

}  // namespace weft
