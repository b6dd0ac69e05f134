/** \file
 * Regions that own a sub-graph: `scan` (a loop over the time axis) and `fusion` (a fused region).
 *
 * scan(carries..., sequences..., consts..., [lengths]) runs its body once per time step:
 *   body(carries..., x_t..., consts...) -> (new carries..., y_t...)
 * where x_t is each sequence with the time axis removed. Results: the final carries, then each y
 * stacked along the time axis. With `has_lengths`, the last operand is an integer [batch] vector;
 * for steps t >= lengths[b], batch row b keeps its carry and gets y_t = 0 (PyTorch's packed
 * sequences). Carries and sequences then have the batch as dim 0. The body's weights come in as
 * consts, so the body has no parameters and the sequence length stays symbolic.
 *
 * fusion(inputs...) evaluates its body on its inputs; its results are the body's outputs.
 *
 * scan's gradient is backpropagation through time, as a scan (see docs/autodiff.md). Its `save`
 * rule makes the forward scan also return the carries entering each step, stacked along the time
 * axis (a carry whose rank is too small for the time axis is padded with trailing 1s), and the
 * step's residuals, its matrix products (`scan_residuals`), stacked the same way: the backward body
 * reads them where it would recompute them (as PyTorch's autograd saves a cell's gates), so a
 * backward step runs the body's gradient products only, not its forward products again. The
 * gradient is then a scan running the other way, whose body is the forward body's vector-Jacobian
 * product (supplied by autodiff): its carries are the gradients of the forward carries plus one
 * accumulator per const that needs a gradient; its sequences are the forward sequences, the saved
 * carries, the incoming gradients of the stacked outputs and, with lengths, a step mask. A masked
 * step (t >= lengths[b]) passes row b's carry gradient through and contributes nothing; the body is
 * evaluated there at the row's final carry (its true carry at that step) so that the discarded
 * values stay finite. fusion has no gradient rule: autodiff runs before fusion.
 */
#include <fmt/format.h>

#include <algorithm>

#include "ir/graph_builder.h"
#include "ir/ops.h"
#include "ir/ops/emit.h"
#include "ir/ops/grad_util.h"

