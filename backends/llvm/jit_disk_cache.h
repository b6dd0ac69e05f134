/** \file
 * An on-disk cache of the JIT's object code, so that the second run of a program does not pay
 * again for optimizing and compiling the regions the first run compiled (seconds per graph).
 *
 * An entry is keyed by everything that decides the code: the module's IR before optimization,
 * LLVM's version, the host's triple, CPU and features, and the build of Weft's optimizer (jit.cpp's
 * build time, since its pipeline is code, not data). The key's BLAKE3 hash names the file,
 * `<dir>/<32 hex digits>.o` (its first 128 bits), which starts with a header: a magic, the format
 * version, the key's whole 256-bit hash, the object's length and the object's BLAKE3 hash. A
 * short, damaged or misplaced entry fails those checks and is ignored (and overwritten by the next
 * compile), never loaded.
 * Entries are written to a temporary file in the directory and renamed into place, so processes
 * sharing the directory see either no entry or a whole one.
 *
 * The directory is $WEFT_JIT_CACHE_DIR, else $XDG_CACHE_HOME/weft/jit, else ~/.cache/weft/jit;
 * WEFT_JIT_CACHE=off turns the cache off. Nothing prunes its entries: delete the directory to empty
 * it. (A writer killed before its rename leaves a temporary file; the first store of a process
 * deletes those an hour old.)
 */
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

namespace weft::llvm_backend {

struct JitDiskCacheStats {
  int64_t hits = 0;      // objects loaded
  int64_t misses = 0;    // no entry: compiled, then stored
  int64_t rejected = 0;  // an entry that failed its checks: ignored, compiled, replaced
  int64_t stored = 0;    // entries written
};

/// What identifies this build of Weft for cache keys: the GNU build ID of the executable or shared
/// library holding this code (the linker derives it from the linked contents), or, when the binary
/// has none, the BLAKE3 hash of its file; read once.
const std::string& build_identity();

class JitDiskCache {
 public:
  /// A cache in `dir` (created on the first store); an empty path is a cache that is off.
  explicit JitDiskCache(std::filesystem::path dir);

  /// The process's cache, in the directory the environment names (see the file comment).
  static JitDiskCache& global();

  bool enabled() const { return !dir_.empty(); }
  const std::filesystem::path& dir() const { return dir_; }

  /// The object stored under `key`, or nullopt when there is none or it fails its checks.
  std::optional<std::string> load(const std::string& key);
  /// Stores `object` under `key`; a failure (a full disk, no permission) only costs the next run
  /// a compile, so it is not an error.
  void store(const std::string& key, const std::string& object);

  JitDiskCacheStats stats() const;
  /// The file an entry for `key` lives in.
  std::filesystem::path path_of(const std::string& key) const;

 private:
  /// Deletes temporary files at least an hour old: left by writers that were killed.
  void remove_stale_temporaries();

  std::filesystem::path dir_;
  mutable std::mutex mutex_;
  std::once_flag swept_;  // remove_stale_temporaries() runs at the first store
  JitDiskCacheStats stats_;
};

}  // namespace weft::llvm_backend
