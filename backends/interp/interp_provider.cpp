/** \file
 * The reference interpreter as a kernel provider (backends/provider.h): the last provider of every
 * chain, and the only one of the "interp" backend.
 *
 * A call runs as a one-node graph through `interpret`: the node, its operands as inputs, then one
 * input of shape [S] per symbol S of the program, so that the interpreter binds the symbols the
 * operands do not carry. A scan's loop is backends/scan_loop.h, each step running the body compiled
 * by the same chain (the interpreter's own scan kernel stays the oracle it is tested against).
 */
#include <fmt/format.h>

#include <cstring>

#include "backends/interp/interpreter.h"
#include "backends/interp/kernels.h"
#include "backends/provider.h"
#include "backends/scan_loop.h"
#include "ir/ops.h"

namespace weft {

namespace {

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

Graph wrap_call(const KernelCall& call, const std::vector<SymbolDecl>& symbols) {
  Graph w(fmt::format("{}_alone", op_name(call.op)));
  for (const SymbolDecl& s : symbols) w.declare_symbol(s.name, s.bound);
  std::vector<ValueId> operands;
  for (int32_t i = 0; i < call.num_inputs; ++i)
    operands.push_back(w.add_input(fmt::format("x{}", i), call.operands[i].type));
  for (const SymbolDecl& s : symbols)
    w.add_input(fmt::format("symbol_{}", s.name), TensorType{DType::boolean, {Dim::symbol(s.name)}});
  std::vector<TensorType> types;
  for (size_t k = call.num_inputs; k < call.operands.size(); ++k) types.push_back(call.operands[k].type);
  int32_t index = w.add_node(call.op, operands, call.attrs, types, call.scope, call.loc, call.body);
  for (size_t k = 0; k < types.size(); ++k) w.add_output(fmt::format("y{}", k), w.nodes()[index].results[k]);
  return w;
}

namespace {

/// The call's operands as tensors (copies: a result may be written over an operand in place).
std::vector<Tensor> operand_tensors(const KernelCall& call, std::span<void* const> buffers,
                                    const SymbolBindings& sizes) {
  std::vector<Tensor> ins;
  for (int32_t i = 0; i < call.num_inputs; ++i) {
    const TensorType& type = call.operands[i].type;
    std::vector<int64_t> shape = evaluate_shape(type.shape, sizes);
    size_t bytes = static_cast<size_t>(numel(shape)) * dtype_size(type.dtype);
    ins.push_back(Tensor::from_bytes(type.dtype, shape, {static_cast<const std::byte*>(buffers[i]), bytes}));
  }
  return ins;
}

}  // namespace

std::vector<Tensor> interpret_call(const Graph& wrapper, const KernelCall& call, std::span<void* const> buffers,
                                   const SymbolBindings& sizes, const InterpOptions& options) {
  std::vector<Tensor> ins = operand_tensors(call, buffers, sizes);
  for (size_t i = call.num_inputs; i < wrapper.inputs().size(); ++i) {
    const std::string& symbol = wrapper.type(wrapper.inputs()[i].value).shape[0].symbols()[0];
    auto it = sizes.find(symbol);
    ins.push_back(Tensor::zeros(DType::boolean, {it == sizes.end() ? 0 : it->second}));
  }
  return interpret(wrapper, ins, {}, options);
}

namespace {

void store_results(const KernelCall& call, std::span<void* const> buffers, const SymbolBindings& sizes,
                   const std::vector<Tensor>& outs) {
  WEFT_CHECK(outs.size() == call.operands.size() - call.num_inputs,
             fmt::format("{}: the interpreter returned {} results", op_name(call.op), outs.size()));
  for (size_t k = 0; k < outs.size(); ++k) {
    const BufferRef& ref = call.operands[call.num_inputs + k];
    WEFT_CHECK(outs[k].dtype() == ref.type.dtype && outs[k].shape() == evaluate_shape(ref.type.shape, sizes),
               fmt::format("{}: the interpreter's result {} disagrees with the plan's {}", op_name(call.op),
                           outs[k].type_str(), ref.type.str()));
    if (outs[k].nbytes() > 0) std::memcpy(buffers[call.num_inputs + k], outs[k].raw(), outs[k].nbytes());
  }
}

class InterpProvider : public KernelProvider {
 public:
  std::string name() const override { return "interp"; }

  LoweringOptions lowering_policy() const override {
    LoweringOptions o;
    o.decompose = false;  // the oracle runs the graph as written: composites through their kernels
    o.simplify = false;
    o.fusion.fuse = false;
    return o;
  }

  std::optional<ProvidedKernel> kernel_for(const KernelCall& call, const ProviderContext& context,
                                           std::string*) const override {
    auto wrapper = std::make_shared<const Graph>(wrap_call(call, context.symbols));
    const bool nan_trap = context.options.nan_trap;
    ProvidedKernel out;
    if (call.op == OpKind::scan && call.body) {
      std::shared_ptr<CompiledExecutable> body = context.compile_body(*call.body);
      const CompileStats& bs = body->stats();
      out.note = fmt::format("the scan's loop; its body: {} compiled, {} on the interpreter", bs.compiled, bs.fallback);
      out.compile_seconds = bs.codegen_seconds;
      out.body = body;
      out.kernel = scan_loop_kernel(call, body);
      return out;
    }
    out.kernel.provider = "interp";
    out.kernel.run = [call, wrapper, nan_trap](std::span<void* const> buffers, const SymbolBindings& sizes) {
      store_results(call, buffers, sizes, interpret_call(*wrapper, call, buffers, sizes, {.nan_trap = nan_trap}));
    };
    return out;
  }
};

}  // namespace

std::shared_ptr<const KernelProvider> interp_provider() {
  static const auto provider = std::make_shared<const InterpProvider>();
  return provider;
}

std::unique_ptr<Backend> make_interp_backend() { return std::make_unique<InterpBackend>(); }

}  // namespace weft
