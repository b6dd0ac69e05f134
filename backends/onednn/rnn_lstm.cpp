/** \file
 * lstm and lstm_backward on oneDNN's LSTM primitives. See rnn_lstm.h.
 */
#include "backends/onednn/rnn_lstm.h"

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
#include "ir/ops.h"
#include "passes/pipeline.h"
#include "runtime/tensor.h"

namespace weft::onednn {

namespace {

using dims = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;
using dnnl::memory;


/// Where each operand of the call sits (ir/ops/composite_lstm.cpp lays them out): the forward's
/// operands, then for lstm_backward y, h_n, c_n and their gradients; the results follow.
struct Layout {
  bool backward = false, bias = true, lengths = false;
  int b_ih = -1, b_hh = -1, h0 = 0, c0 = 0, len = -1;
  int count = 0;  // the forward's operands
  int num_float = 0;

  explicit Layout(const KernelCall& call)
      : backward(call.op == OpKind::lstm_backward),
        bias(call.attrs.get_bool("bias")),
        lengths(call.attrs.get_bool("has_lengths")) {
    int next = 3;
    if (bias) b_ih = 3, b_hh = 4, next = 5;
    h0 = next, c0 = next + 1;
    count = next + 2;
    num_float = count;
    if (lengths) len = count++;
  }
  int y() const { return count; }  // backward: the forward's results, then their gradients
  int grad_y() const { return count + 3; }
};

struct Dims {
  int64_t batch = 0, length = 0, input = 0, hidden = 0;
};

Dims dims_of(const KernelCall& call, const SymbolBindings& sizes) {
  std::vector<int64_t> x = evaluate_shape(call.operands[0].type.shape, sizes);
  std::vector<int64_t> w = evaluate_shape(call.operands[1].type.shape, sizes);
  return Dims{x[0], x[1], x[2], w[0] / 4};
}

float* f32(std::span<void* const> buffers, int k) { return static_cast<float*>(buffers[static_cast<size_t>(k)]); }

/// The memory descriptors of one layer, one direction, batch-first (see rnn_lstm.h).
struct Descs {
  memory::desc layer_in, state, weights_layer, weights_iter, bias, layer_out;
  explicit Descs(const Dims& d, tag weights = tag::ldgoi) {
    const auto f = memory::data_type::f32;
    layer_in = memory::desc({d.length, d.batch, d.input}, f, tag::ntc);
    state = memory::desc({1, 1, d.batch, d.hidden}, f, tag::ldnc);
    weights_layer = memory::desc({1, 1, d.input, 4, d.hidden}, f, weights);
    weights_iter = memory::desc({1, 1, d.hidden, 4, d.hidden}, f, weights);
    bias = memory::desc({1, 1, 4, d.hidden}, f, tag::ldgo);
    layer_out = memory::desc({d.length, d.batch, d.hidden}, f, tag::ntc);
  }
};

dnnl::lstm_forward::primitive_desc forward_pd(const Dims& d, bool training) {
  Descs user(d), any(d, tag::any);
  dnnl::lstm_forward::desc desc(training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
                                dnnl::rnn_direction::unidirectional_left2right, user.layer_in, user.state, user.state,
                                any.weights_layer, any.weights_iter, user.bias, user.layer_out, user.state, user.state);
  return dnnl::lstm_forward::primitive_desc(desc, engine());
}

/// A weight in the primitive's layout, reordered from Weft's (ldgoi) only when its values changed
/// since the last reorder (a parameter update): each call compares them with a copy.
class PreparedWeight {
 public:
  PreparedWeight(const memory::desc& user, const memory::desc& wanted)
      : user_(user), direct_(user == wanted), prepared_(wanted, engine()) {}

  memory get(float* user_data) {
    memory user(user_, engine(), user_data);
    if (direct_) return user;
    const size_t bytes = user_.get_size();
    if (last_.size() != bytes || std::memcmp(last_.data(), user_data, bytes) != 0) {
      dnnl::reorder(user, prepared_).execute(stream(), user, prepared_);
      stream().wait();
      last_.assign(reinterpret_cast<const std::byte*>(user_data),
                   reinterpret_cast<const std::byte*>(user_data) + bytes);
    }
    return prepared_;
  }

