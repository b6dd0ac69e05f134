/** \file
 * The oneDNN provider and the "onednn" backend. See onednn_backend.h.
 */
#include <fmt/format.h>

#include "backends/interp/interpreter.h"
#include "backends/onednn/onednn_backend.h"
#include "backends/onednn/primitive_cache.h"
#include "backends/onednn/region_match.h"
#include "backends/onednn/rnn_layer.h"
#include "ir/ops.h"

#ifdef WEFT_HAVE_LLVM
#include "backends/llvm/llvm_backend.h"
#endif

namespace weft {

namespace {

/// Sizes at which a call's primitive is first made, to learn at compile time whether oneDNN takes
/// it: each symbol at its bound, or 2 when it has none (1 would make every broadcast look legal).
SymbolBindings trial_sizes(const std::vector<SymbolDecl>& symbols) {
  SymbolBindings sizes;
  for (const SymbolDecl& s : symbols) sizes.emplace(s.name, s.bound ? std::min<int64_t>(*s.bound, 64) : 2);
  return sizes;
}

bool has_inout(const KernelCall& call) {
  for (const BufferRef& ref : call.operands)
    if (ref.access == Access::inout) return true;
  return false;
}

class OnednnProvider : public KernelProvider {
 public:
  std::string name() const override { return "onednn"; }

  // As the LLVM provider (every call oneDNN declines is then one the LLVM provider can take), but
  // an f32 recurrent layer (LSTM, RNN, GRU) and its gradient stay whole for the RNN primitives
  // (rnn_layer.h).
  LoweringOptions lowering_policy() const override {
    LoweringOptions options;
    options.keep_composites = onednn::keeps_recurrent_layer;
    return options;
  }

  std::optional<ProvidedKernel> kernel_for(const KernelCall& call, const ProviderContext& context,
                                           std::string* why) const override {
    // Reasons start with "oneDNN: ", so that a report line of the provider that took the call says
    // whose they are.
    if (onednn::is_recurrent_layer(call.op)) {
      std::optional<ProvidedKernel> layer = onednn::recurrent_layer_kernel(call, context, why);
      if (!layer) *why = "oneDNN: " + *why;
      return layer;
    }
    std::optional<onednn::Plan> plan = onednn::match_call(call, why);
    if (!plan) {
      *why = "oneDNN: " + *why;
      return std::nullopt;
    }
    auto cache = std::make_shared<onednn::PrimitiveCache>(*plan, call);
    if (std::string refused = cache->try_create(trial_sizes(context.symbols)); !refused.empty()) {
      *why = "oneDNN: " + refused;
      return std::nullopt;
    }
    // A size oneDNN refuses at run time, or an operand with no elements (where oneDNN would
    // leave the result unwritten), runs on the interpreter's kernel for the same call.
    std::string unused;
    std::optional<ProvidedKernel> fallback = interp_provider()->kernel_for(call, context, &unused);
    WEFT_CHECK(fallback.has_value(), "the interpreter declined a call");
    ProvidedKernel out;
    out.note = plan->describe();
    out.kernel.provider = "onednn";
    out.kernel.run = [cache, slow = std::move(fallback->kernel.run)](std::span<void* const> buffers,
                                                                     const SymbolBindings& sizes) {
      if (!cache->run(buffers, sizes)) slow(buffers, sizes);
    };
    // The NaN trap names the op inside the region that made a non-finite value by re-running the
    // region on the interpreter (not possible when a result overwrote an operand in place).
    if (context.options.nan_trap && !has_inout(call)) {
      auto wrapper = std::make_shared<const Graph>(wrap_call(call, context.symbols));
      out.kernel.explain_non_finite = [call, wrapper](std::span<void* const> buffers, const SymbolBindings& sizes) {
        interpret_call(*wrapper, call, buffers, sizes, {.nan_trap = true});
      };
    }
    return out;
  }
};

}  // namespace

std::shared_ptr<const KernelProvider> onednn_provider() {
  static const auto provider = std::make_shared<const OnednnProvider>();
  return provider;
}

std::unique_ptr<Backend> make_onednn_backend() {
  std::vector<std::shared_ptr<const KernelProvider>> chain{onednn_provider()};
#ifdef WEFT_HAVE_LLVM
  chain.push_back(llvm_provider());
#endif
  chain.push_back(interp_provider());
  return std::make_unique<ProviderChain>("onednn", std::move(chain));
}

}  // namespace weft
