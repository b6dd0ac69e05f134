/** \file
 * weft-run: runs a model on inputs from files and writes its outputs to files.
 *
 *   weft-run model.weft --input x=x.npy [--backend auto|llvm|onednn|interp] [--weights w.safetensors]
 *            [--output-dir out/ | --outputs out.safetensors] [--bench N] [--threads N] [--quiet]
 *   weft-run model.so   --inputs in.safetensors [--entry NAME] ...
 *
 * A `.weft` file is compiled in process by a backend (the JIT); a shared object made by weft-compile
 * is loaded with dlopen and driven through its C API (runtime/capi/weft_model.h). Both are checked
 * against one `Signature`, so a missing input, a wrong dtype or a wrong shape reads the same either
 * way. The first run's outputs are the ones written and summarized; `--bench N` then times N more.
 * Errors follow tools/cli.h: `weft-run: message` on stderr, exit status 1 for a bad model, input or
 * weights file, 2 for a bad command line. Formats and examples: docs/weft-run.md.
 */
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/default_backend.h"
#include "ir/safetensors.h"
#include "ir/text.h"
#include "runtime/executable.h"
#include "runtime/npy.h"
#include "runtime/shared_object.h"
#include "runtime/tensor_literal.h"
#include "tools/cli.h"

namespace {

using weft::DType;
using weft::Error;
using weft::Signature;
using weft::Tensor;

using weft::tools::UsageError;

struct Options {
  std::string model;
  std::optional<std::string> backend;
  std::optional<std::string> entry;
  std::vector<std::string> input_args;  // NAME=FILE.npy
  std::optional<std::string> inputs_file;
  std::optional<std::string> weights;
  std::optional<std::string> output_dir;
  std::optional<std::string> outputs_file;
  int bench = 0;
  int threads = 0;
  bool quiet = false;
  bool profile = false;
};

/// What weft-run needs of a model, compiled in process or loaded from a shared object.
class Model {
 public:
  virtual ~Model() = default;
  virtual const Signature& signature() const = 0;
  /// "graph 'mlp' on llvm", "entry 'forward' of model.so".
  virtual std::string describe() const = 0;
  /// Inputs in signature order, already checked against it; outputs in signature order.
  virtual std::vector<Tensor> run(const std::vector<Tensor>& inputs) = 0;
  /// The per-call profile of the runs so far (--profile).
  virtual std::string profile_report() const = 0;
};

// ---------------------------------------------------------------- the JIT: a .weft file

class JitModel : public Model {
 public:
  /// Compiles `graph`, read from `o.model`, and loads `weights` (read from o.weights by read_weights)
  /// into it. The inputs and weights were checked first: compiling can take seconds, a wrong file
  /// should not.
  JitModel(const weft::Graph& graph, const Options& o, const std::optional<weft::SafetensorsFile>& weights)
      : graph_name_(graph.name()) {
    backend_name_ = o.backend.value_or(default_backend());
    std::unique_ptr<weft::Backend> backend = weft::make_backend(backend_name_);
    weft::CompileOptions options;
    options.num_threads = o.threads;
    options.profile = o.profile;
    executable_ = backend->compile(graph, options);
    if (weights) load_weights(*weights, *o.weights);
  }

  const Signature& signature() const override { return executable_->signature(); }
  std::string describe() const override { return fmt::format("graph '{}' on {}", graph_name_, backend_name_); }
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) override { return executable_->run(inputs); }
  std::string profile_report() const override { return executable_->profile_report(); }

  static std::string default_backend() { return weft::default_backend_name(); }

 private:
  void load_weights(const weft::SafetensorsFile& file, const std::string& path);

  std::string graph_name_;
  std::string backend_name_;
  std::unique_ptr<weft::Executable> executable_;
};

