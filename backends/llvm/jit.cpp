/** \file
 * ORC LLJIT wrapper, host detection, the tables that let threads compile at once. The pipeline and
 * code generation are in jit_compiler.cpp. See jit.h.
 */
#include "backends/llvm/jit.h"

#include <fmt/format.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/EPCEHFrameRegistrar.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/InstIterator.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "backends/llvm/jit_disk_cache.h"
#include "backends/llvm/jit_perf_map.h"
#include "ir/error.h"
#include "runtime/thread_pool.h"

namespace weft::llvm_backend {
namespace {

/// Seconds since construction, for JitTimings.
class Stopwatch {
 public:
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

template <class T>
T unwrap(llvm::Expected<T> value, const char* what) {
  if (!value) {
    throw InternalError(fmt::format("LLVM backend: {} failed: {}", what, llvm::toString(value.takeError())));
  }
  return std::move(*value);
}

void check(llvm::Error err, const char* what) {
  if (err) {
    throw InternalError(fmt::format("LLVM backend: {} failed: {}", what, llvm::toString(std::move(err))));
  }
}

std::atomic<uint64_t> next_jit_id{1};

HostTarget detect_host() {
  auto builder = host_machine_builder();
  HostTarget t;
  t.triple = builder.getTargetTriple().str();
  t.cpu = builder.getCPU();
  t.features = builder.getFeatures().getString();
  auto has = [&](std::string_view feature) {
    for (const std::string& f : builder.getFeatures().getFeatures()) {
      if (f.size() == feature.size() + 1 && f[0] == '+' && f.substr(1) == feature) return true;
    }
    return false;
  };
  if (has("avx512f")) {
    t.vector_bits = 512;
    t.vector_registers = 32;
  } else if (has("avx")) {
    t.vector_bits = 256;
    t.vector_registers = 16;
  } else {
    t.vector_bits = 128;
    t.vector_registers = 16;
  }
  t.has_fma = has("fma") || has("avx512f");
  return t;
}

}  // namespace

std::string HostTarget::describe() const {
  std::string isa = vector_bits == 512 ? "avx512" : vector_bits == 256 ? "avx2" : "sse";
  return fmt::format("{} {}{}, {}-bit vectors", cpu, isa, has_fma ? "+fma" : "", vector_bits);
}

const HostTarget& host_target() {
  static const HostTarget target = detect_host();
  return target;
}

void* JitLibrary::lookup(std::string_view name) const {
  WEFT_CHECK(jit_ != nullptr, "lookup on an empty JitLibrary");
  return jit_->lookup(*dylib_, name);
}

JitOptions JitOptions::from_environment() {
  JitOptions options;
  if (const char* map = std::getenv("WEFT_PERF_MAP"); map && std::string(map) == "1")
    options.perf_map = PerfMap::default_path();
  return options;
}

Jit::Jit(JitOptions options) : options_(std::move(options)), id_(next_jit_id++) {
  auto builder = host_machine_builder();
  llvm::orc::LLJITBuilder jit_builder;
  jit_builder.setJITTargetMachineBuilder(builder);
  if (!options_.perf_map.empty()) {
    perf_map_ = std::make_unique<PerfMap>(options_.perf_map);
    // The linking layer LLJIT makes by itself on ELF x86-64 and AArch64 (JITLink, eh-frames
    // registered with the process), made here so that the perf map can watch it link.
    jit_builder.setObjectLinkingLayerCreator(
        [this](llvm::orc::ExecutionSession& session,
               const llvm::Triple&) -> llvm::Expected<std::unique_ptr<llvm::orc::ObjectLayer>> {
          auto layer = std::make_unique<llvm::orc::ObjectLinkingLayer>(session);
          auto registrar = llvm::orc::EPCEHFrameRegistrar::Create(session);
          if (!registrar) return registrar.takeError();
          layer->addPlugin(std::make_unique<llvm::orc::EHFrameRegistrationPlugin>(session, std::move(*registrar)));
          perf_map_->attach(*layer);
          return std::unique_ptr<llvm::orc::ObjectLayer>(std::move(layer));
        });
  }
  jit_ = unwrap(jit_builder.create(), "creating the LLJIT");

  // The runtime's entry points, by address: the executable need not export them.
  auto& main = jit_->getMainJITDylib();
  llvm::orc::SymbolMap symbols;
  auto add = [&](const char* name, void* address) {
    symbols[jit_->mangleAndIntern(name)] = llvm::orc::ExecutorSymbolDef(
        llvm::orc::ExecutorAddr::fromPtr(address), llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable);
  };
  add("weft_parallel_for", reinterpret_cast<void*>(&weft_parallel_for));
  add("weft_num_threads", reinterpret_cast<void*>(&weft_num_threads));
  add("weft_thread_scratch", reinterpret_cast<void*>(&weft_thread_scratch));
  check(main.define(llvm::orc::absoluteSymbols(std::move(symbols))), "registering runtime symbols");
  auto shared = jit_->createJITDylib("weft_shared");
  check(shared.takeError(), "creating the shared JITDylib");
  shared_ = &*shared;
  shared_->addToLinkOrder(main);
}

Jit::~Jit() = default;

Jit& Jit::global() {
  // Leaked on purpose: compiled code may be called until exit, after static destructors start.
  static Jit* jit = new Jit(JitOptions::from_environment());
  return *jit;
}

std::unique_ptr<llvm::Module> Jit::new_module(const std::string& name, llvm::LLVMContext& context) const {
  auto module = std::make_unique<llvm::Module>(name, context);
  module->setTargetTriple(target().triple);
  module->setDataLayout(ModuleCompiler::host().data_layout());
  return module;
}

void Jit::optimize(llvm::Module& module, PipelineLevel level) const {
  Stopwatch watch;
  ModuleCompiler::host().optimize(module, level);
  add_time(&JitTimings::optimize, watch.seconds());
}

std::string Jit::emit_object(llvm::Module& module, PipelineLevel level) const {
  optimize(module, level);
  Stopwatch watch;
  std::string object = ModuleCompiler::host().generate(module);
  add_time(&JitTimings::codegen, watch.seconds());
  return object;
}

PipelineLevel Jit::core_pipeline() {
  static const PipelineLevel level = [] {
    const char* env = std::getenv("WEFT_JIT_CORE_PIPELINE");
    const std::string name = env ? env : "";
    return name == "O1" ? PipelineLevel::O1 : name == "O2" ? PipelineLevel::O2 : PipelineLevel::O3;
  }();
  return level;
}

namespace {

/// `roots` and the internal functions they call or take the address of, transitively.
std::set<const llvm::GlobalValue*> reach(const std::vector<llvm::Function*>& roots) {
  std::set<const llvm::GlobalValue*> seen(roots.begin(), roots.end());
  std::vector<llvm::Function*> work = roots;
  while (!work.empty()) {
    llvm::Function* f = work.back();
    work.pop_back();
    for (llvm::Instruction& inst : llvm::instructions(*f)) {
      for (llvm::Value* operand : inst.operands()) {
        auto* callee = llvm::dyn_cast<llvm::Function>(operand);
        if (callee && callee->hasLocalLinkage() && !callee->isDeclaration() && seen.insert(callee).second)
          work.push_back(callee);
      }
    }
  }
  return seen;
}

}  // namespace

namespace {

std::string print_module(const llvm::Module& module) {
  std::string text;
  llvm::raw_string_ostream stream(text);
  module.print(stream, nullptr);
  stream.flush();
  return text;
}

/// What compiles the code besides its source: this LLVM, this host, and this build of Weft (the
/// generators and the optimizer's pipeline are code, so the binary's build ID stands for them).
const std::string& compile_identity() {
  static const std::string identity = [] {
    const HostTarget& host = host_target();
    return fmt::format("llvm {}; {}; {}; {}; weft build {}", LLVM_VERSION_STRING, host.triple, host.cpu, host.features,
                       build_identity());
  }();
  return identity;
}

/// The disk keys of a caller's source key and of a group of shared functions (a module by its IR:
/// its text, then "\n; " and compile_identity()).
std::string source_disk_key(const std::string& source_key) {
  return "weft module from source\n" + source_key + "\n; " + compile_identity() + "\n";
}
std::string shared_disk_key(const std::vector<std::string>& names) {
  std::string key = "weft shared functions\n";
  for (const std::string& name : names) key += name + "\n";
  return key + "; " + compile_identity() + "; " + pipeline_name(Jit::core_pipeline()) + "\n";
}

/// An entry stored under a source key: the groups of shared functions its object links against
/// (each group one object of its own), then the object. As text: "weft-jit-entry 1", then per
/// group "group <n>" and n names, one a line, then "object" and the object's bytes.
struct CachedEntry {
  std::vector<std::vector<std::string>> groups;
  std::string object;
};

constexpr std::string_view kEntryMagic = "weft-jit-entry 1\n";

std::string encode_manifest(const std::vector<std::vector<std::string>>& groups) {
  std::string out(kEntryMagic);
  for (const std::vector<std::string>& group : groups) {
    out += fmt::format("group {}\n", group.size());
    for (const std::string& name : group) {
      WEFT_CHECK(name.find('\n') == std::string::npos, "a shared function's name has a line break");
      out += name + "\n";
    }
  }
  return out + "object\n";
}

/// nullopt for bytes that are not such an entry (the disk cache has checked that they are the
/// bytes stored under the key, so this is only a guard against a format change).
std::optional<CachedEntry> decode_entry(const std::string& bytes) {
  if (!bytes.starts_with(kEntryMagic)) return std::nullopt;
  CachedEntry entry;
  size_t at = kEntryMagic.size();
  auto line = [&]() -> std::optional<std::string> {
    size_t end = bytes.find('\n', at);
    if (end == std::string::npos) return std::nullopt;
    std::string out = bytes.substr(at, end - at);
    at = end + 1;
    return out;
  };
  for (std::optional<std::string> l = line(); l; l = line()) {
    if (*l == "object") {
      entry.object = bytes.substr(at);
      return entry;
    }
    size_t n = 0;
    if (std::sscanf(l->c_str(), "group %zu", &n) != 1 || n == 0 || n > 1024) return std::nullopt;
    std::vector<std::string>& group = entry.groups.emplace_back();
    for (size_t i = 0; i < n; ++i) {
      std::optional<std::string> name = line();
      if (!name) return std::nullopt;
      group.push_back(std::move(*name));
    }
  }
  return std::nullopt;
}

}  // namespace

Jit::ModuleObject Jit::compile_module(llvm::Module& module, const std::string& key, bool manifest) {
  std::vector<llvm::Function*> roots, fresh;  // fresh: claimed here
  for (llvm::Function& f : module)
    if (!f.isDeclaration() && f.hasFnAttribute(kJitSharedAttribute)) roots.push_back(&f);
  ModuleObject out;
  {
    std::lock_guard lock(mutex_);
    for (llvm::Function* f : roots) {
      const std::string name = f->getName().str();
      std::vector<std::string> group{name};
      if (auto it = linked_groups_.find(name); it != linked_groups_.end()) {
        group = it->second;
      } else if (auto claim = claims_.find(name); claim != claims_.end()) {
        group = claim->second.group;
      } else {
        claims_.emplace(name, Claim{group, false});
        fresh.push_back(f);
      }
      if (std::find(out.groups.begin(), out.groups.end(), group) == out.groups.end()) out.groups.push_back(group);
    }
  }
  // Each claimed function alone in a module named after it, so that its object is the same bytes
  // whichever module claimed it. A claim that fails is withdrawn, so that no one waits for it.
  size_t done = 0;
  try {
    for (; done < fresh.size(); ++done) {
      llvm::Function* root = fresh[done];
      const std::string name = root->getName().str();
      std::set<const llvm::GlobalValue*> keep = reach({root});
      llvm::ValueToValueMapTy map;
      std::unique_ptr<llvm::Module> alone =
          llvm::CloneModule(module, map, [&](const llvm::GlobalValue* g) { return keep.contains(g); });
      alone->setModuleIdentifier(name);
      alone->setSourceFileName(name);
      llvm::cast<llvm::Function>(map[root])->setLinkage(llvm::GlobalValue::ExternalLinkage);
      // What the clone declares for the rest of the module and does not use.
      for (llvm::Function& f : llvm::make_early_inc_range(*alone))
        if (f.isDeclaration() && f.use_empty()) f.eraseFromParent();
      for (llvm::GlobalVariable& g : llvm::make_early_inc_range(alone->globals()))
        if (g.isDeclaration() && g.use_empty()) g.eraseFromParent();
      WEFT_CHECK(!llvm::verifyModule(*alone, &llvm::errs()), "a shared function does not stand alone");
      const std::string shared_key = shared_disk_key({name});
      std::string object = object_for(*alone, shared_key, "", core_pipeline());
      std::lock_guard lock(mutex_);
      kept_[shared_key] = std::move(object);
      claims_.at(name).ready = true;
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard lock(mutex_);
    for (size_t i = done; i < fresh.size(); ++i) claims_.erase(fresh[i]->getName().str());
    changed_.notify_all();
    throw;
  }
  // Every shared root becomes an external declaration; its internal helpers go.
  std::set<const llvm::GlobalValue*> all = reach(roots);
  std::vector<llvm::Function*> helpers;
  for (llvm::Function& f : module) {
    if (!all.contains(&f)) continue;
    f.deleteBody();  // also makes it external
    if (!f.hasFnAttribute(kJitSharedAttribute)) helpers.push_back(&f);
  }
  for (llvm::Function* f : helpers) {
    WEFT_CHECK(f->use_empty(), "a shared function's helper is used outside shared code");
    f->eraseFromParent();
  }
  out.object = object_for(module, key, manifest ? encode_manifest(out.groups) : "", PipelineLevel::O3);
  return out;
}

JitLibrary Jit::add_module(std::unique_ptr<llvm::Module> module_in, std::unique_ptr<llvm::LLVMContext> context_in,
                           const std::string& source_key) {
  WEFT_CHECK(module_in != nullptr && context_in != nullptr, "add_module needs a module and its context");
  // Declared in this order, the module is destroyed before its context on every path.
  std::unique_ptr<llvm::LLVMContext> context = std::move(context_in);
  std::unique_ptr<llvm::Module> module = std::move(module_in);
  Stopwatch key_watch;
  std::string problems;
  llvm::raw_string_ostream problem_stream(problems);
  if (llvm::verifyModule(*module, &problem_stream)) {
    throw InternalError("LLVM backend generated an invalid module '" + module->getModuleIdentifier() +
                        "': " + problems);
  }
  std::string text;  // the in-process cache's key, when the caller gave none
  if (source_key.empty()) text = print_module(*module);
  add_time(&JitTimings::key, key_watch.seconds());
  const std::string& id = source_key.empty() ? text : source_key;

  JitLibrary library;
  library.jit_ = this;
  {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !in_flight_.contains(id); });  // another thread compiling it
    if (auto it = cache_.find(id); it != cache_.end()) {
      ++hits_;
      library.dylib_ = it->second;
      return library;
    }
    in_flight_.insert(id);
  }
  struct InFlight {
    Jit& jit;
    const std::string& id;
    ~InFlight() {
      std::lock_guard lock(jit.mutex_);
      jit.in_flight_.erase(id);
      jit.changed_.notify_all();
    }
  } in_flight{*this, id};
  const std::string key = source_key.empty() ? text + "\n; " + compile_identity() + "\n" : source_disk_key(source_key);
  ModuleObject compiled = compile_module(*module, key, !source_key.empty());

