/** \file
 * Helpers shared by the training tests: compiling on the interpreter, scalar inputs, reading state.
 */
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "frontend/train_step.h"
#include "runtime/executable.h"

namespace weft::train::testing {

inline std::unique_ptr<Executable> compile(const Graph& g, CompileOptions options = {}) {
  return make_backend("interp")->compile(g, options);
}

inline Tensor f32_scalar(float v) { return Tensor::from<float>({}, {v}); }
inline Tensor i64_scalar(int64_t v) { return Tensor::from<int64_t>({}, {v}); }
inline Tensor f32s(std::vector<int64_t> shape, std::vector<float> values) {
  return Tensor::from<float>(std::move(shape), values);
}

inline std::vector<float> state_of(const Executable& exe, const std::string& name) {
  return exe.state(name).to_vector<float>();
}

/// Copies every state tensor `to` has from `from` (e.g. trained parameters into an inference graph).
inline void copy_state(const Executable& from, Executable& to) {
  for (const TensorSpec& s : to.signature().state) to.set_state(s.name, from.state(s.name));
}

}  // namespace weft::train::testing
