/** \file
 * Recognising oneDNN primitives in program calls. See region_match.h.
 */
#include "backends/onednn/region_match.h"

#include <fmt/format.h>

#include <map>

#include "backends/interp/constant_evaluator.h"
#include "ir/graph.h"
#include "ir/ops.h"
#include "passes/pipeline.h"

namespace weft::onednn {

std::string_view primitive_name(Primitive p) {
  switch (p) {
    case Primitive::matmul:
      return "matmul";
    case Primitive::eltwise:
      return "eltwise";
    case Primitive::binary:
      return "binary";
    case Primitive::reduction:
      return "reduction";
    case Primitive::softmax:
      return "softmax";
    case Primitive::log_softmax:
      return "logsoftmax";
    case Primitive::layer_norm:
      return "layer_normalization";
    case Primitive::reorder:
      return "reorder";
  }
  return "?";
}

namespace {

std::string_view eltwise_name(Eltwise e) {
  static const char* names[] = {"relu", "tanh", "logistic", "gelu_erf", "gelu_tanh", "exp",
                                "log",  "sqrt", "abs",      "linear",   "pow",       "square"};
  return names[static_cast<int>(e)];
}

std::string_view binary_name(Binary b) {
  static const char* names[] = {"add", "sub", "mul", "div", "max", "min"};
  return names[static_cast<int>(b)];
}

struct UnaryMap {
  Eltwise alg;
  float alpha = 0, beta = 0;
};

/// A unary op as an eltwise algorithm (oneDNN has no sin, cos or logical_not); `mul(v, v)` is one
/// too (square).
std::optional<UnaryMap> unary_of(const Node& n) {
  if (n.op == OpKind::mul && n.operands.size() == 2 && n.operands[0] == n.operands[1]) return UnaryMap{Eltwise::square};
  switch (n.op) {
    case OpKind::relu:
      return UnaryMap{Eltwise::relu};
    case OpKind::tanh:
      return UnaryMap{Eltwise::tanh};
    case OpKind::sigmoid:
      return UnaryMap{Eltwise::logistic};
    case OpKind::gelu:
      return UnaryMap{n.attrs.has("approximate") && n.attrs.get_string("approximate") == "tanh" ? Eltwise::gelu_tanh
                                                                                                : Eltwise::gelu_erf};
    case OpKind::exp:
      return UnaryMap{Eltwise::exp};
    case OpKind::log:
      return UnaryMap{Eltwise::log};
    case OpKind::sqrt:
      return UnaryMap{Eltwise::sqrt};
    case OpKind::abs:
      return UnaryMap{Eltwise::abs};
    case OpKind::neg:
      return UnaryMap{Eltwise::linear, -1.0f, 0.0f};
    case OpKind::rsqrt:
      return UnaryMap{Eltwise::pow, 1.0f, -0.5f};  // alpha * x^beta
    default:
      return std::nullopt;
  }
}

std::optional<Binary> binary_of(OpKind op) {
  switch (op) {
    case OpKind::add:
      return Binary::add;
    case OpKind::sub:
      return Binary::sub;
    case OpKind::mul:
      return Binary::mul;
    case OpKind::div:
      return Binary::div;
    case OpKind::maximum:
      return Binary::max;
    case OpKind::minimum:
      return Binary::min;
    default:
      return std::nullopt;
  }
}

bool commutative(Binary b) { return b == Binary::add || b == Binary::mul || b == Binary::max || b == Binary::min; }

/// The body's value `v` as a region input (its index, = the call operand) or -1.
int input_index(const Graph& body, ValueId v) {
  const ValueInfo& info = body.value(v);
  return info.kind == ValueKind::input ? info.owner : -1;
}

/// The value of a one-element constant node, if `v` is one.
std::optional<float> scalar_constant(const Graph& body, ValueId v) {
  const Node* p = body.producer(v);
  if (!p || p->op != OpKind::constant) return std::nullopt;
  const auto& values = p->attrs.get_reals("value");
  if (values.size() != 1) return std::nullopt;
  return static_cast<float>(values[0]);
}

/// How many times each value is read inside the body, outputs included.
std::vector<int> use_counts(const Graph& body) {
  std::vector<int> uses(body.num_values(), 0);
  for (const Node& n : body.nodes())
    for (ValueId v : n.operands) ++uses[v];
  for (const OutputDecl& o : body.outputs()) ++uses[o.value];
  return uses;
}

/// Extends the chain from `acc` (the value computed so far) through the body's nodes after
/// `first`: each must read `acc` once and a region input or scalar constant otherwise; constants
/// are skipped. The chain must end at the body's one output. Empty string when it does.
std::string chain_post_ops(const Graph& body, size_t first, ValueId acc, Plan& plan) {
  std::vector<int> uses = use_counts(body);
  const TensorType out_type = body.type(acc);
  for (size_t i = first; i < body.nodes().size(); ++i) {
    const Node& n = body.nodes()[i];
    if (n.op == OpKind::constant && scalar_constant(body, n.results[0])) continue;
    const bool squares = n.op == OpKind::mul && n.operands.size() == 2 && n.operands[0] == acc && n.operands[1] == acc;
    if (uses[acc] != (squares ? 2 : 1)) return fmt::format("the value before {} is read more than once", op_name(n.op));
    if (body.type(n.results[0]) != out_type)
      return fmt::format("{} changes the shape or dtype of the result", op_name(n.op));
    PostOp post;
    if (auto u = unary_of(n); u && n.operands[0] == acc && (n.operands.size() == 1 || squares)) {
      post.eltwise = u->alg;
      post.alpha = u->alpha;
      post.beta = u->beta;
    } else if (auto b = binary_of(n.op); b && n.operands.size() == 2) {
      ValueId other;
      if (n.operands[0] == acc && n.operands[1] != acc)
        other = n.operands[1];
      else if (n.operands[1] == acc && n.operands[0] != acc && commutative(*b))
        other = n.operands[0];
      else
        return fmt::format("{} does not take the value so far as its first operand", op_name(n.op));
      post.is_binary = true;
      post.binary = *b;
      if (auto c = scalar_constant(body, other)) {
        post.scalar = *c;
      } else if (int k = input_index(body, other); k >= 0) {
        if (body.type(other).dtype != out_type.dtype) return "a post-op operand of another dtype";
        post.operand = k;
      } else {
        return fmt::format("{} reads a value computed in the region (not an input)", op_name(n.op));
      }
    } else {
      return fmt::format("{} has no oneDNN post-op", op_name(n.op));
    }
    plan.post_ops.push_back(post);
    acc = n.results[0];
  }
  if (body.outputs().size() != 1 || body.outputs()[0].value != acc) return "the region's output is not the chain's end";
  return "";
}

std::string check_f32(const KernelCall& call) {
  for (const BufferRef& ref : call.operands)
    if (ref.type.dtype != DType::f32) return fmt::format("{} operand (oneDNN runs f32 only here)", ref.type.str());
  if (call.operands.size() != static_cast<size_t>(call.num_inputs) + 1) return "more than one result";
  return "";
}

std::optional<Plan> match_matmul(const Graph& body, int dst, std::string* why) {
  Plan plan;
  plan.primitive = Primitive::matmul;
  plan.dst = dst;
  size_t at = 0;
  while (at < body.nodes().size() && body.nodes()[at].op == OpKind::constant) ++at;
  if (at == body.nodes().size() || body.nodes()[at].op != OpKind::matmul) {
    *why = "the region does not start with its matmul";
    return std::nullopt;
  }
  const Node& mm = body.nodes()[at];
  plan.src0 = input_index(body, mm.operands[0]);
  plan.src1 = input_index(body, mm.operands[1]);
  if (plan.src0 < 0 || plan.src1 < 0) {
    *why = "a matmul operand computed in the region";
    return std::nullopt;
  }
  plan.transpose_a = mm.attrs.get_bool("transpose_a");
  plan.transpose_b = mm.attrs.get_bool("transpose_b");
  ValueId acc = mm.results[0];
  // A first add of a vector of the output's last dim is the primitive's own bias.
  const TensorType& out = body.type(acc);
  std::vector<int> uses = use_counts(body);
  if (at + 1 < body.nodes().size() && uses[acc] == 1) {
    const Node& n = body.nodes()[at + 1];
    if (n.op == OpKind::add && n.operands.size() == 2) {
      ValueId other = n.operands[0] == acc ? n.operands[1] : n.operands[0];
      int k = input_index(body, other);
      const TensorType& t = body.type(other);
      if (k >= 0 && other != acc && t.rank() == 1 && t.shape[0] == out.shape.back()) {
        plan.bias = k;
        acc = n.results[0];
        at += 1;
      }
    }
  }
  *why = chain_post_ops(body, at + 1, acc, plan);
  if (!why->empty()) return std::nullopt;
  return plan;
}

/// A loop region that only moves data: reshapes, at most one transpose, reshapes. Reshapes of
/// contiguous memory only rename it, so the region is a copy from the input viewed at the
/// transpose's operand shape, strided by `perm`, to the output viewed at the transpose's result
/// shape: oneDNN's reorder.
std::optional<Plan> match_movement(const Graph& body, int dst) {
  const Node* transpose = nullptr;
  ValueId at = body.inputs().size() == 1 ? body.inputs()[0].value : kNoValue;
  for (const Node& n : body.nodes()) {
    if (n.op != OpKind::reshape && !(n.op == OpKind::transpose && !transpose)) return std::nullopt;
    if (n.operands.size() != 1 || n.operands[0] != at) return std::nullopt;
    if (n.op == OpKind::transpose) transpose = &n;
    at = n.results[0];
  }
  if (!transpose || body.outputs().size() != 1 || body.outputs()[0].value != at) return std::nullopt;
  Plan plan;
  plan.primitive = Primitive::reorder;
  plan.src0 = 0;
  plan.dst = dst;
  plan.axes = transpose->attrs.get_ints("perm");
  plan.view = body.type(transpose->operands[0]);
  return plan;
}

std::optional<Plan> match_loop(const Graph& body, int dst, std::string* why) {
  if (std::optional<Plan> moved = match_movement(body, dst)) return moved;
  Plan plan;
  plan.dst = dst;
  size_t at = 0;
  while (at < body.nodes().size() && body.nodes()[at].op == OpKind::constant) ++at;
  if (at == body.nodes().size()) {
    *why = "a region of constants";
    return std::nullopt;
  }
  const Node& first = body.nodes()[at];
  const TensorType& out = body.type(first.results[0]);
  if (auto u = unary_of(first); u && input_index(body, first.operands[0]) >= 0) {
    plan.primitive = Primitive::eltwise;
    plan.src0 = input_index(body, first.operands[0]);
    plan.eltwise = u->alg;
    plan.alpha = u->alpha;
    plan.beta = u->beta;
    if (body.type(first.operands[0]) != out) {
      *why = "the eltwise source broadcasts";
      return std::nullopt;
    }
  } else if (auto b = binary_of(first.op); b && first.operands.size() == 2) {
    plan.primitive = Primitive::binary;
    plan.binary = *b;
    int i0 = input_index(body, first.operands[0]);
    int i1 = input_index(body, first.operands[1]);
    if (i0 < 0 || i1 < 0) {
      *why = fmt::format("{} of a value that is not a region input", op_name(first.op));
      return std::nullopt;
    }
    // oneDNN's binary broadcasts its second source only.
    if (body.type(first.operands[0]) != out && commutative(*b)) std::swap(i0, i1);
    plan.src0 = i0;
    plan.src1 = i1;
    if (body.type(body.inputs()[i0].value) != out) {
      *why = fmt::format("{} broadcasts its first operand", op_name(first.op));
      return std::nullopt;
    }
  } else {
    *why = fmt::format("{} has no oneDNN eltwise or binary primitive", op_name(first.op));
    return std::nullopt;
  }
  *why = chain_post_ops(body, at + 1, first.results[0], plan);
  if (!why->empty()) return std::nullopt;
  return plan;
}

// --- reductions and the composites that become reduction regions ---

/// Whether two bodies compute the same thing node by node: same inputs' types, same ops with the
/// same attributes reading the same values, same outputs (scopes, locations and names aside).
/// Constants are compared by value wherever they sit: CSE may have merged one with an equal
/// constant of another layer and moved it to the front of the body.
bool same_body(const Graph& a, const Graph& b) {
  if (a.inputs().size() != b.inputs().size() || a.outputs().size() != b.outputs().size()) return false;
  for (size_t i = 0; i < a.inputs().size(); ++i)
    if (a.type(a.inputs()[i].value) != b.type(b.inputs()[i].value)) return false;
  auto computing = [](const Graph& g) {
    std::vector<const Node*> nodes;
    std::vector<int> position(g.nodes().size(), -1);
    for (size_t i = 0; i < g.nodes().size(); ++i)
      if (g.nodes()[i].op != OpKind::constant) {
        position[i] = static_cast<int>(nodes.size());
        nodes.push_back(&g.nodes()[i]);
      }
    return std::pair(nodes, position);
  };
  auto [xs, x_position] = computing(a);
  auto [ys, y_position] = computing(b);
  if (xs.size() != ys.size()) return false;
  // Values are compared by where they come from: input i, result r of the n-th computing node, or
  // a constant (by its attributes and type).
  auto same_value = [&](ValueId u, ValueId v) {
    const ValueInfo& p = a.value(u);
    const ValueInfo& q = b.value(v);
    if (p.kind != q.kind) return false;
    if (p.kind == ValueKind::input) return p.owner == q.owner;
    if (p.kind != ValueKind::result) return false;
    const Node& m = a.nodes()[p.owner];
    const Node& n = b.nodes()[q.owner];
    if (m.op == OpKind::constant || n.op == OpKind::constant)
      return m.op == n.op && m.attrs == n.attrs && a.type(u) == b.type(v);
    return x_position[p.owner] == y_position[q.owner] && p.result == q.result;
  };
  for (size_t i = 0; i < xs.size(); ++i) {
    const Node& x = *xs[i];
    const Node& y = *ys[i];
    if (x.op != y.op || !(x.attrs == y.attrs) || x.operands.size() != y.operands.size() ||
        x.results.size() != y.results.size() || x.body || y.body)
      return false;
    for (size_t k = 0; k < x.operands.size(); ++k)
      if (!same_value(x.operands[k], y.operands[k])) return false;
    for (size_t k = 0; k < x.results.size(); ++k)
      if (a.type(x.results[k]) != b.type(y.results[k])) return false;
  }
  for (size_t i = 0; i < a.outputs().size(); ++i)
    if (!same_value(a.outputs()[i].value, b.outputs()[i].value)) return false;
  return true;
}

/// The region the pipeline makes of `op` (attributes `attrs`) applied to the body's inputs in
/// the order `order`, or null when it is not one region.
std::shared_ptr<const Graph> composite_region(const Graph& body, OpKind op, const Attrs& attrs,
                                              const std::vector<int>& order) {
  Graph g("reference");
  for (const SymbolDecl& s : body.symbols()) g.declare_symbol(s.name, s.bound);
  std::vector<ValueId> inputs;
  for (const InputDecl& in : body.inputs()) inputs.push_back(g.add_input(in.name, body.type(in.value)));
  std::vector<ValueId> operands;
  for (int k : order) operands.push_back(inputs[k]);
  const TensorType& x = body.type(body.inputs()[order[0]].value);
  g.add_node(op, operands, normalize_attrs(op_def(op), attrs), {x});
  g.add_output("out0", g.nodes().back().results[0]);
  LoweringOptions options;
  options.evaluate_constants = interpreter_constant_evaluator();
  Graph lowered;
  try {
    lowered = lower_graph(g, options);
  } catch (const Error&) {
    return nullptr;
  }
  if (lowered.nodes().size() != 1 || lowered.nodes()[0].op != OpKind::fusion) return nullptr;
  return lowered.nodes()[0].body;
}

int64_t normalized_axis(int64_t axis, size_t rank) { return axis < 0 ? axis + static_cast<int64_t>(rank) : axis; }

std::optional<Plan> match_reduction(const Graph& body, int dst, std::string* why) {
  const std::vector<Node>& nodes = body.nodes();
  // One reduction of a region input.
  if (nodes.size() == 1 && body.outputs().size() == 1 && body.outputs()[0].value == nodes[0].results[0]) {
    const Node& n = nodes[0];
    std::optional<Reduce> r;
    if (n.op == OpKind::reduce_sum) r = Reduce::sum;
    if (n.op == OpKind::reduce_mean) r = Reduce::mean;
    if (n.op == OpKind::reduce_max) r = Reduce::max;
    if (n.op == OpKind::reduce_min) r = Reduce::min;
    int src = input_index(body, n.operands[0]);
    if (r && src >= 0) {
      Plan plan;
      plan.primitive = Primitive::reduction;
      plan.reduce = *r;
      plan.src0 = src;
      plan.dst = dst;
      size_t rank = body.type(n.operands[0]).rank();
      for (int64_t a : n.attrs.get_ints("axes")) plan.axes.push_back(normalized_axis(a, rank));
      if (plan.axes.empty())
        for (size_t a = 0; a < rank; ++a) plan.axes.push_back(static_cast<int64_t>(a));
      return plan;
    }
  }
  // softmax, log_softmax, layer_norm: the axis from the region's first reduction, eps from its
  // scalar constant; then the composite lowered on the same inputs must give this very body.
  const Node* first_reduce = nullptr;
  std::optional<double> eps;
  for (const Node& n : nodes) {
    if (!first_reduce && (n.op == OpKind::reduce_max || n.op == OpKind::reduce_mean)) first_reduce = &n;
    if (n.op == OpKind::constant && n.attrs.get_reals("value").size() == 1) eps = n.attrs.get_reals("value")[0];
  }
  if (first_reduce && first_reduce->attrs.get_ints("axes").size() == 1 && body.outputs().size() == 1) {
    const size_t rank = body.type(first_reduce->operands[0]).rank();
    const int64_t written = first_reduce->attrs.get_ints("axes")[0];
    const int64_t axis = normalized_axis(written, rank);
    const size_t num_inputs = body.inputs().size();
    struct Candidate {
      OpKind op;
      Primitive primitive;
      std::vector<int> order;
    };
    std::vector<Candidate> candidates;
    if (num_inputs == 1) {
      candidates.push_back({OpKind::softmax, Primitive::softmax, {0}});
      candidates.push_back({OpKind::log_softmax, Primitive::log_softmax, {0}});
      candidates.push_back({OpKind::layer_norm, Primitive::layer_norm, {0}});
    } else if (num_inputs == 3) {
      for (std::vector<int> order : {std::vector<int>{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}})
        candidates.push_back({OpKind::layer_norm, Primitive::layer_norm, order});
    }
    // The decomposition may keep the axis as written (-1) or normalize it: both are tried.
    for (const Candidate& c : candidates) {
      if (c.op == OpKind::layer_norm && (!eps || axis != static_cast<int64_t>(rank) - 1)) continue;
      bool same = false;
      for (int64_t a : {written, axis, axis - static_cast<int64_t>(rank)}) {
        Attrs attrs{{"axis", a}};
        if (c.op == OpKind::layer_norm) attrs.set("eps", *eps);
        std::shared_ptr<const Graph> reference = composite_region(body, c.op, attrs, c.order);
        if (reference && same_body(body, *reference)) {
          same = true;
          break;
        }
      }
      if (!same) continue;
      Plan plan;
      plan.primitive = c.primitive;
      plan.src0 = c.order[0];
      if (c.order.size() == 3) {
        plan.scale = c.order[1];
        plan.bias = c.order[2];
      }
      plan.axes = {axis};
      plan.eps = static_cast<float>(eps.value_or(0));
      plan.dst = dst;
      return plan;
    }
  }
  *why = "not one reduction, softmax, log_softmax or layer_norm alone";
  return std::nullopt;
}

}  // namespace

std::string Plan::describe() const {
  std::string out(primitive_name(primitive));
  if (primitive == Primitive::eltwise) out += fmt::format(" {}", eltwise_name(eltwise));
  if (primitive == Primitive::binary) out += fmt::format(" {}", binary_name(binary));
  if (primitive == Primitive::matmul && bias >= 0) out += " + bias";
  for (const PostOp& p : post_ops)
    out += p.is_binary ? fmt::format(" + {}({})", binary_name(p.binary), p.operand >= 0 ? "tensor" : "scalar")
                       : fmt::format(" + {}", eltwise_name(p.eltwise));
  return out;
}

std::optional<Plan> match_call(const KernelCall& call, std::string* why) {
  if (call.op == OpKind::transpose && call.operands.size() == 2 && call.operands[0].type.dtype == DType::f32) {
    Plan plan;  // a lone transpose (one that moves the innermost axis is never fused): a reorder
    plan.primitive = Primitive::reorder;
    plan.src0 = 0;
    plan.dst = 1;
    plan.axes = call.attrs.get_ints("perm");
    plan.view = call.operands[0].type;
    return plan;
  }
  if (call.op != OpKind::fusion || !call.body) {
    *why = fmt::format("no primitive for a lone {}", op_name(call.op));
    return std::nullopt;
  }
  if (std::string bad = check_f32(call); !bad.empty()) {
    *why = bad;
    return std::nullopt;
  }
  const std::string& kind = call.attrs.get_string("kind");
  const int dst = call.num_inputs;
  if (kind == "matmul") return match_matmul(*call.body, dst, why);
  if (kind == "loop") return match_loop(*call.body, dst, why);
  if (kind == "reduction") return match_reduction(*call.body, dst, why);
  *why = fmt::format("no primitive for a {} region", kind);
  return std::nullopt;
}

}  // namespace weft::onednn
