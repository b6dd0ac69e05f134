/** \file
 * The recurrent layer ops on oneDNN's RNN primitives: one kernel for the LSTM, the vanilla RNN and
 * the GRU, whose differences are in rnn_cells.cpp. See rnn_layer.h.
 */
#include "backends/onednn/rnn_layer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <dnnl.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "backends/interp/constant_evaluator.h"
#include "backends/interp/interpreter.h"
#include "backends/onednn/dnnl_context.h"
#include "backends/onednn/primitive_cache.h"
#include "backends/onednn/rnn_cells.h"
#include "ir/ops.h"
#include "passes/pipeline.h"
#include "runtime/tensor.h"

namespace weft::onednn {

namespace {

using tag = dnnl::memory::format_tag;
using dnnl::memory;

/// Where each operand of the call sits (ir/ops/composite_recurrent.cpp lays them out): the
/// forward's operands, then for a backward its forward's results (y, h_n[, c_n]) and their
/// gradients; the call's results follow.
struct Layout {
  const CellSpec& cell;
  bool backward = false, bias = true, lengths = false;
  int b_ih = -1, b_hh = -1, h0 = 0, c0 = -1, len = -1;
  int count = 0;        // the forward's operands
  int num_results = 2;  // the forward's: y, h_n[, c_n]

  explicit Layout(const KernelCall& call)
      : cell(cell_spec(call.op)),
        backward(call.op == cell.backward),
        bias(call.attrs.get_bool("bias")),
        lengths(call.attrs.get_bool("has_lengths")) {
    int next = 3;
    if (bias) b_ih = 3, b_hh = 4, next = 5;
    h0 = next++;
    if (cell.has_c) c0 = next++, num_results = 3;
    count = next;
    if (lengths) len = count++;
  }
  int y() const { return count; }  // backward: the forward's results, then their gradients
  int grad_y() const { return count + num_results; }
  int grad_h0() const { return bias ? 5 : 3; }  // among a backward's results
};

LayerDims dims_of(const KernelCall& call, const CellSpec& cell, const SymbolBindings& sizes) {
  std::vector<int64_t> x = evaluate_shape(call.operands[0].type.shape, sizes);
  std::vector<int64_t> w = evaluate_shape(call.operands[1].type.shape, sizes);
  return LayerDims{x[0], x[1], x[2], w[0] / cell.gates};
}

float* f32(std::span<void* const> buffers, int k) { return static_cast<float*>(buffers[static_cast<size_t>(k)]); }

/// A weight in the primitive's layout, reordered from Weft's (ldgoi, the GRU's first two gates
/// swapped) only when its values changed since the last reorder (a parameter update): each call
/// compares them with a copy.
class PreparedWeight {
 public:
  PreparedWeight(const memory::desc& user, const memory::desc& wanted, const CellSpec& cell, int64_t hidden, int64_t k)
      : user_(user),
        direct_(user == wanted),
        swap_(cell.swap_first_gates),
        hidden_(hidden),
        k_(k),
        prepared_(wanted, engine()) {}

  memory get(float* user_data) {
    if (direct_ && !swap_) return memory(user_, engine(), user_data);
    const size_t bytes = user_.get_size();
    if (last_.size() != bytes || std::memcmp(last_.data(), user_data, bytes) != 0) {
      float* source = user_data;
      if (swap_) {
        // The swapped copy is the prepared weight itself when the primitive takes Weft's layout.
        if (!direct_) swapped_.resize(bytes / sizeof(float));
        source = direct_ ? static_cast<float*>(prepared_.get_data_handle()) : swapped_.data();
        std::memcpy(source, user_data, bytes);
        swap_first_gates(source, hidden_, k_);
      }
      if (!direct_) {
        memory user(user_, engine(), source);
        dnnl::reorder(user, prepared_).execute(stream(), user, prepared_);
        stream().wait();
      }
      last_.assign(reinterpret_cast<const std::byte*>(user_data),
                   reinterpret_cast<const std::byte*>(user_data) + bytes);
    }
    return prepared_;
  }

