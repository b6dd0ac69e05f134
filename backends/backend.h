/** \file
 * A `Backend` turns a Graph into an `Executable`, running whatever passes it needs.
 *
 * This interface lives in backends/ rather than runtime/ because it is the one place that sees both
 * levels: a Graph in, an Executable (which knows nothing of graphs) out.
 */
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "runtime/executable.h"

namespace weft {

struct CompileOptions {
  /// Stop at the first op producing a NaN or Inf and name it (op, scope, DSL line).
  bool nan_trap = false;
  /// Worker threads; 0 = all cores.
  int num_threads = 0;
  /// The pipeline's diagnostics (passes/pipeline.h): verify after every pass, print the graph after
  /// each pass that changed it, print each pass's time (to stderr).
  bool verify_each = false;
  bool print_after_change = false;
  bool time_passes = false;
  /// Time every call of the program (CompiledExecutable::profile_report; `weft-run --profile`).
  bool profile = false;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual std::unique_ptr<Executable> compile(const Graph& graph, const CompileOptions& options = {}) const = 0;
  /// Why this machine cannot run the backend (no GPU for "cuda"), or empty when it can.
  virtual std::optional<std::string> unavailable() const { return std::nullopt; }
};

/// "interp" (the reference interpreter) and, when built, "llvm". Throws weft::Error listing the
/// available names for an unknown one.
std::unique_ptr<Backend> make_backend(std::string_view name);
std::vector<std::string> backend_names();
/// The built backends this machine can run (`unavailable()` empty): what a loop over backends
/// should try here.
std::vector<std::string> available_backend_names();
/// Adds a backend factory (called by backends that are built optionally).
void register_backend(const char* name, std::unique_ptr<Backend> (*make)());

/// The graph's signature: inputs, outputs, parameters as state, symbols with bounds.
Signature signature_of(const Graph& graph);

}  // namespace weft
