// The JIT driver: host detection, compiling and looking up functions, per-module namespaces, the
// runtime's symbols, object-file emission, and bugs in generated IR reported as internal errors.
#include "backends/llvm/jit.h"

#include <gtest/gtest.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <fstream>
#include <string>

#include "backends/llvm/ir_util.h"
#include "ir/error.h"
#include "runtime/thread_pool.h"

namespace weft::llvm_backend {
namespace {

// A module and its context; the context is declared first so that it outlives the module.
struct ModuleInContext {
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
};

// A module defining `i64 name()` that returns `value`.
ModuleInContext constant_function(const std::string& module_name, const std::string& name, int64_t value) {
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = Jit::global().new_module(module_name, *context);
  auto* type = llvm::FunctionType::get(llvm::Type::getInt64Ty(*context), false);
  auto* f = llvm::Function::Create(type, llvm::Function::ExternalLinkage, name, *module);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(*context, "entry", f));
  b.CreateRet(b.getInt64(value));
  return {std::move(context), std::move(module)};
}

TEST(LlvmJit, DetectsTheHostsVectorUnit) {
  const HostTarget& host = host_target();
  EXPECT_FALSE(host.cpu.empty());
  EXPECT_FALSE(host.triple.empty());
  // What /proc/cpuinfo lists must agree with the detected width (x86 Linux only).
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string text((std::istreambuf_iterator<char>(cpuinfo)), std::istreambuf_iterator<char>());
  if (text.find("flags") == std::string::npos) GTEST_SKIP() << "no x86 /proc/cpuinfo";
  int expected = text.find(" avx512f") != std::string::npos ? 512 : text.find(" avx") != std::string::npos ? 256 : 128;
  EXPECT_EQ(host.vector_bits, expected);
  EXPECT_EQ(host.has_fma, text.find(" fma") != std::string::npos || expected == 512);
  EXPECT_NE(host.describe().find(host.cpu), std::string::npos);
}

TEST(LlvmJit, CompilesAndCallsAFunction) {
  auto [context, module] = constant_function("answer", "answer", 42);
  JitLibrary lib = Jit::global().add_module(std::move(module), std::move(context));
  EXPECT_EQ(lib.lookup_function<int64_t (*)()>("answer")(), 42);
}

TEST(LlvmJit, ModulesMayDefineTheSameName) {
  auto [c1, m1] = constant_function("first", "value", 1);
  auto [c2, m2] = constant_function("second", "value", 2);
  JitLibrary first = Jit::global().add_module(std::move(m1), std::move(c1));
  JitLibrary second = Jit::global().add_module(std::move(m2), std::move(c2));
  EXPECT_EQ(first.lookup_function<int64_t (*)()>("value")(), 1);
  EXPECT_EQ(second.lookup_function<int64_t (*)()>("value")(), 2);
}

TEST(LlvmJit, ResolvesTheRuntimeEntryPoints) {
  // i64 threads() { return weft_num_threads(); }
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = Jit::global().new_module("threads", *context);
  auto* f = llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getInt64Ty(*context), false),
                                   llvm::Function::ExternalLinkage, "threads", *module);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(*context, "entry", f));
  b.CreateRet(b.CreateCall(declare_num_threads(*module)));
  JitLibrary lib = Jit::global().add_module(std::move(module), std::move(context));
  EXPECT_EQ(lib.lookup_function<int64_t (*)()>("threads")(), weft_num_threads());
}

TEST(LlvmJit, MissingSymbolIsAnInternalError) {
  auto [context, module] = constant_function("lonely", "present", 0);
  JitLibrary lib = Jit::global().add_module(std::move(module), std::move(context));
  EXPECT_THROW(lib.lookup("absent"), InternalError);
}

TEST(LlvmJit, InvalidIrIsAnInternalError) {
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = Jit::global().new_module("broken", *context);
  auto* f = llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getInt64Ty(*context), false),
                                   llvm::Function::ExternalLinkage, "broken", *module);
  llvm::BasicBlock::Create(*context, "entry", f);  // no terminator
  EXPECT_THROW(Jit::global().add_module(std::move(module), std::move(context)), InternalError);
}

TEST(LlvmJit, EmitsAnElfObjectFile) {
  auto [context, module] = constant_function("object", "from_object", 7);
  std::string object = Jit::global().emit_object(*module);
  ASSERT_GT(object.size(), 64u);
  EXPECT_EQ(object.substr(0, 4),
            "\x7f"
            "ELF");
  EXPECT_NE(object.find("from_object"), std::string::npos);  // in the symbol table's strings
}

}  // namespace
}  // namespace weft::llvm_backend
