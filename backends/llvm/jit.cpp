/** \file
 * ORC LLJIT wrapper, host detection and the O3 pipeline. See jit.h.
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
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <algorithm>
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

void initialize_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

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

llvm::orc::JITTargetMachineBuilder host_machine_builder() {
  initialize_llvm();
  auto builder = unwrap(llvm::orc::JITTargetMachineBuilder::detectHost(), "detecting the host");
  builder.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  return builder;
}

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

Jit::Jit(JitOptions options) : options_(std::move(options)) {
  auto builder = host_machine_builder();
  target_machine_ = unwrap(builder.createTargetMachine(), "creating the target machine");
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
  module->setDataLayout(target_machine_->createDataLayout());
  return module;
}

void Jit::optimize(llvm::Module& module) const {
  std::lock_guard lock(mutex_);
  Stopwatch watch;
  const HostTarget& host = target();
  for (llvm::Function& f : module) {
    if (f.isDeclaration()) continue;
    if (!f.hasFnAttribute("target-cpu")) f.addFnAttr("target-cpu", host.cpu);
    if (!f.hasFnAttribute("target-features")) f.addFnAttr("target-features", host.features);
  }
  if (module.getDataLayout().isDefault()) module.setDataLayout(target_machine_->createDataLayout());
  if (module.getTargetTriple().empty()) module.setTargetTriple(host.triple);

  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  tuning.LoopUnrolling = true;
  tuning.LoopInterleaving = true;
  llvm::PassBuilder passes(target_machine_.get(), tuning);
  passes.registerModuleAnalyses(mam);
  passes.registerCGSCCAnalyses(cgam);
  passes.registerFunctionAnalyses(fam);
  passes.registerLoopAnalyses(lam);
  passes.crossRegisterProxies(lam, fam, cgam, mam);
  passes.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(module, mam);
  timings_.optimize += watch.seconds();
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

std::unique_ptr<llvm::Module> Jit::split_shared(llvm::Module& module, std::vector<std::string>& root_names) {
  std::vector<llvm::Function*> roots, fresh;
  for (llvm::Function& f : module) {
    if (f.isDeclaration() || !f.hasFnAttribute(kJitSharedAttribute)) continue;
    roots.push_back(&f);
    root_names.push_back(f.getName().str());
    if (!shared_groups_.contains(f.getName().str())) fresh.push_back(&f);
  }
  if (roots.empty()) return nullptr;
  std::unique_ptr<llvm::Module> clone;
  if (!fresh.empty()) {
    std::set<const llvm::GlobalValue*> keep = reach(fresh);
    llvm::ValueToValueMapTy map;
    clone = llvm::CloneModule(module, map, [&](const llvm::GlobalValue* g) { return keep.contains(g); });
    std::vector<std::string> group;
    for (llvm::Function* f : fresh) {
      llvm::cast<llvm::Function>(map[f])->setLinkage(llvm::GlobalValue::ExternalLinkage);
      group.push_back(f->getName().str());
    }
    std::sort(group.begin(), group.end());
    for (const std::string& name : group) shared_groups_[name] = group;
    // What the clone declares for the rest of the module and does not use.
    for (llvm::Function& f : llvm::make_early_inc_range(*clone))
      if (f.isDeclaration() && f.use_empty()) f.eraseFromParent();
    for (llvm::GlobalVariable& g : llvm::make_early_inc_range(clone->globals()))
      if (g.isDeclaration() && g.use_empty()) g.eraseFromParent();
    WEFT_CHECK(!llvm::verifyModule(*clone, &llvm::errs()), "the shared functions do not stand alone");
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
  return clone;
}

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

/// The disk keys of a module by its IR, of a caller's source key, and of a group of shared functions.
std::string ir_key(const llvm::Module& module) { return print_module(module) + "\n; " + compile_identity() + "\n"; }
std::string source_disk_key(const std::string& source_key) {
  return "weft module from source\n" + source_key + "\n; " + compile_identity() + "\n";
}
std::string shared_disk_key(const std::vector<std::string>& names) {
  std::string key = "weft shared functions\n";
  for (const std::string& name : names) key += name + "\n";
  return key + "; " + compile_identity() + "\n";
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

JitLibrary Jit::add_module(std::unique_ptr<llvm::Module> module_in, std::unique_ptr<llvm::LLVMContext> context_in,
                           const std::string& source_key) {
  WEFT_CHECK(module_in != nullptr && context_in != nullptr, "add_module needs a module and its context");
  // The module and the shared functions split from it live in `context`. Declared in this order,
  // the module is destroyed before its context on every path.
  llvm::orc::ThreadSafeContext context(std::move(context_in));
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

  std::lock_guard lock(mutex_);
  timings_.key += key_watch.seconds();
  JitLibrary library;
  library.jit_ = this;
  if (auto it = cache_.find(source_key.empty() ? text : source_key); it != cache_.end()) {
    ++hits_;
    library.dylib_ = it->second;
    return library;
  }
  std::vector<std::string> roots;
  if (std::unique_ptr<llvm::Module> shared = split_shared(*module, roots)) add_shared(std::move(shared), context);
  llvm::orc::JITDylib& dylib = new_dylib();
  if (!disk().enabled()) {
    optimize(*module);
    Stopwatch watch;  // code generation happens at the first lookup, and is counted there
    check(jit_->addIRModule(dylib, llvm::orc::ThreadSafeModule(std::move(module), context)), "adding a module");
    timings_.link += watch.seconds();
  } else if (source_key.empty()) {
    add_object(dylib, object_for(*module, ir_key(*module), ""), module->getModuleIdentifier());
  } else {
    // The entry lists the shared code the object links against, for load_cached.
    std::vector<std::vector<std::string>> groups;
    for (const std::string& root : roots) {
      const std::vector<std::string>& group = shared_groups_.at(root);
      if (std::find(groups.begin(), groups.end(), group) == groups.end()) groups.push_back(group);
    }
    add_object(dylib, object_for(*module, source_disk_key(source_key), encode_manifest(groups)),
               module->getModuleIdentifier());
  }
  ++compiled_;
  cache_.emplace(source_key.empty() ? std::move(text) : source_key, &dylib);
  library.dylib_ = &dylib;
  return library;
}

std::optional<JitLibrary> Jit::load_cached(const std::string& source_key) {
  JitDiskCache& disk = this->disk();
  if (!disk.enabled()) return std::nullopt;
  std::lock_guard lock(mutex_);
  JitLibrary library;
  library.jit_ = this;
  if (auto it = cache_.find(source_key); it != cache_.end()) {
    ++hits_;
    library.dylib_ = it->second;
    return library;
  }
  Stopwatch disk_watch;
  const std::string key = source_disk_key(source_key);
  std::optional<std::string> bytes = disk.load(key);
  if (!bytes) absent_.insert(key);  // add_module need not look again
  std::optional<CachedEntry> entry = bytes ? decode_entry(*bytes) : std::nullopt;
  // The shared code the object needs: each group this process has not linked is loaded whole; a
  // group it linked in part came with another split of the same functions, so the module is
  // compiled instead (its split then takes only what is missing).
  std::vector<std::pair<const std::vector<std::string>*, std::string>> missing;
  for (size_t g = 0; entry && g < entry->groups.size(); ++g) {
    const std::vector<std::string>& group = entry->groups[g];
    const auto linked = std::count_if(group.begin(), group.end(), [&](const std::string& name) {
      auto it = shared_groups_.find(name);
      return it != shared_groups_.end() && it->second == group;
    });
    const auto named = std::count_if(group.begin(), group.end(),
                                     [&](const std::string& name) { return shared_groups_.contains(name); });
    if (linked == static_cast<std::ptrdiff_t>(group.size())) continue;
    std::optional<std::string> object = named == 0 ? disk.load(shared_disk_key(group)) : std::nullopt;
    if (!object)
      entry.reset();
    else
      missing.emplace_back(&group, std::move(*object));
  }
  timings_.disk += disk_watch.seconds();
  if (!entry) return std::nullopt;
  for (auto& [group, object] : missing) {
    add_object(*shared_, object, group->front());
    for (const std::string& name : *group) shared_groups_[name] = *group;
  }
  llvm::orc::JITDylib& dylib = new_dylib();
  add_object(dylib, entry->object, "cached module");
  cache_.emplace(source_key, &dylib);
  library.dylib_ = &dylib;
  return library;
}

void Jit::add_shared(std::unique_ptr<llvm::Module> shared, const llvm::orc::ThreadSafeContext& context) {
  std::vector<std::string> names;
  for (llvm::Function& f : *shared)
    if (!f.isDeclaration() && f.hasFnAttribute(kJitSharedAttribute)) names.push_back(f.getName().str());
  std::sort(names.begin(), names.end());
  if (!disk().enabled()) {
    optimize(*shared);
    check(jit_->addIRModule(*shared_, llvm::orc::ThreadSafeModule(std::move(shared), context)), "adding shared code");
    return;
  }
  add_object(*shared_, object_for(*shared, shared_disk_key(names), ""), names.front());
}

std::string Jit::object_for(llvm::Module& module, const std::string& key, const std::string& manifest) {
  JitDiskCache& disk = this->disk();
  Stopwatch load_watch;
  std::optional<std::string> stored = absent_.erase(key) ? std::nullopt : disk.load(key);
  timings_.disk += load_watch.seconds();
  if (stored && manifest.empty()) return std::move(*stored);
  if (stored) {
    if (std::optional<CachedEntry> entry = decode_entry(*stored)) return std::move(entry->object);
  }
  std::string object = emit_object(module);  // optimizes, then generates code
  Stopwatch store_watch;
  disk.store(key, manifest + object);
  timings_.disk += store_watch.seconds();
  return object;
}

void Jit::add_object(llvm::orc::JITDylib& dylib, const std::string& object, const std::string& name) {
  Stopwatch watch;
  check(jit_->addObjectFile(dylib, llvm::MemoryBuffer::getMemBufferCopy(object, name)), "adding an object file");
  timings_.link += watch.seconds();
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
  std::lock_guard lock(mutex_);
  Stopwatch watch;
  auto address = jit_->lookup(dylib, llvm::StringRef(name.data(), name.size()));
  timings_.link += watch.seconds();
  if (!address) {
    throw InternalError(
        fmt::format("LLVM backend: symbol '{}' not found: {}", name, llvm::toString(address.takeError())));
  }
  return address->toPtr<void*>();
}

std::string Jit::emit_object(llvm::Module& module) const {
  optimize(module);
  auto builder = host_machine_builder();
  builder.setRelocationModel(llvm::Reloc::PIC_);
  auto machine = unwrap(builder.createTargetMachine(), "creating the object-file target machine");
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream stream(buffer);
  Stopwatch watch;
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, stream, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    throw InternalError("LLVM backend: the host target cannot emit object files");
  }
  codegen.run(module);
  std::lock_guard lock(mutex_);
  timings_.codegen += watch.seconds();
  return std::string(buffer.begin(), buffer.end());
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
  std::lock_guard lock(mutex_);
  return timings_;
}

void Jit::add_seconds(double JitTimings::*part, double seconds) {
  std::lock_guard lock(mutex_);
  timings_.*part += seconds;
}

}  // namespace weft::llvm_backend
