/** \file
 * Strided views with sub-axes: how a region's input is read at each index of an iteration space,
 * and how broadcasts, transposes and reshapes transform that. Internal to region_terms.cpp.
 */
#pragma once

#include <optional>
#include <vector>

#include "ir/shape.h"

namespace weft::llvm_backend {

inline bool is_one(const Dim& d) { return d.is_static() && d.value() == 1; }

/// One axis of a view's storage walk: `size` steps of `stride` elements.
struct SubAxis {
  Dim size;
  Dim stride;
  bool operator==(const SubAxis&) const = default;
};

/// Element i of an index space of shape `shape` is at `Σ offset + Σ stride·j` of a tensor's
/// storage, where axis k's index i[k] is split row-major into indices j over the sub-axes of
/// `groups[k]` (static 1s never appear; an empty group is an axis of size 1). Keeping the
/// sub-axes that a reshape merges, instead of requiring them to be contiguous, makes every
/// reshape a view: [B, H, T, D] transposed to [B, T, H, D] and merged to [B, T, H·D] reads with
/// strides (…, D·T, 1) over the sub-axes (H, D) of its last axis.
struct View {
  Shape shape;
  std::vector<std::vector<SubAxis>> groups;
  std::vector<Dim> offset;  // a sum of monomials (empty: 0)
};

View strided_view(const Shape& shape, const std::vector<Dim>& strides);
std::vector<Dim> row_major_strides(const Shape& shape);
View row_major_view(const Shape& shape);
/// NumPy broadcast (aligned right) of a view to `to`.
View broadcast_view(const View& v, const Shape& to);
/// Result axis i is operand axis perm[i].
View transpose_view(const View& v, const std::vector<int64_t>& perm);
/// The same elements in row-major order under `to`: the sub-axes, in order, regrouped under the
/// new axes (one split where a new axis ends inside a sub-axis). Nullopt only when the sizes do not
/// divide (symbolic sizes that cannot be proven to).
std::optional<View> reshape_view(const View& v, const Shape& to);
/// Python's x[start::step] along `axis`, `size` elements (the slice's result dim); nullopt when a
/// reshape has merged that axis from several sub-axes.
std::optional<View> slice_view(const View& v, int axis, int64_t start, int64_t step, const Shape& to);
/// One stride per axis, when each axis's sub-axes walk it as one (contiguous among themselves).
std::optional<std::vector<Dim>> flat_strides(const View& v);

}  // namespace weft::llvm_backend
