/** \file
 * Shared objects as executables. See shared_object.h.
 */
#include "runtime/shared_object.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace weft {

SharedObject::SharedObject(const std::string& path) : path_(path) {
  // dlopen searches the library path for a bare name; a file argument means this file.
  std::string open_path = path_.find('/') == std::string::npos ? "./" + path_ : path_;
  handle_ = dlopen(open_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) throw Error(fmt::format("{}: cannot load the shared object: {}", path_, dlerror()));
#define WEFT_CAPI_LOOKUP(name)                                                                                 \
  name = reinterpret_cast<decltype(&::name)>(dlsym(handle_, #name));                                           \
  if (!name) {                                                                                                 \
    dlclose(handle_);                                                                                          \
    throw Error(fmt::format("{}: not a model compiled by weft-compile: it has no function {}", path_, #name)); \
  }
  WEFT_CAPI_FUNCTIONS(WEFT_CAPI_LOOKUP)
#undef WEFT_CAPI_LOOKUP
}

SharedObject::~SharedObject() {
  if (handle_) dlclose(handle_);
}

void SharedObject::check(int32_t status, const char* call) const {
  if (status == WEFT_OK) return;
  const char* message = weft_last_error();
  const char* code = weft_status_name(status);
  throw Error(fmt::format("{}: {} failed: {} ({})", path_, call, message ? message : "", code ? code : "?"));
}

SharedObjectExecutable::SharedObjectExecutable(std::shared_ptr<const SharedObject> library,
                                               const SharedObjectOptions& options)
    : library_(std::move(library)) {
  const SharedObject& api = *library_;
  const std::string& path = api.path();
  int32_t entries = api.weft_num_entries();
  if (entries <= 0) throw Error(fmt::format("{}: the model has no entry points", path));
  if (options.entry && api.weft_find_entry(options.entry->c_str(), &entry_) != WEFT_OK) {
    std::vector<std::string> names;
    for (int32_t e = 0; e < entries; ++e) names.emplace_back(api.weft_entry_name(e));
    throw Error(fmt::format("{}: --entry '{}' is not an entry point of the model (its entries: {})", path,
                            *options.entry, fmt::join(names, ", ")));
  }
  const char* name = api.weft_entry_name(entry_);
  entry_name_ = name ? name : "";
  signature_.graph = entry_name_;

  int32_t num_inputs = api.weft_num_inputs(entry_), num_outputs = api.weft_num_outputs(entry_);
  int32_t num_symbols = api.weft_num_symbols(entry_), num_params = api.weft_num_params();
  if (num_inputs < 0 || num_outputs < 0 || num_symbols < 0 || num_params < 0)
    throw Error(fmt::format("{}: the model describes entry '{}' inconsistently", path, entry_name_));
  for (int32_t i = 0; i < num_inputs; ++i) {
    weft_value_info info{};
    api.check(api.weft_input_info(entry_, i, &info), "weft_input_info");
    signature_.inputs.push_back(spec_of(info, "input"));
  }
  for (int32_t i = 0; i < num_outputs; ++i) {
    weft_value_info info{};
    api.check(api.weft_output_info(entry_, i, &info), "weft_output_info");
    signature_.outputs.push_back(spec_of(info, "output"));
  }
  for (int32_t i = 0; i < num_params; ++i) {
    weft_value_info info{};
    api.check(api.weft_param_info(i, &info), "weft_param_info");
    signature_.state.push_back(spec_of(info, "parameter"));
  }
  for (int32_t i = 0; i < num_symbols; ++i) {
    const char* symbol = nullptr;
    int64_t bound = -1;
    api.check(api.weft_symbol_info(entry_, i, &symbol, &bound), "weft_symbol_info");
    if (!symbol) throw Error(fmt::format("{}: symbol {} of entry '{}' has no name", path, i, entry_name_));
    signature_.symbols.push_back({symbol, bound >= 0 ? std::optional<int64_t>(bound) : std::nullopt});
  }

  weft_options create{};
  create.num_threads = options.num_threads;
  create.weights_path = options.weights_path ? options.weights_path->c_str() : nullptr;
  api.check(api.weft_create(&create, &instance_), "weft_create");
}

SharedObjectExecutable::~SharedObjectExecutable() {
  if (instance_) library_->weft_destroy(instance_);
}

TensorSpec SharedObjectExecutable::spec_of(const weft_value_info& info, const char* what) const {
  auto malformed = [&](const std::string& why) {
    return Error(fmt::format("{}: the model's description of an {} is malformed: {}", library_->path(), what, why));
  };
  if (!info.name) throw malformed("it has no name");
  if (info.dtype < WEFT_F32 || info.dtype > WEFT_BOOL) throw malformed(fmt::format("dtype code {}", info.dtype));
  if (info.rank < 0 || (info.rank > 0 && !info.dims)) throw malformed(fmt::format("rank {} without dims", info.rank));
  TensorSpec spec{info.name, {static_cast<DType>(info.dtype), {}}};
  for (int32_t d = 0; d < info.rank; ++d) {
    if (info.dims[d] >= 0) {
      spec.type.shape.emplace_back(info.dims[d]);
      continue;
    }
    const char* text = info.dim_names ? info.dim_names[d] : nullptr;
    std::optional<Dim> dim = text ? Dim::parse(text) : std::nullopt;
    if (!dim) throw malformed(fmt::format("'{}' dim {} is symbolic but has no valid name", info.name, d));
    spec.type.shape.push_back(*dim);
  }
  return spec;
}

namespace {

/// The symbols the inputs' shapes determine, by the C runtime's rule (runtime/capi/weft_rt_run.c):
/// a dim with a single unknown symbol (B, 2*T, or B*T once T is known) gives it the dim's size
/// divided by the rest. weft_run checks everything again; this is only to size the outputs.
SymbolBindings derive_symbols(const Signature& sig, std::span<const Tensor> inputs) {
  SymbolBindings known;
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t i = 0; i < inputs.size() && i < sig.inputs.size(); ++i) {
      for (int d = 0; d < inputs[i].rank() && d < sig.inputs[i].type.rank(); ++d) {
        const Dim& dim = sig.inputs[i].type.shape[d];
        std::vector<std::string> unknown;
        int64_t rest = dim.coefficient();
        for (const std::string& s : dim.symbols()) {
          auto it = known.find(s);
          if (it == known.end())
            unknown.push_back(s);
          else if (__builtin_mul_overflow(rest, it->second, &rest))
            rest = 0;
        }
        int64_t size = inputs[i].shape()[d];
        if (unknown.size() != 1 || rest <= 0 || size % rest != 0) continue;
        known[unknown[0]] = size / rest;
        progress = true;
      }
    }
  }
  return known;
}

}  // namespace

std::vector<Tensor> SharedObjectExecutable::run(std::span<const Tensor> inputs) {
  const SharedObject& api = *library_;
  // The symbols the inputs carry are bound first, so that the outputs can be sized; one beyond its
  // bound is left to weft_run, whose message names the input it came from.
  for (const auto& [symbol, value] : derive_symbols(signature_, inputs)) {
    bool in_range = value >= 0;
    for (const SymbolSpec& s : signature_.symbols)
      if (s.name == symbol && s.bound && value > *s.bound) in_range = false;
    if (in_range) api.check(api.weft_bind_dim(instance_, entry_, symbol.c_str(), value), "weft_bind_dim");
  }
  std::vector<weft_tensor> in(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i)
    in[i] = {static_cast<int32_t>(inputs[i].dtype()), inputs[i].rank(), inputs[i].shape().data(),
             const_cast<void*>(inputs[i].raw())};
  std::vector<Tensor> outputs;
  std::vector<weft_tensor> out(signature_.outputs.size());
  for (size_t i = 0; i < out.size(); ++i) {
    const TensorType& type = signature_.outputs[i].type;
    // One slot at least: weft_output_shape refuses a null pointer even for a rank-0 output, and an
    // empty vector's data() may be null.
    std::vector<int64_t> shape(std::max<size_t>(type.shape.size(), 1));
    int32_t status = api.weft_output_shape(instance_, entry_, static_cast<int32_t>(i), shape.data());
    if (status != WEFT_OK) {
      // A symbol the inputs could not give: weft_run checks the inputs before the outputs, so its
      // error is the one that names the input at fault.
      std::string shape_error = api.weft_last_error() ? api.weft_last_error() : "";
      std::vector<std::vector<int64_t>> zeros;
      std::vector<weft_tensor> placeholders;
      for (const TensorSpec& o : signature_.outputs) zeros.emplace_back(std::max<size_t>(o.type.shape.size(), 1), 0);
      for (size_t k = 0; k < signature_.outputs.size(); ++k)
        placeholders.push_back({static_cast<int32_t>(signature_.outputs[k].type.dtype),
                                static_cast<int32_t>(signature_.outputs[k].type.shape.size()), zeros[k].data(),
                                nullptr});
      api.check(api.weft_run(instance_, entry_, in.data(), static_cast<int32_t>(in.size()), placeholders.data(),
                             static_cast<int32_t>(placeholders.size())),
                "weft_run");
      throw Error(fmt::format("{}: weft_output_shape failed: {}", api.path(), shape_error));
    }
    shape.resize(type.shape.size());
    outputs.push_back(Tensor::zeros(type.dtype, shape));
  }
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = {static_cast<int32_t>(outputs[i].dtype()), outputs[i].rank(), outputs[i].shape().data(), outputs[i].raw()};
  api.check(api.weft_run(instance_, entry_, in.data(), static_cast<int32_t>(in.size()), out.data(),
                         static_cast<int32_t>(out.size())),
            "weft_run");
  return outputs;
}

Tensor SharedObjectExecutable::state(const std::string& name) const {
  const TensorSpec* spec = signature_.find_state(name);
  if (!spec) throw Error(fmt::format("no state named '{}' in {}", name, library_->path()));
  std::vector<int64_t> shape;
  for (const Dim& d : spec->type.shape) shape.push_back(d.is_static() ? d.value() : 0);
  Tensor t = Tensor::zeros(spec->type.dtype, shape);
  library_->check(library_->weft_get_param(instance_, name.c_str(), t.raw(), t.nbytes()), "weft_get_param");
  return t;
}

void SharedObjectExecutable::set_state(const std::string& name, const Tensor& value) {
  library_->check(library_->weft_set_param(instance_, name.c_str(), value.raw(), value.nbytes()), "weft_set_param");
}

}  // namespace weft