 private:
  memory::desc user_;
  bool direct_;
  memory prepared_;
  std::vector<std::byte> last_;
};

/// What a forward_training call left for its backward (see rnn_lstm.h, "Training").
struct Saved {
  std::mutex mutex;
  bool valid = false;
  std::vector<const void*> operands;  // the forward's operand buffers
  const void* y = nullptr;
  std::vector<float> y_copy, h_copy, c_copy;
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

/// The one forward's bias: b_ih + b_hh (zeros without biases).
void fill_bias(std::vector<float>& bias, std::span<void* const> buffers, const Layout& l, const Dims& d) {
  bias.assign(static_cast<size_t>(4 * d.hidden), 0.0f);
  if (!l.bias) return;
  const float* a = f32(buffers, l.b_ih);
  const float* b = f32(buffers, l.b_hh);
  for (size_t i = 0; i < bias.size(); ++i) bias[i] = a[i] + b[i];
}

/// The primitives and prepared weights at one set of sizes.
struct Entry {
  Dims d;
  dnnl::lstm_forward::primitive_desc fwd_pd;
  dnnl::lstm_forward fwd;
  std::unique_ptr<PreparedWeight> fwd_w_layer, fwd_w_iter;
  // backward calls only
  dnnl::lstm_backward::primitive_desc bwd_pd;
  dnnl::lstm_backward bwd;
  std::unique_ptr<PreparedWeight> bwd_w_layer, bwd_w_iter;
  memory diff_w_layer, diff_w_iter, diff_bias;  // in the primitive's layouts
  std::vector<float> bias;

  Entry(const Dims& dims, bool backward, bool training) : d(dims), fwd_pd(forward_pd(d, training || backward)) {
    fwd = dnnl::lstm_forward(fwd_pd);
    Descs user(d);
    fwd_w_layer = std::make_unique<PreparedWeight>(user.weights_layer, fwd_pd.weights_layer_desc());
    fwd_w_iter = std::make_unique<PreparedWeight>(user.weights_iter, fwd_pd.weights_iter_desc());
    if (!backward) return;
    Descs any(d, tag::any);
    dnnl::lstm_backward::desc desc(dnnl::prop_kind::backward, dnnl::rnn_direction::unidirectional_left2right,
                                   user.layer_in, user.state, user.state, any.weights_layer, any.weights_iter,
                                   user.bias, user.layer_out, user.state, user.state, user.layer_in, user.state,
                                   user.state, any.weights_layer, any.weights_iter, user.bias, user.layer_out,
                                   user.state, user.state);
    bwd_pd = dnnl::lstm_backward::primitive_desc(desc, engine(), fwd_pd);
    bwd = dnnl::lstm_backward(bwd_pd);
    bwd_w_layer = std::make_unique<PreparedWeight>(user.weights_layer, bwd_pd.weights_layer_desc());
    bwd_w_iter = std::make_unique<PreparedWeight>(user.weights_iter, bwd_pd.weights_iter_desc());
    diff_w_layer = memory(bwd_pd.diff_weights_layer_desc(), engine());
    diff_w_iter = memory(bwd_pd.diff_weights_iter_desc(), engine());
    diff_bias = memory(bwd_pd.diff_bias_desc(), engine());
  }

  /// Runs the forward; with `workspace`, in training mode into it.
  void forward(std::span<void* const> buffers, const Layout& l, float* y, float* h_n, float* c_n, memory* workspace) {
    Descs user(d);
    fill_bias(bias, buffers, l, d);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC_LAYER, memory(user.layer_in, engine(), f32(buffers, 0))},
                                         {DNNL_ARG_SRC_ITER, memory(user.state, engine(), f32(buffers, l.h0))},
                                         {DNNL_ARG_SRC_ITER_C, memory(user.state, engine(), f32(buffers, l.c0))},
                                         {DNNL_ARG_WEIGHTS_LAYER, fwd_w_layer->get(f32(buffers, 1))},
                                         {DNNL_ARG_WEIGHTS_ITER, fwd_w_iter->get(f32(buffers, 2))},
                                         {DNNL_ARG_BIAS, memory(user.bias, engine(), bias.data())},
                                         {DNNL_ARG_DST_LAYER, memory(user.layer_out, engine(), y)},
                                         {DNNL_ARG_DST_ITER, memory(user.state, engine(), h_n)},
                                         {DNNL_ARG_DST_ITER_C, memory(user.state, engine(), c_n)}};
    if (workspace) args.emplace(DNNL_ARG_WORKSPACE, *workspace);
    match_openmp_to_pool();
    fwd.execute(stream(), args);
    stream().wait();
  }
};

class LstmKernel {
 public:
  LstmKernel(const KernelCall& call, CallKernel fallback, std::shared_ptr<LstmProbe> probe)
      : call_(call), layout_(call), fallback_(std::move(fallback)), probe_(std::move(probe)) {
    if (!layout_.backward && call.attrs.get_bool("saved")) saved_ = new_saved();
  }

