/** \file
 * The JIT's compiler: the optimizer's pipeline and code generation for the host, callable from
 * any number of threads at once.
 *
 * An LLVM `TargetMachine` is not thread-safe (X86's fills its per-function subtarget cache without
 * a lock), and both the optimizer (its cost model) and instruction selection use one. So each call
 * borrows a TargetMachine of its own from a pool — one per thread compiling at that moment, made at
 * the first need and kept for the next call — and returns it after. The module is the caller's, in
 * the caller's LLVMContext: one context per thread is the caller's rule (jit.h). Nothing else of
 * LLVM is shared between calls. This is the arrangement ORC's `ConcurrentIRCompiler` makes (a
 * TargetMachine per compile, from a `JITTargetMachineBuilder`), without its cost of building a
 * machine per module.
 *
 * The machines are made position-independent (Reloc::PIC_) at -O3 code generation, for the JIT's
 * objects and the ahead-of-time shared objects alike.
 */
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace llvm {
class Module;
class TargetMachine;
namespace orc {
class JITTargetMachineBuilder;
}  // namespace orc
}  // namespace llvm

namespace weft::llvm_backend {

/// The optimizer's pipeline: the new pass manager's default per-module pipeline at this level.
enum class PipelineLevel { O1, O2, O3 };

/// The host's machine builder (LLVM's native target initialized first), detected once; -O3 code
/// generation.
llvm::orc::JITTargetMachineBuilder host_machine_builder();

/// "O1", "O2", "O3".
const char* pipeline_name(PipelineLevel level);

class ModuleCompiler {
 public:
  /// The host's compiler (host_target() in jit.h), shared by every Jit of the process.
  static ModuleCompiler& host();

  /// The host's data layout, as a string (for new modules).
  const std::string& data_layout() const { return data_layout_; }

  /// Gives every defined function of `module` the host's "target-cpu" and "target-features" (where it
  /// has none), sets the host's triple and data layout where it has none, and runs the pipeline.
  void optimize(llvm::Module& module, PipelineLevel level) const;

  /// Instruction selection and the object file: a relocatable, position-independent ELF object's
  /// bytes. `module` must have been optimized (it is changed by code generation's IR passes).
  std::string generate(llvm::Module& module) const;

 private:
  ModuleCompiler();
  /// A machine no other thread is using: an idle one, or a new one.
  std::unique_ptr<llvm::TargetMachine> acquire() const;
  void release(std::unique_ptr<llvm::TargetMachine> machine) const;
  friend class MachineLease;

  std::string data_layout_;
  mutable std::mutex mutex_;  // idle_
  mutable std::vector<std::unique_ptr<llvm::TargetMachine>> idle_;
};

}  // namespace weft::llvm_backend