 private:
  memory::desc user_;
  bool direct_, swap_;
  int64_t hidden_, k_;
  memory prepared_;
  std::vector<float> swapped_;
  std::vector<std::byte> last_;
};

/// What a forward_training call left for its backward (see rnn_layer.h, "Training").
struct Saved {
  std::mutex mutex;
  bool valid = false;
  std::vector<const void*> operands;  // the forward's operand buffers
  const void* y = nullptr;
  std::vector<std::vector<float>> results;  // copies of y, h_n[, c_n]
  memory::desc workspace_desc;
  memory workspace;
};

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::vector<std::weak_ptr<Saved>>& registry() {
  static std::vector<std::weak_ptr<Saved>> r;
  return r;
}

std::shared_ptr<Saved> new_saved() {
  auto s = std::make_shared<Saved>();
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto& r = registry();
  r.erase(std::remove_if(r.begin(), r.end(), [](const std::weak_ptr<Saved>& w) { return w.expired(); }), r.end());
  r.push_back(s);
  return s;
}

bool same(const std::vector<float>& copy, const float* data) {
  return std::memcmp(copy.data(), data, copy.size() * sizeof(float)) == 0;
}

/// The number of floats in each of the forward's results: y, h_n[, c_n].
std::vector<size_t> result_sizes(const Layout& l, const LayerDims& d) {
  std::vector<size_t> n{static_cast<size_t>(d.batch * d.length * d.hidden), static_cast<size_t>(d.batch * d.hidden)};
  if (l.cell.has_c) n.push_back(n[1]);
  return n;
}

/// The primitives and prepared weights at one set of sizes.
struct Entry {
  LayerDims d;
  LayerPrimitives p;
  std::unique_ptr<PreparedWeight> fwd_w_layer, fwd_w_iter;
  // backward calls only
  std::unique_ptr<PreparedWeight> bwd_w_layer, bwd_w_iter;
  memory diff_w_layer, diff_w_iter, diff_bias;  // in the primitive's layouts
  std::vector<float> bias, diff_bias_plain;

  Entry(const Layout& l, const LayerDims& dims, bool training)
      : d(dims), p(make_primitives(l.cell, d, training, l.backward)) {
    LayerDescs user(l.cell, d);
    fwd_w_layer =
        std::make_unique<PreparedWeight>(user.weights_layer, p.fwd_pd.weights_layer_desc(), l.cell, d.hidden, d.input);
    fwd_w_iter =
        std::make_unique<PreparedWeight>(user.weights_iter, p.fwd_pd.weights_iter_desc(), l.cell, d.hidden, d.hidden);
    if (!l.backward) return;
    bwd_w_layer =
        std::make_unique<PreparedWeight>(user.weights_layer, p.bwd_pd.weights_layer_desc(), l.cell, d.hidden, d.input);
    bwd_w_iter =
        std::make_unique<PreparedWeight>(user.weights_iter, p.bwd_pd.weights_iter_desc(), l.cell, d.hidden, d.hidden);
    diff_w_layer = memory(p.bwd_pd.diff_weights_layer_desc(), engine());
    diff_w_iter = memory(p.bwd_pd.diff_weights_iter_desc(), engine());
    diff_bias = memory(p.bwd_pd.diff_bias_desc(), engine());
  }

  void fill_bias(std::span<void* const> buffers, const Layout& l) {
    pack_bias(l.cell, l.bias ? f32(buffers, l.b_ih) : nullptr, l.bias ? f32(buffers, l.b_hh) : nullptr, d.hidden, bias);
  }

