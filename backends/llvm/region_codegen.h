/** \file
 * Code generation for fused regions: from a region's body (passes/fuse.h) to a JIT-compiled
 * function `void region(void* const* buffers, const int64_t* dims)`.
 *
 * `buffers` holds the region's inputs, then its outputs, in the body's order; `dims` the values of
 * the symbols its shapes use, in `RegionCode::symbols` order. The body is lowered to terms over one
 * iteration space (region_terms.h), then each kind gets its loop nest:
 *
 *  - loop: rows × a vector axis. Each task of `weft_parallel_for` takes a block of rows (or, when
 *    there are few rows, a block of columns); a row runs full vectors of the host's width, then one
 *    masked vector for the tail.
 *  - reduction: per row (rows split across tasks), one vectorized pass over the reduced axes per
 *    stage of reductions (softmax: max, then the sum of exp(x - max)), with vector accumulators
 *    reduced across lanes at the end, then one pass writing the full-level outputs; row-level
 *    values are computed once per row.
 *  - matmul: the generated GEMM (matmul_codegen.h) with the region's elementwise ops as its
 *    epilogue, applied to each output vector as it leaves the registers.
 *  - attention: softmax(q kᵀ · scale + mask) v or its gradient, flash-attention style
 *    (attention_codegen.cpp).
 *
 * Code is cached per process (and Jit) by the region's printed body (inputs renamed canonically,
 * scopes, locations and bounds removed) and the host CPU: compiling the same graph again, or a
 * graph with the same region twice (two equal layers), reuses it; and on disk, across processes,
 * under the same text (jit.h, "Keys known before the IR"), so a later process makes no IR for it.
 *
 * `compile_regions` compiles a program's regions at once on several threads (each region in an
 * LLVMContext of its own, jit.h "Threads"), then links them on the calling thread in the order
 * given; the LLVM provider calls it before asking for each call's kernel. The code is the same as
 * one compile_region after another would make.
 */
#pragma once

#include <llvm/IR/IRBuilder.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backends/llvm/jit.h"
#include "backends/llvm/node_region.h"
#include "backends/llvm/region_terms.h"
#include "ir/graph.h"

namespace weft::llvm_backend {

using RegionFunction = void (*)(void* const* buffers, const int64_t* dims);

struct RegionCode {
  RegionFunction function = nullptr;
  std::vector<std::string> symbols;  // the order of the `dims` argument
  double compile_seconds = 0;        // generating, optimizing and compiling it (0 on a cache hit)
  bool cache_hit = false;
};

struct RegionCompileResult {
  std::optional<RegionCode> code;
  std::string unsupported;  // why not, when `code` is empty
};

/// The code of region `body` of `kind` ("loop", "reduction", "matmul"; or "concat", "gather",
/// "scatter_add", "rng_uniform" for a body that is one node of that op), from the cache or compiled.
RegionCompileResult compile_region(const Graph& body, const std::string& kind, Jit& jit = Jit::global());

/// Compiles the regions `jit` has no code for on up to `threads` threads (the caller's among them),
/// and links them on the caller's, in order: compile_region of any of them is then a cache hit.
/// What an earlier process stored is loaded first, on the caller's thread. Returns each region's
/// code as compile_region would have (a repeated region is a cache hit), or nothing for a region
/// left to compile_region: one the generators do not take or whose compile failed (compile_region
/// reports why), and all that need compiling when there is one thread or one such region.
std::vector<std::optional<RegionCode>> compile_regions(const std::vector<NodeRegion>& regions, int threads,
                                                       Jit& jit = Jit::global());

/// Generates region `body` of `kind` as the external function `name` of `module` (the same code the
/// JIT compiles; the AOT emitter puts many in one module). Returns why not, when the generators do
/// not take the body, and in `*node` (when given) the body's node the reason is about, or null.
/// The function's `dims` argument lists `symbols_used(body)` in order.
std::optional<std::string> generate_region(llvm::Module& module, const std::string& name, const Graph& body,
                                           const std::string& kind, int lanes, const Node** node = nullptr);

/// What compile_region caches a region by: its body with canonical names, its kind and the host.
std::string region_cache_key(const Graph& body, const std::string& kind);

/// How the JIT's perf map names a region's code (jit_perf_map.h): the dotted scope its nodes share
/// (the first node's scope when they share none) and its kind, "encoder.layers.0.attn matmul region".
std::string region_label(const Graph& body, const std::string& kind);

struct RegionCacheStats {
  int64_t compiled = 0;  // regions generated and compiled
  int64_t hits = 0;      // compile_region calls answered from the cache
  double seconds = 0;    // total compile time
};
RegionCacheStats region_cache_stats();

// ---- shared by the per-kind generators (loop_codegen.cpp, reduction_codegen.cpp, matmul_region_codegen.cpp)

/// Element counts below which a region runs on the calling thread (waking the pool costs more).
constexpr int64_t kParallelThreshold = int64_t{1} << 15;

/// A function of `params`, its entry block (ending in a branch to `body`, so code placed before
/// that branch dominates everything) and its body block.
struct FunctionFrame {
  llvm::Function* function = nullptr;
  llvm::BasicBlock* entry = nullptr;
  llvm::BasicBlock* body = nullptr;
};
FunctionFrame new_frame(llvm::Module& module, const std::string& name, const std::vector<llvm::Type*>& params,
                        bool external);

/// The task context handed to `weft_parallel_for`: buffers, dims, then `kTaskInts` i64 fields
/// (a blocked task's: rows per task, columns per task, column tasks; matmul regions use their own).
constexpr unsigned kTaskInts = 4;
llvm::StructType* task_context_type(llvm::LLVMContext& context);

/// Runs task(ctx, i) for i in [0, tasks): directly when tasks == 1, else on the thread pool.
void emit_dispatch(llvm::IRBuilderBase& b, llvm::Module& module, llvm::Function* task, llvm::Value* ctx,
                   llvm::Value* tasks);

/// The blocked tasks of loop, reduction and index regions. The entry cuts the space into
/// row_tasks × col_tasks blocks and runs `name.task(ctx, t)` for each: task t covers rows
/// [t / col_tasks · rows_per_task, + rows_per_task) and columns [t % col_tasks · cols_per_task,
/// + cols_per_task), clipped to the space.
struct BlockedTask {
  FunctionFrame frame;   // name.task(ctx, t)
  llvm::Value* buffers;  // loaded from the context in the entry block
  llvm::Value* dims;     // the entry's dims argument
  llvm::Value* rows_per_task;
  llvm::Value* cols_per_task;
  llvm::Value* col_tasks;

