/** \file
 * One recurrent layer over a whole sequence as composites: `lstm`, `rnn` (tanh) and `gru`, and the
 * gradients they emit, `lstm_backward`, `rnn_backward` and `gru_backward`.
 *
 * Each forward is what `nn::LSTM`, `nn::RNN` or `nn::GRU` writes per layer
 * (frontend/nn/recurrent.cpp). Its decomposition is the graph the layer wrote before the op
 * existed, node for node: the input projection hoisted out of the loop (x · W_ihᵀ + b_ih over all
 * steps at once), then a `scan` whose step is the recurrent half (h · W_hhᵀ + b_hh, then the cell:
 * PyTorch's gates i, f, g, o for the LSTM; tanh(x_t + h · W_hhᵀ + b_hh) for the RNN; r, z, n for
 * the GRU, its n = tanh(x_n + r ⊙ (W_hn h + b_hn)) and h' = n + z ⊙ (h − n), as PyTorch's kernel
 * writes (1 − z) ⊙ n + z ⊙ h). So every provider that decomposes it runs exactly what it ran
 * before. It is kept as one node until decomposition because a provider with a whole-layer kernel
 * (oneDNN's RNN primitives, backends/onednn/rnn_layer.cpp) needs the projection and the loop
 * together, which no single call of the decomposed program holds.
 *
 * With lengths, a batch row stops at its length: its state is kept and its outputs are zero from
 * then on (the scan's rule, ir/ops/control.cpp), as PyTorch's packed sequences.
 *
 * The gradient. On a gradient path, the save rule marks the forward `saved`: its decomposition is
 * then the scan that also returns the state entering each step (the scan's own save rule), as
 * autodiff made of the decomposed layer before. The gradient rule emits one backward op whose
 * decomposition is carried as its body: the vector-Jacobian product of the layer's decomposition,
 * made by autodiff (the rule's `body_vjp`), which recomputes the forward from the operands and
 * runs the reverse scan. After the body is inlined, the recomputed projection and saved scan are
 * the forward's own nodes, operand for operand and body for body, and CSE merges them
 * (passes/cse.h): the decomposed gradient is the one autodiff made of the scan before. The op
 * table cannot build that body itself (autodiff lives in passes/), which is why the rule attaches it.
 * The backward also takes the forward's results (y, h_n and, for the LSTM, c_n), which a
 * whole-layer kernel may use; the body ignores them. The interpreter runs it by evaluating its
 * body, and its own gradient is the body's.
 */
#include <fmt/format.h>

#include <algorithm>

#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "ir/ops/emit.h"

namespace weft::ops_detail {

namespace {

/// What tells the three layers apart.
struct Cell {
  OpKind forward, backward;
  const char* name;           // the forward op's
  const char* backward_name;  // the backward op's
  int64_t gates;              // blocks of `hidden` rows in weight_ih, in PyTorch's order
  bool has_c;                 // a cell state beside h (the LSTM's)
  const char* weight_rows;    // for messages: "4·hidden"
};

const Cell kLstm{OpKind::lstm, OpKind::lstm_backward, "lstm", "lstm_backward", 4, true, "4·hidden"};
const Cell kRnn{OpKind::rnn, OpKind::rnn_backward, "rnn", "rnn_backward", 1, false, "hidden"};
const Cell kGru{OpKind::gru, OpKind::gru_backward, "gru", "gru_backward", 3, false, "3·hidden"};

const Cell& cell_of(OpKind op) {
  if (op == OpKind::lstm || op == OpKind::lstm_backward) return kLstm;
  if (op == OpKind::rnn || op == OpKind::rnn_backward) return kRnn;
  WEFT_CHECK(op == OpKind::gru || op == OpKind::gru_backward, "not a recurrent layer op");
  return kGru;
}

/// Where each operand of a layer op sits, from its attributes.
struct LayerOperands {
  bool bias = true, lengths = false;
  size_t b_ih = 0, b_hh = 0, h0 = 0, c0 = 0, len = 0;
  size_t count = 0;  // of the forward's operands
  std::vector<std::string> names;
  std::vector<std::string> results;  // the forward's: y, h_n[, c_n]