  /// The arguments both primitives take: the forward's operands and `results` (y, h_n[, c_n]).
  std::unordered_map<int, memory> common_args(std::span<void* const> buffers, const Layout& l,
                                              const std::vector<float*>& results, bool for_backward) {
    LayerDescs user(l.cell, d);
    PreparedWeight& w_layer = for_backward ? *bwd_w_layer : *fwd_w_layer;
    PreparedWeight& w_iter = for_backward ? *bwd_w_iter : *fwd_w_iter;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC_LAYER, memory(user.layer_in, engine(), f32(buffers, 0))},
                                         {DNNL_ARG_SRC_ITER, memory(user.state, engine(), f32(buffers, l.h0))},
                                         {DNNL_ARG_WEIGHTS_LAYER, w_layer.get(f32(buffers, 1))},
                                         {DNNL_ARG_WEIGHTS_ITER, w_iter.get(f32(buffers, 2))},
                                         {DNNL_ARG_BIAS, memory(user.bias, engine(), bias.data())},
                                         {DNNL_ARG_DST_LAYER, memory(user.layer_out, engine(), results[0])},
                                         {DNNL_ARG_DST_ITER, memory(user.state, engine(), results[1])}};
    if (l.cell.has_c) {
      args.emplace(DNNL_ARG_SRC_ITER_C, memory(user.state, engine(), f32(buffers, l.c0)));
      args.emplace(DNNL_ARG_DST_ITER_C, memory(user.state, engine(), results[2]));
    }
    return args;
  }

  /// Runs the forward into `results`; with `workspace`, in training mode into it.
  void forward(std::span<void* const> buffers, const Layout& l, const std::vector<float*>& results, memory* workspace) {
    fill_bias(buffers, l);
    std::unordered_map<int, memory> args = common_args(buffers, l, results, false);
    if (workspace) args.emplace(DNNL_ARG_WORKSPACE, *workspace);
    match_openmp_to_pool();
    p.fwd.execute(stream(), args);
    stream().wait();
  }
};

class LayerKernel {
 public:
  LayerKernel(const KernelCall& call, CallKernel fallback, std::shared_ptr<LayerProbe> probe)
      : call_(call), layout_(call), fallback_(std::move(fallback)), probe_(std::move(probe)) {
    if (!layout_.backward && call.attrs.get_bool("saved")) saved_ = new_saved();
  }

  /// Creates the primitives at `sizes`; oneDNN's refusal as a message, else "".
  std::string try_create(const SymbolBindings& sizes) {
    try {
      entry(dims_of(call_, layout_.cell, sizes));
    } catch (const dnnl::error& e) {
      return fmt::format("the {} primitive refused the sizes: {}", layout_.cell.primitive, e.what());
    }
    return {};
  }

  void run(std::span<void* const> buffers, const SymbolBindings& sizes) {
    const LayerDims d = dims_of(call_, layout_.cell, sizes);
    if (layout_.lengths && !all_full(buffers, d)) return fallback_.run(buffers, sizes);
    if (d.batch == 0 || d.length == 0) return run_empty(buffers, d);
    Entry* e = nullptr;
    try {
      e = &entry(d);
    } catch (const dnnl::error&) {
      return fallback_.run(buffers, sizes);
    }
    std::lock_guard<std::mutex> lock(run_mutex_);
    if (layout_.backward)
      backward(*e, buffers);
    else
      forward(*e, buffers);
  }

 private:
  const BufferRef& ref(int k) const { return call_.operands[static_cast<size_t>(k)]; }
  int result(int k) const { return call_.num_inputs + k; }

  Entry& entry(const LayerDims& d) {
    std::lock_guard<std::mutex> lock(entries_mutex_);
    auto key = std::vector<int64_t>{d.batch, d.length, d.input, d.hidden};
    auto it = entries_.find(key);
    if (it == entries_.end()) it = entries_.emplace(key, std::make_unique<Entry>(layout_, d, saved_ != nullptr)).first;
    return *it->second;
  }

