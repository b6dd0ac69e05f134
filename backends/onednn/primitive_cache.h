/** \file
 * Running a recognised call (region_match.h) as a oneDNN primitive, with a cache of primitives per
 * distinct set of run sizes.
 *
 * A call's plan holds no shapes (its dims may be symbolic); at run time the operands' shapes are
 * evaluated with the run's sizes, and those shapes are the cache key: the first run at a size
 * creates the primitive descriptor, the primitive and its memory objects, and every later run at
 * that size only points the memory objects at the run's buffers and executes. Operands are plain
 * row-major memory as the program planned it; a transposed matmul operand is described by its
 * strides, so neither the activations nor the weights are ever copied or reordered.
 */
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "backends/onednn/region_match.h"
#include "ir/program.h"

namespace weft::onednn {

class PrimitiveCache {
 public:
  PrimitiveCache(Plan plan, const KernelCall& call);
  ~PrimitiveCache();

  /// Runs the call on `buffers` at `sizes` (creating the primitive at a size seen first); false,
  /// having done nothing, at a size oneDNN refused or where an operand has no elements (the
  /// caller runs its fallback).
  bool run(std::span<void* const> buffers, const SymbolBindings& sizes);
  /// Creates the primitive at `sizes` without running it; oneDNN's refusal as a message, else "".
  std::string try_create(const SymbolBindings& sizes);
  /// The number of primitives made so far (for tests: one per distinct size).
  size_t size() const;

 private:
  struct Entry;
  /// The cache key at `sizes`: the operands' shapes (and a reorder's view shape).
  std::vector<std::vector<int64_t>> shapes_at(const SymbolBindings& sizes) const;
  Entry& entry_for(const std::vector<std::vector<int64_t>>& shapes);

  Plan plan_;
  std::vector<TensorType> types_;  // the call's operands' types
  mutable std::mutex mutex_;
  std::map<std::vector<std::vector<int64_t>>, std::unique_ptr<Entry>> entries_;
};

/// Makes oneDNN's OpenMP team as large as the calling thread's Weft pool, or one thread (the
/// caller) when `serial` (see omp_threads.cpp).
void match_openmp_to_pool(bool serial = false);

}  // namespace weft::onednn
