/** \file
 * Helpers for the shared-object tests: compile graphs with the AOT emitter, load the result with
 * dlopen (RTLD_LOCAL, so every test's model is separate), run it through its C API, and run the
 * same graph on the LLVM JIT for a bit-for-bit comparison.
 */
#pragma once

#include <dlfcn.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backends/llvm/aot.h"
#include "backends/llvm/llvm_backend.h"
#include "ir/graph.h"
#include "runtime/capi/weft_model.h"
#include "runtime/shared_object.h"
#include "runtime/tensor.h"

namespace weft::aot_tests {

namespace fs = std::filesystem;

/// Compiled runtime objects go to the build tree's cache (not the user's ~/.cache), for this process
/// and the tools it runs.
inline void use_build_cache() { setenv("WEFT_CACHE_DIR", (std::string(WEFT_BINARY_DIR) + "/aot_cache").c_str(), 1); }

/// A fresh directory for the current test, under the build tree.
inline fs::path test_dir() {
  use_build_cache();
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::path(WEFT_BINARY_DIR) / "aot_tests" / fmt::format("{}.{}", info->test_suite_name(), info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

/// Runs a shell command, returns its exit status and its standard output (stderr goes to stdout).
inline int shell(const std::string& command, std::string* output = nullptr) {
  std::string text;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) text.append(buffer, n);
  int status = pclose(pipe);
  if (output) *output = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// The C API of one loaded shared object (runtime/shared_object.h).
struct Model : SharedObject {
  explicit Model(const fs::path& so) : SharedObject(so.string()) {}

  int32_t entry(const std::string& name) const {
    int32_t e = -1;
    int32_t status = weft_find_entry(name.c_str(), &e);
    if (status != WEFT_OK) throw std::runtime_error(fmt::format("no entry {}: {}", name, weft_last_error()));
    return e;
  }
};

/// An instance, destroyed with the test.
struct Instance {
  const Model& model;
  weft_model* instance = nullptr;
  explicit Instance(const Model& m, const weft_options* options = nullptr) : model(m) {
    int32_t status = m.weft_create(options, &instance);
    if (status != WEFT_OK) throw std::runtime_error(fmt::format("weft_create: {}", m.weft_last_error()));
  }
  ~Instance() { model.weft_destroy(instance); }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  /// Runs `entry` on `inputs`: binds every symbol in `dims` first, sizes the outputs with
  /// weft_output_shape. Throws on any error status.
  std::vector<Tensor> run(const std::string& entry, const std::vector<Tensor>& inputs,
                          const SymbolBindings& dims = {}) {
    int32_t e = model.entry(entry);
    // Symbols an input carries alone (a dim "B") take that input's size; `dims` gives the others.
    for (size_t i = 0; i < inputs.size() && static_cast<int32_t>(i) < model.weft_num_inputs(e); ++i) {
      weft_value_info info{};
      check(model.weft_input_info(e, static_cast<int32_t>(i), &info), "input_info");
      for (int32_t d = 0; d < info.rank && d < inputs[i].rank(); ++d) {
        const char* name = info.dim_names[d];
        if (name && std::string(name).find('*') == std::string::npos)
          check(model.weft_bind_dim(instance, e, name, inputs[i].shape()[d]), "bind_dim");
      }
    }
    for (const auto& [name, value] : dims) check(model.weft_bind_dim(instance, e, name.c_str(), value), "bind_dim");
    std::vector<weft_tensor> ins;
    for (const Tensor& t : inputs)
      ins.push_back(weft_tensor{static_cast<int32_t>(t.dtype()), static_cast<int32_t>(t.rank()), t.shape().data(),
                                const_cast<void*>(t.raw())});
    std::vector<Tensor> outs;
    std::vector<weft_tensor> out_views;
    for (int32_t k = 0; k < model.weft_num_outputs(e); ++k) {
      weft_value_info info{};
      check(model.weft_output_info(e, k, &info), "output_info");
      std::vector<int64_t> shape(static_cast<size_t>(info.rank) + 1);  // + 1: never a null pointer
      check(model.weft_output_shape(instance, e, k, shape.data()), "output_shape");
      shape.pop_back();
      outs.push_back(Tensor::zeros(static_cast<DType>(info.dtype), shape));
    }
    for (Tensor& t : outs)
      out_views.push_back(weft_tensor{static_cast<int32_t>(t.dtype()), static_cast<int32_t>(t.rank()), t.shape().data(),
                                      t.raw()});
    check(model.weft_run(instance, e, ins.data(), static_cast<int32_t>(ins.size()), out_views.data(),
                         static_cast<int32_t>(out_views.size())),
          "run");
    return outs;
  }

  Tensor param(const std::string& name, DType dtype, std::vector<int64_t> shape) const {
    Tensor t = Tensor::zeros(dtype, std::move(shape));
    check(model.weft_get_param(instance, name.c_str(), t.raw(), t.nbytes()), "get_param");
    return t;
  }

  void check(int32_t status, const char* what) const {
    if (status != WEFT_OK)
      throw std::runtime_error(fmt::format("weft_{}: {}: {}", what, model.weft_status_name(status), model.weft_last_error()));
  }
};

/// The C compiler flags of this build's shared objects: sanitized in a sanitized build
/// (WEFT_SANITIZE), so that the C runtime's handling of bad input runs under ASan and UBSan.
inline std::string sanitizer_flags() {
#ifdef WEFT_SANITIZED
  return "-fsanitize=address,undefined -fno-sanitize-recover=undefined";
#else
  return "";
#endif
}

/// The C compiler of this build (CMake's), so that a sanitized build's shared objects use the same
/// sanitizer runtime as the test executables.
inline std::string test_cc() { return WEFT_TEST_CC; }

/// Compiles `entries` into `dir`/`name`.so (and .h) with the library call weft-compile makes.
inline fs::path compile(const std::vector<Graph>& entries, const fs::path& dir, const std::string& name,
                        llvm_backend::AotOptions options = {}, const SafetensorsFile* weights = nullptr) {
  fs::path so = dir / (name + ".so");
  use_build_cache();
  options.cc = test_cc();
  std::istringstream flags(sanitizer_flags());
  for (std::string f; flags >> f;) options.cflags.push_back(f);
  llvm_backend::compile_shared_object(entries, weights, so.string(), (dir / (name + ".h")).string(), options);
  return so;
}

/// A tensor of floats uniform in [-2, 2), the same for the same seed.
inline Tensor random_f32(std::vector<int64_t> shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Tensor t = Tensor::zeros(DType::f32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::uniform_real_distribution<float>(-2, 2)(rng);
  return t;
}

/// Every output equal bit for bit (same dtype, shape and bytes).
inline void expect_bitwise_equal(const std::vector<Tensor>& got, const std::vector<Tensor>& want,
                                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t k = 0; k < got.size(); ++k) {
    ASSERT_EQ(got[k].dtype(), want[k].dtype()) << what << " output " << k;
    ASSERT_EQ(got[k].shape(), want[k].shape()) << what << " output " << k;
    if (std::memcmp(got[k].raw(), want[k].raw(), got[k].nbytes()) == 0) continue;
    for (int64_t i = 0; i < got[k].numel(); ++i)
      if (got[k].at(i) != want[k].at(i)) {
        ADD_FAILURE() << what << " output " << k << " differs first at element " << i << ": " << got[k].at(i)
                      << " (shared object) vs " << want[k].at(i) << " (JIT)";
        break;
      }
  }
}

}  // namespace weft::aot_tests
