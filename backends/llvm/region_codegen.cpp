/** \file
 * The region compiler's driver and cache, and the loop helpers its generators share. See
 * region_codegen.h.
 */
#include "backends/llvm/region_codegen.h"

#include <fmt/format.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "backends/llvm/host_cache.h"
#include "backends/llvm/ir_util.h"
#include "ir/text.h"

namespace weft::llvm_backend {

namespace {

struct Cache {
  std::mutex mutex;
  std::map<std::string, RegionCode> code;  // slot (the Jit and the key) -> compiled code
  RegionCacheStats stats;
};

/// Where a region's code is cached: code lives in one Jit, so its id is part of the slot.
std::string slot_of(const Jit& jit, const std::string& key) { return fmt::format("jit {}\n{}", jit.id(), key); }

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string function_name(const std::string& kind, const std::string& key) {
  return fmt::format("weft_{}_region_{:016x}", kind, std::hash<std::string>{}(key));
}

/// The cached code of `slot`, if any (a hit is counted).
std::optional<RegionCode> cached(Cache& c, const std::string& slot) {
  std::lock_guard lock(c.mutex);
  auto it = c.code.find(slot);
  if (it == c.code.end()) return std::nullopt;
  ++c.stats.hits;
  RegionCode code = it->second;
  code.cache_hit = true;
  code.compile_seconds = 0;
  return code;
}

/// Looks the region's function up in `library` (ORC links it then) and caches it; when another
/// thread cached the same slot first, its code is the answer.
RegionCode finish(Cache& c, const std::string& slot, const JitLibrary& library, const std::string& name,
                  const Graph& body, double seconds_before, std::chrono::steady_clock::time_point start) {
  RegionCode code;
  code.function = library.lookup_function<RegionFunction>(name);
  code.symbols = symbols_used(body);
  code.compile_seconds = seconds_before + seconds_since(start);
  std::lock_guard lock(c.mutex);
  auto [it, inserted] = c.code.emplace(slot, code);
  if (!inserted) {
    ++c.stats.hits;
    return it->second;
  }
  ++c.stats.compiled;
  c.stats.seconds += code.compile_seconds;
  return code;
}

Cache& cache() {
  static Cache* c = new Cache();  // leaked like the Jit: code may run during static destruction
  return *c;
}

/// The body as text with canonical names (inputs in0, in1, ...; the fuser names them after the
/// graph's values, "encoder.layers.3.linear1.weight"), without scopes, locations or bounds, so that
/// equal regions of different layers, or of the same graph compiled twice, share their code.
std::string cache_key(const Graph& body, const std::string& kind) {
  Graph g("region");
  for (const SymbolDecl& s : body.symbols()) g.declare_symbol(s.name);
  std::vector<ValueId> map(body.num_values(), kNoValue);
  for (size_t i = 0; i < body.inputs().size(); ++i)
    map[body.inputs()[i].value] = g.add_input(fmt::format("in{}", i), body.type(body.inputs()[i].value));
  for (size_t i = 0; i < body.params().size(); ++i)
    map[body.params()[i].value] = g.add_param(fmt::format("param{}", i), body.type(body.params()[i].value));
  for (const Node& n : body.nodes()) {
    std::vector<ValueId> operands;
    for (ValueId v : n.operands) operands.push_back(map[v]);
    std::vector<TensorType> types;
    for (ValueId r : n.results) types.push_back(body.type(r));
    int32_t index = g.add_node(n.op, operands, n.attrs, types, {}, {}, n.body);
    for (size_t k = 0; k < n.results.size(); ++k) map[n.results[k]] = g.nodes()[index].results[k];
  }
  for (size_t k = 0; k < body.outputs().size(); ++k)
    g.add_output(fmt::format("out{}", k), map[body.outputs()[k].value]);
  // The generators read the host's vector width and last-level cache size (reduction_codegen.cpp).
  const HostTarget& host = host_target();
  return fmt::format("{}\n{} {} {} llc={}\n{}", kind, host.cpu, host.features, host.vector_bits,
                     last_level_cache_bytes(), print_graph(g));
}

}  // namespace

std::string region_label(const Graph& body, const std::string& kind) {
  std::string first, common;
  bool any = false;
  for (const Node& n : body.nodes()) {
    if (n.scope.empty()) continue;
    if (!any) {
      first = common = n.scope;
      any = true;
      continue;
    }
    // The longest prefix of whole dotted components shared with this scope.
    size_t k = 0;
    while (k < common.size() && k < n.scope.size() && common[k] == n.scope[k]) ++k;
    const bool whole = (k == common.size() || common[k] == '.') && (k == n.scope.size() || n.scope[k] == '.');
    if (!whole) {
      size_t dot = common.rfind('.', k);
      k = dot == std::string::npos ? 0 : dot;
    }
    common.resize(k);
  }
  std::string scope = common.empty() ? first : common;
  return scope.empty() ? kind + " region" : scope + " " + kind + " region";
}

std::string region_cache_key(const Graph& body, const std::string& kind) { return cache_key(body, kind); }

std::optional<std::string> generate_region(llvm::Module& module, const std::string& name, const Graph& body,
                                           const std::string& kind, int lanes, const Node** node) {
  if (node) *node = nullptr;
  if (kind == "attention") return emit_attention_region(module, name, body, lanes);
  if (kind == "gather" || kind == "scatter_add" || kind == "rng_uniform") {
    std::optional<std::string> why = emit_index_region(module, name, body, kind, lanes);
    if (why && node && body.nodes().size() == 1) *node = &body.nodes()[0];
    return why;
  }
  std::vector<LoweredRegion> parts;  // one per function: a concat has one per operand
  auto unsupported = [&](LowerResult& r) {
    if (node) *node = r.node;
    return r.unsupported;
  };
  if (kind == "concat") {
    for (size_t k = 0; !body.nodes().empty() && k < body.nodes()[0].operands.size(); ++k) {
      LowerResult piece = lower_concat_piece(body, static_cast<int>(k));
      if (!piece.region) return unsupported(piece);
      parts.push_back(std::move(*piece.region));
    }
  } else {
    LowerResult lowered = lower_region(body, kind);
    if (!lowered.region) return unsupported(lowered);
    parts.push_back(std::move(*lowered.region));
  }
  if (kind == "concat")
    emit_concat_region(module, name, parts, lanes);
  else if (kind == "loop")
    emit_loop_region(module, name, parts[0], lanes);
  else if (kind == "reduction")
    emit_reduction_region(module, name, parts[0], lanes);
  else
    emit_matmul_region(module, name, parts[0], body);
  return std::nullopt;
}

RegionCompileResult compile_region(const Graph& body, const std::string& kind, Jit& jit) {
  auto key_start = std::chrono::steady_clock::now();
  std::string key = cache_key(body, kind);
  jit.add_seconds(&JitTimings::key, seconds_since(key_start));
  Cache& c = cache();
  const std::string slot = slot_of(jit, key);
  if (std::optional<RegionCode> code = cached(c, slot)) return {*code, {}};
  // Compiled without the cache's lock: other threads compile other regions meanwhile (jit.h).
  auto start = std::chrono::steady_clock::now();
  std::string name = function_name(kind, key);
  jit.set_label(name, region_label(body, kind));
  // The object code of an earlier process, when it compiled the same region: no IR is made.
  std::optional<JitLibrary> library = jit.load_cached(key);
  if (!library) {
    auto context = std::make_unique<llvm::LLVMContext>();
    auto module = jit.new_module(name, *context);
    if (std::optional<std::string> why = generate_region(*module, name, body, kind, jit.target().vector_floats()))
      return {std::nullopt, *why};
    jit.add_seconds(&JitTimings::emit, seconds_since(start));
    library = jit.add_module(std::move(module), std::move(context), key);
  }
  return {finish(c, slot, *library, name, body, 0, start), {}};
}

std::vector<std::optional<RegionCode>> compile_regions(const std::vector<NodeRegion>& regions, int threads, Jit& jit) {
  struct Pending {
    size_t index;  // in regions
    std::string key, slot, name;
    double seconds = 0;  // generating and compiling it, on whichever thread did
  };
  Cache& c = cache();
  std::vector<std::optional<RegionCode>> out(regions.size());
  std::vector<Pending> to_compile;
  std::map<std::string, size_t> first;             // key -> the index of its first region
  std::vector<std::pair<size_t, size_t>> repeats;  // (index, index of the same region before it)
  for (size_t i = 0; i < regions.size(); ++i) {
    const NodeRegion& region = regions[i];
    auto key_start = std::chrono::steady_clock::now();
    std::string key = cache_key(region.body, region.kind);
    jit.add_seconds(&JitTimings::key, seconds_since(key_start));
    if (auto [it, inserted] = first.emplace(key, i); !inserted) {
      repeats.emplace_back(i, it->second);
      continue;
    }
    std::string slot = slot_of(jit, key);
    if ((out[i] = cached(c, slot))) continue;
    std::string name = function_name(region.kind, key);
    jit.set_label(name, region_label(region.body, region.kind));
    to_compile.push_back({i, std::move(key), std::move(slot), std::move(name)});
  }
  auto finish_repeats = [&] {
    for (auto [i, before] : repeats) {
      if (!out[before]) continue;
      RegionCode code = *out[before];
      code.cache_hit = true;
      code.compile_seconds = 0;
      out[i] = code;
      std::lock_guard lock(c.mutex);
      ++c.stats.hits;
    }
  };
  // What an earlier process stored is linked here, in order: a thread would cost more than it.
  std::vector<Pending*> misses;
  for (Pending& p : to_compile) {
    auto start = std::chrono::steady_clock::now();
    if (std::optional<JitLibrary> library = jit.load_cached(p.key))
      out[p.index] = finish(c, p.slot, *library, p.name, regions[p.index].body, 0, start);
    else
      misses.push_back(&p);
  }
  const size_t workers = std::min(misses.size(), static_cast<size_t>(std::max(threads, 1)));
  if (workers <= 1) {  // compile_region compiles them one by one, the same way
    finish_repeats();
    return out;
  }
  // Each worker takes the next region, generates it in an LLVMContext of its own and makes its
  // object code (prepare_module); nothing is linked until all are made. Matmul regions go first:
  // the first of each transpose pattern brings its GEMM core, the longest compile by far, and a
  // core started last would leave the other thread idle at the end.
  std::vector<Pending*> order = misses;
  std::stable_partition(order.begin(), order.end(),
                        [&](const Pending* p) { return regions[p->index].kind == "matmul"; });
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < order.size(); i = next++) {
      Pending& p = *order[i];
      const NodeRegion& region = regions[p.index];
      auto start = std::chrono::steady_clock::now();
      try {
        auto context = std::make_unique<llvm::LLVMContext>();
        auto module = jit.new_module(p.name, *context);
        if (generate_region(*module, p.name, region.body, region.kind, jit.target().vector_floats())) continue;
        jit.add_seconds(&JitTimings::emit, seconds_since(start));
        jit.prepare_module(std::move(module), std::move(context), p.key);
      } catch (...) {
        // compile_region compiles it again on the caller's thread and reports what went wrong there.
      }
      p.seconds = seconds_since(start);
    }
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < workers; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
  for (Pending* p : misses) {
    auto start = std::chrono::steady_clock::now();
    if (std::optional<JitLibrary> library = jit.load_cached(p->key))
      out[p->index] = finish(c, p->slot, *library, p->name, regions[p->index].body, p->seconds, start);
  }
  finish_repeats();
  return out;
}

