/** \file
 * The LLVM backend: the compile pipeline, the executable that runs a memory plan, and the
 * interpreter fallback for nodes without generated code. See llvm_backend.h.
 */
#include "backends/llvm/llvm_backend.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>

#include "backends/interp/interpreter.h"
#include "backends/interp/kernels.h"
#include "backends/llvm/empty_reduction_check.h"
#include "backends/llvm/index_check.h"
#include "backends/llvm/node_region.h"
#include "backends/llvm/region_codegen.h"
#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "ir/program.h"
#include "passes/plan_memory.h"
#include "runtime/thread_pool.h"

namespace weft {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// How one top-level node runs: generated code, or the interpreter on a one-node graph.
struct Step {
  llvm_backend::RegionFunction function = nullptr;
  std::vector<std::string> symbols;  // the region's `dims`, in order
  /// The fallback: the node alone, its operands as inputs, then one input of shape [S] per symbol
  /// S of the graph (so that the interpreter binds symbols the operands do not carry).
  std::optional<Graph> wrapper;
  /// A scan: the interpreter's scan kernel drives the loop, each step runs this compiled body.
  std::unique_ptr<LlvmExecutable> scan_body;
};

/// A top-level node as a graph of its own: its operands, then the symbol carriers, as inputs.
Graph wrap_node(const Graph& g, const Node& node) {
  Graph w(fmt::format("{}_alone", op_name(node.op)));
  std::vector<ValueId> operands;
  for (size_t i = 0; i < node.operands.size(); ++i)
    operands.push_back(w.add_input(fmt::format("x{}", i), g.type(node.operands[i])));
  for (const SymbolDecl& s : g.symbols())
    w.add_input(fmt::format("symbol_{}", s.name), TensorType{DType::boolean, {Dim::symbol(s.name)}});
  std::vector<TensorType> types;
  for (ValueId r : node.results) types.push_back(g.type(r));
  int32_t index = w.add_node(node.op, operands, node.attrs, types, node.scope, node.loc, node.body);
  for (size_t k = 0; k < node.results.size(); ++k)
    w.add_output(fmt::format("y{}", k), w.nodes()[index].results[k]);
  return w;
}

bool has_non_finite(const void* data, DType dtype, int64_t n) {
  if (dtype == DType::f32) {
    const auto* p = static_cast<const float*>(data);
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(p[i])) return true;
  } else if (dtype == DType::f64) {
    const auto* p = static_cast<const double*>(data);
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(p[i])) return true;
  }
  return false;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

struct FreeDeleter {
  void operator()(std::byte* p) const { std::free(p); }
};

}  // namespace

struct LlvmExecutable::Impl {
  Graph graph;  // decomposed, simplified, fused
  Signature sig;
  bool nan_trap = false;
  std::vector<Tensor> state;
  std::vector<Step> steps;  // one per top-level node, = one per program call
  std::optional<Program> program;                    // when every symbol is bounded
  std::map<std::vector<int64_t>, Program> programs;  // else per sizes of the unbounded symbols
  std::unique_ptr<std::byte, FreeDeleter> arena;
  int64_t arena_size = 0;
  LlvmCompileStats stats;
  int num_threads = 0;               // CompileOptions::num_threads; 0: the global pool
  std::unique_ptr<ThreadPool> pool;  // made at the first run when num_threads differs from the global pool's

  /// The pool this executable's loops run on (a scan's body runs under its caller's).
  ThreadPool& thread_pool() {
    if (num_threads == 0 || num_threads == ThreadPool::global().num_threads()) return ThreadPool::global();
    if (!pool) pool = std::make_unique<ThreadPool>(num_threads);
    return *pool;
  }

  size_t param_index(const std::string& name) const {
    for (size_t i = 0; i < graph.params().size(); ++i)
      if (graph.params()[i].name == name) return i;
    throw Error(fmt::format("no state named '{}' in graph '{}'", name, graph.name()));
  }

