/** \file
 * IR for the terms of a lowered region (region_terms.h): op semantics, loads, stores, and where
 * each term's code goes.
 *
 * Code is emitted into a chain of contexts, one per loop level: the function's entry (nothing
 * bound), a row (the outer axes bound, scalar code), the vector body (every axis bound, the
 * innermost one as `lanes` consecutive indices). A term goes to the outermost context in which
 * every axis it varies along is bound, so a bias load or a row's `rsqrt(var + eps)` is computed
 * once per row rather than once per vector: the hoisting is decided here, from the terms' axes,
 * instead of being left to LLVM's LICM (which cannot move loads past the body's stores). A scalar
 * used in a vector context is splatted there.
 *
 * The op semantics are the interpreter's (the kernels in backends/interp/), element for element:
 * IEEE f32 arithmetic in f32, integer arithmetic wrapping, x / 0 = 0 for integers, NaN-propagating
 * max and min, saturating float -> int casts. Transcendentals of f32 use the polynomial emitters of
 * math_codegen.h (a few ULP from libm); f64 ones, sin, cos and pow call libm lane by lane.
 */
#pragma once

#include <llvm/IR/IRBuilder.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "backends/llvm/region_terms.h"

namespace weft::llvm_backend {

/// Where a context's code goes: before `block`'s terminator (appended if it has none yet), or at
/// `direct`'s insertion point.
struct Placement {
  llvm::BasicBlock* block = nullptr;
  llvm::IRBuilderBase* direct = nullptr;
};

/// Moves `b` to `p`.
void position(llvm::IRBuilderBase& b, const Placement& p);

/// Dims as i64 values: coefficient × product of the entries of the `dims` argument, one per symbol
/// of the region, emitted once per function at `where`.
class DimValues {
 public:
  DimValues(const std::vector<std::string>& symbols, llvm::Value* dims, Placement where)
      : symbols_(symbols), dims_(dims), where_(where) {}
  llvm::Value* get(const Dim& d);
  /// Product of `shape`'s dims.
  llvm::Value* product(const Shape& shape);

 private:
  const std::vector<std::string>& symbols_;
  llvm::Value* dims_;
  Placement where_;
  std::map<std::string, llvm::Value*> cache_;
};

struct EmitContext {
  EmitContext* parent = nullptr;
  Placement where;
  bool vector = false;
  llvm::Value* mask = nullptr;      // vector contexts: lanes inside the space (null: all)
  uint64_t bound = 0;               // axes whose index is known here, parents' included
  std::vector<llvm::Value*> index;  // per axis: its i64 index (the first lane's, on the vector axis)
  int vector_axis = -1;
  std::map<int, llvm::Value*> terms;    // emitted terms
  std::map<int, llvm::Value*> splats;   // outer terms splatted here
  std::map<int, llvm::Value*> offsets;  // per access: the part of its offset bound here (scalar)
};

class TermEmitter {
 public:
  /// `buffers` points at the region's buffer pointers: inputs, then outputs.
  TermEmitter(llvm::Module& module, const LoweredRegion& region, int lanes, DimValues& dims,
              llvm::Value* buffers, Placement root);

  /// The term's value in `ctx`: a vector of `lanes` in a vector context, else a scalar.
  llvm::Value* emit(int term, EmitContext& ctx);
  /// Writes `value` (as emit returns it) through the store's access at `ctx`'s index.
  void store(const Store& s, llvm::Value* value, EmitContext& ctx);

  /// Reduction regions: the scalar result of a reduction for the current row.
  std::function<llvm::Value*(int reduction)> row_value;
  /// Matmul regions: the accumulated vector in the epilogue being emitted.
  llvm::Value* gemm_value = nullptr;

  int lanes() const { return lanes_; }
  llvm::Type* scalar_type(DType dtype) const;  // i1 for bool
  llvm::Type* type_in(DType dtype, const EmitContext& ctx) const;
  /// The identity lanes 0..lanes-1 as <lanes x i64>.
  llvm::Value* lane_indices() const;
  /// The emitted value of `v` (scalar or vector) converted from `from` to `to` as `cast` does.
  llvm::Value* convert(llvm::IRBuilderBase& b, llvm::Value* v, DType from, DType to);

 private:
  EmitContext& home(int term, EmitContext& ctx);
  /// A division whose divisor is a row value (constant along the reduced axes) and whose dividend
  /// is not: the divisor is the same for every element of a pass over the row.
  bool row_invariant_divisor(const Term& t) const {
    const uint64_t inner = r_.inner_mask();
    return (r_.terms[t.operands[1]].depends & inner) == 0 && (r_.terms[t.operands[0]].depends & inner) != 0;
  }
  llvm::Value* emit_op(llvm::IRBuilderBase& b, const Term& t, const std::vector<llvm::Value*>& x,
                       const EmitContext& ctx);
  llvm::Value* emit_unary(llvm::IRBuilderBase& b, OpKind op, const Node& node, llvm::Value* x, DType t);
  llvm::Value* emit_binary(llvm::IRBuilderBase& b, OpKind op, llvm::Value* x, llvm::Value* y, DType t);
  llvm::Value* libm(llvm::IRBuilderBase& b, const char* f32_name, const char* f64_name, std::vector<llvm::Value*> args);
  llvm::Value* constant(double value, DType dtype, const EmitContext& ctx);
  llvm::Value* base_pointer(const Access& a, int access);
  llvm::Value* scalar_offset(int access, EmitContext& ctx);
  llvm::Value* load(int access, EmitContext& ctx);
  llvm::Value* iota(int access, DType dtype, EmitContext& ctx);

  llvm::Module& module_;
  const LoweredRegion& r_;
  int lanes_;
  DimValues& dims_;
  llvm::Value* buffers_;
  Placement root_;
  std::map<int, llvm::Value*> bases_;  // per access: its buffer's pointer, loaded at the root
};

}  // namespace weft::llvm_backend
