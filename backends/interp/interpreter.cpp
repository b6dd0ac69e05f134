#include "backends/interp/interpreter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "backends/interp/kernels.h"
#include "ir/graph_builder.h"
#include "ir/init.h"
#include "ir/ops.h"
#include "runtime/thread_pool.h"

namespace weft {

namespace {

/// `outer`: the bindings of the graph owning `graph` as a body (a region's reshape may name symbols
/// its own inputs do not bind); null at the top level.
std::vector<Tensor> evaluate(const Graph& graph, std::span<const Tensor> inputs, std::span<const Tensor> params,
                             const InterpOptions& options, bool with_updates, const SymbolBindings* outer = nullptr);

/// Runs a composite op through its decomposition, built for the operands' concrete types.
std::vector<Tensor> run_decomposition(const Node& node, std::span<const Tensor> operands,
                                      const InterpOptions& options) {
  const OpDef& def = op_def(node.op);
  if (!def.decompose)
    throw Error(with_location(
        fmt::format("{}: the interpreter has no kernel and the op has no decomposition", def.name), node.loc));
  Graph g(def.name);
  std::vector<ValueId> args;
  for (size_t i = 0; i < operands.size(); ++i)
    args.push_back(
        g.add_input(fmt::format("x{}", i), TensorType{operands[i].dtype(), static_shape(operands[i].shape())}));
  GraphBuilder b(g);
  b.set_scope(node.scope);
  b.set_loc(node.loc);
  std::vector<ValueId> results = def.decompose(b, args, node.attrs);
  for (size_t i = 0; i < results.size(); ++i) g.add_output(fmt::format("y{}", i), results[i]);
  return evaluate(g, operands, {}, options, false);
}

bool has_non_finite(const Tensor& t) {
  if (t.dtype() != DType::f32 && t.dtype() != DType::f64) return false;
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.at(i))) return true;
  return false;
}

std::vector<Tensor> evaluate(const Graph& graph, std::span<const Tensor> inputs, std::span<const Tensor> params,
                             const InterpOptions& options, bool with_updates, const SymbolBindings* outer) {
  WEFT_CHECK(inputs.size() == graph.inputs().size(), "interpret: wrong number of inputs");
  std::vector<Tensor> values(graph.num_values());
  SymbolBindings bindings;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ValueId v = graph.inputs()[i].value;
    const TensorType& type = graph.type(v);
    for (size_t d = 0; d < type.shape.size() && d < inputs[i].shape().size(); ++d) {
      const Dim& dim = type.shape[d];
      if (!dim.is_static() && dim.coefficient() == 1 && dim.symbols().size() == 1)
        bindings.emplace(dim.symbols()[0], inputs[i].shape()[d]);
    }
    values[v] = inputs[i];
  }
  if (outer)
    for (const auto& [name, size] : *outer) bindings.emplace(name, size);  // the body's own inputs win
  for (size_t i = 0; i < params.size(); ++i) values[graph.params()[i].value] = params[i];

  auto run_subgraph = [&options, &bindings](const Graph& g, std::span<const Tensor> ins) {
    return evaluate(g, ins, {}, options, false, &bindings);
  };
  for (const Node& node : graph.nodes()) {
    std::vector<Tensor> operands;
    operands.reserve(node.operands.size());
    for (ValueId v : node.operands) operands.push_back(values[v]);
    std::vector<Tensor> results;
    if (const interp::Kernel* k = interp::find_kernel(node.op)) {
      interp::KernelContext ctx{node, bindings, run_subgraph, &graph};
      try {
        results = (*k)(ctx, operands);
      } catch (const Error& e) {
        // A region's or a scan body's node already named its own line; the same line once is enough.
        const std::string what = e.what();
        const std::string at = " (at " + node.loc.str() + ")";
        bool located =
            !node.loc.empty() && what.size() >= at.size() && what.compare(what.size() - at.size(), at.size(), at) == 0;
        throw Error(located ? what : with_location(what, node.loc));
      }
    } else {
      results = run_decomposition(node, operands, options);
    }
    WEFT_CHECK(results.size() == node.results.size(),
               fmt::format("{} kernel returned {} results, expected {}", op_name(node.op), results.size(),
                           node.results.size()));
    for (size_t i = 0; i < results.size(); ++i) {
      if (options.nan_trap && has_non_finite(results[i]))
        throw Error(with_location(fmt::format("NaN/Inf trap: {} produced a non-finite value in result {} ({}) of "
                                              "scope '{}'",
                                              op_name(node.op), i, results[i].type_str(), node.scope),
                                  node.loc));
      values[node.results[i]] = std::move(results[i]);
    }
  }
  std::vector<Tensor> outs;
  for (const auto& o : graph.outputs()) outs.push_back(values[o.value]);
  if (with_updates)
    for (const auto& u : graph.updates()) outs.push_back(values[u.value]);
  return outs;
}

}  // namespace

std::vector<Tensor> interpret(const Graph& graph, std::span<const Tensor> inputs, std::span<const Tensor> params,
                              const InterpOptions& options) {
  if (params.size() != graph.params().size())
    throw Error(fmt::format("interpret: graph '{}' has {} parameters, but {} values were given", graph.name(),
                            graph.params().size(), params.size()));
  return evaluate(graph, inputs, params, options, true);
}

namespace {

struct ParamInit {
  Initializer init;
  DType dtype;
  std::vector<int64_t> shape;
};

ParamInit checked_param(const Graph& graph, const ParamDecl& p) {
  const TensorType& t = graph.type(p.value);
  std::vector<int64_t> shape;
  for (const auto& d : t.shape) {
    if (!d.is_static())
      throw Error(
          fmt::format("parameter '{}' has symbolic shape {}: parameters must have static shapes", p.name, t.str()));
    shape.push_back(d.value());
  }
  return {p.init, t.dtype, std::move(shape)};
}

/// The parameter's values, slices of kSlice elements on the calling thread's pool: a model's
/// parameters are millions of elements, each a Philox block (docs/weights.md), and a decode or
/// inference executable's first copy of them waits for all.
Tensor materialize(const ParamInit& p) {
  constexpr int64_t kSlice = int64_t{1} << 16;
  Tensor t = Tensor::uninitialized(p.dtype, p.shape);
  const int64_t n = t.numel();
  auto* out = static_cast<std::byte*>(t.raw());
  const size_t element = dtype_size(p.dtype);
  const int64_t slices = (n + kSlice - 1) / kSlice;
  auto fill = [&](int64_t i) {
    const int64_t first = i * kSlice, count = std::min(kSlice, n - first);
    materialize_initializer_slice(p.init, p.dtype, p.shape, static_cast<uint64_t>(first), static_cast<uint64_t>(count),
                                  out + static_cast<size_t>(first) * element);
  };
  if (slices <= 1) {
    materialize_initializer_slice(p.init, p.dtype, p.shape, 0, static_cast<uint64_t>(n), out);
    return t;
  }
  ThreadPool::current().parallel_for(slices, fill);
  return t;
}

}  // namespace

std::vector<Tensor> initial_params(const Graph& graph) {
  std::vector<Tensor> out;
  for (const auto& p : graph.params()) out.push_back(materialize(checked_param(graph, p)));
  return out;
}

std::function<Tensor(size_t)> lazy_initial_params(const Graph& graph) {
  std::vector<ParamInit> params;
  for (const auto& p : graph.params()) {
    params.push_back(checked_param(graph, p));
    check_initializer(p.init, params.back().dtype, params.back().shape);
  }
  return [params = std::move(params)](size_t i) { return materialize(params.at(i)); };
}

}  // namespace weft