  std::unique_lock lock(mutex_);
  for (const std::vector<std::string>& group : compiled.groups)
    if (!link_group(group, lock))
      throw InternalError(
          fmt::format("LLVM backend: the shared functions {} that module '{}' needs could not be linked",
                      fmt::join(group, ", "), module->getModuleIdentifier()));
  llvm::orc::JITDylib& dylib = new_dylib();
  add_object(dylib, compiled.object, module->getModuleIdentifier());
  ++compiled_;
  cache_.emplace(id, &dylib);
  library.dylib_ = &dylib;
  return library;
}

void Jit::prepare_module(std::unique_ptr<llvm::Module> module_in, std::unique_ptr<llvm::LLVMContext> context_in,
                         const std::string& source_key) {
  WEFT_CHECK(module_in != nullptr && context_in != nullptr && !source_key.empty(),
             "prepare_module needs a module, its context and a source key");
  std::unique_ptr<llvm::LLVMContext> context = std::move(context_in);
  std::unique_ptr<llvm::Module> module = std::move(module_in);
  std::string problems;
  llvm::raw_string_ostream problem_stream(problems);
  if (llvm::verifyModule(*module, &problem_stream)) {
    throw InternalError("LLVM backend generated an invalid module '" + module->getModuleIdentifier() +
                        "': " + problems);
  }
  const std::string key = source_disk_key(source_key);
  {
    std::lock_guard lock(mutex_);
    if (cache_.contains(source_key) || kept_.contains(key)) return;
  }
  ModuleObject compiled = compile_module(*module, key, true);
  std::lock_guard lock(mutex_);
  kept_[key] = encode_manifest(compiled.groups) + compiled.object;
  ++compiled_;
}

std::optional<JitLibrary> Jit::load_cached(const std::string& source_key) {
  const std::string key = source_disk_key(source_key);
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !in_flight_.contains(source_key); });
  JitLibrary library;
  library.jit_ = this;
  if (auto it = cache_.find(source_key); it != cache_.end()) {
    ++hits_;
    library.dylib_ = it->second;
    return library;
  }
  std::optional<std::string> bytes;
  auto kept = kept_.find(key);
  if (kept != kept_.end()) {
    bytes = kept->second;
  } else if (disk().enabled()) {
    Stopwatch disk_watch;
    bytes = disk().load(key);
    add_time(&JitTimings::disk, disk_watch.seconds());
    if (!bytes) absent_.insert(key);  // add_module need not look again
  }
  std::optional<CachedEntry> entry = bytes ? decode_entry(*bytes) : std::nullopt;
  if (!entry) return std::nullopt;
  // The shared code the object needs: each group this process has not linked is linked whole; a
  // group it linked in part came with another split of the same functions, so the module is
  // compiled instead.
  for (const std::vector<std::string>& group : entry->groups)
    if (!link_group(group, lock)) return std::nullopt;
  llvm::orc::JITDylib& dylib = new_dylib();
  add_object(dylib, entry->object, "cached module");
  cache_.emplace(source_key, &dylib);
  if (kept != kept_.end()) kept_.erase(key);  // link_group erased other keys only
  library.dylib_ = &dylib;
  return library;
}