/// A tensor from a safetensors blob; bool bytes other than 0 and 1 are read as true.
Tensor tensor_from_blob(const weft::TensorBlob& blob) {
  Tensor t = Tensor::from_bytes(blob.dtype, blob.shape, blob.data);
  if (t.dtype() == DType::boolean) {
    auto* p = static_cast<unsigned char*>(t.raw());
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = p[i] != 0;
  }
  return t;
}

/// Reads the weights for a graph with parameters `sig.state` and checks them as PyTorch's strict
/// load_state_dict does: a parameter the file lacks or a tensor the graph lacks is an error rather
/// than a silent partial load, and so is a wrong dtype or shape.
weft::SafetensorsFile read_weights(const std::string& path, const Signature& sig, const std::string& graph_name) {
  weft::SafetensorsFile file = weft::read_safetensors(path);
  std::vector<std::string> missing, unexpected;
  for (const auto& spec : sig.state)
    if (!file.find(spec.name)) missing.push_back(spec.name);
  for (const auto& blob : file.tensors)
    if (!sig.find_state(blob.name)) unexpected.push_back(blob.name);
  if (!missing.empty() || !unexpected.empty())
    throw Error(
        fmt::format("{}: the weights must name exactly the parameters of graph '{}'; missing: [{}], not "
                    "parameters of the graph: [{}]",
                    path, graph_name, fmt::join(missing, ", "), fmt::join(unexpected, ", ")));
  for (const auto& blob : file.tensors) {
    const weft::TensorType& want = sig.find_state(blob.name)->type;
    bool same = blob.dtype == want.dtype && blob.shape.size() == want.shape.size();
    for (size_t d = 0; same && d < blob.shape.size(); ++d)
      same = !want.shape[d].is_static() || want.shape[d].value() == blob.shape[d];
    if (!same)
      throw Error(fmt::format("{}: parameter '{}' must be {}, but the file holds {}[{}]", path, blob.name, want.str(),
                              weft::dtype_name(blob.dtype), fmt::join(blob.shape, ", ")));
  }
  return file;
}

void JitModel::load_weights(const weft::SafetensorsFile& file, const std::string& path) {
  for (const auto& blob : file.tensors) {
    try {
      executable_->set_state(blob.name, tensor_from_blob(blob));
    } catch (const Error& e) {
      throw Error(fmt::format("{}: parameter '{}': {}", path, blob.name, e.what()));
    }
  }
}

// ---------------------------------------------------------------- a compiled model: a .so file

/// A compiled model's entry point (runtime/shared_object.h).
class SharedObjectModel : public Model {
 public:
  explicit SharedObjectModel(const Options& o)
      : exe_(std::make_shared<const weft::SharedObject>(o.model),
             weft::SharedObjectOptions{.entry = o.entry, .num_threads = o.threads, .weights_path = o.weights}) {}

  const Signature& signature() const override { return exe_.signature(); }
  std::string describe() const override {
    return fmt::format("entry '{}' of {}", exe_.entry_name(), exe_.library().path());
  }
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) override { return exe_.run(inputs); }
  std::string profile_report() const override { return exe_.profile_report(); }

 private:
  weft::SharedObjectExecutable exe_;
};

bool is_shared_object(const std::string& path) {
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".so") == 0) return true;
  std::ifstream f(path, std::ios::binary);
  char magic[4] = {};
  return f.read(magic, 4) && std::memcmp(magic,
                                         "\x7f"
                                         "ELF",
                                         4) == 0;
}

// ---------------------------------------------------------------- inputs and outputs