  bool all_full(std::span<void* const> buffers, const LayerDims& d) const {
    const DType t = ref(layout_.len).type.dtype;
    for (int64_t b = 0; b < d.batch; ++b) {
      const int64_t n = t == DType::i32 ? static_cast<const int32_t*>(buffers[layout_.len])[b]
                                        : static_cast<const int64_t*>(buffers[layout_.len])[b];
      if (n < d.length) return false;
    }
    return true;
  }

  /// No rows or no steps: the state passes through; gradients of the weights are zero.
  void run_empty(std::span<void* const> buffers, const LayerDims& d) {
    const size_t state = static_cast<size_t>(d.batch * d.hidden) * sizeof(float);
    const int states = layout_.cell.has_c ? 2 : 1;
    if (!layout_.backward) {
      for (int k = 0; k < states; ++k) std::memmove(buffers[result(1 + k)], buffers[layout_.h0 + k], state);
      return;
    }
    const int64_t gates = layout_.cell.gates * d.hidden;
    auto zero = [&](int k, int64_t n) { std::memset(buffers[result(k)], 0, static_cast<size_t>(n) * sizeof(float)); };
    zero(0, d.batch * d.length * d.input);
    zero(1, gates * d.input);
    zero(2, gates * d.hidden);
    if (layout_.bias) zero(3, gates), zero(4, gates);
    for (int k = 0; k < states; ++k)
      std::memmove(buffers[result(layout_.grad_h0() + k)], buffers[layout_.grad_y() + 1 + k], state);
  }

  void forward(Entry& e, std::span<void* const> buffers) {
    std::vector<float*> results;
    for (int k = 0; k < layout_.num_results; ++k) results.push_back(f32(buffers, result(k)));
    if (!saved_) return e.forward(buffers, layout_, results, nullptr);
    std::lock_guard<std::mutex> lock(saved_->mutex);
    if (!saved_->valid || !(saved_->workspace_desc == e.p.fwd_pd.workspace_desc())) {
      saved_->workspace_desc = e.p.fwd_pd.workspace_desc();
      saved_->workspace = memory(saved_->workspace_desc, engine());
    }
    e.forward(buffers, layout_, results, &saved_->workspace);
    saved_->operands.assign(buffers.begin(), buffers.begin() + layout_.count);
    saved_->y = results[0];
    const std::vector<size_t> sizes = result_sizes(layout_, e.d);
    saved_->results.resize(sizes.size());
    for (size_t k = 0; k < sizes.size(); ++k) saved_->results[k].assign(results[k], results[k] + sizes[k]);
    saved_->valid = true;
  }

  /// The workspace a forward_training left for exactly these operands and results, or none.
  std::optional<memory> find_workspace(const Entry& e, std::span<void* const> buffers) {
    const float* y = f32(buffers, layout_.y());
    const std::vector<size_t> sizes = result_sizes(layout_, e.d);
    auto same_results = [&](const Saved& s) {
      for (size_t k = 0; k < sizes.size(); ++k)
        if (s.results[k].size() != sizes[k] || !same(s.results[k], f32(buffers, layout_.y() + static_cast<int>(k))))
          return false;
      return true;
    };
    std::lock_guard<std::mutex> lock(registry_mutex());
    for (const std::weak_ptr<Saved>& w : registry()) {
      std::shared_ptr<Saved> s = w.lock();
      if (!s) continue;
      std::lock_guard<std::mutex> slot(s->mutex);
      if (!s->valid || s->y != y || !(s->workspace_desc == e.p.fwd_pd.workspace_desc()) ||
          s->operands.size() != static_cast<size_t>(layout_.count) ||
          !std::equal(s->operands.begin(), s->operands.end(), buffers.begin()) || !same_results(*s))
        continue;
      s->valid = false;  // a backward may write into the workspace: used once
      return s->workspace;
    }
    return std::nullopt;
  }

