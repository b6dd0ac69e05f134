/** \file
 * Files that are not regular files, for the readers and writers of Weft's formats.
 *
 * The writers replace a file atomically: they write a temporary file beside it and rename it over
 * the target. Renamed over `/dev/null` or a FIFO, that would replace the device (as root) or the
 * pipe with a regular file, so a target that exists and is not a regular file is written in place
 * instead ("written through"), and a directory is refused with a clear error.
 *
 * The readers take regular files, and pipes and devices up to a size limit (so that `<(...)` and
 * `/dev/stdin` work, while `/dev/zero` is an error rather than an exhausted memory).
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace weft {

/// What `path` names when it exists and is not a regular file ("a directory", "a FIFO",
/// "a character device", "a block device", "a socket"); "" for a regular file or no file.
/// Symbolic links are followed.
std::string non_regular_kind(const std::string& path);

/// For an atomic writer, before it creates its temporary file: throws weft::Error ("cannot write
/// 'out': it is a directory") for a directory; returns true when `path` is a device, FIFO or
/// socket, which must be written through with write_through() instead of replaced.
bool must_write_through(const std::string& path);

/// Writes `bytes` into the existing non-regular file `path` (opened write-only, not truncated,
/// not created). Throws weft::Error naming the path on failure.
void write_through(const std::string& path, std::span<const std::byte> bytes);

/// The most a reader takes from a pipe or a device, whose size is not known up front: 1 GiB.
constexpr uint64_t kMaxStreamBytes = uint64_t{1} << 30;

/// The whole content of `path`: a regular file, or a pipe or device read to its end, refused past
/// `limit` bytes. Throws weft::Error naming the path for a directory, a missing or unreadable file,
/// a read error, or a stream longer than `limit`.
std::vector<std::byte> read_whole_file(const std::string& path, uint64_t limit = kMaxStreamBytes);

}  // namespace weft