/// The inputs in signature order, from --input and --inputs, each checked against its declaration's
/// dtype, rank and static dims (symbols are bound by the JIT's or the compiled model's own rules).
std::vector<Tensor> gather_inputs(const Options& o, const Signature& sig, const std::string& model) {
  std::map<std::string, std::pair<Tensor, std::string>> given;  // name -> tensor, where it came from
  auto add = [&](const std::string& name, Tensor t, const std::string& source) {
    if (!sig.find_input(name)) {
      std::vector<std::string> names;
      for (const auto& in : sig.inputs) names.push_back(fmt::format("'{}'", in.name));
      throw Error(fmt::format("{}: '{}' is not an input of {} (its inputs: {})", source, name, model,
                              names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
    }
    auto [it, inserted] = given.emplace(name, std::pair{std::move(t), source});
    if (!inserted)
      throw Error(fmt::format("input '{}' is given twice, by {} and by {}", name, it->second.second, source));
  };
  if (o.inputs_file) {
    weft::SafetensorsFile file = weft::read_safetensors(*o.inputs_file);
    for (const auto& blob : file.tensors) add(blob.name, tensor_from_blob(blob), *o.inputs_file);
  }
  for (const std::string& arg : o.input_args) {
    size_t eq = arg.find('=');
    std::string name = arg.substr(0, eq), value = arg.substr(eq + 1);
    if (!weft::looks_like_tensor_literal(value)) {
      add(name, weft::read_npy(value), value);
      continue;
    }
    // A literal takes the dtype the model declares for the input.
    const std::string source = fmt::format("--input {}", name);
    const weft::TensorSpec* spec = sig.find_input(name);
    add(name, spec ? weft::parse_tensor_literal(value, spec->type.dtype, source) : Tensor{}, source);
  }

  std::vector<Tensor> ordered;
  for (const auto& spec : sig.inputs) {
    auto it = given.find(spec.name);
    if (it == given.end())
      throw Error(
          fmt::format("missing input '{}' ({}) of {}: give it with --input {}=FILE.npy, as a literal (--input "
                      "{}=[...]) or in --inputs FILE.safetensors",
                      spec.name, spec.type.str(), model, spec.name, spec.name));
    const auto& [tensor, source] = it->second;
    auto wrong = [&, &tensor = tensor, &source = source](const std::string& why) {
      return Error(fmt::format("{}: input '{}' must be {}, but {} {}{}", source, spec.name, spec.type.str(),
                               source.starts_with("--input ") ? "the literal is" : "the file holds", tensor.type_str(),
                               why));
    };
    if (tensor.dtype() != spec.type.dtype || tensor.rank() != spec.type.rank()) throw wrong("");
    for (int d = 0; d < tensor.rank(); ++d) {
      const weft::Dim& dim = spec.type.shape[d];
      if (dim.is_static() && dim.value() != tensor.shape()[d])
        throw wrong(fmt::format(" (dim {} should be {})", d, dim.value()));
    }
    ordered.push_back(tensor);
  }
  return ordered;
}

/// A half-precision value (f16 or bf16 bits) as a float, for the summary only.
float half_to_float(uint16_t h, DType dtype) {
  if (dtype == DType::bf16) {
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  float magnitude = exponent == 0    ? std::ldexp(static_cast<float>(mantissa), -24)
                    : exponent == 31 ? (mantissa ? NAN : INFINITY)
                                     : std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
  return (h & 0x8000) ? -magnitude : magnitude;
}

std::string value_str(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::boolean:
      return t.at(i) != 0 ? "true" : "false";
    case DType::i32:
    case DType::i64:
      return fmt::format("{}", static_cast<int64_t>(t.at(i)));
    case DType::f16:
    case DType::bf16:
      return fmt::format("{:.6g}", half_to_float(static_cast<const uint16_t*>(t.raw())[i], t.dtype()));
    default:
      return fmt::format("{:.6g}", t.at(i));
  }
}

/// A name as typed, or quoted when it is empty or holds spaces, quotes or control characters.
std::string display_name(const std::string& name) {
  bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && c != '"' && c != '\\' && c != 0x7f;
  });
  if (plain) return name;
  std::string quoted = "\"";
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\')
      quoted += fmt::format("\\{}", c);
    else if (u < 0x20 || u == 0x7f)
      quoted += fmt::format("\\x{:02x}", u);
    else
      quoted += c;
  }
  return quoted + "\"";
}

