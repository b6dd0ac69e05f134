/** \file
 * Lowering a fused region's body into terms over one iteration space: the step between the graph
 * (values with shapes, movement ops) and the loop nests that backends/llvm emits.
 *
 * Every load in a region is a strided view of a region input: element i of the iteration space
 * reads the input at `offset + Σ strides[d]·i[d]`, with strides that are dims (monomials in the
 * symbols, 0 on broadcast axes). Broadcasts, transposes and reshapes never appear in the terms:
 * they compose into those views, as in NumPy's view arithmetic, by walking each path from an
 * output back to the inputs. Where a reshape merges axes that a transpose or a broadcast has made
 * non-contiguous (attention's heads merged back, [B, T, H, D] -> [B, T, H·D]), the view keeps the
 * merged axes apart, and the iteration space is split to match (its last axis becomes H × D), so
 * every reshape is a view and no index is ever recovered with a division.
 *
 * What remains is a DAG of `Term`s: loads, iotas, scalar constants, elementwise ops, and, in the
 * other region kinds, the value of a row's reduction or of the matmul accumulator. After lowering,
 * the iteration space is coalesced: adjacent axes that every access walks as one (a contiguous
 * [B, T, D] becomes [B·T·D]) are merged and static 1s dropped, so that the innermost loop is as long
 * as possible and its stride is 0 or 1 for most accesses.
 *
 * Region kinds (passes/fuse.h): a loop region's space is its output shape; a reduction region's
 * is the full shape F of its reductions, its axes split into kept (rows) and reduced classes; a
 * matmul region's is the matmul's output shape O, split into rows (all but the last axis) and
 * columns. Nothing here depends on LLVM.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/symbols.h"  // symbols_used: the order of a region's `dims`

namespace weft::llvm_backend {

enum class TermKind : uint8_t {
  load,       // access `access` of a region input (or of constant data)
  iota,       // the integer `Σ offset + Σ strides·i` of access `access`, converted to `dtype`
  scalar,     // the constant `value`
  op,         // an elementwise op of `node` over `operands`
  row_value,  // the result of reduction `reduction` for the current row (reduction regions)
  gemm,       // the matmul's accumulated value (matmul regions)
};

/// A pseudo-axis in `Term::depends`: the term reads a row's reduction result, so it is computed
/// in the row's context (after the stage that produces it) even when the rows have no axes.
constexpr uint64_t kRowValueBit = uint64_t{1} << 63;

struct Term {
  TermKind kind = TermKind::scalar;
  DType dtype = DType::f32;
  int access = -1;
  double value = 0;
  const Node* node = nullptr;  // op terms: the body node (for its op and attributes)
  std::vector<int> operands;
  int reduction = -1;
  /// Bit d: the term varies along coalesced axis d of the space.
  uint64_t depends = 0;
};

/// A strided read or write of a buffer over the (coalesced) iteration space.
struct Access {
  int input = -1;       // region input (loads), region output (stores); -1 for iotas and constant data
  bool output = false;  // a store's access
  int constant = -1;  // index into LoweredRegion::constants for constant data
  DType dtype = DType::f32;
  std::vector<Dim> strides;  // one per axis of the space
  std::vector<Dim> offset;
};

struct Store {
  int output = 0;  // region output index
  int term = 0;
  int access = 0;
};

struct Reduction {
  OpKind op{};  // reduce_sum, reduce_mean, reduce_max, reduce_min, argmax
  DType dtype = DType::f32;  // of the operand
  int operand = 0;           // term at the full level
  int stage = 1;             // 1 + the latest stage whose row values it reads
};

/// A non-splat constant's elements, row-major.
struct ConstantData {
  DType dtype = DType::f32;
  std::vector<double> values;
};

enum class AxisClass : uint8_t { outer, inner };

struct LoweredRegion {
  std::string kind;                   // "loop", "reduction", "matmul"
  int num_inputs = 0;                 // the region's buffers are its inputs, then its outputs
  Shape space;                        // coalesced axes
  std::vector<AxisClass> axis_class;  // outer: rows (kept axes); inner: columns (reduced axes)
  std::vector<Term> terms;
  std::vector<Access> accesses;
  std::vector<Store> stores;
  std::vector<Reduction> reductions;
  std::vector<ConstantData> constants;
  /// Matmul regions: the matmul node of the body and the output the GEMM accumulates into.
  const Node* matmul = nullptr;
  int gemm_output = -1;
  /// The matmul's batch folds into its rows: A is not transposed and B has no batch (or only 1s).
  bool fold_batch = false;
  /// Symbols the region's sizes use, sorted: the order of the `dims` argument of its code.
  std::vector<std::string> symbols;

  /// The reduced-axis bits of `Term::depends` (0 outside reduction regions).
  uint64_t inner_mask() const {
    uint64_t mask = 0;
    for (size_t d = 0; d < axis_class.size(); ++d)
      if (axis_class[d] == AxisClass::inner) mask |= uint64_t{1} << d;
    return mask;
  }
};

/// Lowers `body`, a region of `kind`; a reason in one sentence when the code generators cannot
/// take it (the caller then runs the region on the interpreter), with the body's node it is about.
struct LowerResult {
  std::optional<LoweredRegion> region;
  std::string unsupported;
  const Node* node = nullptr;  // the node of `body` that `unsupported` is about; null when none is
};
LowerResult lower_region(const Graph& body, const std::string& kind);

/// A concat (`body` is one concat node) is one loop region per operand: operand `piece` copied
/// into its window of the output (a store at an offset).
LowerResult lower_concat_piece(const Graph& body, int piece);

/// Whether values of `dtype` can live in generated code (f32, f64, i32, i64, bool).
bool codegen_supports(DType dtype);


}  // namespace weft::llvm_backend
