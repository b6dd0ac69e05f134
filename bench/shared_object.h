/** \file
 * A model compiled ahead of time into a shared object (compile_shared_object, as weft-compile
 * does) in a scratch directory, loaded with dlopen and instantiated through its C API, so that the
 * benchmarks run it as a user of the .so does (bench_decode, bench_models).
 */
#pragma once

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "backends/llvm/aot.h"
#include "ir/error.h"
#include "runtime/capi/weft_model.h"

namespace weft::bench {

class LoadedModel {
 public:
  /// Compiles `entries` with `weights` (null: the initializers' values) and creates one instance
  /// with WEFT_NUM_THREADS threads (2 unless set). `tag` names the scratch directory.
  LoadedModel(const std::vector<Graph>& entries, const SafetensorsFile* weights, const std::string& tag) {
    dir_ = std::filesystem::temp_directory_path() / fmt::format("weft_bench_{}_{}", tag, getpid());
    std::filesystem::create_directories(dir_);
    std::string so = (dir_ / "model.so").string();
    llvm_backend::compile_shared_object(entries, weights, so, (dir_ / "model.h").string(), {});
    handle_ = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) throw Error(fmt::format("dlopen {}: {}", so, dlerror()));
    auto create = symbol<decltype(&::weft_create)>("weft_create");
    run = symbol<decltype(&::weft_run)>("weft_run");
    generate = symbol<decltype(&::weft_generate)>("weft_generate");
    last_error = symbol<decltype(&::weft_last_error)>("weft_last_error");
    destroy_ = symbol<decltype(&::weft_destroy)>("weft_destroy");
    const char* threads = std::getenv("WEFT_NUM_THREADS");
    weft_options options{};
    options.num_threads = threads ? std::atoi(threads) : 2;
    check(create(&options, &model_), "weft_create");
  }
  ~LoadedModel() {
    if (model_) destroy_(model_);
    dlclose(handle_);
    std::filesystem::remove_all(dir_);
  }
  LoadedModel(const LoadedModel&) = delete;
  LoadedModel& operator=(const LoadedModel&) = delete;

  weft_model* model() const { return model_; }
  /// Throws weft::Error with the C API's message when `status` is not WEFT_OK.
  void check(int32_t status, const char* call) const {
    if (status != WEFT_OK) throw Error(fmt::format("{}: {}", call, last_error()));
  }

  decltype(&::weft_run) run = nullptr;
  decltype(&::weft_generate) generate = nullptr;
  decltype(&::weft_last_error) last_error = nullptr;

 private:
  template <typename F>
  F symbol(const char* name) {
    return reinterpret_cast<F>(dlsym(handle_, name));
  }
  std::filesystem::path dir_;
  void* handle_ = nullptr;
  weft_model* model_ = nullptr;
  decltype(&::weft_destroy) destroy_ = nullptr;
};

}  // namespace weft::bench