  const Program& program_for(const SymbolBindings& bindings) {
    if (program) return *program;
    std::vector<int64_t> key;
    Graph bounded = graph;
    for (const SymbolDecl& s : graph.symbols()) {
      if (s.bound) continue;
      auto it = bindings.find(s.name);
      int64_t v = it == bindings.end() ? 0 : it->second;
      key.push_back(v);
      bounded.declare_symbol(s.name, v);
    }
    auto it = programs.find(key);
    if (it == programs.end()) it = programs.emplace(key, plan_memory(bounded)).first;
    return it->second;
  }

  std::byte* arena_of(int64_t bytes) {
    if (bytes > arena_size) {
      int64_t size = (bytes + Program::alignment - 1) / Program::alignment * Program::alignment;
      arena.reset(static_cast<std::byte*>(std::aligned_alloc(Program::alignment, static_cast<size_t>(size))));
      if (!arena) throw Error(fmt::format("out of memory: the arena of graph '{}' needs {} bytes", graph.name(), size));
      arena_size = size;
    }
    return arena.get();
  }

  /// `outer`: the bindings of the graph whose scan runs this one as its body (a body's reshape may
  /// name symbols its own inputs do not carry); null at the top level.
  std::vector<Tensor> run(std::span<const Tensor> inputs, const SymbolBindings* outer = nullptr) {
    SymbolBindings bindings = bind_inputs(sig, inputs);
    if (outer)
      for (const auto& [name, size] : *outer) bindings.emplace(name, size);  // the body's own inputs win
    const Program& p = program_for(bindings);
    std::byte* base = arena_of(p.arena_bytes);
    std::vector<std::byte*> ptrs;
    for (const Buffer& b : p.buffers) {
      switch (b.storage) {
        case BufferStorage::input:
          ptrs.push_back(static_cast<std::byte*>(const_cast<void*>(inputs[b.index].raw())));
          break;
        case BufferStorage::param:
          ptrs.push_back(static_cast<std::byte*>(state[b.index].raw()));
          break;
        case BufferStorage::arena:
          ptrs.push_back(base + b.offset);
          break;
      }
    }
    // Each output held in an arena slot is computed straight into the tensor returned: for this
    // run the slot's buffer is a fresh tensor instead. Every value of a buffer has the output's
    // size (a buffer is one value and the values written over it in place, of equal size), so
    // they all fit; the output is not copied out of the arena afterwards. Outputs held elsewhere
    // (an input, a parameter) or repeated are copied at the end.
    std::vector<Tensor> outs(p.outputs.size());
    std::vector<bool> written(p.outputs.size(), false);
    std::vector<bool> redirected(p.buffers.size(), false);
    for (size_t k = 0; k < p.outputs.size(); ++k) {
      const ProgramValue& o = p.outputs[k];
      if (p.buffers[o.buffer].storage != BufferStorage::arena || redirected[o.buffer]) continue;
      Tensor t = Tensor::uninitialized(o.type.dtype, evaluate_shape(o.type.shape, bindings));
      WEFT_CHECK(p.buffers[o.buffer].bytes.evaluate(bindings) == static_cast<int64_t>(t.nbytes()),
                 fmt::format("output {}: its buffer holds values of another size", o.name));
      ptrs[o.buffer] = static_cast<std::byte*>(t.raw());
      redirected[o.buffer] = true;
      written[k] = true;
      outs[k] = std::move(t);
    }
    std::vector<Tensor> carriers;
    for (const SymbolDecl& s : graph.symbols()) {
      auto it = bindings.find(s.name);
      carriers.push_back(Tensor::zeros(DType::boolean, {it == bindings.end() ? 0 : it->second}));
    }
    for (size_t i = 0; i < p.calls.size(); ++i) run_call(graph.nodes()[i], p.calls[i], steps[i], ptrs, bindings, carriers);

    for (size_t k = 0; k < p.outputs.size(); ++k) {
      if (written[k]) continue;
      const ProgramValue& o = p.outputs[k];
      Tensor t = Tensor::uninitialized(o.type.dtype, evaluate_shape(o.type.shape, bindings));
      if (t.nbytes() > 0) std::memcpy(t.raw(), ptrs[o.buffer], t.nbytes());
      outs[k] = std::move(t);
    }
    // Every update reads the values before any is written (a swap of two parameters stays a swap).
    std::vector<std::pair<size_t, Tensor>> updated;
    for (const ProgramUpdate& u : p.updates) {
      if (u.value == u.param_buffer) continue;  // written in place
      size_t i = param_index(u.param);
      Tensor t = Tensor::uninitialized(state[i].dtype(), state[i].shape());
      if (t.nbytes() > 0) std::memcpy(t.raw(), ptrs[u.value], t.nbytes());
      updated.emplace_back(i, std::move(t));
    }
    for (auto& [i, t] : updated) state[i] = std::move(t);
    return outs;
  }

