/** \file
 * The one oneDNN CPU engine of the process and each thread's stream on it, shared by the
 * primitive cache (primitive_cache.cpp) and the RNN kernels (rnn_layer.cpp).
 */
#pragma once

#include <dnnl.hpp>

namespace weft::onednn {

/// The CPU engine every primitive and memory object is made on.
dnnl::engine& engine();
/// The calling thread's stream on engine() (a stream is not shared between threads).
dnnl::stream& stream();

}  // namespace weft::onednn
