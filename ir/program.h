/** \file
 * The program level of the IR: what memory planning (passes/plan_memory.h) produces, and what a
 * runtime executes or the AOT emitter writes out.
 *
 * A `Program` is an ordered list of kernel calls. Each call runs one top-level node of the planned
 * graph — a fused region or a node left alone (scan, gather, ...) — and names its operands as
 * buffers: the node's operands first (access `in`), then its results (`out`). Buffers are the
 * caller's inputs, the parameters (state that persists across runs), or slots of one arena of
 * temporaries at fixed byte offsets. Offsets are planned once, with every symbolic dim at its
 * declared bound; a run with smaller dims uses a prefix of each slot.
 *
 * In-place reuse shows as access `inout`: a result written over an operand's buffer (same buffer,
 * same offset). A kernel may only be handed such a pair when it reads every operand element at
 * linear index i before it writes any result element at i, and touches no other index of the pair
 * in between: what a loop nest over the iteration space does, element by element or vector by
 * vector. Memory planning only pairs an operand and a result of a loop region (or a lone
 * elementwise node) whose body reads that operand at the output's own index.
 *
 * "Nothing below the program line knows about graphs": a call keeps only its op, its attributes and,
 * for a fusion region or a scan, the body it computes (what a backend compiles), never the graph it
 * came from. Sizes are monomials in the symbols (`Dim`): bytes = element size × element count.
 */
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/attrs.h"
#include "ir/decls.h"
#include "ir/error.h"
#include "ir/op_kind.h"
#include "ir/shape.h"

namespace weft {

class Graph;  // a region's or a scan's body: what a provider compiles; the runtime never looks inside

/// Where a buffer lives. A host program's buffers are all host memory; a device provider plans its
/// program in device memory (the arena, the parameters), and the executor copies the caller's inputs
/// in and the outputs out, nothing else (runtime/memory.h).
enum class MemorySpace : uint8_t { host, device };

/// Where a buffer's memory comes from.
enum class BufferStorage : uint8_t {
  input,  // the caller's tensor for graph input `index`; never written
  param,  // the state of parameter `index`; written only by in-place state updates
  arena,  // a slot of the arena at `offset`
};

enum class Access : uint8_t { in, out, inout };

std::string_view storage_name(BufferStorage s);
std::string_view access_name(Access a);

struct Buffer {
  BufferStorage storage = BufferStorage::arena;
  int32_t index = -1;     // the input or parameter index (input and param storage)
  std::string name;       // the input's or parameter's name; empty for arena slots
  int64_t offset = 0;     // byte offset in the arena (a multiple of Program::alignment); 0 otherwise
  Dim bytes;              // size expression: the largest value the buffer holds
  int64_t max_bytes = 0;  // `bytes` at the bounds, rounded up to the alignment: the slot's size
  MemorySpace space = MemorySpace::host;
};

/// One operand of a kernel call: which buffer, where, how big, of what type, and how it is accessed.
struct BufferRef {
  int32_t buffer = -1;
  int64_t offset = 0;  // = the buffer's offset; repeated so a kernel needs nothing else
  Dim bytes;           // this value's size: element size × element count of `type`
  TensorType type;
  Access access = Access::in;
};

/// A gather's or scatter_add's indices, checked before the call: generated code cannot throw, so it
/// only stays in bounds, and the executor raises the interpreter's error for an index outside the
/// valid range (runtime/call_checks.h has the table).
struct IndexCheck {
  int32_t indices = 1;  // the call operand holding the indices (i32 or i64)
  int32_t bounded = 0;  // the call operand whose dim `axis` is n
  int32_t axis = 0;     // normalized
  bool wrap = true;     // valid: -n <= i < n; false (cross_entropy's labels): 0 <= i < n
};

/// A reduce_max, reduce_min or argmax inside the call (a region's body included), checked before
/// the call: the maximum of an empty axis is undefined, and the interpreter's error is raised for
/// one that has output elements.
struct EmptyAxisCheck {
  OpKind op{};
  TensorType operand;  // the reduced operand's type, evaluated with the call's sizes
  uint64_t reduced = 0;  // bit d: axis d is reduced
  SourceLoc loc;
};

struct KernelCall {
  OpKind op{};
  Attrs attrs;
  std::shared_ptr<const Graph> body;  // the region of a fusion, the step of a scan; null otherwise
  std::vector<BufferRef> operands;    // the node's operands (in order), then its results (in order)
  int32_t num_inputs = 0;             // how many of `operands` are the node's operands
  std::string scope;                  // for error messages
  SourceLoc loc;
  /// Checks the executor runs before the call, computed at planning time.
  std::optional<IndexCheck> index_check;
  std::vector<EmptyAxisCheck> empty_axis_checks;
};

/// A named tensor of the program's signature and the buffer holding it.
struct ProgramValue {
  std::string name;
  TensorType type;
  int32_t buffer = -1;
};

struct ProgramParam {
  std::string name;
  TensorType type;
  Initializer init;
  int32_t buffer = -1;
};

/// After a run, parameter `param` takes the value in buffer `value` (nothing to do when it is the
/// parameter's own buffer: the update was written in place). All updates apply at once.
struct ProgramUpdate {
  std::string param;
  int32_t param_buffer = -1;
  int32_t value = -1;
};

struct Program {
  static constexpr int64_t alignment = 64;

  std::string name;
  std::vector<SymbolDecl> symbols;  // every bound used by `arena_bytes` is here
  std::vector<Buffer> buffers;      // inputs, then parameters, then arena slots
  std::vector<KernelCall> calls;    // in execution order
  std::vector<ProgramValue> inputs;
  std::vector<ProgramParam> params;
  std::vector<ProgramValue> outputs;
  std::vector<ProgramUpdate> updates;
  int64_t arena_bytes = 0;  // with every symbol at its bound
};

/// A readable listing (for weft-dump and tests): signature, buffers, then one line per call.
std::string print_program(const Program& program);

}  // namespace weft
