/** \file
 * A model compiled ahead of time (`weft-compile`, a shared object with the C API of
 * runtime/capi/weft_model.h), loaded with dlopen and run as an `Executable`.
 *
 * `SharedObject` is the library: dlopen and every C API function looked up by name (an error names
 * the missing one: "not a model compiled by weft-compile"). `SharedObjectExecutable` is one entry
 * point of one instance: its signature read back from the C API, inputs bound and run through
 * `weft_run`, state through `weft_get_param`/`weft_set_param`. Errors are the C runtime's own
 * messages, with the file name. `weft-run` runs shared objects with it, and the tests hold it to
 * the same answers as the interpreter and the JIT (tests/aot/aot_binding_parity_test.cpp).
 */
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/capi/weft_model.h"
#include "runtime/executable.h"

namespace weft {

// clang-format off
#define WEFT_CAPI_FUNCTIONS(X)                                                                           \
  X(weft_last_error) X(weft_status_name) X(weft_model_name) X(weft_num_entries) X(weft_entry_name)       \
  X(weft_find_entry) X(weft_num_inputs) X(weft_num_outputs) X(weft_input_info) X(weft_output_info)      \
  X(weft_num_symbols) X(weft_symbol_info) X(weft_num_params) X(weft_param_info) X(weft_create)          \
  X(weft_destroy) X(weft_bind_dim) X(weft_output_shape) X(weft_input_shape) X(weft_run)                 \
  X(weft_get_param) X(weft_set_param) X(weft_generate)
// clang-format on

/// A loaded shared object and its C API.
class SharedObject {
 public:
  /// dlopen `path` (a bare name means the file in the current directory, not a library search).
  explicit SharedObject(const std::string& path);
  ~SharedObject();
  SharedObject(const SharedObject&) = delete;
  SharedObject& operator=(const SharedObject&) = delete;

  const std::string& path() const { return path_; }
  /// Throws weft::Error with the model's own message for a status other than WEFT_OK.
  void check(int32_t status, const char* call) const;

#define WEFT_CAPI_FIELD(name) decltype(&::name) name = nullptr;
  WEFT_CAPI_FUNCTIONS(WEFT_CAPI_FIELD)
#undef WEFT_CAPI_FIELD

 private:
  std::string path_;
  void* handle_ = nullptr;
};

struct SharedObjectOptions {
  std::optional<std::string> entry;         // default: the first entry point
  int num_threads = 0;                      // 0: the model's default
  std::optional<std::string> weights_path;  // a safetensors file instead of the embedded weights
};

class SharedObjectExecutable : public Executable {
 public:
  SharedObjectExecutable(std::shared_ptr<const SharedObject> library, const SharedObjectOptions& options = {});
  ~SharedObjectExecutable() override;

  const Signature& signature() const override { return signature_; }
  /// Binds the symbols the inputs' shapes determine (by the C runtime's rule) to size the outputs,
  /// then weft_run, which checks everything again.
  std::vector<Tensor> run(std::span<const Tensor> inputs) override;
  Tensor state(const std::string& name) const override;
  void set_state(const std::string& name, const Tensor& value) override;

  const std::string& entry_name() const { return entry_name_; }
  const SharedObject& library() const { return *library_; }

 private:
  TensorSpec spec_of(const weft_value_info& info, const char* what) const;

  std::shared_ptr<const SharedObject> library_;
  int32_t entry_ = 0;
  std::string entry_name_;
  Signature signature_;
  weft_model* instance_ = nullptr;
};

}  // namespace weft
