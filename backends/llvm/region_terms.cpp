/** \file
 * Views, the lowering of region bodies to terms, and the coalescing of the iteration space. See
 * region_terms.h.
 */
#include "backends/llvm/region_terms.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "backends/llvm/region_views.h"
#include "ir/ops.h"

namespace weft::llvm_backend {

namespace {

/// Thrown inside the lowering to give up on a region; caught by lower_region.
struct Unsupported {
  std::string reason;
  const Node* node = nullptr;  // the body's node the reason is about, when one is
};

}  // namespace

bool codegen_supports(DType dtype) {
  return dtype == DType::f32 || dtype == DType::f64 || dtype == DType::i32 || dtype == DType::i64 ||
         dtype == DType::boolean;
}


namespace {

/// One step of the index map from a value's space towards the region's space.
struct Transform {
  enum Kind : uint8_t { broadcast, transpose, reshape, slice } kind;
  Shape to;
  std::vector<int64_t> perm;  // transpose: the permutation; slice: axis, first index, step
};

using Path = std::vector<Transform>;

std::string path_key(const Path& path) {
  std::string key;
  for (const Transform& t : path) {
    key += "btrs"[t.kind];
    key += shape_str(t.to);
    for (int64_t p : t.perm) key += fmt::format(",{}", p);
    key += ';';
  }
  return key;
}

View apply_path(View v, const Path& path) {
  for (const Transform& t : path) {
    switch (t.kind) {
      case Transform::broadcast:
        v = broadcast_view(v, t.to);
        break;
      case Transform::transpose:
        v = transpose_view(v, t.perm);
        break;
      case Transform::slice: {
        std::optional<View> r = slice_view(v, static_cast<int>(t.perm[0]), t.perm[1], t.perm[2], t.to);
        if (!r) throw Unsupported{"a slice of an axis a reshape has merged"};
        v = *r;
        break;
      }
      case Transform::reshape: {
        std::optional<View> r = reshape_view(v, t.to);
        if (!r)
          throw Unsupported{fmt::format("a reshape to {} of a transposed or broadcast view is not a strided view",
                                        shape_str(t.to))};
        v = *r;
        break;
      }
    }
  }
  return v;
}

Term new_term(TermKind kind, DType dtype) {
  Term t;
  t.kind = kind;
  t.dtype = dtype;
  return t;
}

Path prepend(Transform t, const Path& rest) {
  Path p{std::move(t)};
  p.insert(p.end(), rest.begin(), rest.end());
  return p;
}

/// Whether `v` walks its space with exactly `strides` (static-1 axes ignored) and no offset.
bool has_strides(const View& v, std::vector<Dim> strides) {
  std::optional<std::vector<Dim>> flat = flat_strides(v);
  if (!flat || !std::all_of(v.offset.begin(), v.offset.end(), [](const Dim& d) { return d == Dim(0); })) return false;
  for (size_t i = 0; i < strides.size(); ++i)
    if (is_one(v.shape[i])) strides[i] = Dim(0);
  return *flat == strides;
}

class Lowerer {
 public:
  Lowerer(const Graph& body, const std::string& kind) : g_(body) { r_.kind = kind; }

  LoweredRegion run() {
    r_.symbols = symbols_used(g_);
    r_.num_inputs = static_cast<int>(g_.inputs().size());
    for (size_t v = 0; v < g_.num_values(); ++v) {
      const TensorType& t = g_.type(static_cast<ValueId>(v));
      if (!codegen_supports(t.dtype))
        throw Unsupported{fmt::format("generated code has no {} values", t.str()), node_of(static_cast<ValueId>(v))};
    }
    if (r_.kind == "loop") {
      space_ = g_.type(g_.outputs().at(0).value).shape;
      classes_.assign(space_.size(), AxisClass::inner);
    } else if (r_.kind == "reduction") {
      setup_reduction();
    } else if (r_.kind == "matmul") {
      setup_matmul();
    } else {
      throw Unsupported{fmt::format("'{}' is not a region kind", r_.kind)};
    }
    for (size_t k = 0; k < g_.outputs().size(); ++k) lower_output(static_cast<int>(k));
    for (Reduction& red : r_.reductions) red.stage = 1 + stage_of(red.operand);  // in dependency order
    coalesce();
    return std::move(r_);
  }

