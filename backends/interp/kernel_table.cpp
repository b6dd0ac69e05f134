#include "backends/interp/kernels.h"

#include "ir/ops.h"

namespace weft::interp {

namespace {
KernelTable build() {
  KernelTable t(kNumOps);
  register_elementwise_kernels(t);
  register_reduction_kernels(t);
  register_movement_kernels(t);
  register_compute_kernels(t);
  register_composite_kernels(t);
  register_control_kernels(t);
  register_collective_kernels(t);
  return t;
}
}  // namespace

const Kernel* find_kernel(OpKind op) {
  static const KernelTable table = build();
  const Kernel& k = table[static_cast<size_t>(op)];
  return k ? &k : nullptr;
}

std::vector<int64_t> strides_of(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

std::vector<int64_t> broadcast_concrete(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error("broadcast: incompatible concrete dims " + std::to_string(da) + " and " + std::to_string(db));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t broadcast_index(const std::vector<int64_t>& idx, const std::vector<int64_t>& shape,
                        const std::vector<int64_t>& out_shape) {
  size_t off = out_shape.size() - shape.size();
  int64_t flat = 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = shape[i] == 1 ? 0 : idx[i + off];
    flat = flat * shape[i] + d;
  }
  return flat;
}

}  // namespace weft::interp
