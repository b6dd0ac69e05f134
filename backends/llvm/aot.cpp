/** \file
 * The AOT emitter: programs → C tables + one object of kernels → a shared object. See aot.h.
 */
#include "backends/llvm/aot.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "backends/llvm/jit.h"
#include "backends/llvm/llvm_backend.h"
#include "backends/llvm/node_region.h"
#include "backends/llvm/region_codegen.h"
#include "ir/file_io.h"
#include "ir/graph_builder.h"
#include "ir/init.h"
#include "ir/ops.h"
#include "ir/program.h"
#include "passes/pipeline.h"

extern char** environ;

namespace weft::llvm_backend {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// The user's error for top-level node `node` of graph `graph` that has no generated code: it names
/// the node the generators turned down (`culprit`, a node of `region`'s body; null when they did not
/// say), its scope and its DSL line, then why. A shared object has no interpreter to fall back on.
Error cannot_compile(const std::string& graph, const Node& node, const std::optional<NodeRegion>& region,
                     const Node* culprit, const std::string& why) {
  const Node& named = culprit ? *culprit : node;
  std::string subject = std::string(op_name(named.op));
  if (!culprit && node.op == OpKind::fusion && region && !region->body.nodes().empty())
    subject = fmt::format("a fused {} region starting with {}", region->kind, op_name(region->body.nodes()[0].op));
  else if (culprit && node.op == OpKind::fusion && region)
    subject += fmt::format(" (fused into a {} region)", region->kind);
  const std::string& scope = named.scope.empty() ? node.scope : named.scope;
  SourceLoc loc = named.loc.empty() ? node.loc : named.loc;
  if (loc.empty() && region && !region->body.nodes().empty()) loc = region->body.nodes()[0].loc;
  return Error(
      with_location(fmt::format("weft-compile: graph '{}': {}{} cannot be compiled into a shared object: "
                                "{}; the JIT runs it on the interpreter, which a shared object does not have",
                                graph, subject, scope.empty() ? "" : fmt::format(" in scope '{}'", scope), why),
                    loc));
}

/// A C string literal for `s`: printable ASCII kept, the rest as octal escapes. '?' (trigraphs) and
/// '*' and '/' are escaped too, so that the literal is also safe inside a /* comment */: a name is
/// user input, and a "*/" in it must never end a comment of the generated C (docs/security.md).
std::string c_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto ch = static_cast<unsigned char>(c);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch >= 0x20 && ch < 0x7f && ch != '?' && ch != '*' && ch != '/') {
      out += static_cast<char>(ch);
    } else {
      out += fmt::format("\\{:03o}", ch);
    }
  }
  return out + "\"";
}

/// `s` for the listing in a comment of the generated header or C file: bare when it is made of
/// letters, digits and "_.-<=, []*" (a name or a type such as f32[B*T<=8, 4]; without a '/' no
/// comment delimiter can form), else as c_string.
std::string comment_text(std::string_view s) {
  bool plain = !s.empty();
  for (char c : s)
    plain = plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      std::string_view("_.-<=, []*").find(c) != std::string_view::npos);
  return plain ? std::string(s) : c_string(s);
}

/// A type's text for the comment listing.
std::string type_text(const TensorType& t) { return comment_text(t.str()); }

