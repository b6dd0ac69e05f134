#include "runtime/tensor.h"

#include <fmt/format.h>
#include <sys/mman.h>

#include "ir/shape.h"
#include <fmt/ranges.h>

namespace weft {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugePageThreshold = size_t{4} << 20;
}  // namespace

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

Tensor Tensor::uninitialized(DType dtype, std::vector<int64_t> shape) {
  Tensor t;
  t.dtype_ = dtype;
  for (int64_t d : shape)
    if (d < 0) throw Error(fmt::format("tensor dims must be non-negative, but got {}", d));
  checked_num_elements(shape, "tensor");
  t.shape_ = std::move(shape);
  size_t n = t.nbytes();
  // 64-byte alignment for vector loads; never a null pointer, even for zero-size tensors.
  size_t padded = (n + 63) / 64 * 64 + 64;
  if (padded < kHugePageThreshold) {
    auto* p = static_cast<std::byte*>(::operator new[](padded, std::align_val_t{64}));
    t.storage_ = std::shared_ptr<std::byte[]>(p, [](std::byte* q) { ::operator delete[](q, std::align_val_t{64}); });
    return t;
  }
  // Large tensors on transparent huge pages where the kernel offers them (madvise mode): a fresh
  // 64 MiB result otherwise takes 16384 page faults on its first write, which cost more than the
  // kernel that writes it (softmax of 8192 x 2048 through Executable::run: 1.9 -> 3.8 GB/s from
  // writing outputs in place, measured; the rest is these faults).
  constexpr std::align_val_t huge{kHugePage};
  size_t rounded = (padded + kHugePage - 1) / kHugePage * kHugePage;
  auto* p = static_cast<std::byte*>(::operator new[](rounded, huge));
  madvise(p, rounded, MADV_HUGEPAGE);  // advice only: ignored where unsupported
  t.storage_ = std::shared_ptr<std::byte[]>(p, [](std::byte* q) { ::operator delete[](q, std::align_val_t{kHugePage}); });
  return t;
}

Tensor Tensor::zeros(DType dtype, std::vector<int64_t> shape) {
  Tensor t = uninitialized(dtype, std::move(shape));
  std::memset(t.raw(), 0, (t.nbytes() + 63) / 64 * 64 + 64);
  return t;
}

Tensor Tensor::from_bytes(DType dtype, std::vector<int64_t> shape, std::span<const std::byte> bytes) {
  Tensor t = zeros(dtype, std::move(shape));
  if (bytes.size() != t.nbytes())
    throw Error(fmt::format("tensor data has {} bytes but {} needs {}", bytes.size(), t.type_str(), t.nbytes()));
  if (!bytes.empty()) std::memcpy(t.raw(), bytes.data(), bytes.size());
  return t;
}

double Tensor::at(int64_t i) const {
  WEFT_CHECK(i >= 0 && i < numel(), "Tensor::at index out of range");
  switch (dtype_) {
    case DType::f32: return reinterpret_cast<const float*>(raw())[i];
    case DType::f64: return reinterpret_cast<const double*>(raw())[i];
    case DType::i32: return reinterpret_cast<const int32_t*>(raw())[i];
    case DType::i64: return static_cast<double>(reinterpret_cast<const int64_t*>(raw())[i]);
    case DType::boolean: return reinterpret_cast<const bool*>(raw())[i] ? 1.0 : 0.0;
    default: throw Error(fmt::format("Tensor::at: dtype {} is not supported on the host", dtype_name(dtype_)));
  }
}

Tensor Tensor::clone() const {
  Tensor t = zeros(dtype_, shape_);
  if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

Tensor Tensor::reshaped(std::vector<int64_t> shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  if (t.numel() != numel())
    throw Error(fmt::format("reshape: cannot view {} as {} elements", type_str(), t.numel()));
  return t;
}

Tensor Tensor::leading(int64_t n) const {
  if (shape_.empty() || n < 0 || n > shape_[0])
    throw Error(fmt::format("leading: cannot take the first {} entries of dim 0 of {}", n, type_str()));
  Tensor t = *this;
  t.shape_[0] = n;
  return t;
}

std::string Tensor::type_str() const { return fmt::format("{}[{}]", dtype_name(dtype_), fmt::join(shape_, ", ")); }

void Tensor::check_dtype(DType want) const {
  if (want != dtype_)
    throw Error(fmt::format("tensor has dtype {} but was read as {}", dtype_name(dtype_), dtype_name(want)));
}

}  // namespace weft
