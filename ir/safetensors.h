/** \file
 * Reading and writing the safetensors format (https://github.com/huggingface/safetensors): an
 * 8-byte little-endian header length N, N bytes of JSON mapping each tensor's name to its dtype,
 * shape and `data_offsets` (relative to the first byte after the header), an optional
 * `__metadata__` object of strings, then the tensors' bytes.
 *
 * A safetensors file is user input: the parser trusts nothing in it. Every rule it checks is listed
 * in docs/weights.md; a file that breaks one is rejected with a `weft::Error` naming the file, the
 * tensor and the numbers that disagree, and no byte outside the buffer is ever read.
 *
 * This is plain data with no runtime types: `ir/` depends on nothing else of Weft's, so checkpoints
 * (runtime/) and the golden files (tests/) convert `TensorBlob`s to and from their own tensors.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ir/dtype.h"

namespace weft {

/// One tensor: its name, element type, shape and raw little-endian bytes (row-major).
struct TensorBlob {
  std::string name;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  std::vector<std::byte> data;
};

struct SafetensorsFile {
  std::vector<TensorBlob> tensors;  // in the order of the file's header
  std::map<std::string, std::string> metadata;

  /// The tensor called `name`, or null.
  const TensorBlob* find(const std::string& name) const;
};

/// Headers longer than this are rejected before any allocation (the Rust reference uses the same).
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

/// Reads and validates a file. Throws weft::Error naming `path` and what is wrong with it.
SafetensorsFile read_safetensors(const std::string& path);

/// Validates and decodes an in-memory file; `what` names it in error messages (usually its path).
SafetensorsFile parse_safetensors(std::span<const std::byte> bytes, const std::string& what);

/// Encodes `file`: tensors' data laid out in order, the header padded with spaces to a multiple of 8
/// bytes so that the data starts aligned. Throws weft::Error for a tensor whose byte count disagrees
/// with its dtype and shape, a duplicate or empty name, or a name equal to `__metadata__`.
std::vector<std::byte> serialize_safetensors(const SafetensorsFile& file);

/// Called after each chunk is written to the temporary file with the total bytes written so far. A
/// test hook: throwing from it simulates a failure part-way through the write.
using WriteProgressHook = std::function<void(size_t bytes_written)>;

/// Writes `file` to `path` so that a reader sees either the old file or the complete new one: the
/// bytes go to a temporary file in the same directory, which is fsynced, renamed over `path`, and
/// the directory fsynced. On any failure the temporary file is removed and `path` is untouched.
void write_safetensors_atomic(const std::string& path, const SafetensorsFile& file,
                              const WriteProgressHook& on_progress = {});

}  // namespace weft