RegionCacheStats region_cache_stats() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  return c.stats;
}

FunctionFrame new_frame(llvm::Module& module, const std::string& name, const std::vector<llvm::Type*>& params,
                        bool external) {
  llvm::LLVMContext& c = module.getContext();
  auto* type = llvm::FunctionType::get(llvm::Type::getVoidTy(c), params, false);
  FunctionFrame f;
  f.function = llvm::Function::Create(
      type, external ? llvm::Function::ExternalLinkage : llvm::Function::InternalLinkage, name, module);
  f.function->addFnAttr(llvm::Attribute::NoUnwind);
  set_vector_width_attributes(*f.function, host_target().vector_bits);
  f.entry = llvm::BasicBlock::Create(c, "entry", f.function);
  f.body = llvm::BasicBlock::Create(c, "body", f.function);
  llvm::IRBuilder<> b(f.entry);
  b.CreateBr(f.body);
  return f;
}

llvm::StructType* task_context_type(llvm::LLVMContext& context) {
  auto* ptr = llvm::PointerType::getUnqual(context);
  auto* i64 = llvm::Type::getInt64Ty(context);
  std::vector<llvm::Type*> fields{ptr, ptr};
  for (unsigned i = 0; i < kTaskInts; ++i) fields.push_back(i64);
  return llvm::StructType::get(context, fields);
}

