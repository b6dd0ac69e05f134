/** \file
 * Batches of token sequences for the Trainer: shuffled every epoch, bucketed by length, padded.
 *
 * `SequenceLoader` holds examples (a source sequence and, for sequence-to-sequence models, a
 * target) and makes the batch of any step, as a pure function of (seed, step) — the Trainer's
 * condition for a resumed run to repeat exactly. Each epoch is one pass over the examples:
 *
 *  1. the examples are shuffled (a permutation keyed by the seed and the epoch);
 *  2. that order is cut into pools of `batch_size * bucket_pool` examples, and each pool is sorted
 *     by length, so the examples batched together have similar lengths and little padding;
 *  3. each pool is cut into batches of `batch_size` (the last batch of the epoch may be smaller),
 *     and the batches of the epoch are shuffled again, so lengths do not come in order.
 *
 * `bucket_pool = 1` batches in shuffled order without sorting; `shuffle = false` keeps the
 * examples' order (and sorts nothing). A batch holds, padded to its longest sequence:
 *
 * | input         | type        | contents                                                        |
 * | ------------- | ----------- | --------------------------------------------------------------- |
 * | `src`         | i64[B, S]   | the source ids, padded with `pad_id`                             |
 * | `src_lengths` | i64[B]      | each source's length                                             |
 * | `tgt_in`      | i64[B, T]   | with targets: `bos_id`, then the target ids (teacher forcing), padded with `pad_id` |
 * | `tgt_out`     | i64[B, T]   | with targets: the target ids, then `eos_id`, padded with `ignore_index` |
 *
 * (T is the longest target plus one.) The names can be changed in the options; a name set to ""
 * leaves that input out. `Batch::tokens` counts the real (unpadded) source and target tokens.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/trainer.h"

namespace weft::train {

/// One example: a source sequence and, for a sequence-to-sequence model, its target.
struct TokenExample {
  std::vector<int64_t> src;
  std::vector<int64_t> tgt = {};
};

struct SequenceLoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  uint64_t seed = 1;
  /// Sort pools of this many batches by length (see the file comment); 1: no bucketing.
  int64_t bucket_pool = 100;
  int64_t pad_id = 0;
  /// For targets: the id that starts `tgt_in` and the one that ends `tgt_out`.
  int64_t bos_id = 1;
  int64_t eos_id = 2;
  /// What pads `tgt_out`, so that the loss skips it (cross_entropy's default ignore_index).
  int64_t ignore_index = -100;
  std::string src_input = "src";
  std::string src_lengths_input = "src_lengths";
  std::string tgt_in_input = "tgt_in";
  std::string tgt_out_input = "tgt_out";
};

/// Not thread-safe: it keeps the current epoch's batches between calls.
class SequenceLoader {
 public:
  /// Throws weft::Error for no examples, an empty source, targets on some examples but not all,
  /// or a batch_size or bucket_pool below 1.
  SequenceLoader(std::vector<TokenExample> examples, SequenceLoaderOptions options = {});

  /// The batch of update number `step` (1, 2, 3, ...): a BatchSource for Trainer::run.
  Batch operator()(int64_t step) const;

  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  /// The examples of batch `step`, as indices into the examples given (for tests and debugging).
  std::vector<size_t> batch_indices(int64_t step) const;

 private:
  std::vector<std::vector<size_t>> epoch_batches(int64_t epoch) const;

  std::vector<TokenExample> examples_;
  SequenceLoaderOptions options_;
  bool with_targets_ = false;
  int64_t batches_per_epoch_ = 0;
  // The last epoch's batches: the Trainer asks for steps in order, so an epoch is sorted once.
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<std::vector<size_t>> cached_batches_;
};

}  // namespace weft::train