  /// A loop region copying operand `k` of the body's one concat node into its window of the output.
  LoweredRegion run_concat_piece(int k) {
    r_.symbols = symbols_used(g_);
    r_.num_inputs = static_cast<int>(g_.inputs().size());
    const Node& n = g_.nodes().at(0);
    WEFT_CHECK(n.op == OpKind::concat && g_.nodes().size() == 1, "a concat region is one concat node");
    const TensorType& piece = g_.type(n.operands[k]);
    const TensorType& out = g_.type(n.results[0]);
    if (!codegen_supports(out.dtype)) throw Unsupported{fmt::format("generated code has no {} values", out.str()), &n};
    int axis = normalize_axis(n.attrs.get_int("axis"), out.rank(), "concat");
    space_ = piece.shape;
    classes_.assign(space_.size(), AxisClass::inner);
    View window = row_major_view(out.shape);
    Dim stride = row_major_strides(out.shape)[axis];
    window.shape = piece.shape;
    window.groups[axis].clear();
    if (!is_one(piece.shape[axis])) window.groups[axis].push_back({piece.shape[axis], stride});
    for (int j = 0; j < k; ++j) window.offset.push_back(g_.type(n.operands[j]).shape[axis] * stride);
    int access = add_access(Access{0, true, -1, out.dtype, {}, {}}, window);
    Term t = new_term(TermKind::load, piece.dtype);
    t.access = add_access(Access{g_.value(n.operands[k]).owner, false, -1, piece.dtype, {}, {}}, row_major_view(piece.shape));
    r_.stores.push_back(Store{0, add_term(std::move(t)), access});
    coalesce();
    return std::move(r_);
  }

  const Node* current() const { return current_; }

 private:
  void setup_reduction() {
    for (const Node& n : g_.nodes()) {
      if (op_def(n.op).fusion != FusionKind::reduction) continue;
      space_ = g_.type(n.operands[0]).shape;
      int rank = static_cast<int>(space_.size());
      std::vector<int> axes;
      if (n.op == OpKind::argmax) {
        axes.push_back(normalize_axis(n.attrs.get_int("axis"), rank, "argmax"));
      } else {
        for (int64_t a : n.attrs.get_ints("axes")) axes.push_back(normalize_axis(a, rank, "reduce"));
        if (axes.empty())
          for (int i = 0; i < rank; ++i) axes.push_back(i);
      }
      classes_.assign(space_.size(), AxisClass::outer);
      for (int a : axes) classes_[a] = AxisClass::inner;
      for (int i = 0; i < rank; ++i) {
        if (classes_[i] == AxisClass::outer) row_.push_back(space_[i]);
        row_keep_.push_back(classes_[i] == AxisClass::outer ? space_[i] : Dim(1));
      }
      return;
    }
    throw Unsupported{"a reduction region without a reduction"};
  }

  void setup_matmul() {
    for (const Node& n : g_.nodes())
      if (n.op == OpKind::matmul) r_.matmul = &n;
    if (!r_.matmul) throw Unsupported{"a matmul region without a matmul"};
    const TensorType& out = g_.type(r_.matmul->results[0]);
    if (out.dtype != DType::f32)
      throw Unsupported{fmt::format("the generated GEMM is f32 only, not {}", out.str()), r_.matmul};
    space_ = out.shape;
    classes_.assign(space_.size(), AxisClass::outer);
    classes_.back() = AxisClass::inner;
    // The GEMM walks one batch axis with one stride per operand: an operand's batch dims are the
    // output's, or all 1 (broadcast to every batch).
    auto batch_of = [](const Shape& s) { return Shape(s.begin(), s.end() - 2); };
    auto all_ones = [](const Shape& s) { return std::all_of(s.begin(), s.end(), [](const Dim& d) { return is_one(d); }); };
    Shape batch = batch_of(space_);
    const Shape& sa = g_.type(r_.matmul->operands[0]).shape;
    const Shape& sb = g_.type(r_.matmul->operands[1]).shape;
    r_.fold_batch = !r_.matmul->attrs.get_bool("transpose_a") && all_ones(batch_of(sb));
    for (const Shape* s : {&sa, &sb})
      if (!r_.fold_batch && !all_ones(batch_of(*s)) && batch_of(*s) != batch)
        throw Unsupported{fmt::format("a batched matmul whose operand {} broadcasts some batch dims of {}",
                                      shape_str(*s), shape_str(space_)),
                          r_.matmul};
    for (size_t k = 0; k < g_.outputs().size() && r_.gemm_output < 0; ++k)
      if (g_.type(g_.outputs()[k].value).dtype == DType::f32) r_.gemm_output = static_cast<int>(k);
    if (r_.gemm_output < 0) throw Unsupported{"a matmul region needs an f32 output to accumulate in", r_.matmul};
  }