void emit_dispatch(llvm::IRBuilderBase& b, llvm::Module& module, llvm::Function* task, llvm::Value* ctx,
                   llvm::Value* tasks) {
  emit_if_else(
      b, b.CreateICmpEQ(tasks, b.getInt64(1)),
      [&] {
        b.CreateCall(task, {ctx, b.getInt64(0)});
      },
      [&] {
        emit_if(b, b.CreateICmpSGT(tasks, b.getInt64(1)), [&] {
          b.CreateCall(declare_parallel_for(module), {ctx, tasks, task});
        });
      });
}

namespace {
enum BlockedField : unsigned { kBuffers, kDims, kRowsPerTask, kColsPerTask, kColTasks };
}  // namespace

BlockedTask open_blocked_task(llvm::Module& module, const std::string& name) {
  llvm::LLVMContext& c = module.getContext();
  auto* ptr = llvm::PointerType::getUnqual(c);
  BlockedTask t;
  t.frame = new_frame(module, name + ".task", {ptr, llvm::Type::getInt64Ty(c)}, false);
  llvm::IRBuilder<> e(t.frame.entry->getTerminator());
  llvm::StructType* ctx_type = task_context_type(c);
  auto field = [&](unsigned i, llvm::Type* type) {
    return e.CreateLoad(type, e.CreateStructGEP(ctx_type, t.frame.function->getArg(0), i));
  };
  t.buffers = field(kBuffers, ptr);
  t.dims = field(kDims, ptr);
  t.rows_per_task = field(kRowsPerTask, e.getInt64Ty());
  t.cols_per_task = field(kColsPerTask, e.getInt64Ty());
  t.col_tasks = field(kColTasks, e.getInt64Ty());
  return t;
}