/// "y: f32[2, 10] = [0.25, -1, 3.5, 0, 0, 1, ...]".
std::string summary(const std::string& name, const Tensor& t) {
  constexpr int64_t kShown = 6;
  std::string values;
  if (t.rank() == 0) {
    values = value_str(t, 0);
  } else {
    std::vector<std::string> shown;
    for (int64_t i = 0; i < std::min(t.numel(), kShown); ++i) shown.push_back(value_str(t, i));
    if (t.numel() > kShown) shown.emplace_back("...");
    values = fmt::format("[{}]", fmt::join(shown, ", "));
  }
  return fmt::format("{}: {} = {}", display_name(name), t.type_str(), values);
}

/// Whether every output can be written to --output-dir as <name>.npy: checked before compiling, so
/// that a model is not run (or a directory left half written) for nothing.
void check_output_dir(const Signature& sig) {
  std::set<std::string> seen;
  for (const auto& spec : sig.outputs) {
    const std::string& name = spec.name;
    if (name.empty() || name == "." || name == ".." || name.find_first_of(std::string("/\0", 2)) != std::string::npos)
      throw Error(
          fmt::format("output {} cannot be a file name in --output-dir; write the outputs with --outputs "
                      "FILE.safetensors instead",
                      display_name(name)));
    if (!seen.insert(name).second)
      throw Error(fmt::format("two outputs are called '{}'; write them with --outputs FILE.safetensors", name));
    if (spec.type.dtype == DType::bf16)
      throw Error(
          fmt::format("output '{}' is bf16, which .npy cannot hold; write the outputs with --outputs "
                      "FILE.safetensors instead",
                      name));
  }
}

void write_outputs(const Options& o, const Signature& sig, const std::vector<Tensor>& outputs) {
  if (o.output_dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(*o.output_dir, ec);
    if (ec) throw Error(fmt::format("{}: cannot create the output directory: {}", *o.output_dir, ec.message()));
    for (size_t i = 0; i < outputs.size(); ++i)
      weft::write_npy((fs::path(*o.output_dir) / (sig.outputs[i].name + ".npy")).string(), outputs[i]);
  }
  if (o.outputs_file) {
    weft::SafetensorsFile file;
    for (size_t i = 0; i < outputs.size(); ++i) {
      auto bytes = outputs[i].bytes();
      file.tensors.push_back(
          {sig.outputs[i].name, outputs[i].dtype(), outputs[i].shape(), {bytes.begin(), bytes.end()}});
    }
    weft::write_safetensors_atomic(*o.outputs_file, file);
  }
}

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

