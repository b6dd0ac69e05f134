/** \file
 * A host tensor: dtype, concrete shape, contiguous row-major storage shared by copies.
 *
 * Copies share storage (as torch.Tensor does); `clone()` makes an independent copy. Shapes here are
 * concrete: symbolic dims live in the IR and are bound when a program runs.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ir/dtype.h"
#include "ir/error.h"

namespace weft {

template <typename T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<bool>() { return DType::boolean; }

class Tensor {
 public:
  Tensor() = default;
  /// Zero-filled.
  static Tensor zeros(DType dtype, std::vector<int64_t> shape);
  /// Contents undefined (as torch.empty): for a result that a kernel then writes whole, without
  /// paying for zeros first.
  static Tensor uninitialized(DType dtype, std::vector<int64_t> shape);
  template <typename T>
  static Tensor from(std::vector<int64_t> shape, const std::vector<T>& values);
  /// A tensor from raw bytes; throws weft::Error if the byte count disagrees with dtype × shape.
  static Tensor from_bytes(DType dtype, std::vector<int64_t> shape, std::span<const std::byte> bytes);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool defined() const { return storage_ != nullptr || numel() == 0; }

  void* raw() { return storage_.get(); }
  const void* raw() const { return storage_.get(); }
  std::span<const std::byte> bytes() const { return {reinterpret_cast<const std::byte*>(storage_.get()), nbytes()}; }

  template <typename T>
  T* data() {
    check_dtype(dtype_of<T>());
    return reinterpret_cast<T*>(storage_.get());
  }
  template <typename T>
  const T* data() const {
    check_dtype(dtype_of<T>());
    return reinterpret_cast<const T*>(storage_.get());
  }
  template <typename T>
  std::vector<T> to_vector() const {
    const T* p = data<T>();
    return std::vector<T>(p, p + numel());
  }
  /// Element `i` (flat) converted to double, for any dtype.
  double at(int64_t i) const;

  Tensor clone() const;
  /// Same storage, new shape with the same element count.
  Tensor reshaped(std::vector<int64_t> shape) const;
  /// Same storage, the first `n` entries of dim 0 (a contiguous prefix: a decoder's KV cache passes
  /// its filled slots this way, without a copy). Throws weft::Error unless 0 <= n <= shape[0].
  Tensor leading(int64_t n) const;
  /// "f32[2, 3]".
  std::string type_str() const;

 private:
  void check_dtype(DType want) const;

  DType dtype_ = DType::f32;
  std::vector<int64_t> shape_;
  std::shared_ptr<std::byte[]> storage_;
};

template <typename T>
Tensor Tensor::from(std::vector<int64_t> shape, const std::vector<T>& values) {
  Tensor t = zeros(dtype_of<T>(), std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.numel())
    throw Error("Tensor::from: " + std::to_string(values.size()) + " values for " + t.type_str());
  if constexpr (std::is_same_v<T, bool>) {
    for (size_t i = 0; i < values.size(); ++i) reinterpret_cast<bool*>(t.raw())[i] = values[i];
  } else {
    std::memcpy(t.raw(), values.data(), t.nbytes());
  }
  return t;
}

}  // namespace weft
