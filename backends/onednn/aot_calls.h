/** \file
 * `weft-compile --provider onednn`: the calls of a shared object that run on oneDNN primitives.
 *
 * The AOT emitter (backends/llvm/aot.h) offers each call to this library; it takes the ones the
 * JIT's oneDNN provider recognises (region_match.h) as a matmul with its post-ops (bias, eltwise,
 * binary with a tensor or a scalar), softmax, log_softmax or layer_norm, and writes each as a plan
 * for the C shim in backends/onednn/capi (oneDNN's C API), which the shared object compiles in and
 * which links libdnnl.so (and libgomp) dynamically. Every other call stays generated code, as does
 * each taken call's fallback (a size oneDNN refuses at run time). eltwise, binary, reduction and
 * reorder primitives are not offered: generated code computes those as fast without a library call.
 */
#pragma once

#include "backends/llvm/aot.h"

namespace weft::onednn {

/// The library for AotOptions::library.
const llvm_backend::AotLibrary& aot_library();

}  // namespace weft::onednn
