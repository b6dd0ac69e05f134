/** \file
 * ORC LLJIT wrapper, host detection and the O3 pipeline. See jit.h.
 */
#include "backends/llvm/jit.h"

#include <fmt/format.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
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

#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "backends/llvm/jit_disk_cache.h"
#include "ir/error.h"
#include "runtime/thread_pool.h"

namespace weft::llvm_backend {
namespace {

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

Jit::Jit() {
  auto builder = host_machine_builder();
  target_machine_ = unwrap(builder.createTargetMachine(), "creating the target machine");
  jit_ = unwrap(llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(builder).create(), "creating the LLJIT");

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
  static Jit* jit = new Jit();
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

std::unique_ptr<llvm::Module> Jit::split_shared(llvm::Module& module) {
  std::vector<llvm::Function*> roots, fresh;
  for (llvm::Function& f : module) {
    if (f.isDeclaration() || !f.hasFnAttribute(kJitSharedAttribute)) continue;
    roots.push_back(&f);
    if (!shared_names_.contains(f.getName().str())) fresh.push_back(&f);
  }
  if (roots.empty()) return nullptr;
  std::unique_ptr<llvm::Module> clone;
  if (!fresh.empty()) {
    std::set<const llvm::GlobalValue*> keep = reach(fresh);
    llvm::ValueToValueMapTy map;
    clone = llvm::CloneModule(module, map, [&](const llvm::GlobalValue* g) { return keep.contains(g); });
    for (llvm::Function* f : fresh) {
      llvm::cast<llvm::Function>(map[f])->setLinkage(llvm::GlobalValue::ExternalLinkage);
      shared_names_.insert(f->getName().str());
    }
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

JitLibrary Jit::add_module(std::unique_ptr<llvm::Module> module, std::unique_ptr<llvm::LLVMContext> context) {
  WEFT_CHECK(module != nullptr && context != nullptr, "add_module needs a module and its context");
  std::string problems;
  llvm::raw_string_ostream problem_stream(problems);
  if (llvm::verifyModule(*module, &problem_stream)) {
    throw InternalError("LLVM backend generated an invalid module '" + module->getModuleIdentifier() +
                        "': " + problems);
  }
  std::string text;
  llvm::raw_string_ostream text_stream(text);
  module->print(text_stream, nullptr);
  text_stream.flush();

  std::lock_guard lock(mutex_);
  JitLibrary library;
  library.jit_ = this;
  if (auto it = cache_.find(text); it != cache_.end()) {
    ++hits_;
    library.dylib_ = it->second;
    return library;
  }
  // Both modules live in `context`, which lives as long as either.
  llvm::orc::ThreadSafeContext shared_context(std::move(context));
  if (std::unique_ptr<llvm::Module> shared = split_shared(*module))
    add_compiled(*shared_, std::move(shared), shared_context, "adding shared code");
  auto created = jit_->createJITDylib(fmt::format("weft_module_{}", compiled_));
  check(created.takeError(), "creating a JITDylib");
  llvm::orc::JITDylib& dylib = *created;
  dylib.addToLinkOrder(*shared_);                 // shared code (the GEMM cores)
  dylib.addToLinkOrder(jit_->getMainJITDylib());  // the runtime's absolute symbols live there
  add_compiled(dylib, std::move(module), shared_context, "adding a module");
  ++compiled_;
  cache_.emplace(std::move(text), &dylib);
  library.dylib_ = &dylib;
  return library;
}

void Jit::add_compiled(llvm::orc::JITDylib& dylib, std::unique_ptr<llvm::Module> module,
                       const llvm::orc::ThreadSafeContext& context, const char* what) {
  JitDiskCache& disk = JitDiskCache::global();
  if (!disk.enabled()) {
    optimize(*module);
    check(jit_->addIRModule(dylib, llvm::orc::ThreadSafeModule(std::move(module), context)), what);
    return;
  }
  // The object code depends on the IR and on what compiles it: this LLVM, this CPU, and this build
  // of optimize() above (a pipeline is code, so its build time stands for it).
  std::string key;
  llvm::raw_string_ostream key_stream(key);
  module->print(key_stream, nullptr);
  key_stream << "\n; llvm " << LLVM_VERSION_STRING << "; " << target().triple << "; " << target().cpu << "; "
             << target().features << "; weft jit.cpp built " << __DATE__ << " " << __TIME__ << "\n";
  key_stream.flush();
  std::optional<std::string> object = disk.load(key);
  if (!object) {
    object = emit_object(*module);  // optimizes, then generates code
    disk.store(key, *object);
  }
  check(jit_->addObjectFile(dylib, llvm::MemoryBuffer::getMemBufferCopy(*object, module->getModuleIdentifier())), what);
}

void* Jit::lookup(llvm::orc::JITDylib& dylib, std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto address = jit_->lookup(dylib, llvm::StringRef(name.data(), name.size()));
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
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, stream, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    throw InternalError("LLVM backend: the host target cannot emit object files");
  }
  codegen.run(module);
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

}  // namespace weft::llvm_backend
