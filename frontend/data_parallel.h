/** \file
 * The pieces of a data-parallel train step (make_train_step's `data_parallel` option): averaging
 * the gradients over the ranks of a communicator group in buckets, and keying a model's randomness
 * by rank. See docs/distributed.md.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/optim.h"
#include "ir/graph.h"
#include "ir/graph_builder.h"

namespace weft::train {

struct DataParallelOptions {
  /// The communicator group whose ranks average their gradients (runtime/communicator.h).
  std::string group = "world";
  /// Gradients are packed into all-reduce calls of about this size, largest first; a gradient
  /// larger than this goes alone. PyTorch's DDP uses 25 MB buckets to overlap communication with a
  /// GPU's backward pass; Weft's step communicates after the backward pass, on models a tenth the
  /// size, so a smaller default keeps a few calls per step without many tiny ones.
  int64_t bucket_bytes = int64_t{4} << 20;
  /// The i64 scalar input giving the process's rank (the Trainer feeds it), added when the model
  /// reads `step`: its randomness is offset by rank * 2^32.
  std::string rank_input = "rank";
};

/// Groups gradients of `bytes` sizes into buckets as DDP does: in order of decreasing size (ties in
/// the given order), each bucket filled until the next one would pass `bucket_bytes`; a gradient
/// larger than that is a bucket of its own. Returns indices into `bytes`, bucket by bucket.
std::vector<std::vector<size_t>> gradient_buckets(const std::vector<int64_t>& bytes, int64_t bucket_bytes);

/// Emits the all-reduce (mean over `options.group`) of every gradient, bucketed by dtype and size
/// (gradient_buckets): a bucket of several gradients is flattened, concatenated, reduced in one
/// call and sliced back. Returns the averaged gradients in the order of `grads`.
std::vector<ParamGrad> average_gradients(GraphBuilder& b, const std::vector<ParamGrad>& grads,
                                         const DataParallelOptions& options);

/// `model` with every use of its i64 scalar input `step_input` replaced by step + rank * 2^32, rank
/// being a new i64 scalar input `rank_input`: dropout and rng_uniform keyed by the step then draw a
/// different stream on each rank (Philox takes the offset's two 32-bit halves), and rank 0 draws
/// the single-process stream. `model` itself when it has no such input.
Graph offset_randomness_by_rank(const Graph& model, const std::string& step_input, const std::string& rank_input);

}  // namespace weft::train