  /// The path from an output's space to the region's space.
  Path output_path(const Shape& shape) const {
    if (shape == space_) return {};
    if (r_.kind == "reduction") {
      if (shape == row_keep_) return {Transform{Transform::broadcast, space_, {}}};
      if (shape == row_) return {Transform{Transform::reshape, row_keep_, {}}, Transform{Transform::broadcast, space_, {}}};
      Dim n = num_elements(shape);
      if (n.is_static() && n.value() <= 1)
        return {Transform{Transform::reshape, Shape(space_.size(), Dim(1)), {}},
                Transform{Transform::broadcast, space_, {}}};
    }
    throw Unsupported{fmt::format("an output of shape {} in a {} region over {}", shape_str(shape), r_.kind,
                                  shape_str(space_))};
  }

  void lower_output(int k) {
    ValueId v = g_.outputs()[k].value;
    const TensorType& t = g_.type(v);
    Path path = output_path(t.shape);
    int access = add_access(Access{k, true, -1, t.dtype, {}, {}}, apply_path(row_major_view(t.shape), path));
    r_.stores.push_back(Store{k, lower(v, path), access});
  }

  int add_access(Access a, View view) {
    a.offset = view.offset;
    views_.push_back(std::move(view));
    r_.accesses.push_back(std::move(a));
    return static_cast<int>(r_.accesses.size()) - 1;
  }

  int add_term(Term t) {
    r_.terms.push_back(std::move(t));
    return static_cast<int>(r_.terms.size()) - 1;
  }

  int lower(ValueId v, const Path& path) {
    std::string key = fmt::format("{}|{}", v, path_key(path));
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    const Node* outer = current_;
    int term = lower_uncached(v, path);
    current_ = outer;  // not restored when lowering throws: the reason is about the innermost node
    memo_.emplace(std::move(key), term);
    return term;
  }

  int lower_uncached(ValueId v, const Path& path) {
    const ValueInfo& info = g_.value(v);
    const TensorType& type = g_.type(v);
    if (info.kind != ValueKind::result) {
      if (info.kind != ValueKind::input) throw Unsupported{"a region body reads a parameter"};
      Term t = new_term(TermKind::load, type.dtype);
      t.access = add_access(Access{info.owner, false, -1, type.dtype, {}, {}},
                            apply_path(row_major_view(type.shape), path));
      return add_term(std::move(t));
    }
    const Node& n = g_.nodes()[info.owner];
    current_ = &n;  // what a reason thrown below is about, unless it names a node itself
    if (n.op == OpKind::matmul) {
      if (&n != r_.matmul || !has_strides(apply_path(row_major_view(type.shape), path), row_major_strides(space_)))
        throw Unsupported{"the matmul's result is read at another index than its own"};
      return add_term(new_term(TermKind::gemm, type.dtype));
    }
    switch (op_def(n.op).fusion) {
      case FusionKind::elementwise:
        return lower_elementwise(n, type, path);
      case FusionKind::reduction:
        return lower_reduction_result(n, type, path);
      default:
        break;
    }
    switch (n.op) {
      case OpKind::reshape:
        return lower(n.operands[0], prepend(Transform{Transform::reshape, type.shape, {}}, path));
      case OpKind::broadcast:
        return lower(n.operands[0], prepend(Transform{Transform::broadcast, type.shape, {}}, path));
      case OpKind::transpose:
        return lower(n.operands[0], prepend(Transform{Transform::transpose, type.shape, n.attrs.get_ints("perm")}, path));
      case OpKind::slice:
        return lower(n.operands[0], prepend(slice_transform(n, type), path));
      case OpKind::constant:
        return lower_constant(n, type, path);
      case OpKind::iota: {
        int rank = type.rank();
        std::vector<Dim> unit(rank, Dim(0));
        unit[normalize_axis(n.attrs.get_int("axis"), rank, "iota")] = Dim(1);
        Term t = new_term(TermKind::iota, type.dtype);
        t.access = add_access(Access{-1, false, -1, DType::i64, {}, {}}, apply_path(strided_view(type.shape, unit), path));
        return add_term(std::move(t));
      }
      default: {
        // Only the ops the op table's LLVM column declares `fused` belong in a region body.
        ProviderImpl impl = op_def(n.op).llvm.impl;
        if (impl == ProviderImpl::fused || impl == ProviderImpl::fused_or_alone)
          throw Unsupported{fmt::format("the op table has {} generated inside regions, but the region lowering has "
                                        "no case for it",
                                        op_name(n.op)),
                            &n};
        throw Unsupported{fmt::format("{} is not generated inside a {} region", op_name(n.op), r_.kind), &n};
      }
    }
  }