  void backward(Entry& e, std::span<void* const> buffers) {
    const LayerDims& d = e.d;
    const CellSpec& cell = layout_.cell;
    LayerDescs user(cell, d);
    std::vector<float*> results;
    for (int k = 0; k < layout_.num_results; ++k) results.push_back(f32(buffers, layout_.y() + k));
    std::optional<memory> workspace = find_workspace(e, buffers);
    probe_->recompute_seconds = 0;
    if (!workspace) {
      // The forward ran elsewhere: run it here, in training mode, into scratch results.
      const auto start = std::chrono::steady_clock::now();
      const std::vector<size_t> sizes = result_sizes(layout_, d);
      scratch_.resize(sizes.size());
      for (size_t k = 0; k < sizes.size(); ++k) scratch_[k].resize(sizes[k]), results[k] = scratch_[k].data();
      workspace = memory(e.p.fwd_pd.workspace_desc(), engine());
      e.forward(buffers, layout_, results, &*workspace);
      probe_->recompute_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } else {
      e.fill_bias(buffers, layout_);
    }
    // oneDNN accumulates into the weights' gradients.
    for (memory* m : {&e.diff_w_layer, &e.diff_w_iter, &e.diff_bias})
      std::memset(m->get_data_handle(), 0, m->get_desc().get_size());
    const int g = layout_.grad_y();
    const int dh0 = layout_.grad_h0();
    std::unordered_map<int, memory> args = e.common_args(buffers, layout_, results, true);
    args.insert({{DNNL_ARG_WORKSPACE, *workspace},
                 {DNNL_ARG_DIFF_DST_LAYER, memory(user.layer_out, engine(), f32(buffers, g))},
                 {DNNL_ARG_DIFF_DST_ITER, memory(user.state, engine(), f32(buffers, g + 1))},
                 {DNNL_ARG_DIFF_SRC_LAYER, memory(user.layer_in, engine(), f32(buffers, result(0)))},
                 {DNNL_ARG_DIFF_SRC_ITER, memory(user.state, engine(), f32(buffers, result(dh0)))},
                 {DNNL_ARG_DIFF_WEIGHTS_LAYER, e.diff_w_layer},
                 {DNNL_ARG_DIFF_WEIGHTS_ITER, e.diff_w_iter},
                 {DNNL_ARG_DIFF_BIAS, e.diff_bias}});
    if (cell.has_c) {
      args.emplace(DNNL_ARG_DIFF_DST_ITER_C, memory(user.state, engine(), f32(buffers, g + 2)));
      args.emplace(DNNL_ARG_DIFF_SRC_ITER_C, memory(user.state, engine(), f32(buffers, result(dh0 + 1))));
    }
    match_openmp_to_pool();
    e.p.bwd.execute(stream(), args);
    // The weights' gradients back in Weft's layout (and gate order).
    memory dw_layer(user.weights_layer, engine(), f32(buffers, result(1)));
    memory dw_iter(user.weights_iter, engine(), f32(buffers, result(2)));
    dnnl::reorder(e.diff_w_layer, dw_layer).execute(stream(), e.diff_w_layer, dw_layer);
    dnnl::reorder(e.diff_w_iter, dw_iter).execute(stream(), e.diff_w_iter, dw_iter);
    stream().wait();
    if (cell.swap_first_gates) {
      swap_first_gates(f32(buffers, result(1)), d.hidden, d.input);
      swap_first_gates(f32(buffers, result(2)), d.hidden, d.hidden);
    }
    if (layout_.bias) {
      e.diff_bias_plain.resize(static_cast<size_t>(cell.bias_gates * d.hidden));
      memory db(user.bias, engine(), e.diff_bias_plain.data());
      dnnl::reorder(e.diff_bias, db).execute(stream(), e.diff_bias, db);
      stream().wait();
      unpack_bias_grad(cell, e.diff_bias_plain.data(), d.hidden, f32(buffers, result(3)), f32(buffers, result(4)));
    }
  }

  KernelCall call_;
  Layout layout_;
  CallKernel fallback_;
  std::shared_ptr<LayerProbe> probe_;
  std::shared_ptr<Saved> saved_;  // a forward on a gradient path
  std::mutex entries_mutex_, run_mutex_;
  std::map<std::vector<int64_t>, std::unique_ptr<Entry>> entries_;
  std::vector<std::vector<float>> scratch_;
};