  void run_call(const Node& node, const KernelCall& call, const Step& step, const std::vector<std::byte*>& ptrs,
                const SymbolBindings& bindings, const std::vector<Tensor>& carriers) {
    std::vector<void*> buffers;
    for (const BufferRef& ref : call.operands) buffers.push_back(ptrs[ref.buffer]);
    if (step.function) {
      std::vector<int64_t> dims;
      for (const std::string& s : step.symbols) {
        auto it = bindings.find(s);
        if (it == bindings.end())
          throw Error(with_location(fmt::format("{}: symbol {} has no value: no input binds it", op_name(call.op), s),
                                    call.loc));
        dims.push_back(it->second);
      }
      // Generated code cannot throw: an index out of range is the interpreter's error, raised here.
      if (std::optional<std::string> why = llvm_backend::check_call_indices(call, buffers, bindings))
        throw Error(with_location(*why, call.loc));
      // And so is a maximum over an empty axis (empty_reduction_check.h).
      if (std::optional<std::string> why = llvm_backend::check_empty_reductions(graph, node, bindings))
        throw Error(*why);
      step.function(buffers.data(), dims.data());
    } else {
      std::vector<Tensor> ins;
      for (int32_t i = 0; i < call.num_inputs; ++i) {
        const BufferRef& ref = call.operands[i];
        std::vector<int64_t> shape = evaluate_shape(ref.type.shape, bindings);
        size_t bytes = static_cast<size_t>(numel(shape)) * dtype_size(ref.type.dtype);
        ins.push_back(Tensor::from_bytes(ref.type.dtype, shape, {ptrs[ref.buffer], bytes}));
      }
      std::vector<Tensor> outs;
      if (step.scan_body) {
        auto run_body = [&](const Graph&, std::span<const Tensor> body_inputs) {
          return step.scan_body->impl_->run(body_inputs, &bindings);
        };
        interp::KernelContext ctx{node, bindings, run_body, &graph};
        try {
          outs = (*interp::find_kernel(OpKind::scan))(ctx, ins);
        } catch (const Error& e) {
          throw Error(with_location(e.what(), node.loc));
        }
      } else {
        ins.insert(ins.end(), carriers.begin(), carriers.end());
        outs = interpret(*step.wrapper, ins, {});
      }
      for (size_t k = 0; k < outs.size(); ++k) {
        const BufferRef& ref = call.operands[call.num_inputs + k];
        WEFT_CHECK(outs[k].dtype() == ref.type.dtype && outs[k].shape() == evaluate_shape(ref.type.shape, bindings),
                   fmt::format("{}: the interpreter's result {} disagrees with the plan's {}", op_name(call.op),
                               outs[k].type_str(), ref.type.str()));
        if (outs[k].nbytes() > 0) std::memcpy(buffers[call.num_inputs + k], outs[k].raw(), outs[k].nbytes());
      }
    }
    if (!nan_trap) return;
    for (size_t k = call.num_inputs; k < call.operands.size(); ++k) {
      const BufferRef& ref = call.operands[k];
      if (!has_non_finite(buffers[k], ref.type.dtype, numel(evaluate_shape(ref.type.shape, bindings)))) continue;
      if (call.op == OpKind::fusion) trap_in_region(node, call, buffers, bindings, carriers);
      throw Error(
          with_location(fmt::format("NaN/Inf trap: {} produced a non-finite value in result {} ({}) of "
                                    "scope '{}'",
                                    call.op == OpKind::fusion ? first_op_of(node) : std::string(op_name(call.op)),
                                    k - call.num_inputs, ref.type.str(), call.scope),
                        call.loc));
    }
  }

