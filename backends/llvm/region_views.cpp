/** \file
 * View arithmetic. See region_views.h.
 */
#include "backends/llvm/region_views.h"

namespace weft::llvm_backend {

View strided_view(const Shape& shape, const std::vector<Dim>& strides) {
  View v{shape, {}, {}};
  for (size_t i = 0; i < shape.size(); ++i) {
    v.groups.emplace_back();
    if (!is_one(shape[i])) v.groups.back().push_back({shape[i], strides[i]});
  }
  return v;
}

std::vector<Dim> row_major_strides(const Shape& shape) {
  std::vector<Dim> strides(shape.size(), Dim(0));
  Dim stride(1);
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride = stride * shape[i];
  }
  return strides;
}

View row_major_view(const Shape& shape) { return strided_view(shape, row_major_strides(shape)); }

/// NumPy broadcast (aligned right) of a view to `to`.
View broadcast_view(const View& v, const Shape& to) {
  View out{to, {}, v.offset};
  size_t lead = to.size() - v.shape.size();
  for (size_t i = 0; i < to.size(); ++i) {
    if (i >= lead && v.shape[i - lead] == to[i]) {
      out.groups.push_back(v.groups[i - lead]);
    } else {
      out.groups.emplace_back();
      if (!is_one(to[i])) out.groups.back().push_back({to[i], Dim(0)});
    }
  }
  return out;
}

/// Result axis i is operand axis perm[i].
View transpose_view(const View& v, const std::vector<int64_t>& perm) {
  auto rank = static_cast<int64_t>(v.shape.size());
  View out{{}, {}, v.offset};
  for (int64_t p : perm) {
    int64_t a = p < 0 ? p + rank : p;
    out.shape.push_back(v.shape[a]);
    out.groups.push_back(v.groups[a]);
  }
  return out;
}

/// The same elements in row-major order under `to`: the sub-axes, in order, regrouped under the
/// new axes (one split where a new axis ends inside a sub-axis). Nullopt only when the sizes do not
/// divide (symbolic sizes that cannot be proven to).
std::optional<View> reshape_view(const View& v, const Shape& to) {
  std::vector<SubAxis> queue;
  for (const auto& g : v.groups) queue.insert(queue.end(), g.begin(), g.end());
  size_t next = 0;
  View out{to, {}, v.offset};
  for (const Dim& size : to) {
    out.groups.emplace_back();
    if (is_one(size)) continue;
    Dim have(1);
    while (!(have == size)) {
      std::optional<Dim> need = size.divided_by(have);
      if (!need || next == queue.size()) return std::nullopt;
      SubAxis s = queue[next];
      if (s.size == *need || need->divided_by(s.size)) {
        out.groups.back().push_back(s);
        have = have * s.size;
        ++next;
      } else if (std::optional<Dim> rest = s.size.divided_by(*need)) {
        out.groups.back().push_back({*need, s.stride * *rest});
        queue[next] = {*rest, s.stride};
        have = size;
      } else {
        return std::nullopt;
      }
    }
  }
  if (next != queue.size()) return std::nullopt;
  return out;
}

/// One stride per axis, when each axis's sub-axes walk it as one (contiguous among themselves).
std::optional<View> slice_view(const View& v, int axis, int64_t start, int64_t step, const Shape& to) {
  const std::vector<SubAxis>& g = v.groups[axis];
  if (g.size() > 1) return std::nullopt;
  View out = v;
  out.shape = to;
  out.groups[axis].clear();
  if (g.empty()) return out;  // an axis of size 1: the slice is all of it or empty
  if (!is_one(to[axis])) out.groups[axis].push_back({to[axis], g[0].stride * Dim(step)});
  if (start != 0) out.offset.push_back(g[0].stride * Dim(start));
  return out;
}

std::optional<std::vector<Dim>> flat_strides(const View& v) {
  std::vector<Dim> strides;
  for (const auto& g : v.groups) {
    for (size_t k = 0; k + 1 < g.size(); ++k)
      if (!(g[k].stride == g[k + 1].stride * g[k + 1].size)) return std::nullopt;
    strides.push_back(g.empty() ? Dim(0) : g.back().stride);
  }
  return strides;
}

}  // namespace weft::llvm_backend
