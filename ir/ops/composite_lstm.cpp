/** \file
 * One LSTM layer over a whole sequence as composites: `lstm` and the gradient it emits,
 * `lstm_backward`.
 *
 * `lstm` is what `nn::LSTM` writes per layer (frontend/nn/recurrent.cpp). Its decomposition is the
 * graph the layer wrote before the op existed, node for node: the input projection hoisted out of
 * the loop (x · W_ihᵀ + b_ih over all steps at once), then a `scan` whose step is the recurrent
 * half (h · W_hhᵀ + b_hh + x_t, the gates in PyTorch's order i, f, g, o, the state update). So every
 * provider that decomposes it runs exactly what it ran before. It is kept as one node until
 * decomposition because a provider with a whole-layer LSTM kernel (oneDNN's RNN primitive,
 * backends/onednn/rnn_lstm.cpp) needs the projection and the loop together, which no single call
 * of the decomposed program holds.
 *
 * With lengths, a batch row stops at its length: its state is kept and its outputs are zero from
 * then on (the scan's rule, ir/ops/control.cpp), as PyTorch's packed sequences.
 *
 * The gradient. On a gradient path, the save rule marks the forward `saved`: its decomposition is
 * then the scan that also returns the state entering each step (the scan's own save rule), as
 * autodiff made of the decomposed layer before. The gradient rule emits one `lstm_backward` whose
 * decomposition is carried as its body: the vector-Jacobian product of the layer's decomposition,
 * made by autodiff (the rule's `body_vjp`), which recomputes the forward from the operands and
 * runs the reverse scan. After the body is inlined, the recomputed projection and saved scan are
 * the forward's own nodes, operand for operand and body for body, and CSE merges them
 * (passes/cse.h): the decomposed gradient is the one autodiff made of the scan before. The op
 * table cannot build that body itself (autodiff lives in passes/), which is why the rule attaches it.
 * `lstm_backward` also takes the forward's results (y, h_n, c_n), which a whole-layer kernel may
 * use; the body ignores them. The interpreter runs it by evaluating its body, and its own gradient
 * is the body's.
 */
#include <fmt/format.h>

#include <algorithm>

#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "ir/ops/emit.h"

namespace weft::ops_detail {

namespace {

/// Where each operand of an `lstm` sits, from its attributes.
struct LstmOperands {
  bool bias = true, lengths = false;
  size_t b_ih = 0, b_hh = 0, h0 = 0, c0 = 0, len = 0;
  size_t count = 0;  // of the forward's operands
  std::vector<std::string> names;

