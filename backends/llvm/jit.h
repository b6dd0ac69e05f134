/** \file
 * The LLVM backend's compiler driver: host detection, the -O3 pipeline, ORC LLJIT, object files.
 *
 * `HostTarget` says what the machine running Weft can execute (CPU name, feature string, vector
 * width, register count); code generators read it to choose vector types and tile sizes, so the
 * same generator emits AVX2 code here and AVX-512 code on a machine that has it.
 *
 * `Jit` owns one LLJIT instance. `add_module` verifies a module, optimizes it with the new pass
 * manager's O3 pipeline for the host, and adds it to a JITDylib of its own, so two modules may
 * define the same names. A module whose printed text equals one added before is not compiled again:
 * the compile cache is keyed by that text, so regenerating a kernel for a shape already seen is free. The runtime's C
 * entry points
 * (`weft_parallel_for`, `weft_num_threads`, `weft_thread_scratch`) are registered as absolute
 * symbols, so they resolve whether or not the executable exports them; everything else resolves
 * against the process (libc, libm).
 *
 * `emit_object` runs the same pipeline and writes a relocatable, position-independent object file,
 * for the ahead-of-time shared objects. `add_module` compiles through it too when the on-disk
 * cache is on (jit_disk_cache.h, the default): each module's object code is stored there, and a
 * later process that adds the same module loads the object instead of optimizing and compiling.
 *
 * **Shared functions.** A generator may mark a defined function with `kJitSharedAttribute` when
 * its body depends only on its name (the GEMM core: matmul_codegen.h). `add_module` moves such a
 * function, with the internal functions it reaches, into one JITDylib of shared code the first
 * time it sees the name, compiled there once, and leaves every module only a declaration, resolved
 * against that dylib. So N matmul regions compile one GEMM, not N. `emit_object` leaves them in
 * place (internal, one copy per module), so an object file is self-contained.
 */
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
namespace orc {
class LLJIT;
class JITDylib;
class ThreadSafeContext;
}  // namespace orc
}  // namespace llvm

namespace weft::llvm_backend {

/// Function attribute: this function and what it calls are the same code wherever its name
/// appears, so the JIT compiles it once (see the file comment).
inline constexpr const char* kJitSharedAttribute = "weft-jit-shared";

/// What the generated code may use on this machine.
struct HostTarget {
  std::string triple;         // e.g. "x86_64-pc-linux-gnu"
  std::string cpu;            // llvm::sys::getHostCPUName(), e.g. "znver3"
  std::string features;       // "+avx2,+fma,-avx512f,..."
  int vector_bits = 128;      // widest float vector the host executes natively
  int vector_registers = 16;  // architectural vector registers (16 for AVX2, 32 for AVX-512)
  bool has_fma = false;

  /// Floats per native vector.
  int vector_floats() const { return vector_bits / 32; }
  /// One line for logs and benchmark headers: "znver3 avx2+fma, 256-bit vectors".
  std::string describe() const;
};

/// The host, detected once.
const HostTarget& host_target();

class Jit;

/// Handle to the code of one added module. Cheap to copy; valid as long as the Jit lives.
class JitLibrary {
 public:
  JitLibrary() = default;
  /// The address of an external symbol defined by the module; throws weft::InternalError if absent.
  void* lookup(std::string_view name) const;
  template <class Fn>
  Fn lookup_function(std::string_view name) const {
    return reinterpret_cast<Fn>(lookup(name));
  }
  bool valid() const { return jit_ != nullptr; }

 private:
  friend class Jit;
  Jit* jit_ = nullptr;
  llvm::orc::JITDylib* dylib_ = nullptr;
};

class Jit {
 public:
  /// A JIT for the host CPU.
  Jit();
  ~Jit();
  Jit(const Jit&) = delete;
  Jit& operator=(const Jit&) = delete;

  /// The process-wide JIT. Compiled code stays alive until exit.
  static Jit& global();

  const HostTarget& target() const { return host_target(); }

  /// A fresh, empty module with the host's triple and data layout.
  std::unique_ptr<llvm::Module> new_module(const std::string& name, llvm::LLVMContext& context) const;

  /// Verifies, optimizes (O3) and compiles `module`; `context` must be the one it was built in.
  /// Throws weft::InternalError if the module does not verify (a bug in a generator).
  JitLibrary add_module(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> context);

  /// Runs the O3 pipeline for the host on `module` in place, after giving every defined function
  /// the host's "target-cpu" / "target-features" attributes.
  void optimize(llvm::Module& module) const;

  /// Optimizes `module` in place and returns a position-independent ELF object file's bytes.
  std::string emit_object(llvm::Module& module) const;

  /// Modules compiled so far, and how many add_module calls were answered from the cache.
  int64_t compiled_modules() const;
  int64_t cache_hits() const;

 private:
  friend class JitLibrary;
  void* lookup(llvm::orc::JITDylib& dylib, std::string_view name) const;

  /// Moves the shared functions of `module` not compiled yet into a new module (nullptr if none)
  /// and leaves declarations of all of them in `module`.
  std::unique_ptr<llvm::Module> split_shared(llvm::Module& module);
  /// Optimizes and compiles `module` into `dylib`, or loads its object code from the on-disk
  /// cache (jit_disk_cache.h) when an earlier run compiled the same module.
  void add_compiled(llvm::orc::JITDylib& dylib, std::unique_ptr<llvm::Module> module,
                    const llvm::orc::ThreadSafeContext& context, const char* what);

  std::unique_ptr<llvm::orc::LLJIT> jit_;
  llvm::orc::JITDylib* shared_ = nullptr;                        // kJitSharedAttribute functions
  std::unordered_set<std::string> shared_names_;                 // ... defined there
  std::unique_ptr<llvm::TargetMachine> target_machine_;          // for the optimizer's cost model
  mutable std::recursive_mutex mutex_;                           // LLJIT lookups and our tables
  std::unordered_map<std::string, llvm::orc::JITDylib*> cache_;  // module text -> its dylib
  int64_t compiled_ = 0;
  int64_t hits_ = 0;
};

}  // namespace weft::llvm_backend
