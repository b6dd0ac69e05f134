/** \file
 * IRBuilder helpers: loops, branches, runtime declarations. See ir_util.h.
 */
#include "backends/llvm/ir_util.h"

#include <llvm/IR/Module.h>

#include <string>

#include "ir/error.h"

namespace weft::llvm_backend {

std::vector<llvm::Value*> emit_for_carried(
    llvm::IRBuilderBase& b, llvm::Value* begin, llvm::Value* end, llvm::Value* step,
    const std::vector<llvm::Value*>& init,
    const std::function<std::vector<llvm::Value*>(llvm::Value* iv, const std::vector<llvm::Value*>& values)>& body,
    const char* name) {
  llvm::Function* f = b.GetInsertBlock()->getParent();
  llvm::LLVMContext& ctx = b.getContext();
  std::string n = name;
  llvm::BasicBlock* guard = b.GetInsertBlock();
  auto* loop = llvm::BasicBlock::Create(ctx, n + ".loop", f);
  auto* exit = llvm::BasicBlock::Create(ctx, n + ".exit", f);
  b.CreateCondBr(b.CreateICmpSLT(begin, end), loop, exit);

  b.SetInsertPoint(loop);
  llvm::PHINode* iv = b.CreatePHI(begin->getType(), 2, n);
  iv->addIncoming(begin, guard);
  std::vector<llvm::PHINode*> phis;
  std::vector<llvm::Value*> current;
  for (llvm::Value* v : init) {
    phis.push_back(b.CreatePHI(v->getType(), 2));
    phis.back()->addIncoming(v, guard);
    current.push_back(phis.back());
  }
  std::vector<llvm::Value*> next = body(iv, current);
  WEFT_CHECK(next.size() == init.size(), "loop body returned the wrong number of carried values");
  llvm::Value* iv_next = b.CreateAdd(iv, step, n + ".next", /*HasNUW=*/false, /*HasNSW=*/true);
  llvm::BasicBlock* latch = b.GetInsertBlock();
  b.CreateCondBr(b.CreateICmpSLT(iv_next, end), loop, exit);
  iv->addIncoming(iv_next, latch);
  for (size_t i = 0; i < phis.size(); ++i) phis[i]->addIncoming(next[i], latch);

  b.SetInsertPoint(exit);
  std::vector<llvm::Value*> result;
  for (size_t i = 0; i < init.size(); ++i) {
    llvm::PHINode* out = b.CreatePHI(init[i]->getType(), 2);
    out->addIncoming(init[i], guard);
    out->addIncoming(next[i], latch);
    result.push_back(out);
  }
  return result;
}

void emit_for(llvm::IRBuilderBase& b, llvm::Value* begin, llvm::Value* end, llvm::Value* step,
              const std::function<void(llvm::Value* iv)>& body, const char* name) {
  emit_for_carried(
      b, begin, end, step, {},
      [&](llvm::Value* iv, const std::vector<llvm::Value*>&) {
        body(iv);
        return std::vector<llvm::Value*>{};
      },
      name);
}

void emit_if(llvm::IRBuilderBase& b, llvm::Value* cond, const std::function<void()>& then) {
  llvm::Function* f = b.GetInsertBlock()->getParent();
  auto* then_block = llvm::BasicBlock::Create(b.getContext(), "then", f);
  auto* after = llvm::BasicBlock::Create(b.getContext(), "endif", f);
  b.CreateCondBr(cond, then_block, after);
  b.SetInsertPoint(then_block);
  then();
  b.CreateBr(after);
  b.SetInsertPoint(after);
}

void emit_if_else(llvm::IRBuilderBase& b, llvm::Value* cond, const std::function<void()>& then,
                  const std::function<void()>& otherwise) {
  llvm::Function* f = b.GetInsertBlock()->getParent();
  auto* then_block = llvm::BasicBlock::Create(b.getContext(), "then", f);
  auto* else_block = llvm::BasicBlock::Create(b.getContext(), "else", f);
  auto* after = llvm::BasicBlock::Create(b.getContext(), "endif", f);
  b.CreateCondBr(cond, then_block, else_block);
  b.SetInsertPoint(then_block);
  then();
  b.CreateBr(after);
  b.SetInsertPoint(else_block);
  otherwise();
  b.CreateBr(after);
  b.SetInsertPoint(after);
}

llvm::Value* emit_min(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y) {
  return b.CreateSelect(b.CreateICmpSLT(x, y), x, y);
}

llvm::Value* emit_max(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y) {
  return b.CreateSelect(b.CreateICmpSGT(x, y), x, y);
}

llvm::Value* emit_ceil_div(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y) {
  llvm::Value* one = llvm::ConstantInt::get(x->getType(), 1);
  return b.CreateSDiv(b.CreateSub(b.CreateAdd(x, y), one), y);
}

llvm::FunctionCallee declare_parallel_for(llvm::Module& module) {
  llvm::LLVMContext& ctx = module.getContext();
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, i64, ptr}, false);
  return module.getOrInsertFunction("weft_parallel_for", type);
}

llvm::FunctionCallee declare_num_threads(llvm::Module& module) {
  llvm::LLVMContext& ctx = module.getContext();
  return module.getOrInsertFunction("weft_num_threads", llvm::FunctionType::get(llvm::Type::getInt64Ty(ctx), false));
}

llvm::FunctionCallee declare_thread_scratch(llvm::Module& module) {
  llvm::LLVMContext& ctx = module.getContext();
  auto* type = llvm::FunctionType::get(llvm::PointerType::getUnqual(ctx), {llvm::Type::getInt64Ty(ctx)}, false);
  return module.getOrInsertFunction("weft_thread_scratch", type);
}

void set_vector_width_attributes(llvm::Function& f, int vector_bits) {
  f.addFnAttr("min-legal-vector-width", std::to_string(vector_bits));
  f.addFnAttr("prefer-vector-width", std::to_string(vector_bits));
}

}  // namespace weft::llvm_backend