bool Jit::link_group(const std::vector<std::string>& group, std::unique_lock<std::mutex>& lock) {
  changed_.wait(lock, [&] {
    return std::none_of(group.begin(), group.end(), [&](const std::string& name) {
      auto claim = claims_.find(name);
      return claim != claims_.end() && !claim->second.ready;
    });
  });
  size_t linked = 0;
  for (const std::string& name : group) {
    if (auto it = linked_groups_.find(name); it != linked_groups_.end()) {
      if (it->second != group) return false;
      ++linked;
    } else if (auto claim = claims_.find(name); claim != claims_.end() && claim->second.group != group) {
      return false;
    }
  }
  if (linked == group.size()) return true;
  if (linked != 0) return false;
  const std::string key = shared_disk_key(group);
  std::optional<std::string> object;
  if (auto kept = kept_.find(key); kept != kept_.end()) {
    object = std::move(kept->second);
    kept_.erase(kept);
  } else {
    Stopwatch disk_watch;
    object = disk().load(key);
    add_time(&JitTimings::disk, disk_watch.seconds());
  }
  if (!object) return false;
  add_object(*shared_, *object, group.front());
  for (const std::string& name : group) {
    linked_groups_[name] = group;
    claims_.erase(name);
  }
  return true;
}

std::string Jit::object_for(llvm::Module& module, const std::string& key, const std::string& manifest,
                            PipelineLevel level) {
  std::optional<std::string> stored;
  bool absent = false;
  {
    std::lock_guard lock(mutex_);
    if (auto kept = kept_.find(key); kept != kept_.end()) stored = kept->second;
    absent = absent_.erase(key) > 0;
  }
  if (!stored && !absent) {
    Stopwatch load_watch;
    stored = disk().load(key);
    add_time(&JitTimings::disk, load_watch.seconds());
  }
  if (stored && manifest.empty()) return std::move(*stored);
  if (stored) {
    if (std::optional<CachedEntry> entry = decode_entry(*stored)) return std::move(entry->object);
  }
  std::string object = emit_object(module, level);  // optimizes, then generates code
  Stopwatch store_watch;
  disk().store(key, manifest + object);
  add_time(&JitTimings::disk, store_watch.seconds());
  return object;
}

