/** \file
 * The LLVM provider and the "llvm" backend. See llvm_backend.h.
 */
#include "backends/llvm/llvm_backend.h"

#include <fmt/format.h>

#include <cstdlib>
#include <unordered_map>

#include "backends/interp/interpreter.h"
#include "backends/llvm/node_region.h"
#include "backends/llvm/region_codegen.h"
#include "ir/ops.h"
#include "runtime/thread_pool.h"

namespace weft {

namespace {

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

/// "a fused region (first op: exp at model.cpp:12)", for a trap that cannot name the op itself.
std::string first_op_of(const KernelCall& call) {
  if (!call.body || call.body->nodes().empty()) return "a fused region";
  const Node& first = call.body->nodes().front();
  return fmt::format("a fused region (first op: {}{})", op_name(first.op),
                     first.loc.file.empty() ? "" : " at " + first.loc.str());
}

/// A fused region's generated code has no per-op checks, so when it produced a non-finite value the
/// interpreter re-runs the region on the same inputs with the trap on: its error names the first op
/// that produced one, with that op's DSL line, as the interpreter backend's does. Returns (and the
/// executor names the region by its first op) when an input was overwritten in place by an output,
/// or when the interpreter finds every value finite.
void trap_in_region(const Graph& wrapper, const KernelCall& call, std::span<void* const> buffers,
                    const SymbolBindings& sizes) {
  auto bytes_of = [&](const BufferRef& ref) {
    return static_cast<size_t>(numel(evaluate_shape(ref.type.shape, sizes))) * dtype_size(ref.type.dtype);
  };
  for (int32_t i = 0; i < call.num_inputs; ++i)
    for (size_t k = call.num_inputs; k < call.operands.size(); ++k) {
      auto* a = static_cast<const std::byte*>(buffers[i]);
      auto* b = static_cast<const std::byte*>(buffers[k]);
      if (a < b + bytes_of(call.operands[k]) && b < a + bytes_of(call.operands[i])) return;
    }
  interpret_call(wrapper, call, buffers, sizes, {.nan_trap = true});  // throws the interpreter's trap
}

/// The regions of `calls`, and of the bodies of their scans (planned as the chain will plan them,
/// at size 1 for unbounded symbols), into `out`; with `of`, the call of each of `calls`' own.
void collect_regions(std::span<const KernelCall> calls, std::vector<llvm_backend::NodeRegion>& out,
                     std::vector<const KernelCall*>* of) {
  for (const KernelCall& call : calls) {
    if (call.op == OpKind::scan && call.body) {
      SymbolBindings ones;
      for (const SymbolDecl& s : call.body->symbols())
        if (!s.bound) ones.emplace(s.name, 1);
      collect_regions(plan_program(*call.body, ones).calls, out, nullptr);
      continue;
    }
    std::string why;
    if (std::optional<llvm_backend::NodeRegion> region = llvm_backend::call_region(call, &why)) {
      out.push_back(std::move(*region));
      if (of) {
        of->resize(out.size(), nullptr);
        of->back() = &call;
      }
    }
  }
}

/// WEFT_COMPILE_THREADS when it is a count from 1 to 1024 (else 0: not set), read once. Like
/// WEFT_NUM_THREADS, another value is ignored.
int compile_threads_from_environment() {
  static const int threads = [] {
    const char* env = std::getenv("WEFT_COMPILE_THREADS");
    if (!env) return 0;
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    return end != env && *end == '\0' && v >= 1 && v <= 1024 ? static_cast<int>(v) : 0;
  }();
  return threads;
}

/// The code prepare made for a program's calls, so that kernel_for neither keys nor looks again.
struct PreparedRegions : PreparedCalls {
  using PreparedCalls::PreparedCalls;
  std::unordered_map<const KernelCall*, llvm_backend::RegionCode> code;
};

class LlvmProvider : public KernelProvider {
 public:
  LlvmProvider(llvm_backend::Jit* jit, int compile_threads) : jit_(jit), compile_threads_(compile_threads) {}

  std::string name() const override { return "llvm"; }