  /// "a fused region (first op: exp at model.cpp:12)", for a trap that cannot name the op itself.
  static std::string first_op_of(const Node& region) {
    if (!region.body || region.body->nodes().empty()) return "a fused region";
    const Node& first = region.body->nodes().front();
    return fmt::format("a fused region (first op: {}{})", op_name(first.op),
                       first.loc.file.empty() ? "" : " at " + first.loc.str());
  }

  /// A fused region's generated code has no per-op checks, so when it produced a non-finite value
  /// the interpreter re-runs the region's ops on the same inputs with the trap on: its error names
  /// the first op that produced one, with that op's DSL line, as the interpreter backend's does.
  /// Returns (and the caller names the region) when an input was overwritten in place by an
  /// output, or when the interpreter finds every value finite.
  void trap_in_region(const Node& node, const KernelCall& call, const std::vector<void*>& buffers,
                      const SymbolBindings& bindings, const std::vector<Tensor>& carriers) const {
    auto bytes_of = [&](const BufferRef& ref) {
      return static_cast<size_t>(numel(evaluate_shape(ref.type.shape, bindings))) * dtype_size(ref.type.dtype);
    };
    for (int32_t i = 0; i < call.num_inputs; ++i)
      for (size_t k = call.num_inputs; k < call.operands.size(); ++k) {
        auto* a = static_cast<const std::byte*>(buffers[i]);
        auto* b = static_cast<const std::byte*>(buffers[k]);
        if (a < b + bytes_of(call.operands[k]) && b < a + bytes_of(call.operands[i])) return;
      }
    std::vector<Tensor> ins;
    for (int32_t i = 0; i < call.num_inputs; ++i) {
      const BufferRef& ref = call.operands[i];
      ins.push_back(Tensor::from_bytes(ref.type.dtype, evaluate_shape(ref.type.shape, bindings),
                                       {static_cast<const std::byte*>(buffers[i]), bytes_of(ref)}));
    }
    ins.insert(ins.end(), carriers.begin(), carriers.end());
    interpret(wrap_node(graph, node), ins, {}, {.nan_trap = true});  // throws the interpreter's trap
  }
};

LlvmExecutable::LlvmExecutable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LlvmExecutable::~LlvmExecutable() = default;
const Signature& LlvmExecutable::signature() const { return impl_->sig; }
std::vector<Tensor> LlvmExecutable::run(std::span<const Tensor> inputs) {
  ThreadPoolScope scope(impl_->thread_pool());  // weft_parallel_for and weft_num_threads use it
  return impl_->run(inputs);
}
const LlvmCompileStats& LlvmExecutable::stats() const { return impl_->stats; }
ThreadPool& LlvmExecutable::thread_pool() { return impl_->thread_pool(); }
const Graph& LlvmExecutable::compiled_graph() const { return impl_->graph; }

Tensor LlvmExecutable::state(const std::string& name) const { return impl_->state[impl_->param_index(name)].clone(); }

void LlvmExecutable::set_state(const std::string& name, const Tensor& value) {
  size_t i = impl_->param_index(name);
  const TensorType& want = impl_->sig.state[i].type;
  bool ok = value.dtype() == want.dtype && value.rank() == want.rank();
  for (int d = 0; ok && d < value.rank(); ++d) ok = want.shape[d].is_static() && want.shape[d].value() == value.shape()[d];
  if (!ok) throw Error(fmt::format("state '{}' must be {}, but got {}", name, want.str(), value.type_str()));
  impl_->state[i] = value.clone();
}