void Jit::add_object(llvm::orc::JITDylib& dylib, const std::string& object, const std::string& name) {
  Stopwatch watch;
  check(jit_->addObjectFile(dylib, llvm::MemoryBuffer::getMemBufferCopy(object, name)), "adding an object file");
  add_time(&JitTimings::link, watch.seconds());
}

llvm::orc::JITDylib& Jit::new_dylib() {
  auto created = jit_->createJITDylib(fmt::format("weft_module_{}", dylibs_++));
  check(created.takeError(), "creating a JITDylib");
  llvm::orc::JITDylib& dylib = *created;
  dylib.addToLinkOrder(*shared_);                 // shared code (the GEMM cores)
  dylib.addToLinkOrder(jit_->getMainJITDylib());  // the runtime's absolute symbols live there
  return dylib;
}

JitDiskCache& Jit::disk() const { return options_.disk_cache ? *options_.disk_cache : JitDiskCache::global(); }

void Jit::set_label(const std::string& symbol, const std::string& label) {
  if (perf_map_) perf_map_->set_label(symbol, label);
}

void* Jit::lookup(llvm::orc::JITDylib& dylib, std::string_view name) const {
  std::unique_lock lock(mutex_);
  Stopwatch watch;
  auto address = jit_->lookup(dylib, llvm::StringRef(name.data(), name.size()));
  lock.unlock();
  add_time(&JitTimings::link, watch.seconds());
  if (!address) {
    throw InternalError(
        fmt::format("LLVM backend: symbol '{}' not found: {}", name, llvm::toString(address.takeError())));
  }
  return address->toPtr<void*>();
}

int64_t Jit::compiled_modules() const {
  std::lock_guard lock(mutex_);
  return compiled_;
}

int64_t Jit::cache_hits() const {
  std::lock_guard lock(mutex_);
  return hits_;
}

JitTimings Jit::timings() const {
  std::lock_guard lock(timings_mutex_);
  return timings_;
}

void Jit::add_seconds(double JitTimings::*part, double seconds) { add_time(part, seconds); }

void Jit::add_time(double JitTimings::*part, double seconds) const {
  std::lock_guard lock(timings_mutex_);
  timings_.*part += seconds;
}

}  // namespace weft::llvm_backend