int run(const Options& o) {
  std::unique_ptr<Model> model;
  std::vector<Tensor> inputs;
  auto load_start = std::chrono::steady_clock::now();
  double load_ms = 0;
  if (is_shared_object(o.model)) {
    if (o.backend)
      throw UsageError{
          fmt::format("--backend chooses how a .weft file is compiled; '{}' is a compiled model", o.model)};
    if (o.profile)
      throw UsageError{fmt::format(
          "--profile times each call of a program the JIT compiles; '{}' is a compiled model (time it with --bench)",
          o.model)};
    model = std::make_unique<SharedObjectModel>(o);
    load_ms = milliseconds_since(load_start);
    inputs = gather_inputs(o, model->signature(), model->describe());
    if (o.output_dir) check_output_dir(model->signature());
  } else {
    weft::Graph graph = weft::read_graph_file(o.model);
    if (o.entry && *o.entry != graph.name())
      throw Error(fmt::format("--entry '{}': '{}' holds one graph, '{}' (entry points are for compiled .so models)",
                              *o.entry, o.model, graph.name()));
    Signature sig = weft::signature_of(graph);
    inputs = gather_inputs(o, sig, fmt::format("graph '{}'", graph.name()));
    weft::bind_inputs(sig, inputs);  // symbols that must agree between inputs, and bounds: the JIT's rules
    if (o.output_dir) check_output_dir(sig);
    std::optional<weft::SafetensorsFile> weights;
    if (o.weights) weights = read_weights(*o.weights, sig, graph.name());
    load_start = std::chrono::steady_clock::now();
    model = std::make_unique<JitModel>(graph, o, weights);
    load_ms = milliseconds_since(load_start);
  }

  std::vector<Tensor> outputs = model->run(inputs);
  write_outputs(o, model->signature(), outputs);
  if (!o.quiet)
    for (size_t i = 0; i < outputs.size(); ++i)
      std::cout << summary(model->signature().outputs[i].name, outputs[i]) << '\n';

  if (o.bench > 0) {
    std::vector<double> times;
    for (int i = 0; i < o.bench; ++i) {
      auto start = std::chrono::steady_clock::now();
      model->run(inputs);
      times.push_back(milliseconds_since(start));
    }
    std::sort(times.begin(), times.end());
    size_t n = times.size();
    double median = n % 2 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2;
    double mean = 0;
    for (double t : times) mean += t / static_cast<double>(n);
    std::cout << fmt::format(
        "bench: {} runs of {} after 1 warm-up: min {:.3f} ms, median {:.3f} ms, mean {:.3f} ms "
        "(load/compile {:.1f} ms)\n",
        n, model->describe(), times.front(), median, mean, load_ms);
  }
  if (o.profile) std::cout << "profile of " << model->describe() << ":\n" << model->profile_report();
  std::cout << std::flush;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Runs a Weft model (a .weft file, JIT-compiled, or a .so made by weft-compile) on inputs from "
      ".npy or safetensors files and writes its outputs.\nDocs: docs/weft-run.md"};
  const std::string tool = "weft-run";
  weft::tools::describe(app, tool, "a model, input or weights file that cannot be read or does not match");
  Options o;
  std::vector<std::string> backends = weft::backend_names();
  app.add_option("model", o.model, "the model: a .weft text IR file or a .so compiled by weft-compile")
      ->type_name("MODEL")
      ->required();
  app.add_option("--backend", o.backend,
                 fmt::format("how to compile a .weft file: {} (default: {})", fmt::join(backends, ", "),
                             JitModel::default_backend()))
      ->type_name("NAME");
  app.add_option("--entry", o.entry, "the entry point of a .so to run (default: its first)")->type_name("NAME");
  app.add_option("--input", o.input_args,
                 "an input from a .npy file, or written out: 'x=[[1, 2], [3, 4]]', 'step=3' (repeatable)")
      ->type_name("NAME=FILE|LITERAL")
      ->check([](const std::string& s) {
        return s.find('=') == std::string::npos ? std::string("must be NAME=FILE.npy or NAME=LITERAL") : std::string();
      });
  app.add_option("--inputs", o.inputs_file, "inputs from a safetensors file, one tensor per input name")
      ->type_name("FILE");
  app.add_option("--weights", o.weights, "the parameters from a safetensors file (by name)")->type_name("FILE");
  app.add_option("--output-dir", o.output_dir, "write each output to DIR/<name>.npy")->type_name("DIR");
  app.add_option("--outputs", o.outputs_file, "write the outputs to a safetensors file")->type_name("FILE");
  app.add_option("--bench", o.bench, "after the first run, time N more and print min / median / mean ms")
      ->type_name("N")
      ->check(CLI::Range(1, 1000000000));
  app.add_option("--threads", o.threads, "worker threads (default 0: all cores)")
      ->type_name("N")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("-q,--quiet", o.quiet, "do not print the outputs' summary");
  app.add_flag("--profile", o.profile,
               "time each call of the compiled program over every run (with --bench: the warm runs too) and "
               "print the table, slowest first: op, scope, provider, calls, ms, share, GFLOP/s, GB/s");

  if (int status = weft::tools::parse(app, tool, argc, argv); status >= 0) return status;
  return weft::tools::run_main(tool, [&] { return run(o); });
}