  explicit LstmOperands(const Attrs& a) : bias(a.get_bool("bias")), lengths(a.get_bool("has_lengths")) {
    names = {"x", "weight_ih", "weight_hh"};
    if (bias) {
      b_ih = 3, b_hh = 4;
      names.insert(names.end(), {"bias_ih", "bias_hh"});
    }
    h0 = names.size(), c0 = h0 + 1;
    names.insert(names.end(), {"h0", "c0"});
    if (lengths) len = c0 + 1, names.push_back("lengths");
    count = names.size();
  }
  /// The float operands, which get gradients: all but the lengths.
  size_t num_float() const { return count - (lengths ? 1 : 0); }
};

void expect(const std::string& op, const std::string& what, const TensorType& got, DType dtype, const Shape& shape) {
  if (got.dtype != dtype || got.shape != shape)
    throw Error(
        fmt::format("{}: {} must be {}{}, but got {}", op, what, dtype_name(dtype), shape_str(shape), got.str()));
}

/// Checks an lstm's forward operands; returns [y, h_n, c_n].
std::vector<TensorType> infer_forward(const std::string& op, const std::vector<TensorType>& t, const Attrs& a) {
  LstmOperands l(a);
  if (t.size() < l.count)
    throw Error(fmt::format("{}: with bias={} and has_lengths={} takes {} operands ({}), but got {}", op, l.bias,
                            l.lengths, l.count, fmt::join(l.names, ", "), t.size()));
  const TensorType& x = t[0];
  require_float(op, x, "the input x");
  if (x.rank() != 3)
    throw Error(fmt::format("{}: the input x must be [batch, length, input_size], but got {}", op, x.str()));
  const TensorType& w_ih = t[1];
  if (w_ih.rank() != 2 || !w_ih.shape[0].is_static() || w_ih.shape[0].value() % 4 != 0 || w_ih.shape[0].value() == 0)
    throw Error(fmt::format("{}: weight_ih must be [4·hidden, input_size] with a static hidden size, but got {}", op,
                            w_ih.str()));
  const Dim gates = w_ih.shape[0];
  const Dim hidden(gates.value() / 4);
  const Dim batch = x.shape[0], length = x.shape[1];
  expect(op, "weight_ih", w_ih, x.dtype, {gates, x.shape[2]});
  expect(op, "weight_hh", t[2], x.dtype, {gates, hidden});
  if (l.bias) {
    expect(op, "bias_ih", t[l.b_ih], x.dtype, {gates});
    expect(op, "bias_hh", t[l.b_hh], x.dtype, {gates});
  }
  expect(op, "h0", t[l.h0], x.dtype, {batch, hidden});
  expect(op, "c0", t[l.c0], x.dtype, {batch, hidden});
  if (l.lengths) {
    const TensorType& len = t[l.len];
    if (!is_int(len.dtype) || len.shape != Shape{batch})
      throw Error(fmt::format("{}: lengths must be an integer [batch] vector ({}), but got {}", op,
                              shape_str(Shape{batch}), len.str()));
  }
  const TensorType state{x.dtype, {batch, hidden}};
  return {TensorType{x.dtype, {batch, length, hidden}}, state, state};
}

/// Declares in `g` the symbols `types` use, with the bounds `outer` gives them.
void declare_symbols_of(Graph& g, const Graph& outer, const std::vector<TensorType>& types) {
  for (const TensorType& t : types)
    for (const Dim& d : t.shape)
      for (const std::string& s : d.symbols())
        if (!g.find_symbol(s)) {
          const SymbolDecl* decl = outer.find_symbol(s);
          g.declare_symbol(s, decl ? decl->bound : std::nullopt);
        }
}

/// The step: (h, c, x_t, weight_hh, [bias_hh]) -> (h_next, c_next, y), y = h_next.
std::shared_ptr<Graph> step_body(GraphBuilder& b, const TensorType& state, const TensorType& gates_t,
                                 const TensorType& w_hh_t, bool bias) {
  auto body = std::make_shared<Graph>("lstm_step");
  declare_symbols_of(*body, b.graph(), {state});
  GraphBuilder s(*body);
  s.set_scope(b.scope());
  s.set_loc(b.loc());
  Emit e{s};
  ValueId h = body->add_input("h", state);
  ValueId c = body->add_input("c", state);
  ValueId x_t = body->add_input("x_t", gates_t);
  ValueId w_hh = body->add_input("weight_hh", w_hh_t);
  ValueId rec = s.emit1(OpKind::matmul, {h, w_hh}, Attrs{{"transpose_a", false}, {"transpose_b", true}});
  if (bias) rec = e.add(rec, body->add_input("bias_hh", TensorType{w_hh_t.dtype, {w_hh_t.shape[0]}}));
  ValueId pre = e.add(x_t, rec);
  const int64_t hidden = state.shape[1].value();
  auto gate = [&](int64_t k) {
    return s.emit1(
        OpKind::slice, {pre},
        Attrs{{"axis", int64_t{-1}}, {"start", k * hidden}, {"end", (k + 1) * hidden}, {"step", int64_t{1}}});
  };
  ValueId i = s.unary(OpKind::sigmoid, gate(0));
  ValueId f = s.unary(OpKind::sigmoid, gate(1));
  ValueId g = s.unary(OpKind::tanh, gate(2));
  ValueId o = s.unary(OpKind::sigmoid, gate(3));
  ValueId ig = e.mul(i, g);
  ValueId fc = e.mul(f, c);
  ValueId c_next = e.add(fc, ig);
  ValueId h_next = e.mul(o, s.unary(OpKind::tanh, c_next));
  body->add_output("h_next", h_next);
  body->add_output("c_next", c_next);
  body->add_output("y", h_next);
  return body;
}

/// The decomposition: the hoisted projection, then the scan (saved: also returning the state
/// entering each step, as the scan's save rule makes it). Returns [y, h_n, c_n].
std::vector<ValueId> decompose_lstm(GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a, bool saved) {
  LstmOperands l(a);
  Emit e{b};
  const TensorType x = e.type(ops[0]);
  const TensorType w_ih = e.type(ops[1]);
  const TensorType w_hh = e.type(ops[2]);
  const TensorType state = e.type(ops[l.h0]);
  ValueId projected = b.emit1(OpKind::matmul, {ops[0], ops[1]}, Attrs{{"transpose_a", false}, {"transpose_b", true}});
  if (l.bias) projected = e.add(projected, ops[l.b_ih]);
  const TensorType gates_t{x.dtype, {x.shape[0], w_ih.shape[0]}};
  std::shared_ptr<Graph> body = step_body(b, state, gates_t, w_hh, l.bias);
  Node scan;
  scan.op = OpKind::scan;
  scan.operands = {ops[l.h0], ops[l.c0], projected, ops[2]};
  if (l.bias) scan.operands.push_back(ops[l.b_hh]);
  if (l.lengths) scan.operands.push_back(ops[l.len]);
  scan.attrs = normalize_attrs(op_def(OpKind::scan), Attrs{{"num_carry", int64_t{2}},
                                                           {"num_seq", int64_t{1}},
                                                           {"time_axis", int64_t{1}},
                                                           {"reverse", false},
                                                           {"has_lengths", l.lengths}});
  scan.body = body;
  std::vector<ValueId> r =
      saved ? op_def(OpKind::scan).save(b, scan) : b.emit(OpKind::scan, scan.operands, scan.attrs, body);
  return {r[2], r[0], r[1]};  // the scan returns h_n, c_n, then the stacked y
}

// ---- lstm ----

std::vector<std::optional<ValueId>> lstm_grad(const GradQuery& q) {
  GraphBuilder& b = q.builder;
  const Node& node = q.node;
  LstmOperands l(node.attrs);
  const Graph& outer = b.graph();
  std::vector<TensorType> types;
  for (ValueId v : node.operands) types.push_back(outer.type(v));
  std::vector<TensorType> result_types;
  for (ValueId r : node.results) result_types.push_back(outer.type(r));

  // The layer's decomposition as a graph of its own, for autodiff to differentiate.
  Graph forward("lstm");
  declare_symbols_of(forward, outer, types);
  std::vector<ValueId> args;
  for (size_t k = 0; k < l.count; ++k) args.push_back(forward.add_input(l.names[k], types[k]));
  {
    GraphBuilder fb(forward);
    fb.set_scope(node.scope);
    fb.set_loc(node.loc);
    std::vector<ValueId> r = decompose_lstm(fb, args, node.attrs, false);
    forward.add_output("y", r[0]);
    forward.add_output("h_n", r[1]);
    forward.add_output("c_n", r[2]);
  }

  // The backward's body: operands, forward results and result gradients in; operand gradients out.
  auto body = std::make_shared<Graph>("lstm_backward");
  declare_symbols_of(*body, outer, types);
  std::vector<ValueId> inputs;
  for (size_t k = 0; k < l.count; ++k) inputs.push_back(body->add_input(l.names[k], types[k]));
  const char* result_names[] = {"y", "h_n", "c_n"};
  for (size_t k = 0; k < 3; ++k) body->add_input(result_names[k], result_types[k]);
  std::vector<std::optional<ValueId>> cotangents;
  for (size_t k = 0; k < 3; ++k)
    cotangents.push_back(body->add_input(fmt::format("grad_{}", result_names[k]), result_types[k]));
  std::vector<bool> wrt(l.count, true);
  if (l.lengths) wrt[l.len] = false;
  {
    GraphBuilder bb(*body);
    bb.set_scope(node.scope);
    bb.set_loc(node.loc);
    std::vector<std::optional<ValueId>> grads = (*q.body_vjp)(bb, forward, inputs, cotangents, wrt);
    for (size_t k = 0; k < l.num_float(); ++k) {
      ValueId g = grads[k] ? *grads[k] : bb.broadcast_to(bb.constant(0.0, types[k].dtype), types[k].shape);
      body->add_output("grad_" + l.names[k], g);
    }
  }

  std::vector<ValueId> operands = node.operands;
  operands.insert(operands.end(), node.results.begin(), node.results.end());
  for (size_t k = 0; k < 3; ++k)
    operands.push_back(q.result_grads[k]
                           ? *q.result_grads[k]
                           : b.broadcast_to(b.constant(0.0, result_types[k].dtype), result_types[k].shape));
  Attrs attrs{{"bias", l.bias}, {"has_lengths", l.lengths}};
  std::vector<ValueId> grads = b.emit(OpKind::lstm_backward, operands, attrs, body);
  std::vector<std::optional<ValueId>> out(node.operands.size());
  for (size_t k = 0; k < l.num_float(); ++k) out[k] = grads[k];
  return out;
}

OpDef lstm_def() {
  OpDef d = composite(OpKind::lstm, "lstm", 5, 8,
                      "one LSTM layer over a batch-first sequence (PyTorch's gates i, f, g, o), optionally stopping "
                      "each row at its length");
  d.attrs = {AttrSpec{"bias", AttrKind::boolean, AttrValue{true}},
             AttrSpec{"has_lengths", AttrKind::boolean, AttrValue{false}},
             AttrSpec{"saved", AttrKind::boolean, AttrValue{false}}};
  d.infer = [](const ShapeQuery& q) {
    LstmOperands l(q.attrs);
    if (q.operands.size() != l.count)
      throw Error(fmt::format("lstm: with bias={} and has_lengths={} takes {} operands ({}), but got {}", l.bias,
                              l.lengths, l.count, fmt::join(l.names, ", "), q.operands.size()));
    return infer_forward("lstm", q.operands, q.attrs);
  };
  d.decompose = [](GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a) {
    return decompose_lstm(b, ops, a, a.get_bool("saved"));
  };
  d.save = [](GraphBuilder& b, const Node& node) {
    Attrs attrs = node.attrs;
    attrs.set("saved", true);
    return b.emit(OpKind::lstm, node.operands, attrs);
  };
  d.gradient = lstm_grad;
  return d;
}

// ---- lstm_backward ----

OpDef lstm_backward_def() {
  OpDef d = composite(OpKind::lstm_backward, "lstm_backward", 11, 14,
                      "the gradients of an lstm's float operands, given its results and their gradients; "
                      "decomposed as its body (autodiff's reverse pass of the lstm's decomposition)");
  d.attrs = {AttrSpec{"bias", AttrKind::boolean, AttrValue{true}},
             AttrSpec{"has_lengths", AttrKind::boolean, AttrValue{false}}};
  d.has_body = true;
  // Its body computes it, so its gradient (a second derivative of the layer) is the body's.
  d.gradient = [](const GradQuery& q) {
    WEFT_CHECK(q.body_vjp != nullptr && q.node.body, "lstm_backward: autodiff supplies the body's reverse pass");
    return (*q.body_vjp)(q.builder, *q.node.body, q.node.operands, q.result_grads, q.wanted);
  };
  d.infer = [](const ShapeQuery& q) {
    LstmOperands l(q.attrs);
    if (q.operands.size() != l.count + 6)
      throw Error(
          fmt::format("lstm_backward: with bias={} and has_lengths={} takes {} operands ({}, then y, h_n, "
                      "c_n and their gradients), but got {}",
                      l.bias, l.lengths, l.count + 6, fmt::join(l.names, ", "), q.operands.size()));
    std::vector<TensorType> results = infer_forward("lstm_backward", q.operands, q.attrs);
    const char* names[] = {"y", "h_n", "c_n", "grad_y", "grad_h_n", "grad_c_n"};
    for (size_t k = 0; k < 6; ++k)
      expect("lstm_backward", names[k], q.operands[l.count + k], results[k % 3].dtype, results[k % 3].shape);
    if (q.body && (q.body->inputs().size() != q.operands.size() || q.body->outputs().size() != l.num_float()))
      throw Error(fmt::format("lstm_backward: the body must take the {} operands and return the {} gradients",
                              q.operands.size(), l.num_float()));
    return std::vector<TensorType>(q.operands.begin(), q.operands.begin() + static_cast<std::ptrdiff_t>(l.num_float()));
  };
  return d;
}

}  // namespace

void register_lstm_ops(std::vector<OpDef>& t) {
  t.push_back(lstm_def());
  t.push_back(lstm_backward_def());
}

}  // namespace weft::ops_detail