std::pair<llvm::Value*, llvm::Value*> BlockedTask::row_range(llvm::IRBuilderBase& b, llvm::Value* rows) const {
  llvm::Value* begin = b.CreateMul(b.CreateSDiv(frame.function->getArg(1), col_tasks), rows_per_task);
  return {begin, emit_min(b, rows, b.CreateAdd(begin, rows_per_task))};
}

std::pair<llvm::Value*, llvm::Value*> BlockedTask::col_range(llvm::IRBuilderBase& b, llvm::Value* cols) const {
  llvm::Value* begin = b.CreateMul(b.CreateSRem(frame.function->getArg(1), col_tasks), cols_per_task);
  return {begin, emit_min(b, cols, b.CreateAdd(begin, cols_per_task))};
}

void dispatch_blocked(llvm::IRBuilderBase& b, llvm::Module& module, llvm::Function* task, llvm::Value* buffers,
                      llvm::Value* dims, llvm::Value* rows_per_task, llvm::Value* cols_per_task, llvm::Value* col_tasks,
                      llvm::Value* tasks) {
  llvm::StructType* ctx_type = task_context_type(module.getContext());
  llvm::Value* ctx = b.CreateAlloca(ctx_type);
  b.CreateStore(buffers, b.CreateStructGEP(ctx_type, ctx, kBuffers));
  b.CreateStore(dims, b.CreateStructGEP(ctx_type, ctx, kDims));
  b.CreateStore(rows_per_task, b.CreateStructGEP(ctx_type, ctx, kRowsPerTask));
  b.CreateStore(cols_per_task, b.CreateStructGEP(ctx_type, ctx, kColsPerTask));
  b.CreateStore(col_tasks, b.CreateStructGEP(ctx_type, ctx, kColTasks));
  emit_dispatch(b, module, task, ctx, tasks);
}