int64_t round_up(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

/// What every entry and every scan body of the model needs, gathered into one C file.
class Emitter {
 public:
  Emitter(const SafetensorsFile* weights, const AotLibrary* library)
      : weights_(weights), library_(library), context_(std::make_unique<llvm::LLVMContext>()) {
    module_ = Jit::global().new_module("weft_model_kernels", *context_);
  }

  struct ModelParam {
    std::string name;
    TensorType type;
    Initializer init;
    bool updated = false;
  };

  /// Adds entry `graph`; returns the C name of its program table.
  std::string add_entry(const Graph& graph) {
    for (const SymbolDecl& s : graph.symbols())
      if (!s.bound)
        throw Error(fmt::format("weft-compile: symbol {} of graph '{}' has no bound: a shared object plans its memory "
                                "statically, so declare one where the input is declared (e.g. {}<=512)",
                                s.name, graph.name(), s.name));
    // The same pipeline as the JIT's: what the shared object runs is what `make_backend("llvm")` runs.
    Graph fused = lower_graph(graph, LlvmBackend().lowering_options());
    return emit_program(fused, nullptr);
  }

  const std::vector<ModelParam>& params() const { return params_; }
  int kernels() const { return static_cast<int>(kernel_names_.size()); }
  int calls() const { return calls_; }
  int library_calls() const { return library_calls_; }

  /// The weights of every parameter, each at a 64-byte-aligned offset: from the weights file, or
  /// their initializers. Fills `offsets`.
  std::string weights_blob(std::vector<int64_t>& offsets) const {
    std::string blob;
    for (const ModelParam& p : params_) {
      std::vector<int64_t> shape;
      for (const Dim& d : p.type.shape) shape.push_back(d.value());
      std::vector<std::byte> data = param_bytes(p, shape);
      blob.resize(static_cast<size_t>(round_up(static_cast<int64_t>(blob.size()), Program::alignment)), '\0');
      offsets.push_back(static_cast<int64_t>(blob.size()));
      blob.append(reinterpret_cast<const char*>(data.data()), data.size());
    }
    return blob;
  }

  llvm::Module& module() { return *module_; }
  const std::string& tables() const { return c_; }
  const std::string& kernel_decls() const { return kernel_decls_; }

  /// The weft_rt_param table (added to the tables); returns its C name ("0" when there are none).
  /// `offsets`: each parameter's offset in the embedded weights; null when they are external.
  std::string param_table(const std::vector<int64_t>* offsets) {
    std::vector<SymbolDecl> none;  // parameters are static
    return array("weft_rt_param", params_.size(), [&](size_t i) {
      const ModelParam& p = params_[i];
      int64_t n = static_cast<int64_t>(dtype_size(p.type.dtype));
      for (const Dim& d : p.type.shape) n *= d.value();
      return fmt::format("{{{}, {}, {}, {}, {}}}", c_string(p.name), value(p.name, p.type, none), n,
                         offsets ? (*offsets)[i] : -1, p.updated ? 1 : 0);
    });
  }

 private:
  std::vector<std::byte> param_bytes(const ModelParam& p, const std::vector<int64_t>& shape) const {
    if (weights_) {
      if (const TensorBlob* blob = weights_->find(p.name)) {
        if (blob->dtype != p.type.dtype || blob->shape != shape) {
          std::string got = fmt::format("{}[{}]", dtype_name(blob->dtype), fmt::join(blob->shape, ", "));
          throw Error(fmt::format("weft-compile: weight '{}' is {} in the weights file, but the model declares {}",
                                  p.name, got, p.type.str()));
        }
        return blob->data;
      }
    }
    return materialize_initializer(p.init, p.type.dtype, shape);
  }

  std::string fresh(const char* prefix) { return fmt::format("{}{}", prefix, counter_++); }

  int param_index(const std::string& name, const TensorType& type, const Initializer& init) {
    for (size_t i = 0; i < params_.size(); ++i) {
      if (params_[i].name != name) continue;
      if (!(params_[i].type == type))
        throw Error(fmt::format("weft-compile: parameter '{}' is {} in one entry and {} in another: entries share "
                                "parameters by name, so their types must agree",
                                name, params_[i].type.str(), type.str()));
      return static_cast<int>(i);
    }
    for (const Dim& d : type.shape)
      if (!d.is_static())
        throw Error(fmt::format("weft-compile: parameter '{}' has a symbolic shape {}: parameters must be static",
                                name, type.str()));
    params_.push_back(ModelParam{name, type, init, false});
    return static_cast<int>(params_.size()) - 1;
  }

  /// A static array of `n` items rendered by `item`, or "0" (NULL) when empty.
  template <class F>
  std::string array(const char* c_type, size_t n, F item) {
    if (n == 0) return "0";
    std::string name = fresh("a");
    std::string text = fmt::format("static const {} {}[] = {{", c_type, name);
    for (size_t i = 0; i < n; ++i) text += (i ? ", " : "") + item(i);
    c_ += text + "};\n";
    return name;
  }

  /// The initializer of a weft_rt_value of type `t` named `name` under `symbols`.
  std::string value(const std::string& name, const TensorType& t, const std::vector<SymbolDecl>& symbols) {
    auto symbol_index = [&](const std::string& s) {
      for (size_t i = 0; i < symbols.size(); ++i)
        if (symbols[i].name == s) return static_cast<int>(i);
      throw InternalError(fmt::format("symbol {} of {} is not declared by its program", s, t.str()));
    };
    std::string dims = array("weft_rt_dim", t.shape.size(), [&](size_t d) {
      const Dim& dim = t.shape[d];
      std::string factors = array("int32_t", dim.symbols().size(),
                                  [&](size_t k) { return std::to_string(symbol_index(dim.symbols()[k])); });
      return fmt::format("{{{}, {}, {}}}", dim.coefficient(), dim.symbols().size(), factors);
    });
    std::string statics = array("int64_t", t.shape.size(), [&](size_t d) {
      return std::to_string(t.shape[d].is_static() ? t.shape[d].value() : -1);
    });
    std::string names = array("char* const", t.shape.size(), [&](size_t d) {
      return t.shape[d].is_static() ? std::string("0") : c_string(t.shape[d].str());
    });
    return fmt::format("{{{}, {}, {}, {}, {}, {}}}", c_string(name), static_cast<int>(t.dtype), t.shape.size(), dims,
                       statics, names);
  }

  /// The kernel for region `region` of node `node` of graph `graph`: generated once per distinct
  /// body (equal layers share it). A region the generators do not take (an f16 value, say) is the
  /// user's error, naming the node they turned down: a shared object has no interpreter to fall back on.
  std::string kernel(const NodeRegion& region, const Node& node, const std::string& graph) {
    std::string key = region_cache_key(region.body, region.kind);
    if (auto it = kernel_names_.find(key); it != kernel_names_.end()) return it->second;
    std::string name = fmt::format("weft_k{}", kernel_names_.size());
    const Node* culprit = nullptr;
    if (std::optional<std::string> why =
            generate_region(*module_, name, region.body, region.kind, Jit::global().target().vector_floats(), &culprit))
      throw cannot_compile(graph, node, region, culprit, *why);
    kernel_names_.emplace(key, name);
    kernel_decls_ += fmt::format("void {}(void* const*, const int64_t*);\n", name);
    return name;
  }

  /// Emits the program of fused graph `g` (a scan body when `outer` is set); returns its C name.
  std::string emit_program(const Graph& fused, const std::vector<SymbolDecl>* outer) {
    // A body's symbols take their bounds from the enclosing program's symbols of the same name.
    Graph g = outer ? with_outer_bounds(fused, *outer) : fused;
    for (const SymbolDecl& s : g.symbols())
      if (!s.bound) throw Error(fmt::format("weft-compile: symbol {} of scan body '{}' has no bound", s.name, g.name()));
    Program p = plan_program(g);
    const std::vector<SymbolDecl>& symbols = g.symbols();
    WEFT_CHECK(p.calls.size() == g.nodes().size(), "the program has one call per top-level node");

    std::vector<std::string> calls;
    for (size_t i = 0; i < p.calls.size(); ++i) {
      const KernelCall& call = p.calls[i];
      const Node& node = g.nodes()[i];  // the call's node, for the error that names it
      ++calls_;
      std::string what = fmt::format("{} (scope '{}'{}{})", call.op == OpKind::fusion ? "a fused region"
                                                                                      : std::string(op_name(call.op)),
                                     call.scope, call.loc.empty() ? "" : ", ", call.loc.str());
      std::string buffers = array("int32_t", call.operands.size(),
                                  [&](size_t k) { return std::to_string(call.operands[k].buffer); });
      std::vector<std::string> types;
      for (const BufferRef& ref : call.operands) types.push_back(value("", ref.type, symbols));
      std::string types_name = array("weft_rt_value", types.size(), [&](size_t k) { return types[k]; });
      std::string fields = fmt::format(".num_operands = {}, .num_inputs = {}, .buffers = {}, .types = {}, .what = {}",
                                       call.operands.size(), call.num_inputs, buffers, types_name, c_string(what));
      if (call.op == OpKind::scan && call.body) {
        std::string body = emit_program(*call.body, &symbols);  // lowered with the graph (passes/pipeline.h)
        calls.push_back(fmt::format(
            "{{.kind = WEFT_RT_SCAN, {}, .body = &{}, .num_carry = {}, .num_seq = {}, .has_lengths = {}, "
            ".reverse = {}, .time_axis = {}, .index_operand = -1}}",
            fields, body, call.attrs.get_int("num_carry"), call.attrs.get_int("num_seq"),
            call.attrs.get_bool("has_lengths") ? 1 : 0, call.attrs.get_bool("reverse") ? 1 : 0,
            call.attrs.get_int("time_axis")));
        continue;
      }
      std::string why;
      std::optional<NodeRegion> region = call_region(call, &why);
      if (!region) throw cannot_compile(g.name(), node, std::nullopt, nullptr, why);
      std::string fn = kernel(*region, node, g.name());
      std::vector<std::string> used = symbols_used(region->body);
      std::string dims = array("int32_t", used.size(), [&](size_t k) {
        for (size_t s = 0; s < symbols.size(); ++s)
          if (symbols[s].name == used[k]) return std::to_string(s);
        throw InternalError(fmt::format("region symbol {} is not a symbol of '{}'", used[k], g.name()));
      });
      // The checks planning attached to the call run in the C runtime before it, as in the
      // executor (runtime/call_checks.h): a gather's or scatter_add's indices, and maximums over
      // possibly empty axes.
      std::string index_check = ".index_operand = -1";
      if (const std::optional<IndexCheck>& idx = call.index_check)
        index_check = fmt::format(".index_operand = {}, .bound_operand = {}, .bound_axis = {}, .index_nonnegative = {}",
                                  idx->indices, idx->bounded, idx->axis, idx->wrap ? 0 : 1);
      const std::vector<EmptyAxisCheck>& sites = call.empty_axis_checks;
      std::string maximums = array("weft_rt_maximum", sites.size(), [&](size_t k) {
        const EmptyAxisCheck& m = sites[k];
        int op = m.op == OpKind::reduce_max ? 0 : m.op == OpKind::reduce_min ? 1 : 2;
        return fmt::format("{{{}, {}ull, {}, {}}}", value("", m.operand, symbols), m.reduced, op,
                           c_string(m.loc.empty() ? std::string() : m.loc.str()));
      });
      // A library's kernel is given every symbol of the program; the generated one stays its fallback.
      size_t num_dims = used.size();
      if (library_) {
        std::string why;
        // The symbols its operands' shapes and the fallback need, and no more: weft_run asks for a
        // value of every symbol some call takes.
        std::set<int> needed;
        for (const BufferRef& ref : call.operands)
          for (const Dim& d : ref.type.shape)
            for (const std::string& sym : d.symbols())
              for (size_t k = 0; k < symbols.size(); ++k)
                if (symbols[k].name == sym) needed.insert(static_cast<int>(k));
        for (const std::string& sym : used)
          for (size_t k = 0; k < symbols.size(); ++k)
            if (symbols[k].name == sym) needed.insert(static_cast<int>(k));
        AotLibraryCall offer{call,           symbols, fresh("weft_lib"), types_name, fn, dims, used.size(),
                             {needed.begin(), needed.end()}};
        if (std::optional<std::string> text = library_->kernel(offer, &why)) {
          c_ += *text;
          fn = offer.name;
          dims = array("int32_t", offer.dims.size(), [&](size_t k) { return std::to_string(offer.dims[k]); });
          num_dims = offer.dims.size();
          ++library_calls_;
        }
      }
      calls.push_back(fmt::format(
          "{{.kind = WEFT_RT_KERNEL, {}, .kernel = {}, .num_dims = {}, .dims = {}, {}, .num_maximums = {}, "
          ".maximums = {}}}",
          fields, fn, num_dims, dims, index_check, sites.size(), maximums));
    }

    std::string symbol_table = array("weft_rt_symbol", symbols.size(), [&](size_t i) {
      int outer_index = -1;
      for (size_t k = 0; outer && k < outer->size(); ++k)
        if ((*outer)[k].name == symbols[i].name) outer_index = static_cast<int>(k);
      return fmt::format("{{{}, {}, {}}}", c_string(symbols[i].name), *symbols[i].bound, outer_index);
    });
    std::vector<std::string> inputs, outputs;
    for (const ProgramValue& v : p.inputs) inputs.push_back(value(v.name, v.type, symbols));
    for (const ProgramValue& v : p.outputs) outputs.push_back(value(v.name, v.type, symbols));
    std::string inputs_name = array("weft_rt_value", inputs.size(), [&](size_t k) { return inputs[k]; });
    std::string outputs_name = array("weft_rt_value", outputs.size(), [&](size_t k) { return outputs[k]; });
    std::string output_buffers =
        array("int32_t", p.outputs.size(), [&](size_t k) { return std::to_string(p.outputs[k].buffer); });

    std::vector<int> buffer_param(p.buffers.size(), -1);
    for (const ProgramParam& pp : p.params) buffer_param[pp.buffer] = param_index(pp.name, pp.type, pp.init);
    std::string buffers = array("weft_rt_buffer", p.buffers.size(), [&](size_t k) {
      const Buffer& b = p.buffers[k];
      switch (b.storage) {
        case BufferStorage::input:
          return fmt::format("{{WEFT_RT_INPUT, {}, 0}}", b.index);
        case BufferStorage::param:
          WEFT_CHECK(buffer_param[k] >= 0, "a parameter buffer belongs to a parameter");
          return fmt::format("{{WEFT_RT_PARAM, {}, 0}}", buffer_param[k]);
        case BufferStorage::arena:
          break;
      }
      return fmt::format("{{WEFT_RT_ARENA, -1, {}}}", b.offset);
    });
    std::vector<int> update_params, update_buffers;
    for (const ProgramUpdate& u : p.updates) {
      int param = buffer_param[u.param_buffer];
      WEFT_CHECK(param >= 0, fmt::format("update of '{}' targets a parameter buffer", u.param));
      params_[param].updated = true;
      update_params.push_back(param);
      update_buffers.push_back(u.value);
    }
    std::string up = array("int32_t", update_params.size(), [&](size_t k) { return std::to_string(update_params[k]); });
    std::string ub = array("int32_t", update_buffers.size(), [&](size_t k) { return std::to_string(update_buffers[k]); });
    std::string call_table = array("weft_rt_call", calls.size(), [&](size_t k) { return calls[k]; });

    std::string name = fresh("program");
    c_ += fmt::format(
        "static const weft_rt_program {} = {{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}}};\n", name,
        c_string(g.name()), symbols.size(), symbol_table, inputs.size(), inputs_name, outputs.size(), outputs_name,
        output_buffers, p.buffers.size(), buffers, calls.size(), call_table, update_params.size(), up, ub,
        p.arena_bytes);
    return name;
  }

 private:
  const SafetensorsFile* weights_;
  const AotLibrary* library_;
  std::unique_ptr<llvm::LLVMContext> context_;
  std::unique_ptr<llvm::Module> module_;
  std::map<std::string, std::string> kernel_names_;  // region cache key -> function name
  std::vector<ModelParam> params_;
  std::string c_;
  std::string kernel_decls_;
  int counter_ = 0;
  int calls_ = 0;
  int library_calls_ = 0;
};

void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw Error(fmt::format("weft-compile: cannot write {}", path.string()));
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Runs `argv` (no shell), its output into `log`; returns the exit status (127: not started).
int run_command(const std::vector<std::string>& argv, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return 127;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/// Where compiled runtime objects are cached: $WEFT_CACHE_DIR, else $XDG_CACHE_HOME/weft, else
/// ~/.cache/weft; empty when none can be made (then each compile builds the runtime afresh).
fs::path cache_root() {
  std::error_code ec;
  fs::path root;
  if (const char* dir = std::getenv("WEFT_CACHE_DIR"); dir && *dir)
    root = dir;
  else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    root = fs::path(xdg) / "weft";
  else if (const char* home = std::getenv("HOME"); home && *home)
    root = fs::path(home) / ".cache" / "weft";
  if (root.empty() || (fs::create_directories(root, ec), !fs::is_directory(root, ec))) return {};
  return root;
}

/// The C runtime's object files for compiler `cc` and `flags`: compiled once per distinct compiler,
/// flags and runtime text, then reused from the cache (a shared object's link then compiles only
/// its own tables). The sources are already written in `dir`. Objects enter the cache by rename,
/// so concurrent compiles never see a partial file.
std::vector<std::string> runtime_object_files(const std::string& cc, const std::vector<std::string>& flags,
                                              const std::vector<AotSourceFile>& files, const fs::path& dir) {
  std::string key = cc;
  for (const std::string& f : flags) key += "\n" + f;
  for (const AotSourceFile& f : files) key += fmt::format("\n{}\n{}", f.name, f.text);
  fs::path root = cache_root();
  fs::path cached = root.empty() ? fs::path() : root / fmt::format("runtime-{:016x}", std::hash<std::string>{}(key));
  std::vector<std::string> objects;
  std::error_code ec;
  if (!cached.empty()) fs::create_directories(cached, ec);
  for (const AotSourceFile& f : files) {
    if (!f.name.ends_with(".c")) continue;
    std::string object_name = std::string(f.name.substr(0, f.name.size() - 2)) + ".o";
    if (!cached.empty() && fs::exists(cached / object_name, ec)) {
      objects.push_back((cached / object_name).string());
      continue;
    }
    fs::path object = dir / object_name;
    std::vector<std::string> argv{cc};
    argv.insert(argv.end(), flags.begin(), flags.end());
    for (const std::string& a : {std::string("-I") + dir.string(), std::string("-c"), (dir / f.name).string(),
                                 std::string("-o"), object.string()})
      argv.push_back(a);
    int status = run_command(argv, dir / "cc.log");
    if (status != 0)
      throw Error(fmt::format("weft-compile: the C compiler failed on the runtime's {} ({} exited with {}){}\n{}",
                              f.name, cc, status, status == 127 ? ": is it installed? set CC or --cc" : "",
                              read_text(dir / "cc.log")));
    if (!cached.empty()) {
      fs::path tmp = cached / fmt::format("{}.{}.tmp", object_name, getpid());
      fs::copy_file(object, tmp, fs::copy_options::overwrite_existing, ec);
      if (!ec) fs::rename(tmp, cached / object_name, ec);
    }
    objects.push_back(object.string());
  }
  return objects;
}

/// The header: a listing of this model, then the API.
std::string header_text(const std::vector<Graph>& entries, const std::vector<Emitter::ModelParam>& params,
                        const AotOptions& options, const std::string& model_name, int64_t weights_bytes) {
  std::string api;
  for (const AotSourceFile& f : aot_runtime_files())
    if (f.name == "weft_model.h") api = std::string(f.text);
  WEFT_CHECK(!api.empty(), "the embedded runtime has weft_model.h");
  const HostTarget& host = host_target();
  std::string h = fmt::format("/* {}.h — model {}, compiled by weft-compile.\n *\n", comment_text(model_name),
                              comment_text(model_name));
  h += fmt::format(" * Code for {} ({}); the shared object runs on CPUs with these features.\n", host.triple,
                   host.describe());
  if (options.library)
    h += fmt::format(" * Links against: libc, libm, libpthread, {} (dynamically: oneDNN must be installed\n"
                     " * where the shared object runs).\n",
                     comment_text(options.library->links));
  else
    h += " * Links against: libc, libm, libpthread (nothing else: no oneDNN nodes in this model).\n";
  if (options.external_weights)
    h += " * Weights: external: set weft_options.weights_path (a safetensors file) or param_data.\n";
  else
    h += fmt::format(" * Weights: embedded ({} bytes); weft_options.weights_path or param_data override them.\n",
                     weights_bytes);
  for (size_t e = 0; e < entries.size(); ++e) {
    const Graph& g = entries[e];
    h += fmt::format(" *\n * Entry {}: {}\n", e, comment_text(g.name()));
    for (size_t i = 0; i < g.inputs().size(); ++i)
      h += fmt::format(" *   input  {}: {} {}\n", i, comment_text(g.inputs()[i].name), type_text(g.type(g.inputs()[i].value)));
    for (size_t i = 0; i < g.outputs().size(); ++i)
      h += fmt::format(" *   output {}: {} {}\n", i, comment_text(g.outputs()[i].name), type_text(g.type(g.outputs()[i].value)));
    std::vector<std::string> bounds;
    for (const SymbolDecl& s : g.symbols()) bounds.push_back(fmt::format("{} <= {}", comment_text(s.name), *s.bound));
    if (!bounds.empty()) h += fmt::format(" *   symbols: {}\n", fmt::join(bounds, ", "));
  }
  h += fmt::format(" *\n * Parameters and state ({}, in weft_param_info order):\n", params.size());
  for (size_t i = 0; i < params.size(); ++i)
    h += fmt::format(" *   {}: {} {}{}\n", i, comment_text(params[i].name), type_text(params[i].type),
                     params[i].updated ? " (updated by an entry)" : "");
  h += " */\n\n";
  if (!options.header_extra.empty()) {  // inside the include guard: before the API's last #endif
    size_t at = api.rfind("#endif");
    WEFT_CHECK(at != std::string::npos, "the embedded weft_model.h ends with #endif");
    api.insert(at, options.header_extra + "\n");
  }
  return h + api;
}

}  // namespace

AotResult compile_shared_object(const std::vector<Graph>& entries, const SafetensorsFile* weights,
                                const std::string& so_path, const std::string& header_path,
                                const AotOptions& options) {
  if (entries.empty()) throw Error("weft-compile: no entry point: give at least one graph");
  // Before any work: a directory is refused; a device or FIFO is written through, not replaced.
  const bool so_through = must_write_through(so_path);
  const bool header_through = !header_path.empty() && must_write_through(header_path);
  for (size_t i = 0; i < entries.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (entries[i].name() == entries[j].name())
        throw Error(fmt::format("weft-compile: two entry points are named '{}': entry names must differ",
                                entries[i].name()));
  AotResult result;
  result.model_name = options.name.empty() ? entries[0].name() : options.name;
  auto start = Clock::now();

  Emitter emitter(weights, options.library);
  std::vector<std::string> programs;
  for (const Graph& g : entries) {
    programs.push_back(emitter.add_entry(g));
    result.entries.push_back(g.name());
  }
  std::vector<int64_t> offsets;
  std::string blob = options.external_weights ? std::string() : emitter.weights_blob(offsets);
  if (weights) {
    for (const TensorBlob& t : weights->tensors) {
      bool known = false;
      for (const auto& p : emitter.params()) known = known || p.name == t.name;
      if (!known)
        throw Error(fmt::format("weft-compile: the weights file has '{}', which no entry of the model declares",
                                t.name));
    }
  }

  // The weights: one constant of the kernels' module, 64-byte aligned.
  llvm::Module& module = emitter.module();
  if (!options.external_weights) {
    if (blob.empty()) blob.push_back('\0');
    auto* data = llvm::ConstantDataArray::getRaw(blob, blob.size(), llvm::Type::getInt8Ty(module.getContext()));
    auto* global = new llvm::GlobalVariable(module, data->getType(), true, llvm::GlobalValue::ExternalLinkage, data,
                                            "weft_rt_weights");
    global->setAlignment(llvm::Align(Program::alignment));
  }
  for (llvm::GlobalValue& gv : module.global_values())
    if (!gv.isDeclaration() && gv.hasExternalLinkage()) gv.setVisibility(llvm::GlobalValue::HiddenVisibility);
  std::string object = Jit::global().emit_object(module);
  result.codegen_seconds = seconds_since(start);
  result.kernels = emitter.kernels();
  result.calls = emitter.calls();
  result.library_calls = emitter.library_calls();
  result.num_params = static_cast<int64_t>(emitter.params().size());
  result.weights_bytes = options.external_weights ? 0 : static_cast<int64_t>(blob.size());

  // The tables.
  std::string c = "/* Generated by weft-compile: the tables of model " + c_string(result.model_name) +
                  " (runtime/capi/weft_rt_desc.h). */\n#include \"weft_rt_desc.h\"\n";
  if (options.library) c += options.library->prelude;
  c += "\n";
  c += emitter.kernel_decls();
  if (!options.external_weights) c += "extern const unsigned char weft_rt_weights[];\n";
  std::string param_table = emitter.param_table(options.external_weights ? nullptr : &offsets);
  c += emitter.tables();
  std::vector<std::string> refs;
  for (const std::string& p : programs) refs.push_back("&" + p);
  c += fmt::format("static const weft_rt_program* const model_entries[] = {{{}}};\n", fmt::join(refs, ", "));
  c += fmt::format("const weft_rt_model weft_rt_the_model = {{{}, {}, model_entries, {}, {}, {}, {}}};\n",
                   c_string(result.model_name), programs.size(), emitter.params().size(), param_table,
                   options.external_weights ? "0" : "weft_rt_weights", result.weights_bytes);
  result.header = header_text(entries, emitter.params(), options, result.model_name, result.weights_bytes);

  // Compile and link, in a scratch directory (or the one the caller keeps).
  auto cc_start = Clock::now();
  fs::path dir;
  bool keep = !options.keep_dir.empty();
  if (keep) {
    dir = options.keep_dir;
    fs::create_directories(dir);
  } else {
    std::string pattern = (fs::temp_directory_path() / "weft-compile-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw Error(fmt::format("weft-compile: cannot create a directory {}", pattern));
    dir = pattern;
  }
  struct Cleanup {
    fs::path dir;
    bool keep;
    ~Cleanup() {
      std::error_code ec;
      if (!keep) fs::remove_all(dir, ec);
    }
  } cleanup{dir, keep};
  write_file(dir / "kernels.o", object);
  write_file(dir / "desc.c", c);
  std::vector<AotSourceFile> files = aot_runtime_files();
  std::vector<std::string> flags{"-std=c11", "-O2", "-fPIC", "-fvisibility=hidden", "-pthread"};
  for (const std::string& f : options.cflags) flags.push_back(f);
  if (options.library) {
    files.insert(files.end(), options.library->sources.begin(), options.library->sources.end());
    flags.insert(flags.end(), options.library->cflags.begin(), options.library->cflags.end());
  }
  for (const AotSourceFile& f : files) write_file(dir / f.name, f.text);
  std::vector<std::string> runtime_objects = runtime_object_files(options.cc, flags, files, dir);
  std::vector<std::string> argv{options.cc};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back("-shared");
  argv.push_back("-I" + dir.string());
  bool sanitized = false;
  for (const std::string& f : options.cflags) sanitized = sanitized || f.find("-fsanitize") != std::string::npos;
  if (!sanitized) argv.push_back("-Wl,-z,defs");  // nothing left undefined but libc, libm, libpthread
  argv.push_back((dir / "desc.c").string());
  argv.insert(argv.end(), runtime_objects.begin(), runtime_objects.end());
  argv.push_back((dir / "kernels.o").string());
  if (options.library) argv.insert(argv.end(), options.library->link_flags.begin(), options.library->link_flags.end());
  argv.push_back("-lm");
  fs::path so = fs::absolute(so_path);
  // Linked beside the target and renamed over it; a device or FIFO target gets it from the work directory.
  fs::path tmp_so = so_through ? dir / "model.so" : fs::path(so.string() + ".tmp");
  argv.push_back("-Wl,-soname," + so.filename().string());  // programs linked with it find it by name
  argv.push_back("-o");
  argv.push_back(tmp_so.string());
  int status = run_command(argv, dir / "cc.log");
  if (status != 0) {
    std::string log = read_text(dir / "cc.log");
    std::error_code ec;
    fs::remove(tmp_so, ec);
    throw Error(fmt::format("weft-compile: the C compiler failed ({} exited with {}){}\n{}", options.cc, status,
                            status == 127 ? ": is it installed? set CC or --cc" : "", log));
  }
  std::error_code ec;
  if (so_through) {
    std::string bytes = read_text(tmp_so);
    fs::remove(tmp_so, ec);
    write_through(so_path, std::as_bytes(std::span(bytes)));
  } else {
    fs::rename(tmp_so, so, ec);
    if (ec) throw Error(fmt::format("weft-compile: cannot write '{}': {}", so_path, ec.message()));
  }
  if (header_through) {
    write_through(header_path, std::as_bytes(std::span(result.header)));
  } else if (!header_path.empty()) {
    fs::path h = fs::absolute(header_path);
    fs::path tmp_h = h;
    tmp_h += ".tmp";
    write_file(tmp_h, result.header);
    fs::rename(tmp_h, h, ec);
    if (ec) throw Error(fmt::format("weft-compile: cannot write '{}': {}", header_path, ec.message()));
  }
  result.cc_seconds = seconds_since(cc_start);
  return result;
}

}  // namespace weft::llvm_backend
