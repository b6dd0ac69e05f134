/** \file
 * The optimizer's pipeline and code generation, one TargetMachine per thread. See jit_compiler.h.
 */
#include "backends/llvm/jit_compiler.h"

#include <fmt/format.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <mutex>

#include "backends/llvm/jit.h"
#include "ir/error.h"

namespace weft::llvm_backend {

llvm::orc::JITTargetMachineBuilder host_machine_builder() {
  static const llvm::orc::JITTargetMachineBuilder builder = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
    auto detected = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!detected)
      throw InternalError(fmt::format("LLVM backend: detecting the host failed: {}", toString(detected.takeError())));
    detected->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
    return std::move(*detected);
  }();
  return builder;
}

const char* pipeline_name(PipelineLevel level) {
  switch (level) {
    case PipelineLevel::O1:
      return "O1";
    case PipelineLevel::O2:
      return "O2";
    case PipelineLevel::O3:
      return "O3";
  }
  return "?";
}

/// A machine borrowed from the pool for one call, given back however the call ends.
class MachineLease {
 public:
  explicit MachineLease(const ModuleCompiler& compiler) : compiler_(compiler), machine_(compiler.acquire()) {}
  ~MachineLease() { compiler_.release(std::move(machine_)); }
  MachineLease(const MachineLease&) = delete;
  MachineLease& operator=(const MachineLease&) = delete;
  llvm::TargetMachine& operator*() const { return *machine_; }
  llvm::TargetMachine* get() const { return machine_.get(); }
  llvm::TargetMachine* operator->() const { return machine_.get(); }

 private:
  const ModuleCompiler& compiler_;
  std::unique_ptr<llvm::TargetMachine> machine_;
};

ModuleCompiler& ModuleCompiler::host() {
  static ModuleCompiler* compiler = new ModuleCompiler();  // leaked like the Jit: used until exit
  return *compiler;
}

ModuleCompiler::ModuleCompiler() {
  MachineLease machine(*this);
  data_layout_ = machine->createDataLayout().getStringRepresentation();
}

std::unique_ptr<llvm::TargetMachine> ModuleCompiler::acquire() const {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      std::unique_ptr<llvm::TargetMachine> machine = std::move(idle_.back());
      idle_.pop_back();
      return machine;
    }
  }
  auto builder = host_machine_builder();
  builder.setRelocationModel(llvm::Reloc::PIC_);
  auto machine = builder.createTargetMachine();
  if (!machine)
    throw InternalError(
        fmt::format("LLVM backend: creating a target machine failed: {}", toString(machine.takeError())));
  return std::move(*machine);
}

void ModuleCompiler::release(std::unique_ptr<llvm::TargetMachine> machine) const {
  if (!machine) return;
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(machine));
}

void ModuleCompiler::optimize(llvm::Module& module, PipelineLevel level) const {
  const HostTarget& host = host_target();
  for (llvm::Function& f : module) {
    if (f.isDeclaration()) continue;
    if (!f.hasFnAttribute("target-cpu")) f.addFnAttr("target-cpu", host.cpu);
    if (!f.hasFnAttribute("target-features")) f.addFnAttr("target-features", host.features);
  }
  if (module.getDataLayout().isDefault()) module.setDataLayout(data_layout_);
  if (module.getTargetTriple().empty()) module.setTargetTriple(host.triple);

  MachineLease machine(*this);
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  tuning.LoopUnrolling = true;
  tuning.LoopInterleaving = true;
  llvm::PassBuilder passes(machine.get(), tuning);
  passes.registerModuleAnalyses(mam);
  passes.registerCGSCCAnalyses(cgam);
  passes.registerFunctionAnalyses(fam);
  passes.registerLoopAnalyses(lam);
  passes.crossRegisterProxies(lam, fam, cgam, mam);
  const llvm::OptimizationLevel opt = level == PipelineLevel::O1   ? llvm::OptimizationLevel::O1
                                      : level == PipelineLevel::O2 ? llvm::OptimizationLevel::O2
                                                                   : llvm::OptimizationLevel::O3;
  passes.buildPerModuleDefaultPipeline(opt).run(module, mam);
}

std::string ModuleCompiler::generate(llvm::Module& module) const {
  MachineLease machine(*this);
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream stream(buffer);
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, stream, nullptr, llvm::CodeGenFileType::ObjectFile))
    throw InternalError("LLVM backend: the host target cannot emit object files");
  codegen.run(module);
  return std::string(buffer.begin(), buffer.end());
}

}  // namespace weft::llvm_backend
