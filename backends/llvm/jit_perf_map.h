/** \file
 * A perf map of the JIT's code: `perf record` samples addresses in memory that no file on disk
 * describes, and `perf report` names them only through /tmp/perf-<pid>.map, a text file of
 * `start size name` lines (hexadecimal start and size) that the profiled process writes. With it,
 * a sample in a generated region reads `weft: encoder.layers.0.attn matmul region` instead of a
 * bare address.
 *
 * The map is filled by a plugin of ORC's linking layer (JITLink): after a graph's fixups, when
 * every address is final, each named function in an executable section gets a line. Names come
 * from `set_label`: a function `f` labelled L is written as `weft: L`, a helper `f.task` as
 * `weft: L (task)`; a function without a label keeps its symbol (`weft: weft.gemm.nt....`, the
 * GEMM cores, are named for their blocking). Objects loaded from the on-disk cache go through the
 * same linker, so a warm process writes the same names.
 *
 * Labels name the first region that made the code: equal regions of two layers share one function,
 * so a profile of layer 3 may be credited to layer 0's label (the region's kind and shape agree).
 */
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace llvm::orc {
class ObjectLinkingLayer;
}

namespace weft::llvm_backend {

class PerfMap {
 public:
  /// Opens (and empties) `path`; a path that cannot be opened is a weft::Error naming it.
  explicit PerfMap(const std::string& path);
  ~PerfMap();
  PerfMap(const PerfMap&) = delete;
  PerfMap& operator=(const PerfMap&) = delete;

  /// perf's path for this process: /tmp/perf-<pid>.map.
  static std::string default_path();

  void set_label(const std::string& symbol, const std::string& label);
  /// The name `symbol` gets in the map (see the file comment).
  std::string name_of(std::string_view symbol) const;
  /// Appends `start size name` and flushes, so a profiler reading the file mid-run sees it.
  void write(uint64_t start, uint64_t size, std::string_view symbol);

  /// Makes `layer` write every function it links to this map.
  void attach(llvm::orc::ObjectLinkingLayer& layer);

 private:
  std::FILE* file_ = nullptr;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::string> labels_;
};

}  // namespace weft::llvm_backend