SymbolBindings trial_sizes(const std::vector<SymbolDecl>& symbols) {
  SymbolBindings sizes;
  for (const SymbolDecl& s : symbols) sizes.emplace(s.name, s.bound ? std::min<int64_t>(*s.bound, 64) : 2);
  return sizes;
}

}  // namespace

bool is_recurrent_layer(OpKind op) {
  return op == OpKind::lstm || op == OpKind::lstm_backward || op == OpKind::rnn || op == OpKind::rnn_backward ||
         op == OpKind::gru || op == OpKind::gru_backward;
}

std::optional<int> lengths_operand(const KernelCall& call) {
  if (!is_recurrent_layer(call.op)) return std::nullopt;
  Layout layout(call);
  return layout.lengths ? std::optional<int>(layout.len) : std::nullopt;
}

std::optional<Graph> training_pair(const Graph& graph, const Node& node) {
  if (!is_recurrent_layer(node.op)) return std::nullopt;
  const CellSpec& cell = cell_spec(node.op);
  const Node* forward = node.op == cell.forward ? &node : nullptr;
  const Node* backward = node.op == cell.backward ? &node : nullptr;
  auto reads = [](const Node& reader, const Node& writer) {
    return std::any_of(reader.operands.begin(), reader.operands.end(), [&](ValueId v) {
      return std::find(writer.results.begin(), writer.results.end(), v) != writer.results.end();
    });
  };
  for (const Node& other : graph.nodes()) {
    if (!forward && other.op == cell.forward && reads(*backward, other)) forward = &other;
    if (!backward && other.op == cell.backward && reads(other, *forward)) backward = &other;
  }
  if (!forward || !backward) return std::nullopt;
  Graph pair(fmt::format("{}_training_pair", op_name(forward->op)));
  for (const SymbolDecl& s : graph.symbols()) pair.declare_symbol(s.name, s.bound);
  std::map<ValueId, ValueId> inside;  // the graph's values -> the pair's
  auto copy = [&](const Node& n) {
    std::vector<ValueId> operands;
    for (ValueId v : n.operands) {
      if (!inside.count(v)) inside.emplace(v, pair.add_input(fmt::format("in{}", inside.size()), graph.type(v)));
      operands.push_back(inside.at(v));
    }
    std::vector<TensorType> types;
    for (ValueId v : n.results) types.push_back(graph.type(v));
    const int32_t index = pair.add_node(n.op, operands, n.attrs, types, n.scope, n.loc, n.body);
    for (size_t k = 0; k < n.results.size(); ++k) inside.emplace(n.results[k], pair.nodes()[index].results[k]);
    return index;
  };
  const int32_t f = copy(*forward), b = copy(*backward);
  for (int32_t index : {b, f})
    for (ValueId v : pair.nodes()[index].results) pair.add_output(fmt::format("out{}", pair.outputs().size()), v);
  return pair;
}

bool keeps_recurrent_layer(const Graph& graph, const Node& node) {
  return is_recurrent_layer(node.op) && graph.type(node.operands[0]).dtype == DType::f32;
}