  /// A slice as a view: its first index and step along the axis. A window of a symbolic dim is
  /// left to the interpreter, which checks at run time that the dim reaches the window's end.
  Transform slice_transform(const Node& n, const TensorType& type) {
    const Shape& in = g_.type(n.operands[0]).shape;
    int axis = normalize_axis(n.attrs.get_int("axis"), static_cast<int>(in.size()), "slice");
    int64_t start = n.attrs.get_int("start"), step = n.attrs.get_int("step");
    if (!in[axis].is_static()) {
      if (!(type.shape[axis] == in[axis]))
        throw Unsupported{fmt::format("a window of symbolic dim {} needs a run-time check that {} reaches the "
                                      "window's end, which only the interpreter makes",
                                      in[axis].str(), in[axis].str()),
                          &n};
      start = 0;  // the whole axis
    } else {
      int64_t size = in[axis].value();
      start = start < 0 ? std::max<int64_t>(start + size, 0) : std::min(start, size);
    }
    return Transform{Transform::slice, type.shape, {axis, start, step}};
  }

  int lower_elementwise(const Node& n, const TensorType& type, const Path& path) {
    Term t = new_term(TermKind::op, type.dtype);
    t.node = &n;
    for (ValueId u : n.operands) {
      const Shape& su = g_.type(u).shape;
      t.operands.push_back(su == type.shape ? lower(u, path)
                                            : lower(u, prepend(Transform{Transform::broadcast, type.shape, {}}, path)));
    }
    return add_term(std::move(t));
  }

  int lower_constant(const Node& n, const TensorType& type, const Path& path) {
    const std::vector<double>& values = n.attrs.get_reals("value");
    if (values.size() == 1) {
      Term t = new_term(TermKind::scalar, type.dtype);
      t.value = values[0];
      return add_term(std::move(t));
    }
    r_.constants.push_back(ConstantData{type.dtype, values});
    Term t = new_term(TermKind::load, type.dtype);
    t.access = add_access(Access{-1, false, static_cast<int>(r_.constants.size()) - 1, type.dtype, {}, {}},
                          apply_path(row_major_view(type.shape), path));
    return add_term(std::move(t));
  }

  int lower_reduction_result(const Node& n, const TensorType& type, const Path& path) {
    if (r_.kind != "reduction") throw Unsupported{"a reduction outside a reduction region"};
    if (!(g_.type(n.operands[0]).shape == space_))
      throw Unsupported{"the reductions of a region reduce one shape"};
    // The row identity: the value for the row being computed, constant along the reduced axes.
    std::vector<Dim> want(space_.size(), Dim(0));
    Dim stride(1);
    for (size_t i = space_.size(); i-- > 0;)
      if (classes_[i] == AxisClass::outer) {
        want[i] = stride;
        stride = stride * space_[i];
      }
    if (!has_strides(apply_path(row_major_view(type.shape), path), want))
      throw Unsupported{"a reduction's result is read at another row than its own"};
    auto it = reduction_of_.find(&n);
    if (it == reduction_of_.end()) {
      Reduction red{n.op, g_.type(n.operands[0]).dtype, lower(n.operands[0], {}), 1};
      r_.reductions.push_back(red);
      it = reduction_of_.emplace(&n, static_cast<int>(r_.reductions.size()) - 1).first;
    }
    Term t = new_term(TermKind::row_value, type.dtype);
    t.reduction = it->second;
    return add_term(std::move(t));
  }