  /// Creates the primitives at `sizes`; oneDNN's refusal as a message, else "".
  std::string try_create(const SymbolBindings& sizes) {
    try {
      entry(dims_of(call_, sizes));
    } catch (const dnnl::error& e) {
      return fmt::format("the LSTM primitive refused the sizes: {}", e.what());
    }
    return {};
  }

  void run(std::span<void* const> buffers, const SymbolBindings& sizes) {
    const Dims d = dims_of(call_, sizes);
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

  Entry& entry(const Dims& d) {
    std::lock_guard<std::mutex> lock(entries_mutex_);
    auto key = std::vector<int64_t>{d.batch, d.length, d.input, d.hidden};
    auto it = entries_.find(key);
    if (it == entries_.end())
      it = entries_.emplace(key, std::make_unique<Entry>(d, layout_.backward, saved_ != nullptr)).first;
    return *it->second;
  }

  bool all_full(std::span<void* const> buffers, const Dims& d) const {
    const DType t = ref(layout_.len).type.dtype;
    for (int64_t b = 0; b < d.batch; ++b) {
      const int64_t n = t == DType::i32 ? static_cast<const int32_t*>(buffers[layout_.len])[b]
                                        : static_cast<const int64_t*>(buffers[layout_.len])[b];
      if (n < d.length) return false;
    }
    return true;
  }

  /// No rows or no steps: the state passes through; gradients of the weights are zero.
  void run_empty(std::span<void* const> buffers, const Dims& d) {
    const size_t state = static_cast<size_t>(d.batch * d.hidden) * sizeof(float);
    if (!layout_.backward) {
      std::memmove(buffers[result(1)], buffers[layout_.h0], state);
      std::memmove(buffers[result(2)], buffers[layout_.c0], state);
      return;
    }
    const int64_t gates = 4 * d.hidden;
    auto zero = [&](int k, int64_t n) { std::memset(buffers[result(k)], 0, static_cast<size_t>(n) * sizeof(float)); };
    zero(0, d.batch * d.length * d.input);
    zero(1, gates * d.input);
    zero(2, gates * d.hidden);
    if (layout_.bias) zero(3, gates), zero(4, gates);
    const int dh0 = layout_.bias ? 5 : 3;
    std::memmove(buffers[result(dh0)], buffers[layout_.grad_y() + 1], state);
    std::memmove(buffers[result(dh0 + 1)], buffers[layout_.grad_y() + 2], state);
  }

  void forward(Entry& e, std::span<void* const> buffers) {
    float* y = f32(buffers, result(0));
    float* h_n = f32(buffers, result(1));
    float* c_n = f32(buffers, result(2));
    if (!saved_) return e.forward(buffers, layout_, y, h_n, c_n, nullptr);
    std::lock_guard<std::mutex> lock(saved_->mutex);
    if (!saved_->valid || !(saved_->workspace_desc == e.fwd_pd.workspace_desc())) {
      saved_->workspace_desc = e.fwd_pd.workspace_desc();
      saved_->workspace = memory(saved_->workspace_desc, engine());
    }
    e.forward(buffers, layout_, y, h_n, c_n, &saved_->workspace);
    const Dims& d = e.d;
    saved_->operands.assign(buffers.begin(), buffers.begin() + layout_.count);
    saved_->y = y;
    saved_->y_copy.assign(y, y + d.batch * d.length * d.hidden);
    saved_->h_copy.assign(h_n, h_n + d.batch * d.hidden);
    saved_->c_copy.assign(c_n, c_n + d.batch * d.hidden);
    saved_->valid = true;
  }

  /// The workspace a forward_training left for exactly these operands and results, or none.
  std::optional<memory> find_workspace(const Entry& e, std::span<void* const> buffers) {
    const float* y = f32(buffers, layout_.y());
    std::lock_guard<std::mutex> lock(registry_mutex());
    for (const std::weak_ptr<Saved>& w : registry()) {
      std::shared_ptr<Saved> s = w.lock();
      if (!s) continue;
      std::lock_guard<std::mutex> slot(s->mutex);
      if (!s->valid || s->y != y || !(s->workspace_desc == e.fwd_pd.workspace_desc()) ||
          !std::equal(s->operands.begin(), s->operands.end(), buffers.begin()) ||
          s->y_copy.size() != static_cast<size_t>(e.d.batch * e.d.length * e.d.hidden) || !same(s->y_copy, y) ||
          !same(s->h_copy, f32(buffers, layout_.y() + 1)) || !same(s->c_copy, f32(buffers, layout_.y() + 2)))
        continue;
      s->valid = false;  // a backward may write into the workspace: used once
      return s->workspace;
    }
    return std::nullopt;
  }

  void backward(Entry& e, std::span<void* const> buffers) {
    const Dims& d = e.d;
    Descs user(d);
    float* y = f32(buffers, layout_.y());
    float* h_n = f32(buffers, layout_.y() + 1);
    float* c_n = f32(buffers, layout_.y() + 2);
    std::optional<memory> workspace = find_workspace(e, buffers);
    probe_->recompute_seconds = 0;
    if (!workspace) {
      // The forward ran elsewhere: run it here, in training mode, into scratch results.
      const auto start = std::chrono::steady_clock::now();
      scratch_y_.resize(static_cast<size_t>(d.batch * d.length * d.hidden));
      scratch_h_.resize(static_cast<size_t>(d.batch * d.hidden));
      scratch_c_.resize(scratch_h_.size());
      y = scratch_y_.data(), h_n = scratch_h_.data(), c_n = scratch_c_.data();
      workspace = memory(e.fwd_pd.workspace_desc(), engine());
      e.forward(buffers, layout_, y, h_n, c_n, &*workspace);
      probe_->recompute_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } else {
      fill_bias(e.bias, buffers, layout_, d);
    }
    // oneDNN accumulates into the weights' gradients.
    for (memory* m : {&e.diff_w_layer, &e.diff_w_iter, &e.diff_bias})
      std::memset(m->get_data_handle(), 0, m->get_desc().get_size());
    const int g = layout_.grad_y();
    const int dh0 = layout_.bias ? 5 : 3;
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC_LAYER, memory(user.layer_in, engine(), f32(buffers, 0))},
        {DNNL_ARG_SRC_ITER, memory(user.state, engine(), f32(buffers, layout_.h0))},
        {DNNL_ARG_SRC_ITER_C, memory(user.state, engine(), f32(buffers, layout_.c0))},
        {DNNL_ARG_WEIGHTS_LAYER, e.bwd_w_layer->get(f32(buffers, 1))},
        {DNNL_ARG_WEIGHTS_ITER, e.bwd_w_iter->get(f32(buffers, 2))},
        {DNNL_ARG_BIAS, memory(user.bias, engine(), e.bias.data())},
        {DNNL_ARG_DST_LAYER, memory(user.layer_out, engine(), y)},
        {DNNL_ARG_DST_ITER, memory(user.state, engine(), h_n)},
        {DNNL_ARG_DST_ITER_C, memory(user.state, engine(), c_n)},
        {DNNL_ARG_WORKSPACE, *workspace},
        {DNNL_ARG_DIFF_DST_LAYER, memory(user.layer_out, engine(), f32(buffers, g))},
        {DNNL_ARG_DIFF_DST_ITER, memory(user.state, engine(), f32(buffers, g + 1))},
        {DNNL_ARG_DIFF_DST_ITER_C, memory(user.state, engine(), f32(buffers, g + 2))},
        {DNNL_ARG_DIFF_SRC_LAYER, memory(user.layer_in, engine(), f32(buffers, result(0)))},
        {DNNL_ARG_DIFF_SRC_ITER, memory(user.state, engine(), f32(buffers, result(dh0)))},
        {DNNL_ARG_DIFF_SRC_ITER_C, memory(user.state, engine(), f32(buffers, result(dh0 + 1)))},
        {DNNL_ARG_DIFF_WEIGHTS_LAYER, e.diff_w_layer},
        {DNNL_ARG_DIFF_WEIGHTS_ITER, e.diff_w_iter},
        {DNNL_ARG_DIFF_BIAS, e.diff_bias}};
    match_openmp_to_pool();
    e.bwd.execute(stream(), args);
    // The weights' gradients back in Weft's layout.
    memory dw_layer(user.weights_layer, engine(), f32(buffers, result(1)));
    memory dw_iter(user.weights_iter, engine(), f32(buffers, result(2)));
    dnnl::reorder(e.diff_w_layer, dw_layer).execute(stream(), e.diff_w_layer, dw_layer);
    dnnl::reorder(e.diff_w_iter, dw_iter).execute(stream(), e.diff_w_iter, dw_iter);
    stream().wait();
    if (layout_.bias) {
      memory db(user.bias, engine(), f32(buffers, result(3)));
      dnnl::reorder(e.diff_bias, db).execute(stream(), e.diff_bias, db);
      stream().wait();
      std::memcpy(buffers[result(4)], buffers[result(3)], static_cast<size_t>(4 * d.hidden) * sizeof(float));
    }
  }