namespace weft::ops_detail {

namespace {

Shape without_axis(const Shape& s, int axis) {
  Shape out = s;
  out.erase(out.begin() + axis);
  return out;
}

std::vector<TensorType> infer_scan(const ShapeQuery& q) {
  const Graph& body = *q.body;
  int64_t n_carry = q.attrs.get_int("num_carry");
  int64_t n_seq = q.attrs.get_int("num_seq");
  bool has_lengths = q.attrs.get_bool("has_lengths");
  int64_t n_ops = static_cast<int64_t>(q.operands.size());
  // Range-check before subtracting: the counts come from user files and must not overflow.
  if (n_carry < 0 || n_carry > n_ops || n_seq < 1 || n_seq > n_ops)
    throw Error(fmt::format("scan: num_carry must be in [0, {0}] and num_seq in [1, {0}] (the operand count), but got "
                            "num_carry={1} num_seq={2}",
                            n_ops, n_carry, n_seq));
  int64_t n_const = n_ops - n_carry - n_seq - (has_lengths ? 1 : 0);
  if (n_carry < 0 || n_seq < 1 || n_const < 0)
    throw Error(fmt::format("scan: needs num_carry >= 0 carries, num_seq >= 1 sequences, then consts{}; got {} "
                            "operands with num_carry={} num_seq={}",
                            has_lengths ? " and lengths" : "", n_ops, n_carry, n_seq));
  int64_t axis_attr = q.attrs.get_int("time_axis");
  const TensorType& first = q.operands[n_carry];
  int time_axis = normalize_axis(axis_attr, first.rank(), "scan time_axis");
  Dim steps = first.shape[time_axis];
  if (static_cast<int64_t>(body.inputs().size()) != n_carry + n_seq + n_const)
    throw Error(fmt::format("scan: the body takes {} inputs, but the scan passes {} carries, {} sequence steps and {} "
                            "consts",
                            body.inputs().size(), n_carry, n_seq, n_const));
  for (int64_t i = 0; i < n_carry + n_seq + n_const; ++i) {
    const TensorType& given = q.operands[i];
    TensorType want = given;
    if (i >= n_carry && i < n_carry + n_seq) {
      int axis = normalize_axis(axis_attr, given.rank(), "scan time_axis");
      if (given.shape[axis] != steps)
        throw Error(fmt::format("scan: all sequences must have {} steps on the time axis, but sequence {} is {}",
                                steps.str(), i - n_carry, given.str()));
      want.shape = without_axis(given.shape, axis);
    }
    const TensorType& body_in = body.type(body.inputs()[i].value);
    if (body_in != want)
      throw Error(fmt::format("scan: body input '{}' is {}, but the scan passes {}", body.inputs()[i].name,
                              body_in.str(), want.str()));
  }
  if (static_cast<int64_t>(body.outputs().size()) < n_carry)
    throw Error(fmt::format("scan: the body must return its {} new carries first, but returns {} values", n_carry,
                            body.outputs().size()));
  std::vector<TensorType> results;
  for (int64_t i = 0; i < n_carry; ++i) {
    const TensorType& out = body.type(body.outputs()[i].value);
    if (out != q.operands[i])
      throw Error(fmt::format("scan: carry {} enters as {} but the body returns {}", i, q.operands[i].str(), out.str()));
    results.push_back(out);
  }
  for (size_t i = n_carry; i < body.outputs().size(); ++i) {
    TensorType y = body.type(body.outputs()[i].value);
    int axis = static_cast<int>(axis_attr < 0 ? axis_attr + y.rank() + 1 : axis_attr);
    if (axis < 0 || axis > y.rank())
      throw Error(fmt::format("scan: time_axis {} does not fit per-step output {}", axis_attr, y.str()));
    y.shape.insert(y.shape.begin() + axis, steps);
    results.push_back(y);
  }
  if (has_lengths) {
    const TensorType& len = q.operands.back();
    if (!is_int(len.dtype) || len.rank() != 1)
      throw Error(fmt::format("scan: lengths must be an integer [batch] vector, but got {}", len.str()));
    for (int64_t i = 0; i < n_carry + n_seq; ++i)
      if (q.operands[i].rank() < 1 || q.operands[i].shape[0] != len.shape[0])
        throw Error(fmt::format("scan: with lengths, carries and sequences need the batch ({}) as dim 0, but operand "
                                "{} is {}",
                                len.shape[0].str(), i, q.operands[i].str()));
    if (time_axis == 0) throw Error("scan: with lengths, the time axis cannot be dim 0 (the batch)");
  }
  return results;
}

std::vector<TensorType> infer_fusion(const ShapeQuery& q) {
  const Graph& body = *q.body;
  if (body.inputs().size() != q.operands.size())
    throw Error(fmt::format("fusion: the region takes {} inputs but gets {}", body.inputs().size(), q.operands.size()));
  for (size_t i = 0; i < q.operands.size(); ++i)
    if (body.type(body.inputs()[i].value) != q.operands[i])
      throw Error(fmt::format("fusion: region input {} is {}, but gets {}", i, body.type(body.inputs()[i].value).str(),
                              q.operands[i].str()));
  std::vector<TensorType> results;
  for (const auto& o : body.outputs()) results.push_back(body.type(o.value));
  return results;
}


// ---- scan: backpropagation through time ----

struct ScanLayout {
  int64_t n_carry, n_seq, n_const;
  bool has_lengths;
  int64_t time_axis;  // the attribute, possibly negative
};

ScanLayout layout_of(const Node& node) {
  ScanLayout l{};
  l.n_carry = node.attrs.get_int("num_carry");
  l.n_seq = node.attrs.get_int("num_seq");
  l.has_lengths = node.attrs.get_bool("has_lengths");
  l.n_const = static_cast<int64_t>(node.operands.size()) - l.n_carry - l.n_seq - (l.has_lengths ? 1 : 0);
  l.time_axis = node.attrs.get_int("time_axis");
  return l;
}

/// `s` padded with trailing 1s until a per-step value of that shape can be stacked along `time_axis`.
Shape stackable(Shape s, int64_t time_axis) {
  auto fits = [&] {
    auto rank = static_cast<int64_t>(s.size());
    return time_axis >= 0 ? time_axis <= rank : time_axis + rank + 1 >= 0;
  };
  while (!fits()) s.push_back(Dim(1));
  return s;
}

/// `name`, primed until no output of `g` has it.
std::string fresh_output_name(const Graph& g, std::string name) {
  auto taken = [&] {
    return std::any_of(g.outputs().begin(), g.outputs().end(), [&](const OutputDecl& o) { return o.name == name; });
  };
  while (taken()) name += "'";
  return name;
}

/// The inner dimension below which a product is recomputed rather than saved: an outer product
/// (K = 1) or a thin one costs less to redo than its [M, N] result costs to store and read back.
constexpr int64_t kMinSavedInner = 32;

/// The residuals a scan saves besides its carries (see the file comment): the results of the body's
/// matrix products that vary from step to step (read a carry or a sequence, directly or not) and
/// whose inner dimension is at least kMinSavedInner (a symbolic one counts as large). None with
/// lengths: a finished row's stacked outputs are zeros, not what the body computes there, and a
/// gradient rule evaluated at 0 (a log, a division) could make the discarded values infinite.
std::vector<ValueId> scan_residuals(const Node& node) {
  const ScanLayout l = layout_of(node);
  if (l.has_lengths) return {};
  const Graph& body = *node.body;
  std::vector<bool> varies(static_cast<size_t>(body.num_values()), false);
  for (int64_t i = 0; i < l.n_carry + l.n_seq; ++i) varies[body.inputs()[i].value] = true;
  std::vector<ValueId> out;
  for (const Node& n : body.nodes()) {
    bool v = std::any_of(n.operands.begin(), n.operands.end(), [&](ValueId x) { return varies[x]; });
    for (ValueId r : n.results) varies[r] = v;
    if (!v || n.op != OpKind::matmul || !is_float(body.type(n.results[0]).dtype)) continue;
    const TensorType& a = body.type(n.operands[0]);
    const Dim& k = a.shape[a.rank() - (n.attrs.get_bool("transpose_a") ? 2 : 1)];
    if (!k.is_static() || k.value() >= kMinSavedInner) out.push_back(n.results[0]);
  }
  return out;
}

/// The forward scan, also returning the carry entering each step and its residuals, stacked (see
/// the file comment).
std::vector<ValueId> save_scan(GraphBuilder& b, const Node& node) {
  ScanLayout l = layout_of(node);
  const std::vector<ValueId> residuals = scan_residuals(node);
  auto body = std::make_shared<Graph>(*node.body);
  GraphBuilder bb(*body);
  auto save = [&](const std::string& name, ValueId v) {
    Shape shape = body->type(v).shape;
    Shape padded = stackable(shape, l.time_axis);
    body->add_output(fresh_output_name(*body, name), padded == shape ? v : bb.reshape(v, padded));
  };
  for (int64_t i = 0; i < l.n_carry; ++i) save("saved." + body->inputs()[i].name, body->inputs()[i].value);
  for (ValueId r : residuals) save("saved.product", r);
  return b.emit(OpKind::scan, node.operands, node.attrs, body);
}

Grads scan_grad(const GradQuery& q) {
  GraphBuilder& b = q.builder;
  const Node& node = q.node;
  const Graph& body = *node.body;
  ScanLayout l = layout_of(node);
  auto n_y = static_cast<int64_t>(body.outputs().size()) - l.n_carry;
  const std::vector<ValueId> residuals = scan_residuals(node);
  WEFT_CHECK(q.body_vjp != nullptr && q.saved.size() == static_cast<size_t>(l.n_carry) + residuals.size(),
             "scan gradient: the forward scan's carries and residuals were not saved");
  auto body_type = [&](int64_t input) { return body.type(body.inputs()[input].value); };
  auto body_name = [&](int64_t input) { return body.inputs()[input].name; };

  // Which carries carry a gradient (float ones), which outputs bring one, which operands want one.
  std::vector<int64_t> carries, ys, seqs, consts;
  for (int64_t i = 0; i < l.n_carry; ++i)
    if (is_float(body_type(i).dtype)) carries.push_back(i);
  for (int64_t j = 0; j < n_y; ++j)
    if (q.result_grads[l.n_carry + j]) ys.push_back(j);
  for (int64_t i = 0; i < l.n_seq; ++i)
    if (q.wanted[l.n_carry + i]) seqs.push_back(i);
  for (int64_t k = 0; k < l.n_const; ++k)
    if (q.wanted[l.n_carry + l.n_seq + k]) consts.push_back(k);

  // --- the backward body: inputs in scan order (carries, sequences, consts) ---
  auto grad_body = std::make_shared<Graph>(body.name() + ".grad");
  for (const SymbolDecl& s : body.symbols()) grad_body->declare_symbol(s.name, s.bound);
  Graph& g = *grad_body;
  // Names only need to be unique; "d<name>" reads as the gradient of <name>.
  auto input = [&g](std::string name, const TensorType& type) {
    while (g.find_input(name)) name += "'";
    return g.add_input(name, type);
  };
  auto output = [&g](const std::string& name, ValueId v) { g.add_output(fresh_output_name(g, name), v); };
  auto const_input = [&](int64_t k) { return l.n_carry + l.n_seq + k; };
  std::vector<ValueId> dc_in, acc_in, x_in, saved_in, res_in, dy_in, k_in, final_in;
  for (int64_t i : carries) dc_in.push_back(input("d" + body_name(i), body_type(i)));
  for (int64_t k : consts) acc_in.push_back(input("d" + body_name(const_input(k)), body_type(const_input(k))));
  for (int64_t i = 0; i < l.n_seq; ++i) x_in.push_back(input(body_name(l.n_carry + i), body_type(l.n_carry + i)));
  for (int64_t i = 0; i < l.n_carry; ++i)
    saved_in.push_back(
        input(body_name(i), TensorType{body_type(i).dtype, stackable(body_type(i).shape, l.time_axis)}));
  for (ValueId r : residuals)
    res_in.push_back(input("saved.product", TensorType{body.type(r).dtype, stackable(body.type(r).shape, l.time_axis)}));
  for (int64_t j : ys) {
    const OutputDecl& out = body.outputs()[l.n_carry + j];
    dy_in.push_back(input("d" + out.name, body.type(out.value)));
  }
  ValueId mask_in = kNoValue;
  const TensorType first_seq = b.type(node.operands[l.n_carry]);
  int time_axis = normalize_axis(l.time_axis, first_seq.rank(), "scan time_axis");
  Dim batch;
  if (l.has_lengths) {
    batch = b.type(node.operands.back()).shape[0];
    Shape step(static_cast<size_t>(first_seq.rank() - 1), Dim(1));
    step[0] = batch;
    mask_in = input("running", TensorType{DType::boolean, step});
  }
  for (int64_t k = 0; k < l.n_const; ++k) k_in.push_back(input(body_name(const_input(k)), body_type(const_input(k))));
  if (l.has_lengths)
    for (int64_t i = 0; i < l.n_carry; ++i) final_in.push_back(input("final." + body_name(i), body_type(i)));

  GraphBuilder gb(g);
  gb.set_scope(node.scope);
  gb.set_loc(node.loc);
  Emit e{gb};
  // Rows still running at this step, shaped to broadcast against a batch-major value.
  ValueId running = l.has_lengths ? gb.reshape(mask_in, Shape{batch}) : kNoValue;
  auto row_mask = [&](ValueId like) {
    Shape s(static_cast<size_t>(e.type(like).rank()), Dim(1));
    s[0] = batch;
    return gb.reshape(running, s);
  };
  auto when_running = [&](ValueId v) {
    if (!l.has_lengths) return v;
    return e.select(row_mask(v), v, e.c(0.0, e.type(v).dtype));
  };

  std::vector<ValueId> inputs;
  for (int64_t i = 0; i < l.n_carry; ++i) {
    ValueId c = saved_in[i];
    if (e.type(c).shape != body_type(i).shape) c = gb.reshape(c, body_type(i).shape);
    if (l.has_lengths) c = e.select(row_mask(c), c, final_in[i]);
    inputs.push_back(c);
  }
  inputs.insert(inputs.end(), x_in.begin(), x_in.end());
  inputs.insert(inputs.end(), k_in.begin(), k_in.end());
  std::vector<std::optional<ValueId>> cotangents(body.outputs().size());
  for (size_t n = 0; n < carries.size(); ++n) cotangents[carries[n]] = when_running(dc_in[n]);
  for (size_t n = 0; n < ys.size(); ++n) cotangents[l.n_carry + ys[n]] = when_running(dy_in[n]);
  std::vector<bool> wrt(body.inputs().size(), false);
  for (int64_t i : carries) wrt[i] = true;
  for (int64_t i : seqs) wrt[l.n_carry + i] = true;
  for (int64_t k : consts) wrt[l.n_carry + l.n_seq + k] = true;
  KnownValues known;
  for (size_t n = 0; n < residuals.size(); ++n) {
    ValueId r = res_in[n];
    if (e.type(r).shape != body.type(residuals[n]).shape) r = gb.reshape(r, body.type(residuals[n]).shape);
    known.emplace_back(residuals[n], r);
  }
  Grads step = (*q.body_vjp)(gb, body, inputs, cotangents, wrt, known);

  for (size_t n = 0; n < carries.size(); ++n) {
    int64_t i = carries[n];
    ValueId dc = step[i] ? *step[i] : zeros_of(gb, body_type(i));
    // A finished row's carry was passed through unchanged: its gradient passes through too.
    if (l.has_lengths) dc = e.add(dc, e.select(row_mask(dc), e.c(0.0, body_type(i).dtype), dc_in[n]));
    output("d" + body_name(i), dc);
  }
  for (size_t n = 0; n < consts.size(); ++n) {
    int64_t k = const_input(consts[n]);
    output("d" + body_name(k), step[k] ? e.add(acc_in[n], *step[k]) : acc_in[n]);
  }
  for (int64_t i : seqs) {
    int64_t x = l.n_carry + i;
    output("d" + body_name(x), step[x] ? *step[x] : zeros_of(gb, body_type(x)));
  }

  // --- the backward scan, running the other way ---
  std::vector<ValueId> operands;
  for (int64_t i : carries) {
    const std::optional<ValueId>& final_grad = q.result_grads[i];
    operands.push_back(final_grad ? *final_grad : zeros_of(b, body_type(i)));
  }
  for (int64_t k : consts) operands.push_back(zeros_of(b, b.type(node.operands[l.n_carry + l.n_seq + k])));
  for (int64_t i = 0; i < l.n_seq; ++i) operands.push_back(node.operands[l.n_carry + i]);
  operands.insert(operands.end(), q.saved.begin(), q.saved.end());
  for (int64_t j : ys) operands.push_back(*q.result_grads[l.n_carry + j]);
  if (l.has_lengths) {
    // mask[b, .., t, ..] = t < lengths[b], shaped like the first sequence with 1s elsewhere.
    Shape times(static_cast<size_t>(first_seq.rank()), Dim(1));
    times[time_axis] = first_seq.shape[time_axis];
    Shape rows(static_cast<size_t>(first_seq.rank()), Dim(1));
    rows[0] = batch;
    ValueId t = b.emit1(OpKind::iota, {}, Attrs{{"shape", times}, {"axis", int64_t{time_axis}}, {"dtype", DType::i64}});
    ValueId len = b.reshape(b.cast(node.operands.back(), DType::i64), rows);
    operands.push_back(b.binary(OpKind::lt, t, len));
  }
  for (int64_t k = 0; k < l.n_const; ++k) operands.push_back(node.operands[l.n_carry + l.n_seq + k]);
  if (l.has_lengths)
    for (int64_t i = 0; i < l.n_carry; ++i) operands.push_back(node.results[i]);
  auto n_carry_back = static_cast<int64_t>(carries.size() + consts.size());
  auto n_seq_back = l.n_seq + static_cast<int64_t>(q.saved.size() + ys.size()) + (l.has_lengths ? 1 : 0);
  Attrs attrs{{"num_carry", n_carry_back},
              {"num_seq", n_seq_back},
              {"time_axis", l.time_axis},
              {"reverse", !node.attrs.get_bool("reverse")},
              {"has_lengths", false}};
  std::vector<ValueId> back = b.emit(OpKind::scan, operands, attrs, grad_body);

  Grads out(node.operands.size());
  for (size_t n = 0; n < carries.size(); ++n) out[carries[n]] = back[n];
  for (size_t n = 0; n < consts.size(); ++n) out[l.n_carry + l.n_seq + consts[n]] = back[carries.size() + n];
  for (size_t n = 0; n < seqs.size(); ++n) out[l.n_carry + seqs[n]] = back[n_carry_back + static_cast<int64_t>(n)];
  return out;
}

}  // namespace

void register_control_ops(std::vector<OpDef>& t) {
  OpDef scan;
  scan.kind = OpKind::scan;
  scan.name = "scan";
  scan.min_operands = 1;
  scan.max_operands = -1;
  scan.has_body = true;
  scan.fusion = FusionKind::opaque;
  scan.cost = CostClass::control;
  scan.llvm = {ProviderImpl::interpreter,
               "the scan loop (backends/scan_loop.h) drives it over the call's memory; each step runs the body's "
               "generated code"};
  scan.summary = "a loop over the time axis whose body is a sub-graph (RNN, LSTM, decoders)";
  scan.attrs = {AttrSpec{"num_carry", AttrKind::integer, std::nullopt},
                AttrSpec{"num_seq", AttrKind::integer, std::nullopt},
                AttrSpec{"time_axis", AttrKind::integer, AttrValue{int64_t{1}}},
                AttrSpec{"reverse", AttrKind::boolean, AttrValue{false}},
                AttrSpec{"has_lengths", AttrKind::boolean, AttrValue{false}}};
  scan.infer = infer_scan;
  scan.save = save_scan;
  scan.gradient = scan_grad;
  t.push_back(std::move(scan));

  OpDef fusion;
  fusion.kind = OpKind::fusion;
  fusion.name = "fusion";
  fusion.min_operands = 0;
  fusion.max_operands = -1;
  fusion.has_body = true;
  fusion.fusion = FusionKind::opaque;
  fusion.cost = CostClass::control;
  fusion.llvm = {ProviderImpl::region, {}};
  fusion.summary = "a fused region: one loop nest computing its body";
  fusion.attrs = {AttrSpec{"kind", AttrKind::string, AttrValue{std::string("loop")}}};
  fusion.infer = infer_fusion;
  // A region computes its body, so its gradient is the body's, emitted where it is needed (a fused
  // graph from a file differentiates as the graph it was fused from).
  fusion.gradient = [](const GradQuery& q) {
    WEFT_CHECK(q.body_vjp != nullptr && q.node.body, "fusion: autodiff supplies the body's reverse pass");
    return (*q.body_vjp)(q.builder, *q.node.body, q.node.operands, q.result_grads, q.wanted, {});
  };
  t.push_back(std::move(fusion));
}

}  // namespace weft::ops_detail
