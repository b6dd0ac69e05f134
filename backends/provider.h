/** \file
 * Kernel providers, and backends as chains of them.
 *
 * A provider makes the kernel of one program call (runtime/program_executor.h `CallKernel`): the
 * LLVM provider generates code for fused regions and lone movement ops, the interpreter runs any
 * call through its reference kernels, a oneDNN or CUDA provider would map calls to its primitives.
 * A provider says how it wants the graph lowered (decompose, simplify, fuse: `lowering_policy`) and,
 * for each call, gives a kernel or declines with a reason.
 *
 * A `ProviderChain` is a backend: the graph goes through the one pipeline (passes/pipeline.h) under
 * the first provider's policy, then each call takes the first provider in the chain that gives a
 * kernel ("llvm" = llvm, then interp; "interp" = interp alone). The choice per call is recorded
 * (`CompileStats`, shown by `weft-dump --compile`), and the calls run on the one executor.
 */
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "ir/program.h"
#include "passes/pipeline.h"
#include "runtime/program_executor.h"

namespace weft {

class CompiledExecutable;
class ThreadPool;

class KernelProvider;

/// What a provider's `prepare` made for a program's calls, handed back to its own `kernel_for`
/// (through ProviderContext::prepared); `by` says whose it is.
struct PreparedCalls {
  explicit PreparedCalls(const KernelProvider* by) : by(by) {}
  virtual ~PreparedCalls() = default;
  const KernelProvider* by;
};

/// What a provider may use while making a kernel.
struct ProviderContext {
  const CompileOptions& options;
  /// The symbols of the program the call belongs to (with their bounds).
  const std::vector<SymbolDecl>& symbols;
  /// A scan's body (already lowered) compiled by the same chain; its `run(inputs, &sizes)` runs
  /// one step under the caller's sizes.
  std::function<std::shared_ptr<CompiledExecutable>(const Graph& body)> compile_body;
  /// What the lead provider's `prepare` returned for this program's calls (or null).
  std::shared_ptr<const PreparedCalls> prepared = nullptr;
};

/// A provider's kernel for a call, and what the compile statistics say about it.
struct ProvidedKernel {
  CallKernel kernel;
  bool generated = false;  // code generated for it (else a library or reference kernel)
  bool cache_hit = false;
  double compile_seconds = 0;
  std::string note;  // e.g. how a scan's body ran
  /// A scan's body as compiled for the kernel (its profile is reported under the scan's).
  std::shared_ptr<CompiledExecutable> body;
};

class KernelProvider {
 public:
  virtual ~KernelProvider() = default;
  virtual std::string name() const = 0;
  /// How graphs are lowered when this provider leads the chain.
  virtual LoweringOptions lowering_policy() const = 0;
  /// The kernel of `call`, or empty with `*why` set when this provider does not run it.
  virtual std::optional<ProvidedKernel> kernel_for(const KernelCall& call, const ProviderContext& context,
                                                   std::string* why) const = 0;
  /// Called on the chain's lead provider with all of a program's calls before `kernel_for` is asked
  /// for each, so that it may make their kernels together (the LLVM provider compiles its regions
  /// on several threads); what it returns reaches `kernel_for` as `context.prepared`. Never
  /// required: `kernel_for` works without it.
  virtual std::shared_ptr<const PreparedCalls> prepare(std::span<const KernelCall> calls,
                                                       const ProviderContext& context) const {
    (void)calls;
    (void)context;
    return nullptr;
  }
  /// What the provider decided while lowering `graph` (its policy's choices) that no call's note
  /// shows, one line each, for the compile report; `auto` says which training layers stayed whole.
  virtual std::vector<std::string> lowering_notes(const Graph& graph) const {
    (void)graph;
    return {};
  }
  /// Where the lead provider's programs keep their memory (a device's); null: the host. A chain
  /// led by a device provider plans its buffers in that space and its executor keeps the arena and
  /// the state there.
  virtual MemoryResource* memory() const { return nullptr; }
  /// Why this machine cannot run the provider's kernels (no GPU), or empty.
  virtual std::optional<std::string> unavailable() const { return std::nullopt; }
};

/// The reference interpreter as a provider: runs every call (composites through their
/// decomposition), with the graph as written (no decomposition, simplification or fusion).
std::shared_ptr<const KernelProvider> interp_provider();

/// How one call ran.
struct NodeStats {
  std::string op;         // "loop", "reduction", "matmul" for regions; the op's name otherwise
  std::string scope;      // of the node naming the region
  std::string provider;   // the provider that runs it
  bool compiled = false;  // generated code (else a library or reference kernel)
  std::string reason;     // why the providers before it declined
  bool cache_hit = false;
  double compile_seconds = 0;
  /// A scan's body, compiled by the same chain (its own stats and profile).
  std::shared_ptr<CompiledExecutable> body;
};

struct CompileStats {
  std::string backend;
  std::vector<NodeStats> nodes;
  int compiled = 0;
  int fallback = 0;  // calls on the interpreter in a chain that has other providers
  int cache_hits = 0;
  double pass_seconds = 0;     // the pipeline (passes and memory planning)
  double codegen_seconds = 0;  // making kernels (0 when all generated code came from the cache)
  std::vector<std::string> lowering_notes;  // the lead provider's lowering choices (KernelProvider::lowering_notes)
  /// A table: one line per call (op, scope, provider, compiled or why not, compile time), then totals;
  /// then each scan's body, the same way.
  std::string report() const;
};

/// What a chain compiles to: the executor running the program, the pool its kernels use, and how
/// each call was provided.
class CompiledExecutable : public Executable {
 public:
  CompiledExecutable(std::unique_ptr<ProgramExecutor> executor, Graph lowered, CompileStats stats, int num_threads);
  ~CompiledExecutable() override;
  const Signature& signature() const override { return executor_->signature(); }
  std::vector<Tensor> run(std::span<const Tensor> inputs) override;
  /// Runs as a scan's body under the caller's sizes (and pool).
  std::vector<Tensor> run_nested(std::span<const Tensor> inputs, const SymbolBindings& outer);
  Tensor state(const std::string& name) const override { return executor_->state(name); }
  void set_state(const std::string& name, const Tensor& value) override { executor_->set_state(name, value); }

