/** \file
 * Reading and writing NumPy's `.npy` format (numpy.lib.format): the magic `\x93NUMPY`, a major and
 * a minor version byte, the header length (2 bytes little-endian in version 1.0, 4 bytes in 2.0 and
 * 3.0), the header — a Python dict literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and a newline —
 * then the elements, row-major.
 *
 * Weft reads and writes the dtypes it has a NumPy name for: `<f4 <f8 <f2 <i4 <i8 |b1` (bf16 has no
 * NumPy dtype). Only C order is read. A `.npy` file is user input: the header is parsed by a strict
 * little parser of exactly that dict (no `eval`), every size is checked against the bytes actually
 * there, and a file that breaks a rule is rejected with a `weft::Error` naming the file and the rule;
 * nothing outside the buffer is read. The writer emits the header byte for byte as NumPy 1.24 does.
 */
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "runtime/tensor.h"

namespace weft {

/// Headers longer than this are rejected before any allocation (NumPy's own reader refuses headers
/// over 10,000 bytes by default; a legal header of any rank up to 64 fits in a few kilobytes).
constexpr size_t kMaxNpyHeaderBytes = 1 << 20;

/// Decodes an in-memory `.npy` file; `what` names it in error messages (usually its path).
Tensor parse_npy(std::span<const std::byte> bytes, const std::string& what);

/// Reads a `.npy` file. Throws weft::Error naming `path` when it cannot be read or is malformed.
Tensor read_npy(const std::string& path);

/// Encodes a tensor as NumPy 1.24's `numpy.save` would: version 1.0 (2.0 if the header needs more
/// than 65535 bytes), keys sorted, room for the first dim to grow, aligned to 64 bytes. Throws
/// weft::Error for bf16, which NumPy has no dtype for.
std::vector<std::byte> serialize_npy(const Tensor& tensor);

/// Writes `tensor` to `path` (through a temporary file and a rename, so a reader never sees half a
/// file). Throws weft::Error naming `path` on failure.
void write_npy(const std::string& path, const Tensor& tensor);

}  // namespace weft
