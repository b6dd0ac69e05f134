/** \file
 * Checkpoints: every state tensor of an Executable (parameters and optimizer state) with the
 * training loop's counters, in one safetensors file written atomically.
 *
 * The file holds one tensor per state tensor, under its state name (`fc1.weight`,
 * `adam.m.fc1.weight`), and `__metadata__` entries `weft.format` (= "weft-checkpoint-2"),
 * `weft.step` and `weft.rng_offset`, plus any entries the caller adds. Format 2 adds checksums:
 * `weft.crc32c.<name>` per tensor (CRC-32C of its bytes, 8 hex digits) and `weft.header_crc32c`
 * over every other metadata entry and every tensor's name, dtype and shape, so that a flipped byte
 * anywhere is caught on load with the tensor's name (format-1 files, without them, still load). It is written through
 * `write_safetensors_atomic` (a temporary file, fsync, rename, fsync of the directory), so a crash
 * or a kill during a save leaves the previous checkpoint at `path` intact.
 *
 * Loading checks the whole file against the executable before changing anything: every state
 * tensor present with its dtype and shape, nothing extra. Restoring the state and the counters
 * and feeding the same batches continues bit-identically to a run that was never interrupted
 * (same backend and thread count; see docs/training.md).
 */
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "ir/safetensors.h"
#include "runtime/executable.h"

namespace weft::train {

/// The loop's counters, saved beside the tensors.
struct TrainingState {
  /// Updates done so far; the next update is number `step + 1`.
  int64_t step = 0;
  /// Where the next random draw of the loop starts (see Trainer: the train step's random ops are
  /// keyed by the step, so the built-in loop keeps it equal to `step`).
  uint64_t rng_offset = 0;
  /// Further string entries (a data loader's position, a note); keys must not start with "weft.".
  std::map<std::string, std::string> metadata = {};
};

constexpr const char* kCheckpointFormat = "weft-checkpoint-2";

/// Saves every state tensor of `exe` and `state` to `path` atomically. `on_progress` is passed to
/// `write_safetensors_atomic` (a test hook that may throw to simulate a failure mid-write). Throws
/// weft::Error on an I/O failure or a reserved metadata key; `path` is then unchanged.
void save_checkpoint(const std::string& path, const Executable& exe, const TrainingState& state = {},
                     const WriteProgressHook& on_progress = {});

/// Restores every state tensor of `exe` from `path` and returns the saved counters. Throws
/// weft::Error naming the file and each disagreement (a missing, extra, or differently typed
/// tensor; a file that is not a Weft checkpoint; a checksum that does not match, naming the tensor
/// or the header); `exe` is then unchanged.
TrainingState load_checkpoint(const std::string& path, Executable& exe);

}  // namespace weft::train