  /// The latest stage whose row values `term` reads (0: none). Reductions are numbered after their
  /// operands, so a row value's own stage is final when a later term asks for it.
  int stage_of(int term) {
    if (stage_memo_.size() < r_.terms.size()) stage_memo_.resize(r_.terms.size(), -1);
    if (stage_memo_[term] >= 0) return stage_memo_[term];
    const Term& t = r_.terms[term];
    int s = 0;
    if (t.kind == TermKind::row_value) s = r_.reductions[t.reduction].stage;
    for (int o : t.operands) s = std::max(s, stage_of(o));
    return stage_memo_[term] = s;
  }

  /// Splits each axis of the space where some access's sub-axes split it (the common
  /// refinement of all their splits), and gives every access one stride per refined axis.
  void refine() {
    Shape space;
    std::vector<AxisClass> classes;
    std::vector<std::vector<Dim>> strides(views_.size());
    for (size_t d = 0; d < space_.size(); ++d) {
      // An axis of static size 0 leaves nothing to split (0 divides nothing): the loop over it runs
      // no step, and the region still writes what it must (a reduction over it, its identity).
      if (space_[d].is_static() && space_[d].value() == 0) {
        space.push_back(Dim(0));
        classes.push_back(classes_[d]);
        for (auto& s : strides) s.push_back(Dim(0));
        continue;
      }
      // The suffix products of each access's sub-axes: where they split the axis, from the inside.
      std::vector<Dim> points;
      for (const View& v : views_) {
        Dim p(1);
        for (size_t k = v.groups[d].size(); k-- > 0;) {
          p = p * v.groups[d][k].size;
          if (std::find(points.begin(), points.end(), p) == points.end()) points.push_back(p);
        }
      }
      // Order them so that each divides the next; splits that do not nest cannot be refined.
      std::vector<Dim> chain;
      while (!points.empty()) {
        auto least = std::find_if(points.begin(), points.end(), [&](const Dim& p) {
          return std::all_of(points.begin(), points.end(), [&](const Dim& q) { return q.divided_by(p).has_value(); });
        });
        if (least == points.end())
          throw Unsupported{fmt::format("reshapes split axis {} of {} in ways that do not nest", d, shape_str(space_))};
        chain.push_back(*least);
        points.erase(least);
      }
      // Refined axes from the outside in: chain[i+1] / chain[i], ..., chain[0].
      for (size_t i = chain.size(); i-- > 0;) {
        Dim inner = i == 0 ? Dim(1) : chain[i - 1];
        space.push_back(*chain[i].divided_by(inner));
        classes.push_back(classes_[d]);
        for (size_t a = 0; a < views_.size(); ++a) {
          // The sub-axis covering (inner, chain[i]], and the stride of that piece of it.
          const auto& g = views_[a].groups[d];
          Dim below(1), stride(0);
          for (size_t k = g.size(); k-- > 0;) {
            Dim above = below * g[k].size;
            if (above.divided_by(chain[i])) {
              stride = g[k].stride * *inner.divided_by(below);
              break;
            }
            below = above;
          }
          strides[a].push_back(stride);
        }
      }
    }
    for (size_t a = 0; a < views_.size(); ++a) r_.accesses[a].strides = std::move(strides[a]);
    space_ = std::move(space);
    classes_ = std::move(classes);
  }

