/** \file
 * Provider chains and the executable they compile to. See provider.h.
 */
#include "backends/provider.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "backends/interp/constant_evaluator.h"
#include "backends/interp/interpreter.h"
#include "ir/ops.h"
#include "ir/stats.h"
#include "runtime/thread_pool.h"

namespace weft {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool all_bounded(const Graph& g) {
  for (const SymbolDecl& s : g.symbols())
    if (!s.bound) return false;
  return true;
}

}  // namespace

// --- the executable ---

CompiledExecutable::CompiledExecutable(std::unique_ptr<ProgramExecutor> executor, Graph lowered, CompileStats stats,
                                       int num_threads)
    : executor_(std::move(executor)),
      lowered_(std::move(lowered)),
      stats_(std::move(stats)),
      num_threads_(num_threads) {}

CompiledExecutable::~CompiledExecutable() = default;

ThreadPool& CompiledExecutable::thread_pool() {
  if (num_threads_ == 0 || num_threads_ == ThreadPool::global().num_threads()) return ThreadPool::global();
  if (!pool_) pool_ = std::make_unique<ThreadPool>(num_threads_);
  return *pool_;
}

std::vector<Tensor> CompiledExecutable::run(std::span<const Tensor> inputs) {
  ThreadPoolScope scope(thread_pool());  // weft_parallel_for and weft_num_threads use it
  return executor_->run(inputs, nullptr);
}

std::vector<Tensor> CompiledExecutable::run_nested(std::span<const Tensor> inputs, const SymbolBindings& outer) {
  return executor_->run(inputs, &outer);
}

std::string CompileStats::report() const {
  std::string out = fmt::format("{} backend: {} nodes, {} compiled ({} from the cache), {} on the interpreter\n",
                                backend, nodes.size(), compiled, cache_hits, fallback);
  for (const std::string& note : lowering_notes) out += fmt::format("  lowering: {}\n", note);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const NodeStats& n = nodes[i];
    std::string how;
    if (n.compiled) {
      how = n.cache_hit ? "compiled (cached)" : fmt::format("compiled {:.1f} ms", n.compile_seconds * 1e3);
      if (!n.reason.empty()) how += fmt::format(" ({})", n.reason);  // why a provider ahead declined, or a note
    } else {
      how = n.reason.empty() ? n.provider
                             : fmt::format("{}: {}", n.provider == "interp" ? "interpreter" : n.provider, n.reason);
    }
    out += fmt::format("  {:>3}  {:<12} {:<28} {:<7} {}\n", i, n.op, n.scope.empty() ? "-" : n.scope, n.provider, how);
  }
  out += fmt::format("passes {:.1f} ms, code generation {:.1f} ms\n", pass_seconds * 1e3, codegen_seconds * 1e3);
  // A scan is one call above; each of its body's calls was provided (and, under auto, chosen) on
  // its own: its table follows, as in profile_report.
  for (size_t i = 0; i < nodes.size(); ++i)
    if (const NodeStats& n = nodes[i]; n.body)
      out += fmt::format("\nthe body of call {} ({}, scope {}):\n{}", i, n.op, n.scope.empty() ? "-" : n.scope,
                         n.body->stats().report());
  return out;
}

void CompiledExecutable::reset_profile() {
  executor_->reset_profile();
  for (const NodeStats& n : stats_.nodes)
    if (n.body) n.body->reset_profile();
}

std::string CompiledExecutable::profile_report() const {
  const std::vector<CallProfile>& prof = profile();
  if (prof.empty()) return "no profile: compile with CompileOptions::profile (weft-run --profile)\n";
  double total = 0;
  for (const CallProfile& p : prof) total += p.seconds;
  std::vector<size_t> order(prof.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return prof[a].seconds > prof[b].seconds; });
  std::string out = fmt::format("{:>4}  {:<12} {:<30} {:<7} {:>6} {:>10} {:>10} {:>6} {:>8} {:>8}\n", "call", "op",
                                "scope", "runs by", "calls", "total ms", "ms/call", "share", "GFLOP/s", "GB/s");
  for (size_t i : order) {
    const CallProfile& p = prof[i];
    const NodeStats& n = stats_.nodes[i];
    auto rate = [&](double amount) {
      return p.seconds > 0 && amount > 0 ? fmt::format("{:.1f}", amount / p.seconds * 1e-9) : std::string("-");
    };
    out += fmt::format("{:>4}  {:<12} {:<30} {:<7} {:>6} {:>10.3f} {:>10.4f} {:>5.1f}% {:>8} {:>8}\n", i, n.op,
                       n.scope.empty() ? "-" : n.scope.substr(0, 30), n.provider, p.calls, p.seconds * 1e3,
                       p.calls ? p.seconds * 1e3 / static_cast<double>(p.calls) : 0.0,
                       total > 0 ? 100 * p.seconds / total : 0.0, rate(p.flops), rate(p.bytes));
  }
  out += fmt::format("total {:.3f} ms in {} calls\n", total * 1e3, prof.size());
  // A scan is one call above; where its steps' time goes is in its body's own table.
  for (size_t i : order) {
    const NodeStats& n = stats_.nodes[i];
    if (!n.body || n.body->profile().empty()) continue;
    out += fmt::format("\nthe body of call {} ({}, scope {}): {:.3f} ms in the scan\n", i, n.op,
                       n.scope.empty() ? "-" : n.scope, prof[i].seconds * 1e3);
    out += n.body->profile_report();
  }
  return out;
}

