/** \file
 * Small IRBuilder helpers shared by the LLVM backend's code generators: counted loops (with
 * loop-carried values), the declarations of the runtime's C entry points, and function attributes
 * that tell LLVM which vector width the generated code was written for.
 *
 * Loops are emitted in rotated form (a guard, then a body that ends in the exit test), the shape
 * LLVM's loop passes expect, so -O3 can unroll and vectorize them without a canonicalization step.
 */
#pragma once

#include <llvm/IR/IRBuilder.h>

#include <functional>
#include <vector>

namespace weft::llvm_backend {

/// Emits `for (iv = begin; iv < end; iv += step) body(iv)` (signed i64 compare) at the builder's
/// position and leaves the builder after the loop. The body may create blocks.
void emit_for(llvm::IRBuilderBase& b, llvm::Value* begin, llvm::Value* end, llvm::Value* step,
              const std::function<void(llvm::Value* iv)>& body, const char* name = "i");

/// Like emit_for, with values carried from one iteration to the next: `body` receives the
/// current values and returns the next ones (same count and types). Returns the values after the
/// loop (`init` when it runs zero times).
std::vector<llvm::Value*> emit_for_carried(
    llvm::IRBuilderBase& b, llvm::Value* begin, llvm::Value* end, llvm::Value* step,
    const std::vector<llvm::Value*>& init,
    const std::function<std::vector<llvm::Value*>(llvm::Value* iv, const std::vector<llvm::Value*>& values)>& body,
    const char* name = "i");

/// Emits `if (cond) then()` and leaves the builder after it.
void emit_if(llvm::IRBuilderBase& b, llvm::Value* cond, const std::function<void()>& then);

/// Emits `if (cond) then() else otherwise()` and leaves the builder after it.
void emit_if_else(llvm::IRBuilderBase& b, llvm::Value* cond, const std::function<void()>& then,
                  const std::function<void()>& otherwise);

/// min / max / ceil-division of signed i64 values.
llvm::Value* emit_min(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y);
llvm::Value* emit_max(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y);
llvm::Value* emit_ceil_div(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y);

/// `void weft_parallel_for(void* ctx, i64 n, void (*fn)(void*, i64))`, declared in `module`.
llvm::FunctionCallee declare_parallel_for(llvm::Module& module);
/// `i64 weft_num_threads()`.
llvm::FunctionCallee declare_num_threads(llvm::Module& module);
/// `void* weft_thread_scratch(i64 bytes)`.
llvm::FunctionCallee declare_thread_scratch(llvm::Module& module);

/// Marks `f` as written for `vector_bits`-wide vectors, so that a target which prefers narrower
/// vectors by default (some AVX-512 CPUs prefer 256 bits) does not split them.
void set_vector_width_attributes(llvm::Function& f, int vector_bits);

}  // namespace weft::llvm_backend