  const CompileStats& stats() const { return stats_; }
  /// The executor running its program (a scan's loop steps its body through it).
  ProgramExecutor& executor() { return *executor_; }
  /// The pool its loops run on: the global one, or (CompileOptions::num_threads = N, not the global
  /// pool's size) a pool of N threads of its own, made at the first run.
  ThreadPool& thread_pool();
  /// The graph as lowered for its providers.
  const Graph& compiled_graph() const { return lowered_; }
  /// With CompileOptions::profile: per call, what the runs so far cost (empty otherwise).
  const std::vector<CallProfile>& profile() const { return executor_->profile(); }
  void reset_profile() override;
  /// The profile as a table, slowest call first: op (a region's kind), scope, provider, calls, total
  /// and per-call time, share of the total, GFLOP/s and GB/s (operands and results read or written
  /// once), then the totals; then each scan's body, the same way (a body's calls are its steps).
  std::string profile_report() const override;

 private:
  std::unique_ptr<ProgramExecutor> executor_;
  Graph lowered_;
  CompileStats stats_;
  int num_threads_ = 0;
  std::unique_ptr<ThreadPool> pool_;
};

/// A backend made of providers, tried in order for each call.
class ProviderChain : public Backend {
 public:
  ProviderChain(std::string name, std::vector<std::shared_ptr<const KernelProvider>> providers);
  std::string name() const override { return name_; }
  std::unique_ptr<Executable> compile(const Graph& graph, const CompileOptions& options = {}) const override;
  /// The lead provider's answer: the chain runs nothing without it.
  std::optional<std::string> unavailable() const override { return providers_.front()->unavailable(); }
  /// `compile`, keeping the executable's type (for its stats).
  std::unique_ptr<CompiledExecutable> compile_chain(const Graph& graph, const CompileOptions& options = {}) const;
  /// The options of the one pipeline for this chain: the lead provider's policy, with constant
  /// folding by the interpreter and the diagnostics of `options`.
  LoweringOptions lowering_options(const CompileOptions& options = {}) const;

 private:
  std::unique_ptr<CompiledExecutable> build(const Graph& lowered, std::optional<Program> program, double pass_seconds,
                                            const CompileOptions& options,
                                            std::vector<std::string> lowering_notes = {}) const;

  std::string name_;
  std::vector<std::shared_ptr<const KernelProvider>> providers_;
};

}  // namespace weft