// --- the chain ---

ProviderChain::ProviderChain(std::string name, std::vector<std::shared_ptr<const KernelProvider>> providers)
    : name_(std::move(name)), providers_(std::move(providers)) {
  WEFT_CHECK(!providers_.empty(), "a provider chain needs a provider");
}

LoweringOptions ProviderChain::lowering_options(const CompileOptions& options) const {
  LoweringOptions lowering = providers_.front()->lowering_policy();
  lowering.evaluate_constants = interpreter_constant_evaluator();
  lowering.verify_each = options.verify_each;
  lowering.print_after_change = options.print_after_change;
  lowering.time_passes = options.time_passes;
  return lowering;
}

std::unique_ptr<Executable> ProviderChain::compile(const Graph& graph, const CompileOptions& options) const {
  return compile_chain(graph, options);
}

std::unique_ptr<CompiledExecutable> ProviderChain::compile_chain(const Graph& graph,
                                                                 const CompileOptions& options) const {
  if (options.num_threads < 0 || options.num_threads > 1024)
    throw Error(fmt::format("CompileOptions::num_threads must be 0 (the global pool) or 1 to 1024, but is {}",
                            options.num_threads));
  Lowered lowered = lower(graph, lowering_options(options));
  return build(lowered.graph, std::move(lowered.program), lowered.seconds, options,
               providers_.front()->lowering_notes(graph));
}

std::unique_ptr<CompiledExecutable> ProviderChain::build(const Graph& g, std::optional<Program> program,
                                                         double pass_seconds, const CompileOptions& options,
                                                         std::vector<std::string> lowering_notes) const {
  auto start = Clock::now();
  // A device provider's program is planned in its memory space (`lower` planned for the host).
  MemoryResource* memory = providers_.front()->memory();
  PlanOptions plan_options;
  if (memory) {
    plan_options.space = memory->space();
    if (program) program = plan_program(g, {}, plan_options);
  }
  // The calls are the same for every size of the unbounded symbols (only offsets differ): kernels
  // are made from a plan at size 1.
  SymbolBindings ones;
  for (const SymbolDecl& s : g.symbols())
    if (!s.bound) ones.emplace(s.name, 1);
  std::optional<Program> sized_at_one;
  if (!program) sized_at_one = plan_program(g, ones, plan_options);
  const Program& calls = program ? *program : *sized_at_one;  // read before `program` moves below
  pass_seconds += seconds_since(start);

  CompileStats stats;
  stats.backend = name_;
  stats.pass_seconds = pass_seconds;
  stats.lowering_notes = std::move(lowering_notes);
  ProviderContext context{options, g.symbols(), [this, &options, plan_options](const Graph& body) {
                            std::optional<Program> plan;
                            if (all_bounded(body)) plan = plan_program(body, {}, plan_options);
                            return std::shared_ptr<CompiledExecutable>(build(body, std::move(plan), 0, options));
                          }};
  context.prepared = providers_.front()->prepare(calls.calls, context);
  std::vector<CallKernel> kernels;
  for (const KernelCall& call : calls.calls) {
    NodeStats ns;
    ns.scope = call.scope;
    ns.op = call.op == OpKind::fusion ? call.attrs.get_string("kind") : std::string(op_name(call.op));
    std::optional<ProvidedKernel> provided;
    for (const auto& provider : providers_) {
      std::string why;
      provided = provider->kernel_for(call, context, &why);
      if (provided) {
        // A provider choosing among others ("auto") names the one whose kernel it gave.
        ns.provider = provided->kernel.provider.empty() ? provider->name() : provided->kernel.provider;
        break;
      }
      if (!why.empty()) ns.reason += (ns.reason.empty() ? "" : "; ") + why;
    }
    if (!provided)
      throw Error(
          with_location(fmt::format("backend '{}': no provider runs {} ({})", name_, ns.op, ns.reason), call.loc));
    ns.compiled = provided->generated;
    ns.cache_hit = provided->cache_hit;
    ns.compile_seconds = provided->compile_seconds;
    if (!provided->note.empty()) ns.reason = provided->note;
    ns.body = provided->body;
    stats.compiled += ns.compiled ? 1 : 0;
    stats.cache_hits += ns.cache_hit ? 1 : 0;
    stats.codegen_seconds += ns.compile_seconds;
    if (ns.provider == "interp" && providers_.size() > 1) ++stats.fallback;
    stats.nodes.push_back(std::move(ns));
    if (options.profile) {
      const size_t index = kernels.size();
      SymbolicCount flops = node_flops(g, g.nodes()[index]);  // calls mirror the top-level nodes
      provided->kernel.flops = [flops](const SymbolBindings& sizes) { return flops.evaluate(sizes).value_or(0.0); };
    }
    kernels.push_back(std::move(provided->kernel));
  }
  ProgramPlanner planner = [g, plan_options](const SymbolBindings& sizes) {
    return plan_program(g, sizes, plan_options);
  };
  auto executor = std::make_unique<ProgramExecutor>(
      signature_of(g), std::move(program), std::move(planner), std::move(kernels), lazy_initial_params(g),
      ExecutorOptions{.nan_trap = options.nan_trap, .memory = memory, .profile = options.profile});
  return std::make_unique<CompiledExecutable>(std::move(executor), g, std::move(stats), options.num_threads);
}

}  // namespace weft
