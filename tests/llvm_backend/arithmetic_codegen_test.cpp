/** \file
 * What the reduction generator makes of a row's arithmetic, read off the optimized LLVM IR of the
 * region (backends/llvm/term_codegen.cpp, reduction_codegen.cpp; docs/llvm-backend.md, "Floating
 * point"):
 *  - a division by a row value (softmax's sum) is one reciprocal per row and a multiplication per
 *    element: no division is left whose numerator is not the constant 1;
 *  - results stay within the tolerances of testing.h of the interpreter, at lengths that exercise
 *    the single-accumulator exp pass of softmax (whole vectors, a masked tail), with rows emitted
 *    two at a time and one at a time (5 rows per call).
 */
#include <gtest/gtest.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include "backends/llvm/jit.h"
#include "backends/llvm/node_region.h"
#include "backends/llvm/region_codegen.h"
#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "passes/pipeline.h"
#include "ir/text.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

using dsl::Builder;

/// The module of `g`'s one generated region, optimized as the JIT optimizes it.
std::unique_ptr<llvm::Module> optimized_region(const Graph& g, llvm::LLVMContext& context) {
  Graph fused = lower_graph(g, LlvmBackend().lowering_options());
  EXPECT_EQ(fused.nodes().size(), 1u) << print_graph(fused);
  std::string why;
  auto region = llvm_backend::call_region(plan_program(fused).calls[0], &why);
  EXPECT_TRUE(region.has_value()) << why;
  if (!region) return nullptr;
  llvm_backend::Jit& jit = llvm_backend::Jit::global();
  auto module = jit.new_module("arith", context);
  auto error = llvm_backend::generate_region(*module, "region", region->body, region->kind,
                                             jit.target().vector_floats());
  EXPECT_FALSE(error.has_value()) << *error;
  jit.optimize(*module);
  return module;
}

template <class Fn>
void for_each_instruction(llvm::Module& m, Fn fn) {
  for (llvm::Function& f : m)
    for (llvm::BasicBlock& block : f)
      for (llvm::Instruction& i : block) fn(i);
}

bool is_one(llvm::Value* v) {
  auto* c = llvm::dyn_cast<llvm::Constant>(v);
  if (!c) return false;
  if (c->getType()->isVectorTy()) c = c->getSplatValue();
  auto* fp = llvm::dyn_cast_or_null<llvm::ConstantFP>(c);
  return fp && fp->isExactlyValue(1.0);
}

Graph softmax_graph() {
  Builder b("softmax");
  b.output("y", dsl::softmax(b.input("x", "f32[R<=64, N<=300]")));
  return b.finish();
}

Graph layer_norm_graph() {
  Builder b("layer_norm");
  auto x = b.input("x", "f32[R<=64, N<=300]");
  b.output("y", dsl::layer_norm(x, b.input("gamma", "f32[N]"), b.input("beta", "f32[N]")));
  return b.finish();
}

TEST(LlvmArithmeticCodegen, SoftmaxDividesByItsRowSumThroughOneReciprocal) {
  llvm::LLVMContext context;
  auto module = optimized_region(softmax_graph(), context);
  ASSERT_NE(module, nullptr);
  int divisions = 0, multiplications = 0;
  for_each_instruction(*module, [&](llvm::Instruction& i) {
    if (i.getOpcode() == llvm::Instruction::FDiv) {
      ++divisions;
      EXPECT_TRUE(is_one(i.getOperand(0))) << "a division of a non-constant numerator is left in the region";
    }
    if (i.getOpcode() == llvm::Instruction::FMul) ++multiplications;
  });
  EXPECT_GE(divisions, 1);       // the reciprocal of the sum
  EXPECT_GE(multiplications, 1);  // and the products by it
}

TEST(LlvmArithmeticCodegen, SoftmaxAndLayerNormMatchTheInterpreterAtManyLengths) {
  for (const Graph& g : {softmax_graph(), layer_norm_graph()}) {
    auto interp = InterpBackend().compile(g);
    auto llvm = LlvmBackend().compile_llvm(g);
    EXPECT_EQ(llvm->stats().fallback, 0);
    uint64_t seed = 11;
    for (int64_t n : {1, 7, 8, 9, 31, 32, 33, 257, 300}) {
      SymbolBindings dims{{"R", 5}, {"N", n}};
      std::vector<Tensor> inputs = random_inputs(g, dims, seed++);
      expect_close(interp->run(inputs)[0], llvm->run(inputs)[0], kReduction,
                   fmt::format("{} N={}", g.name(), n));
    }
  }
}

}  // namespace
}  // namespace weft::llvm_tests