  LayerOperands(const Cell& cell, const Attrs& a) : bias(a.get_bool("bias")), lengths(a.get_bool("has_lengths")) {
    names = {"x", "weight_ih", "weight_hh"};
    if (bias) {
      b_ih = 3, b_hh = 4;
      names.insert(names.end(), {"bias_ih", "bias_hh"});
    }
    h0 = names.size();
    names.push_back("h0");
    results = {"y", "h_n"};
    if (cell.has_c) {
      c0 = h0 + 1;
      names.push_back("c0");
      results.push_back("c_n");
    }
    if (lengths) len = names.size(), names.push_back("lengths");
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

/// Checks a layer's forward operands; returns [y, h_n] and, for the LSTM, c_n.
std::vector<TensorType> infer_forward(const Cell& cell, const std::string& op, const std::vector<TensorType>& t,
                                      const Attrs& a) {
  LayerOperands l(cell, a);
  if (t.size() < l.count)
    throw Error(fmt::format("{}: with bias={} and has_lengths={} takes {} operands ({}), but got {}", op, l.bias,
                            l.lengths, l.count, fmt::join(l.names, ", "), t.size()));
  const TensorType& x = t[0];
  require_float(op, x, "the input x");
  if (x.rank() != 3)
    throw Error(fmt::format("{}: the input x must be [batch, length, input_size], but got {}", op, x.str()));
  const TensorType& w_ih = t[1];
  if (w_ih.rank() != 2 || !w_ih.shape[0].is_static() || w_ih.shape[0].value() % cell.gates != 0 ||
      w_ih.shape[0].value() == 0)
    throw Error(fmt::format("{}: weight_ih must be [{}, input_size] with a static hidden size, but got {}", op,
                            cell.weight_rows, w_ih.str()));
  const Dim gates = w_ih.shape[0];
  const Dim hidden(gates.value() / cell.gates);
  const Dim batch = x.shape[0], length = x.shape[1];
  expect(op, "weight_ih", w_ih, x.dtype, {gates, x.shape[2]});
  expect(op, "weight_hh", t[2], x.dtype, {gates, hidden});
  if (l.bias) {
    expect(op, "bias_ih", t[l.b_ih], x.dtype, {gates});
    expect(op, "bias_hh", t[l.b_hh], x.dtype, {gates});
  }
  expect(op, "h0", t[l.h0], x.dtype, {batch, hidden});
  if (cell.has_c) expect(op, "c0", t[l.c0], x.dtype, {batch, hidden});
  if (l.lengths) {
    const TensorType& len = t[l.len];
    if (!is_int(len.dtype) || len.shape != Shape{batch})
      throw Error(fmt::format("{}: lengths must be an integer [batch] vector ({}), but got {}", op,
                              shape_str(Shape{batch}), len.str()));
  }
  const TensorType state{x.dtype, {batch, hidden}};
  std::vector<TensorType> out{TensorType{x.dtype, {batch, length, hidden}}, state};
  if (cell.has_c) out.push_back(state);
  return out;
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

/// The step: (h[, c], x_t, weight_hh, [bias_hh]) -> (h_next[, c_next], y), y = h_next; x_t is the
/// step's slice of the hoisted projection.
std::shared_ptr<Graph> step_body(const Cell& cell, GraphBuilder& b, const TensorType& state, const TensorType& gates_t,
                                 const TensorType& w_hh_t, bool bias) {
  auto body = std::make_shared<Graph>(fmt::format("{}_step", cell.name));
  declare_symbols_of(*body, b.graph(), {state});
  GraphBuilder s(*body);
  s.set_scope(b.scope());
  s.set_loc(b.loc());
  Emit e{s};
  ValueId h = body->add_input("h", state);
  ValueId c = cell.has_c ? body->add_input("c", state) : kNoValue;
  ValueId x_t = body->add_input("x_t", gates_t);
  ValueId w_hh = body->add_input("weight_hh", w_hh_t);
  ValueId rec = s.emit1(OpKind::matmul, {h, w_hh}, Attrs{{"transpose_a", false}, {"transpose_b", true}});
  if (bias) rec = e.add(rec, body->add_input("bias_hh", TensorType{w_hh_t.dtype, {w_hh_t.shape[0]}}));
  const int64_t hidden = state.shape[1].value();
  auto gate = [&](ValueId v, int64_t k) {
    return s.emit1(
        OpKind::slice, {v},
        Attrs{{"axis", int64_t{-1}}, {"start", k * hidden}, {"end", (k + 1) * hidden}, {"step", int64_t{1}}});
  };
  ValueId h_next = kNoValue;
  if (cell.forward == OpKind::lstm) {
    ValueId pre = e.add(x_t, rec);
    ValueId i = s.unary(OpKind::sigmoid, gate(pre, 0));
    ValueId f = s.unary(OpKind::sigmoid, gate(pre, 1));
    ValueId g = s.unary(OpKind::tanh, gate(pre, 2));
    ValueId o = s.unary(OpKind::sigmoid, gate(pre, 3));
    ValueId ig = e.mul(i, g);
    ValueId fc = e.mul(f, c);
    ValueId c_next = e.add(fc, ig);
    h_next = e.mul(o, s.unary(OpKind::tanh, c_next));
    body->add_output("h_next", h_next);
    body->add_output("c_next", c_next);
  } else if (cell.forward == OpKind::rnn) {
    h_next = s.unary(OpKind::tanh, e.add(x_t, rec));
    body->add_output("h_next", h_next);
  } else {
    ValueId r = s.unary(OpKind::sigmoid, e.add(gate(x_t, 0), gate(rec, 0)));
    ValueId z = s.unary(OpKind::sigmoid, e.add(gate(x_t, 1), gate(rec, 1)));
    ValueId n = s.unary(OpKind::tanh, e.add(gate(x_t, 2), e.mul(r, gate(rec, 2))));
    h_next = e.add(n, e.mul(z, e.sub(h, n)));
    body->add_output("h_next", h_next);
  }
  body->add_output("y", h_next);
  return body;
}

/// The decomposition: the hoisted projection, then the scan (saved: also returning the state
/// entering each step, as the scan's save rule makes it). Returns [y, h_n] and, for the LSTM, c_n.
std::vector<ValueId> decompose_layer(const Cell& cell, GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a,
                                     bool saved) {
  LayerOperands l(cell, a);
  Emit e{b};
  const TensorType x = e.type(ops[0]);
  const TensorType w_ih = e.type(ops[1]);
  const TensorType w_hh = e.type(ops[2]);
  const TensorType state = e.type(ops[l.h0]);
  ValueId projected = b.emit1(OpKind::matmul, {ops[0], ops[1]}, Attrs{{"transpose_a", false}, {"transpose_b", true}});
  if (l.bias) projected = e.add(projected, ops[l.b_ih]);
  const TensorType gates_t{x.dtype, {x.shape[0], w_ih.shape[0]}};
  std::shared_ptr<Graph> body = step_body(cell, b, state, gates_t, w_hh, l.bias);
  const int64_t carries = cell.has_c ? 2 : 1;
  Node scan;
  scan.op = OpKind::scan;
  scan.operands = {ops[l.h0]};
  if (cell.has_c) scan.operands.push_back(ops[l.c0]);
  scan.operands.insert(scan.operands.end(), {projected, ops[2]});
  if (l.bias) scan.operands.push_back(ops[l.b_hh]);
  if (l.lengths) scan.operands.push_back(ops[l.len]);
  scan.attrs = normalize_attrs(op_def(OpKind::scan), Attrs{{"num_carry", carries},
                                                           {"num_seq", int64_t{1}},
                                                           {"time_axis", int64_t{1}},
                                                           {"reverse", false},
                                                           {"has_lengths", l.lengths}});
  scan.body = body;
  std::vector<ValueId> r =
      saved ? op_def(OpKind::scan).save(b, scan) : b.emit(OpKind::scan, scan.operands, scan.attrs, body);
  // The scan returns the carries (h_n[, c_n]), then the stacked y.
  if (cell.has_c) return {r[2], r[0], r[1]};
  return {r[1], r[0]};
}

// ---- the forward ops ----

std::vector<std::optional<ValueId>> layer_grad(const GradQuery& q) {
  GraphBuilder& b = q.builder;
  const Node& node = q.node;
  const Cell& cell = cell_of(node.op);
  LayerOperands l(cell, node.attrs);
  const Graph& outer = b.graph();
  std::vector<TensorType> types;
  for (ValueId v : node.operands) types.push_back(outer.type(v));
  std::vector<TensorType> result_types;
  for (ValueId r : node.results) result_types.push_back(outer.type(r));
  const size_t num_results = l.results.size();

  // The layer's decomposition as a graph of its own, for autodiff to differentiate.
  Graph forward(cell.name);
  declare_symbols_of(forward, outer, types);
  std::vector<ValueId> args;
  for (size_t k = 0; k < l.count; ++k) args.push_back(forward.add_input(l.names[k], types[k]));
  {
    GraphBuilder fb(forward);
    fb.set_scope(node.scope);
    fb.set_loc(node.loc);
    std::vector<ValueId> r = decompose_layer(cell, fb, args, node.attrs, false);
    for (size_t k = 0; k < num_results; ++k) forward.add_output(l.results[k], r[k]);
  }

  // The backward's body: operands, forward results and result gradients in; operand gradients out.
  auto body = std::make_shared<Graph>(cell.backward_name);
  declare_symbols_of(*body, outer, types);
  std::vector<ValueId> inputs;
  for (size_t k = 0; k < l.count; ++k) inputs.push_back(body->add_input(l.names[k], types[k]));
  for (size_t k = 0; k < num_results; ++k) body->add_input(l.results[k], result_types[k]);
  std::vector<std::optional<ValueId>> cotangents;
  for (size_t k = 0; k < num_results; ++k)
    cotangents.push_back(body->add_input(fmt::format("grad_{}", l.results[k]), result_types[k]));
  std::vector<bool> wrt(l.count, true);
  if (l.lengths) wrt[l.len] = false;
  {
    GraphBuilder bb(*body);
    bb.set_scope(node.scope);
    bb.set_loc(node.loc);
    std::vector<std::optional<ValueId>> grads = (*q.body_vjp)(bb, forward, inputs, cotangents, wrt, {});
    for (size_t k = 0; k < l.num_float(); ++k) {
      ValueId g = grads[k] ? *grads[k] : bb.broadcast_to(bb.constant(0.0, types[k].dtype), types[k].shape);
      body->add_output("grad_" + l.names[k], g);
    }
  }

  std::vector<ValueId> operands = node.operands;
  operands.insert(operands.end(), node.results.begin(), node.results.end());
  for (size_t k = 0; k < num_results; ++k)
    operands.push_back(q.result_grads[k]
                           ? *q.result_grads[k]
                           : b.broadcast_to(b.constant(0.0, result_types[k].dtype), result_types[k].shape));
  Attrs attrs{{"bias", l.bias}, {"has_lengths", l.lengths}};
  std::vector<ValueId> grads = b.emit(cell.backward, operands, attrs, body);
  std::vector<std::optional<ValueId>> out(node.operands.size());
  for (size_t k = 0; k < l.num_float(); ++k) out[k] = grads[k];
  return out;
}

OpDef forward_def(const Cell& cell, const char* summary) {
  const int min_operands = cell.has_c ? 5 : 4;
  OpDef d = composite(cell.forward, cell.name, min_operands, min_operands + 3, summary);
  d.attrs = {AttrSpec{"bias", AttrKind::boolean, AttrValue{true}},
             AttrSpec{"has_lengths", AttrKind::boolean, AttrValue{false}},
             AttrSpec{"saved", AttrKind::boolean, AttrValue{false}}};
  d.infer = [&cell](const ShapeQuery& q) {
    LayerOperands l(cell, q.attrs);
    if (q.operands.size() != l.count)
      throw Error(fmt::format("{}: with bias={} and has_lengths={} takes {} operands ({}), but got {}", cell.name,
                              l.bias, l.lengths, l.count, fmt::join(l.names, ", "), q.operands.size()));
    return infer_forward(cell, cell.name, q.operands, q.attrs);
  };
  d.decompose = [&cell](GraphBuilder& b, const std::vector<ValueId>& ops, const Attrs& a) {
    return decompose_layer(cell, b, ops, a, a.get_bool("saved"));
  };
  d.save = [](GraphBuilder& b, const Node& node) {
    Attrs attrs = node.attrs;
    attrs.set("saved", true);
    return b.emit(node.op, node.operands, attrs);
  };
  d.gradient = layer_grad;
  return d;
}

// ---- the backward ops ----

OpDef backward_def(const Cell& cell, const char* summary) {
  const int results = cell.has_c ? 3 : 2;
  const int min_operands = (cell.has_c ? 5 : 4) + 2 * results;
  OpDef d = composite(cell.backward, cell.backward_name, min_operands, min_operands + 3, summary);
  d.attrs = {AttrSpec{"bias", AttrKind::boolean, AttrValue{true}},
             AttrSpec{"has_lengths", AttrKind::boolean, AttrValue{false}}};
  d.has_body = true;
  // Its body computes it, so its gradient (a second derivative of the layer) is the body's.
  d.gradient = [&cell](const GradQuery& q) {
    WEFT_CHECK(q.body_vjp != nullptr && q.node.body,
               fmt::format("{}: autodiff supplies the body's reverse pass", cell.backward_name));
    return (*q.body_vjp)(q.builder, *q.node.body, q.node.operands, q.result_grads, q.wanted, {});
  };
  d.infer = [&cell](const ShapeQuery& q) {
    LayerOperands l(cell, q.attrs);
    const size_t n = l.results.size();
    if (q.operands.size() != l.count + 2 * n)
      throw Error(
          fmt::format("{}: with bias={} and has_lengths={} takes {} operands ({}, then {} and their "
                      "gradients), but got {}",
                      cell.backward_name, l.bias, l.lengths, l.count + 2 * n, fmt::join(l.names, ", "),
                      fmt::join(l.results, ", "), q.operands.size()));
    std::vector<TensorType> results = infer_forward(cell, cell.backward_name, q.operands, q.attrs);
    for (size_t k = 0; k < 2 * n; ++k)
      expect(cell.backward_name, k < n ? l.results[k] : "grad_" + l.results[k - n], q.operands[l.count + k],
             results[k % n].dtype, results[k % n].shape);
    if (q.body && (q.body->inputs().size() != q.operands.size() || q.body->outputs().size() != l.num_float()))
      throw Error(fmt::format("{}: the body must take the {} operands and return the {} gradients", cell.backward_name,
                              q.operands.size(), l.num_float()));
    return std::vector<TensorType>(q.operands.begin(), q.operands.begin() + static_cast<std::ptrdiff_t>(l.num_float()));
  };
  return d;
}

}  // namespace

void register_recurrent_ops(std::vector<OpDef>& t) {
  t.push_back(forward_def(kLstm,
                          "one LSTM layer over a batch-first sequence (PyTorch's gates i, f, g, o), optionally "
                          "stopping each row at its length"));
  t.push_back(backward_def(kLstm,
                           "the gradients of an lstm's float operands, given its results and their gradients; "
                           "decomposed as its body (autodiff's reverse pass of the lstm's decomposition)"));
  t.push_back(forward_def(kRnn,
                          "one tanh RNN layer over a batch-first sequence, optionally stopping each row at its "
                          "length"));
  t.push_back(backward_def(kRnn,
                           "the gradients of an rnn's float operands, given its results and their gradients; "
                           "decomposed as its body (autodiff's reverse pass of the rnn's decomposition)"));
  t.push_back(forward_def(kGru,
                          "one GRU layer over a batch-first sequence (PyTorch's gates r, z, n), optionally stopping "
                          "each row at its length"));
  t.push_back(backward_def(kGru,
                           "the gradients of a gru's float operands, given its results and their gradients; "
                           "decomposed as its body (autodiff's reverse pass of the gru's decomposition)"));
}

}  // namespace weft::ops_detail
