/** \file
 * The LLVM backend's compiler driver: host detection, the -O3 pipeline, ORC LLJIT, object files.
 *
 * `HostTarget` says what the machine running Weft can execute (CPU name, feature string, vector
 * width, register count); code generators read it to choose vector types and tile sizes, so the
 * same generator emits AVX2 code here and AVX-512 code on a machine that has it.
 *
 * `Jit` owns one LLJIT instance. `add_module` verifies a module, optimizes it with the new pass
 * manager's O3 pipeline for the host, generates its object code and adds it to a JITDylib of its
 * own, so two modules may define the same names. A module whose printed text (or source key, below)
 * equals one added before is not compiled again: regenerating a kernel for a shape already seen is
 * free. The runtime's C entry points (`weft_parallel_for`, `weft_num_threads`, `weft_thread_scratch`) are registered as
 * absolute symbols, so they resolve whether or not the executable exports them; everything else resolves against the
 * process (libc, libm).
 *
 * `emit_object` runs the same pipeline and writes a relocatable, position-independent object file,
 * for the ahead-of-time shared objects. Each module's object code is stored in the on-disk cache
 * (jit_disk_cache.h, the default), and a later process that adds the same module loads the object
 * instead of optimizing and compiling.
 *
 * **Threads.** Any number of threads may call `add_module`, `prepare_module` and `load_cached` at
 * once, each module in an LLVMContext of its own: optimization and code generation run outside the
 * Jit's lock, each on a TargetMachine no other thread is using (jit_compiler.h); only the tables
 * and ORC's linking are under the lock. `prepare_module` makes a module's object code without
 * linking it (kept in memory, and on disk, for the `load_cached` that links it): compile_regions
 * (region_codegen.h) compiles a program's regions so on several threads, then links them on one,
 * in the program's order. The objects are the same bytes whichever thread made them and in
 * whatever order: a module's depend only on its IR, and each shared function (below) is compiled
 * alone, in a module named after it.
 *
 * **Keys known before the IR.** Printing a module to key it costs about as much as loading its
 * object, so a caller that can name its module's content without building it (compile_region: the
 * region's canonical text) passes that as `add_module`'s `source_key`; the entry is stored under it,
 * with the shared functions the module uses, and `load_cached(source_key)` gives the library back
 * in a later process without generating, verifying or printing any IR. A key holds what decides the
 * code: the caller's text, LLVM's version, the host's triple, CPU and features, and the build of
 * Weft (the GNU build ID of the binary holding this code: generators and pipeline are code).
 *
 * **Perf map.** With `JitOptions::perf_map` (WEFT_PERF_MAP=1 for the global JIT), every linked
 * function is written to that file as `address size name` (perf's /tmp/perf-<pid>.map format), named
 * by its label (`set_label`: compile_region labels a region by its scope and kind), so `perf report`
 * shows `weft: encoder.layers.0.attn matmul region` instead of an address. See jit_perf_map.h.
 *
 * **Shared functions.** A generator may mark a defined function with `kJitSharedAttribute` when
 * its body depends only on its name (the GEMM core: matmul_codegen.h). The first module that has
 * such a function gives it, with the internal functions it reaches, a module of its own (claimed,
 * so that no other thread compiles it too), compiled once and linked into one JITDylib of shared
 * code; every module keeps only a declaration, resolved against that dylib. So N matmul regions
 * compile one GEMM, not N. A module that needs a shared function another thread is still compiling
 * waits for it before linking. `emit_object` leaves them in place (internal, one copy per module),
 * so an object file is self-contained. Shared functions are optimized with `core_pipeline()`.
 */
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

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

#include "backends/llvm/jit_compiler.h"

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
class JitDiskCache;
class PerfMap;

/// Where the JIT's time went in this process, in seconds summed over every call (a compile-time
/// report's breakdown: bench_models --compile-time, docs/performance.md).
struct JitTimings {
  // Summed over threads: with regions compiled on two threads, emit + optimize + codegen can exceed
  // the wall-clock time of the compile.
  double emit = 0;      // generating LLVM IR (the region generators; compile_region reports it)
  double key = 0;       // verifying modules and printing them (the caches' keys)
  double optimize = 0;  // the O3 pipeline (the shared functions': core_pipeline())
  double codegen = 0;   // instruction selection and the object file
  double disk = 0;      // reading, checking and writing on-disk cache entries
  double link = 0;      // ORC: adding objects, linking them and resolving symbols at lookup
  double total() const { return emit + key + optimize + codegen + disk + link; }
};