ProvidedKernel decomposed_layer_kernel(const KernelCall& call, const ProviderContext& context) {
  Graph wrapper(fmt::format("{}_decomposed", op_name(call.op)));
  for (const SymbolDecl& s : context.symbols) wrapper.declare_symbol(s.name, s.bound);
  std::vector<ValueId> operands;
  for (int32_t i = 0; i < call.num_inputs; ++i)
    operands.push_back(wrapper.add_input(fmt::format("x{}", i), call.operands[i].type));
  std::vector<TensorType> types;
  for (size_t k = call.num_inputs; k < call.operands.size(); ++k) types.push_back(call.operands[k].type);
  int32_t index = wrapper.add_node(call.op, operands, call.attrs, types, call.scope, call.loc, call.body);
  for (size_t k = 0; k < types.size(); ++k)
    wrapper.add_output(fmt::format("y{}", k), wrapper.nodes()[index].results[k]);
  LoweringOptions lowering;  // decompose everything, as the LLVM provider's chain does
  lowering.evaluate_constants = interpreter_constant_evaluator();
  std::shared_ptr<CompiledExecutable> body = context.compile_body(lower_graph(wrapper, lowering));
  ProvidedKernel out;
  out.body = body;
  out.compile_seconds = body->stats().codegen_seconds;
  out.note = "the decomposition";
  out.kernel.provider = "llvm";
  out.kernel.run = [call, body](std::span<void* const> buffers, const SymbolBindings& sizes) {
    std::vector<Tensor> ins;
    for (int32_t i = 0; i < call.num_inputs; ++i) {
      const TensorType& type = call.operands[i].type;
      std::vector<int64_t> shape = evaluate_shape(type.shape, sizes);
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      const size_t bytes = static_cast<size_t>(n) * dtype_size(type.dtype);
      ins.push_back(Tensor::from_bytes(type.dtype, shape, {static_cast<const std::byte*>(buffers[i]), bytes}));
    }
    std::vector<Tensor> outs = body->run_nested(ins, sizes);
    for (size_t k = 0; k < outs.size(); ++k)
      if (outs[k].nbytes() > 0) std::memcpy(buffers[call.num_inputs + k], outs[k].raw(), outs[k].nbytes());
  };
  return out;
}

std::optional<ProvidedKernel> recurrent_layer_kernel(const KernelCall& call, const ProviderContext& context,
                                                     std::string* why, std::shared_ptr<LayerProbe>* probe) {
  if (!is_recurrent_layer(call.op)) {
    *why = "not a recurrent layer";
    return std::nullopt;
  }
  const Layout layout(call);
  for (const BufferRef& ref : call.operands) {
    if (ref.access == Access::inout) {
      *why = "a result written over an operand";
      return std::nullopt;
    }
  }
  for (int k = 0; k < call.num_inputs; ++k) {
    const DType t = call.operands[static_cast<size_t>(k)].type.dtype;
    if (k == layout.len ? (t != DType::i32 && t != DType::i64) : t != DType::f32) {
      *why = fmt::format("{} operand {} (the {} primitive runs f32 with i32 or i64 lengths here)", dtype_name(t), k,
                         layout.cell.primitive);
      return std::nullopt;
    }
  }
  // Ragged lengths run the decomposition, compiled now; a size oneDNN refuses at run time (the
  // trial below makes that unlikely) the interpreter's kernel.
  ProvidedKernel slow;
  if (layout.lengths) {
    slow = decomposed_layer_kernel(call, context);
  } else {
    std::string unused;
    std::optional<ProvidedKernel> interp = interp_provider()->kernel_for(call, context, &unused);
    WEFT_CHECK(interp.has_value(), "the interpreter declined a call");
    slow = std::move(*interp);
  }
  auto measured = std::make_shared<LayerProbe>();
  if (probe) *probe = measured;
  auto kernel = std::make_shared<LayerKernel>(call, slow.kernel, measured);
  if (std::string refused = kernel->try_create(trial_sizes(context.symbols)); !refused.empty()) {
    *why = refused;
    return std::nullopt;
  }
  ProvidedKernel out;
  out.note = fmt::format("{} {} primitive", layout.cell.primitive, layout.backward ? "backward" : "forward");
  if (layout.lengths) out.note += " (ragged lengths: the decomposition)";
  out.body = slow.body;
  out.compile_seconds = slow.compile_seconds;
  out.kernel.provider = "onednn";
  out.kernel.run = [kernel](std::span<void* const> buffers, const SymbolBindings& sizes) {
    kernel->run(buffers, sizes);
  };
  return out;
}

}  // namespace weft::onednn