llvm::Function* emit_concat_region(llvm::Module& module, const std::string& name,
                                   const std::vector<LoweredRegion>& pieces, int lanes) {
  std::vector<llvm::Function*> parts;
  for (size_t k = 0; k < pieces.size(); ++k)
    parts.push_back(emit_loop_region(module, fmt::format("{}.piece{}", name, k), pieces[k], lanes));
  auto* ptr = llvm::PointerType::getUnqual(module.getContext());
  FunctionFrame f = new_frame(module, name, {ptr, ptr}, true);
  llvm::IRBuilder<> b(f.body);
  for (llvm::Function* part : parts) {
    part->setLinkage(llvm::Function::InternalLinkage);
    b.CreateCall(part, {f.function->getArg(0), f.function->getArg(1)});
  }
  b.CreateRetVoid();
  return f.function;
}

std::vector<llvm::Value*> emit_decode(llvm::IRBuilderBase& b, llvm::Value* flat,
                                      const std::vector<llvm::Value*>& sizes) {
  std::vector<llvm::Value*> idx(sizes.size());
  for (size_t d = sizes.size(); d-- > 0;) {
    if (d == 0) {
      idx[d] = flat;
    } else {
      idx[d] = b.CreateSRem(flat, sizes[d]);
      flat = b.CreateSDiv(flat, sizes[d]);
    }
  }
  return idx;
}

std::vector<llvm::Value*> emit_vector_loop(
    llvm::IRBuilderBase& b, llvm::Value* begin, llvm::Value* end, int lanes, const std::vector<llvm::Value*>& init,
    const std::function<std::vector<llvm::Value*>(llvm::Value* j, llvm::Value* mask, const std::vector<llvm::Value*>&)>&
        body) {
  llvm::Value* whole = b.CreateSub(end, b.CreateSRem(b.CreateSub(end, begin), b.getInt64(lanes)));
  std::vector<llvm::Value*> values = emit_for_carried(
      b, begin, whole, b.getInt64(lanes), init,
      [&](llvm::Value* j, const std::vector<llvm::Value*>& in) { return body(j, nullptr, in); }, "j");
  // The tail: one partial vector, its lanes masked.
  llvm::BasicBlock* before = b.GetInsertBlock();
  llvm::Function* f = before->getParent();
  auto* tail = llvm::BasicBlock::Create(b.getContext(), "tail", f);
  auto* done = llvm::BasicBlock::Create(b.getContext(), "tail.done", f);
  b.CreateCondBr(b.CreateICmpSLT(whole, end), tail, done);
  b.SetInsertPoint(tail);
  std::vector<llvm::Constant*> lane_ids;
  for (int i = 0; i < lanes; ++i) lane_ids.push_back(b.getInt64(i));
  llvm::Value* mask =
      b.CreateICmpSLT(llvm::ConstantVector::get(lane_ids), b.CreateVectorSplat(lanes, b.CreateSub(end, whole)));
  std::vector<llvm::Value*> after = body(whole, mask, values);
  llvm::BasicBlock* tail_end = b.GetInsertBlock();
  b.CreateBr(done);
  b.SetInsertPoint(done);
  std::vector<llvm::Value*> out;
  for (size_t i = 0; i < values.size(); ++i) {
    llvm::PHINode* phi = b.CreatePHI(values[i]->getType(), 2);
    phi->addIncoming(values[i], before);
    phi->addIncoming(after[i], tail_end);
    out.push_back(phi);
  }
  return out;
}

}  // namespace weft::llvm_backend