  /// [begin, end) of this task's rows (of `rows`) or columns (of `cols`), emitted at `b`.
  std::pair<llvm::Value*, llvm::Value*> row_range(llvm::IRBuilderBase& b, llvm::Value* rows) const;
  std::pair<llvm::Value*, llvm::Value*> col_range(llvm::IRBuilderBase& b, llvm::Value* cols) const;
};

/// Declares `name.task` and loads its context fields.
BlockedTask open_blocked_task(llvm::Module& module, const std::string& name);

/// In a region's entry: fills a task context and runs `tasks` tasks of `task` (emit_dispatch).
void dispatch_blocked(llvm::IRBuilderBase& b, llvm::Module& module, llvm::Function* task, llvm::Value* buffers,
                      llvm::Value* dims, llvm::Value* rows_per_task, llvm::Value* cols_per_task, llvm::Value* col_tasks,
                      llvm::Value* tasks);

/// Row-major indices of `flat` over `sizes`.
std::vector<llvm::Value*> emit_decode(llvm::IRBuilderBase& b, llvm::Value* flat,
                                      const std::vector<llvm::Value*>& sizes);

/// `for (j = begin; j < end; j += lanes)`: full vectors with mask == null, then at most one
/// partial vector with mask = its lanes below `end`. Carries `init` through both.
std::vector<llvm::Value*> emit_vector_loop(
    llvm::IRBuilderBase& b, llvm::Value* begin, llvm::Value* end, int lanes, const std::vector<llvm::Value*>& init,
    const std::function<std::vector<llvm::Value*>(llvm::Value* j, llvm::Value* mask, const std::vector<llvm::Value*>&)>&
        body);

llvm::Function* emit_loop_region(llvm::Module& module, const std::string& name, const LoweredRegion& region, int lanes);
llvm::Function* emit_reduction_region(llvm::Module& module, const std::string& name, const LoweredRegion& region,
                                      int lanes);
/// A concat: one loop region per operand (region_terms.h: lower_concat_piece), called in order.
llvm::Function* emit_concat_region(llvm::Module& module, const std::string& name,
                                   const std::vector<LoweredRegion>& pieces, int lanes);
llvm::Function* emit_matmul_region(llvm::Module& module, const std::string& name, const LoweredRegion& region,
                                   const Graph& body);
/// An attention region (passes/fuse_attention.h; attention_codegen.cpp); why not, when it cannot.
std::optional<std::string> emit_attention_region(llvm::Module& module, const std::string& name, const Graph& body,
                                                 int lanes);
/// A region of one gather, scatter_add or rng_uniform node (`kind` is the op's name; index_codegen.cpp);
/// why not, when it cannot. Out-of-range indices are the executor's to reject first (runtime/call_checks.h).
std::optional<std::string> emit_index_region(llvm::Module& module, const std::string& name, const Graph& body,
                                             const std::string& kind, int lanes);

}  // namespace weft::llvm_backend
