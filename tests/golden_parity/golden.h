// Helpers for the PyTorch parity tests: read a golden file (tests/golden/README.md), build the Weft
// layer with the same configuration, load PyTorch's weights through the state_dict loader, run on
// the interpreter, and compare each `out.*` within |a - b| <= 1e-5 + 1e-4·|b| (f32).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "frontend/nn/load_torch.h"
#include "ir/safetensors.h"
#include "runtime/tensor.h"

namespace weft::golden {

inline SafetensorsFile read_golden(const std::string& name) {
  return read_safetensors(std::string(WEFT_SOURCE_DIR) + "/tests/golden/" + name + ".safetensors");
}

/// The tensor `key` of `file` as a runtime tensor; fails the test if absent.
inline Tensor tensor_of(const SafetensorsFile& file, const std::string& key) {
  const TensorBlob* blob = file.find(key);
  if (!blob) throw Error("golden file has no tensor '" + key + "'");
  return Tensor::from_bytes(blob->dtype, blob->shape, blob->data);
}

inline Shape shape_of(const SafetensorsFile& file, const std::string& key) {
  return static_shape(tensor_of(file, key).shape());
}

/// Compiles `graph` on the interpreter, loads the file's `param.*` tensors, runs once.
inline std::map<std::string, Tensor> run_with_torch_weights(const Graph& graph, const SafetensorsFile& file,
                                                            const std::map<std::string, Tensor>& inputs,
                                                            const nn::TorchLoadOptions& options = {}) {
  auto exe = make_backend("interp")->compile(graph);
  nn::load_torch_state_dict(*exe, file, options);
  return exe->run_named(inputs);
}

/// Every element within |a - b| <= atol + rtol·|b|; reports the first few that are not.
inline void expect_close(const Tensor& actual, const Tensor& expected, const std::string& what, double atol = 1e-5,
                         double rtol = 1e-4) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  int bad = 0;
  double worst = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    double a = actual.at(i), b = expected.at(i);
    double err = std::abs(a - b);
    worst = std::max(worst, err);
    if (!(err <= atol + rtol * std::abs(b)) && bad++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: Weft " << a << ", PyTorch " << b << " (|diff| " << err << ")";
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << expected.numel() << " elements differ; worst |diff| " << worst;
}

/// Elements [index...] along `axis` of a host tensor (any dtype), in the given order.
inline Tensor take(const Tensor& t, int axis, const std::vector<int64_t>& index) {
  std::vector<int64_t> shape = t.shape();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= shape[i];
  for (int i = axis + 1; i < t.rank(); ++i) inner *= shape[i];
  int64_t n = shape[axis];
  shape[axis] = static_cast<int64_t>(index.size());
  Tensor out = Tensor::zeros(t.dtype(), shape);
  size_t row = static_cast<size_t>(inner) * dtype_size(t.dtype());
  auto* dst = static_cast<std::byte*>(out.raw());
  const auto* src = static_cast<const std::byte*>(t.raw());
  for (int64_t o = 0; o < outer; ++o)
    for (size_t j = 0; j < index.size(); ++j)
      std::memcpy(dst + (o * static_cast<int64_t>(index.size()) + static_cast<int64_t>(j)) * row,
                  src + (o * n + index[j]) * row, row);
  return out;
}

/// 0, 1, ..., n - 1.
inline std::vector<int64_t> first(int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(i);
  return v;
}

}  // namespace weft::golden
