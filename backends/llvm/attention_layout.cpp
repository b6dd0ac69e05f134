/** \file
 * The layout of attention regions. See attention_layout.h.
 */
#include "backends/llvm/attention_layout.h"

#include <fmt/format.h>

#include <cmath>

#include "backends/llvm/region_views.h"
#include "ir/ops.h"

namespace weft::llvm_backend {

namespace {

std::vector<int64_t> normalized(const std::vector<int64_t>& perm) {
  std::vector<int64_t> out;
  for (int64_t p : perm) out.push_back(p < 0 ? p + static_cast<int64_t>(perm.size()) : p);
  return out;
}

/// The view of body value `v` in the storage of the body input it is read from (through reshapes
/// and transposes).
std::optional<View> view_of_operand(const Graph& body, ValueId v, int& input) {
  const ValueInfo& info = body.value(v);
  if (info.kind == ValueKind::input) {
    input = info.owner;
    return row_major_view(info.type.shape);
  }
  const Node* n = body.producer(v);
  if (!n || (n->op != OpKind::reshape && n->op != OpKind::transpose)) return std::nullopt;
  std::optional<View> source = view_of_operand(body, n->operands[0], input);
  if (!source) return std::nullopt;
  if (n->op == OpKind::reshape) return reshape_view(*source, info.type.shape);
  return transpose_view(*source, normalized(n->attrs.get_ints("perm")));
}

/// The view of body value `v` in the storage of the body output it is written to (through the
/// reshapes and transposes that read it).
std::optional<View> view_of_result(const Graph& body, ValueId v, int& output) {
  for (size_t k = 0; k < body.outputs().size(); ++k)
    if (body.outputs()[k].value == v) {
      output = static_cast<int>(k);
      return row_major_view(body.type(v).shape);
    }
  const Node* reader = nullptr;
  for (const Node& n : body.nodes())
    for (ValueId o : n.operands)
      if (o == v) {
        if (reader) return std::nullopt;
        reader = &n;
      }
  if (!reader || (reader->op != OpKind::reshape && reader->op != OpKind::transpose)) return std::nullopt;
  std::optional<View> after = view_of_result(body, reader->results[0], output);
  if (!after) return std::nullopt;
  if (reader->op == OpKind::reshape) return reshape_view(*after, body.type(v).shape);
  std::vector<int64_t> perm = normalized(reader->attrs.get_ints("perm"));
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int64_t>(i);
  return transpose_view(*after, inverse);
}

std::optional<TensorAccess> access_of(const std::optional<View>& view, int buffer, bool unit_inner) {
  if (!view) return std::nullopt;
  std::optional<std::vector<Dim>> strides = flat_strides(*view);
  if (!strides) return std::nullopt;
  if (unit_inner && !strides->empty() && !(strides->back() == Dim(1)) && !is_one(view->shape.back()))
    return std::nullopt;
  return TensorAccess{buffer, *strides, view->offset};
}

}  // namespace

std::string attention_layout(const Graph& body, AttentionLayout& L) {
  const Node* core = nullptr;
  for (const Node& n : body.nodes())
    if (n.op == OpKind::attention || n.op == OpKind::attention_backward) core = &n;
  if (!core) return "an attention region without an attention node";
  L.backward = core->op == OpKind::attention_backward;
  if (!L.backward && core->attrs.get_bool("with_weights")) return "attention with its weights as an output";
  const TensorType& qt = body.type(core->operands[0]);
  const TensorType& kt = body.type(core->operands[1]);
  const TensorType& vt = body.type(core->operands[2]);
  if (qt.dtype != DType::f32) return fmt::format("attention of {} (the kernel is f32)", dtype_name(qt.dtype));
  const int r = qt.rank();
  if (!qt.shape[r - 1].is_static() || !vt.shape[r - 1].is_static()) return "attention with a symbolic head dim";
  L.batch.assign(qt.shape.begin(), qt.shape.end() - 2);
  L.tq = qt.shape[r - 2];
  L.tk = kt.shape[r - 2];
  L.d = qt.shape[r - 1].value();
  L.dv = vt.shape[r - 1].value();
  L.causal = core->attrs.get_bool("causal");
  double scale = core->attrs.get_real("scale");
  L.scale = scale != 0.0 ? scale : 1.0 / std::sqrt(static_cast<double>(L.d));

  const int n_in = static_cast<int>(body.inputs().size());
  auto operand = [&](size_t k, bool unit_inner) {
    int input = -1;
    std::optional<View> view = view_of_operand(body, core->operands[k], input);
    return access_of(view, input, unit_inner);
  };
  std::optional<TensorAccess> q = operand(0, true), k = operand(1, true), v = operand(2, true);
  if (!q || !k || !v) return "an attention operand that is not a strided view of a region input";
  L.q = *q;
  L.k = *k;
  L.v = *v;
  L.stats = core->attrs.get_bool("with_stats");
  size_t n_ops = core->operands.size() - (L.backward && L.stats ? 2 : 0);  // q, k, v, [mask], [g]
  bool has_mask = L.backward ? n_ops == 5 : n_ops == 4;
  if (L.backward) {
    std::optional<TensorAccess> g = operand(n_ops - 1, true);
    if (!g) return "an attention gradient that is not a strided view of a region input";
    L.g = *g;
    if (L.stats) {
      std::optional<TensorAccess> o = operand(n_ops, true), lse = operand(n_ops + 1, false);
      if (!o || !lse) return "an attention output or row statistics that are not strided views of region inputs";
      L.o = *o;
      L.lse = *lse;
    }
  }
  if (has_mask) {
    ValueId m = core->operands[3];
    if (body.value(m).kind != ValueKind::input) return "an attention mask computed inside the region";
    L.bool_mask = body.type(m).dtype == DType::boolean;
    Shape scores = L.batch;
    scores.push_back(L.tq);
    scores.push_back(L.tk);
    L.mask = access_of(broadcast_view(row_major_view(body.type(m).shape), scores), body.value(m).owner, false);
    if (!L.mask) return "an attention mask that does not broadcast as a view";
  }
  for (ValueId res : core->results) {
    int output = -1;
    std::optional<TensorAccess> a = access_of(view_of_result(body, res, output), -1, true);
    if (!a) return "an attention result that is not written through a strided view of a region output";
    a->buffer = n_in + output;
    L.results.push_back(*a);
  }
  return {};
}

}  // namespace weft::llvm_backend