  KernelCall call_;
  Layout layout_;
  CallKernel fallback_;
  std::shared_ptr<LstmProbe> probe_;
  std::shared_ptr<Saved> saved_;  // a forward on a gradient path
  std::mutex entries_mutex_, run_mutex_;
  std::map<std::vector<int64_t>, std::unique_ptr<Entry>> entries_;
  std::vector<float> scratch_y_, scratch_h_, scratch_c_;
};

SymbolBindings trial_sizes(const std::vector<SymbolDecl>& symbols) {
  SymbolBindings sizes;
  for (const SymbolDecl& s : symbols) sizes.emplace(s.name, s.bound ? std::min<int64_t>(*s.bound, 64) : 2);
  return sizes;
}

}  // namespace

bool keeps_lstm(const Graph& graph, const Node& node) {
  return (node.op == OpKind::lstm || node.op == OpKind::lstm_backward) &&
         graph.type(node.operands[0]).dtype == DType::f32;
}

ProvidedKernel lstm_decomposed_kernel(const KernelCall& call, const ProviderContext& context) {
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

std::optional<ProvidedKernel> lstm_kernel(const KernelCall& call, const ProviderContext& context, std::string* why,
                                          std::shared_ptr<LstmProbe>* probe) {
  if (call.op != OpKind::lstm && call.op != OpKind::lstm_backward) {
    *why = "not an lstm";
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
      *why = fmt::format("{} operand {} (the LSTM primitive runs f32 with i32 or i64 lengths here)", dtype_name(t), k);
      return std::nullopt;
    }
  }
  // Ragged lengths run the decomposition, compiled now; a size oneDNN refuses at run time (the
  // trial below makes that unlikely) the interpreter's kernel.
  ProvidedKernel slow;
  if (layout.lengths) {
    slow = lstm_decomposed_kernel(call, context);
  } else {
    std::string unused;
    std::optional<ProvidedKernel> interp = interp_provider()->kernel_for(call, context, &unused);
    WEFT_CHECK(interp.has_value(), "the interpreter declined a call");
    slow = std::move(*interp);
  }
  auto measured = std::make_shared<LstmProbe>();
  if (probe) *probe = measured;
  auto kernel = std::make_shared<LstmKernel>(call, slow.kernel, measured);
  if (std::string refused = kernel->try_create(trial_sizes(context.symbols)); !refused.empty()) {
    *why = refused;
    return std::nullopt;
  }
  ProvidedKernel out;
  out.note = layout.backward ? "LSTM backward primitive" : "LSTM forward primitive";
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