  /// Merges axes that every access walks as one; drops static 1s. See the file comment.
  void coalesce() {
    refine();
    std::vector<std::vector<size_t>> groups;  // old axes per new axis
    std::vector<AxisClass> group_class;
    for (AxisClass c : {AxisClass::outer, AxisClass::inner}) {
      std::vector<size_t> axes;
      for (size_t i = 0; i < space_.size(); ++i)
        if (classes_[i] == c && !is_one(space_[i])) axes.push_back(i);
      for (size_t i : axes) {
        bool merge = !groups.empty() && group_class.back() == c;
        for (size_t k = 0; merge && k < r_.accesses.size(); ++k) {
          const auto& st = r_.accesses[k].strides;
          merge = st[groups.back().back()] == st[i] * space_[i];
        }
        if (merge) {
          groups.back().push_back(i);
        } else {
          groups.push_back({i});
          group_class.push_back(c);
        }
      }
      // A loop region's last axis is its vector axis; the others are its rows.
      bool needs_inner = c == AxisClass::inner && r_.kind != "loop";
      if (needs_inner && (group_class.empty() || group_class.back() != AxisClass::inner)) {
        groups.push_back({});
        group_class.push_back(AxisClass::inner);
      }
    }
    if (r_.kind == "loop") {
      if (groups.empty()) {
        groups.push_back({});
        group_class.push_back(AxisClass::inner);
      }
      for (auto& c : group_class) c = AxisClass::outer;
      group_class.back() = AxisClass::inner;
    }
    Shape space;
    for (const auto& g : groups) {
      Dim size(1);
      for (size_t i : g) size = size * space_[i];
      space.push_back(size);
    }
    for (Access& a : r_.accesses) {
      std::vector<Dim> st;
      for (const auto& g : groups) st.push_back(g.empty() ? Dim(0) : a.strides[g.back()]);
      a.strides = std::move(st);
    }
    r_.space = std::move(space);
    r_.axis_class = std::move(group_class);
    WEFT_CHECK(r_.space.size() < 64, "a region with more than 64 axes");
    uint64_t outer_mask = 0;
    for (size_t d = 0; d < r_.axis_class.size(); ++d)
      if (r_.axis_class[d] == AxisClass::outer) outer_mask |= uint64_t{1} << d;
    uint64_t all = (uint64_t{1} << r_.space.size()) - 1;
    for (Term& t : r_.terms) {  // operands come before the terms reading them
      if (t.access >= 0)
        for (size_t d = 0; d < r_.space.size(); ++d)
          if (!(r_.accesses[t.access].strides[d] == Dim(0))) t.depends |= uint64_t{1} << d;
      for (int o : t.operands) t.depends |= r_.terms[o].depends;
      if (t.kind == TermKind::row_value) t.depends |= outer_mask | kRowValueBit;
      if (t.kind == TermKind::gemm) t.depends = all;
    }
  }

  /// The node producing `v`, else the first reading it.
  const Node* node_of(ValueId v) const {
    const ValueInfo& info = g_.value(v);
    if (info.kind == ValueKind::result) return &g_.nodes()[info.owner];
    for (const Node& n : g_.nodes())
      if (std::find(n.operands.begin(), n.operands.end(), v) != n.operands.end()) return &n;
    return nullptr;
  }

  const Graph& g_;
  const Node* current_ = nullptr;  // the node being lowered
  LoweredRegion r_;
  Shape space_, row_, row_keep_;
  std::vector<AxisClass> classes_;
  std::map<std::string, int> memo_;
  std::map<const Node*, int> reduction_of_;
  std::vector<int> stage_memo_;
  std::vector<View> views_;  // per access, over space_ (its strides come from refine())
};

}  // namespace

LowerResult lower_concat_piece(const Graph& body, int piece) {
  try {
    return {Lowerer(body, "loop").run_concat_piece(piece), {}};
  } catch (const Unsupported& u) {
    return {std::nullopt, u.reason, u.node ? u.node : &body.nodes().at(0)};
  }
}

LowerResult lower_region(const Graph& body, const std::string& kind) {
  if (body.outputs().empty()) return {std::nullopt, "a region without outputs"};
  Lowerer lowerer(body, kind);
  try {
    return {lowerer.run(), {}};
  } catch (const Unsupported& u) {
    return {std::nullopt, u.reason, u.node ? u.node : lowerer.current()};
  }
}

}  // namespace weft::llvm_backend
