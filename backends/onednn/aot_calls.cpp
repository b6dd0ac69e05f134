/** \file
 * The oneDNN library of shared objects: plans as C for backends/onednn/capi. See aot_calls.h.
 */
#include "backends/onednn/aot_calls.h"

#include <dnnl.h>
#include <fmt/format.h>

#include <cmath>
#include <string_view>

#include "backends/onednn/primitive_cache.h"
#include "backends/onednn/region_match.h"

namespace weft::llvm_backend {
const std::vector<AotSourceFile>& onednn_aot_files();  // backends/onednn/capi, embedded by CMake
}

namespace weft::onednn {

namespace {

std::string_view eltwise_c(Eltwise e) {
  switch (e) {
    case Eltwise::relu:
      return "dnnl_eltwise_relu";
    case Eltwise::tanh:
      return "dnnl_eltwise_tanh";
    case Eltwise::logistic:
      return "dnnl_eltwise_logistic";
    case Eltwise::gelu_erf:
      return "dnnl_eltwise_gelu_erf";
    case Eltwise::gelu_tanh:
      return "dnnl_eltwise_gelu_tanh";
    case Eltwise::exp:
      return "dnnl_eltwise_exp";
    case Eltwise::log:
      return "dnnl_eltwise_log";
    case Eltwise::sqrt:
      return "dnnl_eltwise_sqrt";
    case Eltwise::abs:
      return "dnnl_eltwise_abs";
    case Eltwise::linear:
      return "dnnl_eltwise_linear";
    case Eltwise::pow:
      return "dnnl_eltwise_pow";
    case Eltwise::square:
      return "dnnl_eltwise_square";
  }
  return "dnnl_alg_kind_undef";
}

std::string_view binary_c(Binary b) {
  switch (b) {
    case Binary::add:
      return "dnnl_binary_add";
    case Binary::sub:
      return "dnnl_binary_sub";
    case Binary::mul:
      return "dnnl_binary_mul";
    case Binary::div:
      return "dnnl_binary_div";
    case Binary::max:
      return "dnnl_binary_max";
    case Binary::min:
      return "dnnl_binary_min";
  }
  return "dnnl_alg_kind_undef";
}

/// A float as a C constant expression, exactly (9 significant digits), infinities and NaN included.
std::string float_c(float v) {
  if (std::isnan(v)) return "__builtin_nanf(\"\")";
  if (std::isinf(v)) return v > 0 ? "__builtin_inff()" : "(-__builtin_inff())";
  return fmt::format("{:#.9g}f", v);
}

/// Sizes at which the primitive is first made at compile time, as the JIT's provider does: each
/// symbol at its bound (capped at 64), so that a shape oneDNN refuses stays generated code.
SymbolBindings trial_sizes(const std::vector<SymbolDecl>& symbols) {
  SymbolBindings sizes;
  for (const SymbolDecl& s : symbols) sizes.emplace(s.name, s.bound ? std::min<int64_t>(*s.bound, 64) : 2);
  return sizes;
}

std::optional<std::string> kernel_text(const llvm_backend::AotLibraryCall& offer, std::string* why) {
  std::optional<Plan> plan = match_call(offer.call, why);
  if (!plan) return std::nullopt;
  int primitive = -1;
  switch (plan->primitive) {
    case Primitive::matmul:
      primitive = 0;
      break;
    case Primitive::softmax:
      primitive = 1;
      break;
    case Primitive::log_softmax:
      primitive = 2;
      break;
    case Primitive::layer_norm:
      primitive = 3;
      break;
    default:
      *why = fmt::format("oneDNN's {} is not offered to shared objects: generated code computes it",
                         primitive_name(plan->primitive));
      return std::nullopt;
  }
  if (std::string refused = PrimitiveCache(*plan, offer.call).try_create(trial_sizes(offer.symbols));
      !refused.empty()) {
    *why = refused;
    return std::nullopt;
  }
  const std::string& n = offer.name;
  std::string c = fmt::format("/* {} */\n", plan->describe());
  std::string ops = "0";
  if (!plan->post_ops.empty()) {
    ops = n + "_ops";
    c += fmt::format("static const weft_rt_dnnl_post_op {}[] = {{", ops);
    for (size_t i = 0; i < plan->post_ops.size(); ++i) {
      const PostOp& p = plan->post_ops[i];
      c += fmt::format("{}{{{}, {}, {}, {}, {}, {}}}", i ? ", " : "", p.is_binary ? 1 : 0,
                       p.is_binary ? binary_c(p.binary) : eltwise_c(p.eltwise), float_c(p.alpha), float_c(p.beta),
                       p.is_binary ? p.operand : -1, float_c(p.scalar));
    }
    c += "};\n";
  }
  int axis = plan->axes.empty() ? 0 : static_cast<int>(plan->axes[0]);
  c += fmt::format(
      "static const weft_rt_dnnl_plan {0}_plan = {{{1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}, {10}, {11}, {12}, "
      "{13}, {14}, {15}, {16}, {17}}};\n",
      n, primitive, plan->src0, plan->src1, plan->bias, plan->scale, plan->dst, plan->transpose_a ? 1 : 0,
      plan->transpose_b ? 1 : 0, axis, float_c(plan->eps), plan->post_ops.size(), ops, offer.call.operands.size(),
      offer.types, offer.fallback, offer.num_fallback_dims, offer.fallback_dims);
  c += fmt::format("static weft_rt_dnnl_call {0}_call = {{&{0}_plan, PTHREAD_MUTEX_INITIALIZER, 0}};\n", n);
  // The shim reads shapes in the program's symbols: the kernel's dims go back to their places.
  c += fmt::format("static void {0}(void* const* buffers, const int64_t* dims) {{\n  int64_t all[{1}] = {{0}};\n", n,
                   std::max<size_t>(offer.symbols.size(), 1));
  for (size_t k = 0; k < offer.dims.size(); ++k) c += fmt::format("  all[{}] = dims[{}];\n", offer.dims[k], k);
  c += fmt::format("  weft_rt_dnnl_run(&{}_call, buffers, all);\n}}\n", n);
  return c;
}

}  // namespace

const llvm_backend::AotLibrary& aot_library() {
  static const llvm_backend::AotLibrary library = [] {
    llvm_backend::AotLibrary l;
    l.name = "onednn";
    l.links = fmt::format("libdnnl.so.{} and libgomp.so.1", dnnl_version()->major);
    l.sources = llvm_backend::onednn_aot_files();
    l.prelude = "#include \"weft_rt_dnnl.h\"\n";
    if (std::string_view(WEFT_DNNL_INCLUDE_DIR) != "/usr/include") l.cflags.push_back("-I" WEFT_DNNL_INCLUDE_DIR);
    l.link_flags = {WEFT_DNNL_LIBRARY, WEFT_GOMP_LIBRARY};
    l.kernel = kernel_text;
    return l;
  }();
  return library;
}

}  // namespace weft::onednn