std::unique_ptr<LlvmExecutable> LlvmBackend::compile_llvm(const Graph& graph, const CompileOptions& options) const {
  if (options.num_threads < 0 || options.num_threads > 1024)
    throw Error(fmt::format("CompileOptions::num_threads must be 0 (the global pool) or 1 to 1024, but is {}",
                            options.num_threads));
  auto impl = std::make_unique<LlvmExecutable::Impl>();
  auto start = Clock::now();
  impl->graph = llvm_backend::compile_pipeline(graph);
  impl->sig = signature_of(graph);
  impl->nan_trap = options.nan_trap;
  impl->num_threads = options.num_threads;
  bool bounded = true;
  for (const SymbolDecl& s : impl->graph.symbols()) bounded = bounded && s.bound.has_value();
  if (bounded) impl->program = plan_memory(impl->graph);
  impl->stats.pass_seconds = seconds_since(start);

  const Graph& g = impl->graph;
  for (const Node& node : g.nodes()) {
    Step step;
    LlvmNodeStats ns;
    ns.scope = node.scope;
    ns.op = node.op == OpKind::fusion ? node.attrs.get_string("kind") : std::string(op_name(node.op));
    llvm_backend::RegionCompileResult code;
    if (node.op == OpKind::scan && node.body) {
      step.scan_body = compile_llvm(*node.body, options);
      const LlvmCompileStats& body = step.scan_body->stats();
      code.unsupported = fmt::format("the scan's loop; its body is generated code ({} compiled, {} on the interpreter)",
                                     body.compiled, body.fallback);
      impl->stats.codegen_seconds += body.codegen_seconds;
    } else if (std::optional<llvm_backend::NodeRegion> region = llvm_backend::node_region(g, node, &code.unsupported)) {
      code = llvm_backend::compile_region(region->body, region->kind);
    }
    if (code.code) {
      step.function = code.code->function;
      step.symbols = code.code->symbols;
      ns.compiled = true;
      ns.cache_hit = code.code->cache_hit;
      ns.compile_seconds = code.code->compile_seconds;
      ++impl->stats.compiled;
      impl->stats.cache_hits += ns.cache_hit ? 1 : 0;
      impl->stats.codegen_seconds += ns.compile_seconds;
    } else {
      if (!step.scan_body) step.wrapper = wrap_node(g, node);
      ns.reason = code.unsupported;
      ++impl->stats.fallback;
    }
    impl->steps.push_back(std::move(step));
    impl->stats.nodes.push_back(std::move(ns));
  }
  impl->state = initial_params(g);
  return std::unique_ptr<LlvmExecutable>(new LlvmExecutable(std::move(impl)));
}

std::unique_ptr<Executable> LlvmBackend::compile(const Graph& graph, const CompileOptions& options) const {
  return compile_llvm(graph, options);
}

std::string LlvmCompileStats::report() const {
  std::string out = fmt::format("llvm backend: {} nodes, {} compiled ({} from the cache), {} on the interpreter\n",
                                nodes.size(), compiled, cache_hits, fallback);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const LlvmNodeStats& n = nodes[i];
    std::string how = n.compiled ? (n.cache_hit ? "compiled (cached)" : fmt::format("compiled {:.1f} ms", n.compile_seconds * 1e3))
                                 : "interpreter: " + n.reason;
    out += fmt::format("  {:>3}  {:<12} {:<28} {}\n", i, n.op, n.scope.empty() ? "-" : n.scope, how);
  }
  out += fmt::format("passes {:.1f} ms, code generation {:.1f} ms\n", pass_seconds * 1e3, codegen_seconds * 1e3);
  return out;
}

std::unique_ptr<Backend> make_llvm_backend() { return std::make_unique<LlvmBackend>(); }

void register_llvm_backend() {
  for (const std::string& name : backend_names())
    if (name == "llvm") return;
  register_backend("llvm", make_llvm_backend);
}

}  // namespace weft
