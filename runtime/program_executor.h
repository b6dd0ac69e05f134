/** \file
 * The program executor: runs a `Program` (ir/program.h) from a table of per-call kernels.
 *
 * Every backend runs on it — the interpreter, the LLVM JIT, and device providers — so what a run
 * means is written once: binding the symbols from the inputs (`bind_inputs`), choosing the memory
 * plan (planned once when every symbol is bounded, else once per distinct size of the unbounded
 * ones), the arena, computing outputs straight into the tensors returned, the run-time checks
 * planning attached to each call (runtime/call_checks.h), the NaN/Inf trap, and the state:
 * parameters and optimizer slots, updated in place or all at once after the run.
 *
 * It knows nothing of graphs: a kernel is a function of its operands' memory and the run's sizes,
 * made by a provider (backends/provider.h). Memory lives in one space (runtime/memory.h): host by
 * default; with a device resource the arena and the state stay on the device between runs, and
 * only the inputs are copied in and the outputs out.
 *
 * The C runtime of compiled models (runtime/capi) follows the same rules; tests/runtime holds the
 * three (interpreter, JIT, shared object) to the same answers.
 */
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ir/program.h"
#include "runtime/executable.h"
#include "runtime/memory.h"
#include "runtime/tensor.h"

namespace weft {

/// How one call of a program runs, as a provider made it.
struct CallKernel {
  std::string provider;  // which provider made it ("llvm", "interp", ...)
  /// How error messages name the call ("a fused region (first op: exp at model.cpp:12)"); empty:
  /// by its op.
  std::string what;
  /// Runs the call: `buffers` are its operands' memory in call operand order (operands, then
  /// results), `sizes` the run's symbol values.
  std::function<void(std::span<void* const> buffers, const SymbolBindings& sizes)> run;
  /// Optional: called by the NaN/Inf trap when this call produced a non-finite value, to throw a
  /// sharper error (a fused region's generated code has no per-op checks). When it returns, the
  /// executor names the call itself.
  std::function<void(std::span<void* const> buffers, const SymbolBindings& sizes)> explain_non_finite;
  /// Optional, for the profile: the call's floating-point operations at the run's sizes.
  std::function<double(const SymbolBindings& sizes)> flops;
};

/// What the profile (ExecutorOptions::profile) accumulated for one call of the program.
struct CallProfile {
  int64_t calls = 0;
  double seconds = 0;  // wall time inside the kernel (and its checks)
  double flops = 0;    // CallKernel::flops at each run's sizes, summed
  double bytes = 0;    // the bytes of its operands and results, summed over the runs
};

/// A program for the run's sizes (for a graph with unbounded symbols).
using ProgramPlanner = std::function<Program(const SymbolBindings& sizes)>;

/// The initial value of state tensor `index` (signature order). The executor asks for it once, when
/// that state is first needed — the first run, or `state(name)` — and never when `set_state`
/// replaces it first: an inference executable whose parameters are copied in from a trained one
/// (frontend/inference.h) does not compute initial values only to overwrite them.
using StateInitializer = std::function<Tensor(size_t index)>;

struct ExecutorOptions {
  /// Stop at the first call producing a NaN or Inf and name it (op, scope, DSL line).
  bool nan_trap = false;
  /// Where the arena and the state live; null: the host. The program's buffers must be planned in
  /// the same space.
  MemoryResource* memory = nullptr;
  /// Time every call (two clock reads per call) and accumulate `profile()`.
  bool profile = false;
};

class ProgramExecutor : public Executable {
 public:
  /// `program`: the plan when every symbol is bounded; else `planner` makes one per size.
  /// `kernels`: one per call, in call order. `initial_state`: each state tensor's initial value,
  /// computed when first needed (see StateInitializer).
  ProgramExecutor(Signature signature, std::optional<Program> program, ProgramPlanner planner,
                  std::vector<CallKernel> kernels, StateInitializer initial_state, ExecutorOptions options = {});
  /// The same with the initial values given: the parameters in program order.
  ProgramExecutor(Signature signature, std::optional<Program> program, ProgramPlanner planner,
                  std::vector<CallKernel> kernels, std::span<const Tensor> initial_state, ExecutorOptions options = {});
  ~ProgramExecutor() override;

  const Signature& signature() const override { return sig_; }
  std::vector<Tensor> run(std::span<const Tensor> inputs) override { return run(inputs, nullptr); }
  /// `outer`: the sizes of the program running this one (a scan's body may name symbols its own
  /// inputs do not carry); its own inputs' bindings win.
  std::vector<Tensor> run(std::span<const Tensor> inputs, const SymbolBindings* outer);
  Tensor state(const std::string& name) const override;
  void set_state(const std::string& name, const Tensor& value) override;

  const std::vector<CallKernel>& kernels() const { return kernels_; }
  /// Per call, in call order, since construction or `reset_profile` (empty unless profiling).
  const std::vector<CallProfile>& profile() const { return profile_; }
  void reset_profile() { profile_.assign(profile_.size(), CallProfile{}); }
  /// The plan for `sizes` (planned now if it is new).
  const Program& program_for(const SymbolBindings& sizes);

  /// One run of plan `p` (from `program_for(sizes)`) over the caller's host memory, for a loop that
  /// runs the same program many times (a scan's steps): `inputs` and `outputs` in signature order,
  /// `output_bytes` each output's size, `sizes` every symbol's value, bound once by the caller.
  /// Binds nothing and, once the arena has grown to the plan, allocates nothing: an output the
  /// plan keeps in the arena is computed straight into the caller's memory, any other is copied
  /// there. The outputs must not overlap the inputs. A program with state updates is refused.
  void run_step(const Program& p, std::span<const void* const> inputs, std::span<void* const> outputs,
                std::span<const int64_t> output_bytes, const SymbolBindings& sizes);

 private:
  size_t state_index(const std::string& name) const;
  /// State `i`'s buffer, holding its initial value if nothing has been written to it yet.
  void* state_data(size_t i) const;
  std::byte* arena_of(int64_t bytes);
  /// Runs p's calls over `ptrs_` (one pointer per buffer).
  void run_calls(const Program& p, const SymbolBindings& sizes, bool on_host);
  void trap_non_finite(const KernelCall& call, const CallKernel& kernel, std::span<void* const> buffers,
                       const SymbolBindings& sizes);

  Signature sig_;
  std::optional<Program> program_;
  ProgramPlanner planner_;
  std::map<std::vector<int64_t>, Program> programs_;  // per sizes of the unbounded symbols
  std::vector<CallKernel> kernels_;
  ExecutorOptions options_;
  MemoryResource* memory_;
  StateInitializer initial_state_;
  // Allocated and filled from `initial_state_` when first needed (state_data), hence mutable.
  mutable std::vector<DeviceBuffer> state_;
  mutable std::vector<char> state_ready_;
  DeviceBuffer arena_;
  std::vector<DeviceBuffer> staged_inputs_;  // a device program's copies of the caller's inputs
  std::vector<CallProfile> profile_;
  // Reused by every run (a run is never re-entered), so that a step allocates nothing.
  std::vector<void*> ptrs_;       // per buffer of the plan
  std::vector<void*> args_;       // per operand of the call being run
  std::vector<char> redirected_;  // per buffer: an output computed in the caller's memory
  std::vector<char> written_;     // per output: computed in place (run)
  // The profile's FLOPs and bytes per call, for `profiled_sizes_` under plan `profiled_plan_`.
  const Program* profiled_plan_ = nullptr;
  SymbolBindings profiled_sizes_;
  std::vector<std::pair<double, double>> call_costs_;
};

}  // namespace weft
