/** \file
 * The oneDNN provider and the "onednn" backend: oneDNN 2.6's primitives for the calls they compute
 * exactly, then the LLVM provider, then the interpreter (backends/provider.h).
 *
 * Graphs are lowered as for the LLVM provider (decompose, simplify, fuse), so the LLVM provider can
 * take any call oneDNN declines; the oneDNN provider reads each fused region (region_match.h) and
 * runs the ones that are one primitive — a matmul with its epilogue as post-ops, an eltwise or
 * binary chain, a reduction, softmax, log_softmax, layer_norm — from a cache of primitives per run
 * size (primitive_cache.h). The others are declined with the reason, which `weft-dump --compile
 * --backend onednn` shows. Threads: see omp_threads.cpp. docs/onednn-backend.md is the user's page.
 */
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "backends/provider.h"

namespace weft {

/// The oneDNN provider alone (for chains of one's own).
std::shared_ptr<const KernelProvider> onednn_provider();

/// The provider of the "auto" backend: per call, the faster of the oneDNN and LLVM providers'
/// kernels, timed at compile time (auto_provider.cpp).
std::shared_ptr<const KernelProvider> auto_provider();

/// The operands `auto` times a call on, at `sizes`: floats in [-1, 1), integers and bools 0 (a valid
/// index) except a recurrent layer's lengths, which say that every row runs the whole sequence (the
/// case oneDNN's RNN primitives run; a shorter row runs the decomposition). 64-byte aligned.
class AutoTimingOperands {
 public:
  AutoTimingOperands(const KernelCall& call, const SymbolBindings& sizes);
  std::span<void* const> pointers() const { return pointers_; }

 private:
  std::vector<std::unique_ptr<std::byte, void (*)(void*)>> memory_;
  std::vector<void*> pointers_;
};

/// The factory behind `make_backend("auto")`: the chain [auto, interp].
std::unique_ptr<Backend> make_auto_backend();

/// The factory behind `make_backend("onednn")`: the chain [onednn, llvm, interp] (without llvm when
/// this build has no LLVM backend).
std::unique_ptr<Backend> make_onednn_backend();

}  // namespace weft