/// How a Jit is set up.
struct JitOptions {
  /// Where to write perf's map of the generated functions (empty: nowhere).
  std::string perf_map;
  /// The on-disk cache of object code; null: the process's (JitDiskCache::global()).
  JitDiskCache* disk_cache = nullptr;
  /// The options of the process's JIT: perf_map = /tmp/perf-<pid>.map when WEFT_PERF_MAP is 1.
  static JitOptions from_environment();
};

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
  explicit Jit(JitOptions options = {});
  ~Jit();
  Jit(const Jit&) = delete;
  Jit& operator=(const Jit&) = delete;

  /// The process-wide JIT. Compiled code stays alive until exit.
  static Jit& global();

  const HostTarget& target() const { return host_target(); }

  /// A fresh, empty module with the host's triple and data layout.
  std::unique_ptr<llvm::Module> new_module(const std::string& name, llvm::LLVMContext& context) const;

  /// Verifies, optimizes (O3) and compiles `module`; `context` must be the one it was built in.
  /// Throws weft::InternalError if the module does not verify (a bug in a generator). With a
  /// `source_key` (text that determines the module, see the file comment) its object code goes to
  /// the on-disk cache under that key, for `load_cached`; without one, under the module's IR.
  JitLibrary add_module(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> context,
                        const std::string& source_key = {});

  /// Makes the object code `add_module(module, context, source_key)` would link, and that of the
  /// shared functions it introduces, without linking any: a later `load_cached(source_key)` (from
  /// any thread) links them. Does nothing when the key is linked or prepared already.
  void prepare_module(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> context,
                      const std::string& source_key);

  /// The library an earlier `add_module(..., source_key)` or `prepare_module` stored, in this
  /// process or another, with the shared code it needs; nullopt when there is none, an entry fails
  /// its checks, or its shared code would clash with what this process has linked (then the caller
  /// compiles).
  std::optional<JitLibrary> load_cached(const std::string& source_key);

  /// The pipeline of the shared functions (the GEMM cores): O3, or WEFT_JIT_CORE_PIPELINE=O1|O2|O3
  /// (to compare them: docs/performance.md, "Compile time"). Part of their disk keys.
  static PipelineLevel core_pipeline();

  /// Tells Jits apart for the caches of compiled code built over them (never reused in a process).
  uint64_t id() const { return id_; }

  /// Names function `symbol` (and its helpers `symbol.*`) in the perf map: "weft: <label>".
  void set_label(const std::string& symbol, const std::string& label);

  /// Runs the pipeline (O3 unless told) for the host on `module` in place, after giving every
  /// defined function the host's "target-cpu" / "target-features" attributes.
  void optimize(llvm::Module& module, PipelineLevel level = PipelineLevel::O3) const;

  /// Optimizes `module` in place and returns a position-independent ELF object file's bytes.
  std::string emit_object(llvm::Module& module, PipelineLevel level = PipelineLevel::O3) const;

  /// Modules compiled so far, and how many add_module calls were answered from the cache.
  int64_t compiled_modules() const;
  int64_t cache_hits() const;

  /// The breakdown of the time spent so far; `add_seconds` is how a caller reports its own part
  /// (compile_region: IR emission, and its region keys under `key`).
  JitTimings timings() const;
  void add_seconds(double JitTimings::*part, double seconds);

 private:
  friend class JitLibrary;
  void* lookup(llvm::orc::JITDylib& dylib, std::string_view name) const;

  /// A module's object code and the groups of shared functions it links against.
  struct ModuleObject {
    std::vector<std::vector<std::string>> groups;
    std::string object;
  };
  /// Splits the shared functions out of `module` (claiming, compiling and keeping those no one has
  /// claimed), then makes the object of what is left: from the disk cache under `key`, else compiled
  /// and stored there (with the groups in front when `manifest`). Links nothing; takes the lock only
  /// to claim.
  ModuleObject compile_module(llvm::Module& module, const std::string& key, bool manifest);
  /// The object code of `module`: kept or on disk under `key`, else optimized (at `level`), compiled
  /// and stored on disk under `key` with `manifest` in front (see encode_manifest in jit.cpp).
  std::string object_for(llvm::Module& module, const std::string& key, const std::string& manifest,
                         PipelineLevel level);
  /// Links a group of shared functions into the shared dylib, waiting while another thread compiles
  /// it; false when its object is nowhere or part of it was linked with another group. Under `lock`.
  bool link_group(const std::vector<std::string>& group, std::unique_lock<std::mutex>& lock);
  /// Adds an object file to `dylib`. Under the lock.
  void add_object(llvm::orc::JITDylib& dylib, const std::string& object, const std::string& name);
  JitDiskCache& disk() const;
  /// A new JITDylib for one module, linked against the shared code and the runtime's symbols.
  llvm::orc::JITDylib& new_dylib();
  void add_time(double JitTimings::*part, double seconds) const;

  JitOptions options_;
  uint64_t id_ = 0;
  std::unique_ptr<PerfMap> perf_map_;  // before jit_: the linking layer's plugin writes to it
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  llvm::orc::JITDylib* shared_ = nullptr;  // kJitSharedAttribute functions

  mutable std::mutex mutex_;         // LLJIT's linking and lookups, and the tables below
  std::condition_variable changed_;  // a claim resolved or a module linked: waiters look again
  /// Each shared function linked into shared_ -> the names linked with it in one object (its disk key).
  std::unordered_map<std::string, std::vector<std::string>> linked_groups_;
  /// Shared functions split off by some thread and not linked yet: their group, and whether its
  /// object is made (then in kept_, or on disk when that cache is on).
  struct Claim {
    std::vector<std::string> group;
    bool ready = false;
  };
  std::unordered_map<std::string, Claim> claims_;
  /// Objects made in this process and not linked yet, by disk key (prepare_module's, and claimed
  /// shared functions'): what load_cached links even when the disk cache is off.
  std::map<std::string, std::string> kept_;
  std::unordered_set<std::string> in_flight_;  // source keys add_module is compiling now
  int64_t dylibs_ = 0;
  std::unordered_set<std::string> absent_;                       // disk keys load_cached found no entry for
  std::unordered_map<std::string, llvm::orc::JITDylib*> cache_;  // module text or source key -> its dylib
  int64_t compiled_ = 0;
  int64_t hits_ = 0;

  mutable std::mutex timings_mutex_;
  mutable JitTimings timings_;  // under timings_mutex_
};

}  // namespace weft::llvm_backend