  std::shared_ptr<const PreparedCalls> prepare(std::span<const KernelCall> calls,
                                               const ProviderContext& context) const override {
    std::vector<llvm_backend::NodeRegion> regions;
    std::vector<const KernelCall*> of;
    collect_regions(calls, regions, &of);
    of.resize(regions.size(), nullptr);
    int threads = compile_threads_ > 0 ? compile_threads_ : compile_threads_from_environment();
    if (threads <= 0) threads = context.options.num_threads;
    if (threads <= 0) threads = ThreadPool::global().num_threads();
    std::vector<std::optional<llvm_backend::RegionCode>> code = llvm_backend::compile_regions(regions, threads, jit());
    auto prepared = std::make_shared<PreparedRegions>(this);
    for (size_t i = 0; i < code.size(); ++i)
      if (of[i] && code[i]) prepared->code.emplace(of[i], *code[i]);
    return prepared;
  }

  LoweringOptions lowering_policy() const override {
    LoweringOptions options;  // decompose, simplify, fuse
    // Attention as one region (attention_codegen.cpp); WEFT_ATTENTION_REGIONS=off decomposes it into
    // matmuls and a softmax as before, to compare the two.
    const char* env = std::getenv("WEFT_ATTENTION_REGIONS");
    options.fusion.options.attention = !(env && (std::string(env) == "off" || std::string(env) == "0"));
    return options;
  }

  std::optional<ProvidedKernel> kernel_for(const KernelCall& call, const ProviderContext& context,
                                           std::string* why) const override {
    llvm_backend::RegionCompileResult code;
    if (context.prepared && context.prepared->by == this) {
      const auto& prepared = static_cast<const PreparedRegions&>(*context.prepared);
      if (auto it = prepared.code.find(&call); it != prepared.code.end()) code.code = it->second;
    }
    if (!code.code) {
      std::optional<llvm_backend::NodeRegion> region = llvm_backend::call_region(call, why);
      if (!region) return std::nullopt;
      code = llvm_backend::compile_region(region->body, region->kind, jit());
    }
    if (!code.code) {
      *why = code.unsupported;
      return std::nullopt;
    }
    ProvidedKernel out;
    out.generated = true;
    out.cache_hit = code.code->cache_hit;
    out.compile_seconds = code.code->compile_seconds;
    llvm_backend::RegionFunction function = code.code->function;
    std::vector<std::string> symbols = code.code->symbols;
    out.kernel.provider = "llvm";
    out.kernel.run = [function, symbols, loc = call.loc, op = call.op](std::span<void* const> buffers,
                                                                       const SymbolBindings& sizes) {
      int64_t dims[64];
      WEFT_CHECK(symbols.size() <= 64, "a region with more than 64 symbols");
      for (size_t i = 0; i < symbols.size(); ++i) {
        auto it = sizes.find(symbols[i]);
        if (it == sizes.end())
          throw Error(with_location(
              fmt::format("{}: symbol {} has no value: no input's shape determines it", op_name(op), symbols[i]), loc));
        dims[i] = it->second;
      }
      function(buffers.data(), dims);
    };
    // The trap's sharper message needs the region as a graph of its own: made only when trapping.
    if (call.op == OpKind::fusion && context.options.nan_trap) {
      out.kernel.what = first_op_of(call);
      auto wrapper = std::make_shared<const Graph>(wrap_call(call, context.symbols));
      out.kernel.explain_non_finite = [call, wrapper](std::span<void* const> buffers, const SymbolBindings& sizes) {
        trap_in_region(*wrapper, call, buffers, sizes);
      };
    }
    return out;
  }

 private:
  llvm_backend::Jit& jit() const { return jit_ ? *jit_ : llvm_backend::Jit::global(); }

  llvm_backend::Jit* jit_;  // null: Jit::global(), made at the first compile
  int compile_threads_;
};

}  // namespace

std::shared_ptr<const KernelProvider> llvm_provider() {
  static const auto provider = std::make_shared<const LlvmProvider>(nullptr, 0);
  return provider;
}

std::shared_ptr<const KernelProvider> llvm_provider(llvm_backend::Jit& jit, int compile_threads) {
  return std::make_shared<const LlvmProvider>(&jit, compile_threads);
}

LlvmBackend::LlvmBackend() : ProviderChain("llvm", {llvm_provider(), interp_provider()}) {}

std::unique_ptr<Backend> make_llvm_backend() { return std::make_unique<LlvmBackend>(); }

}  // namespace weft
