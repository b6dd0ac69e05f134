/** \file
 * The loop of a `scan` call: runs the body, compiled by the same provider chain, once per step over
 * the call's own memory.
 *
 * What a step costs beyond its body's arithmetic is kept to a few pointer swaps. Everything that
 * does not change from step to step is done once per call: the symbols the body's inputs bind,
 * its plan, the output sizes, and the step buffers. Then per step:
 *
 *  - the carried state is double-buffered: a step reads the carry where the step before wrote it
 *    and writes the other buffer, the last step writing the call's result (nothing is copied);
 *  - a sequence's step slice is read in place when it is contiguous (time-major, or a batch of
 *    one), else gathered into a step buffer; a stacked output's step is written in place or
 *    scattered from a step buffer the same way;
 *  - the body runs through `ProgramExecutor::run_step`: no binding, no allocation, outputs in the
 *    arena computed straight into the loop's buffers;
 *  - with lengths, a finished row keeps its carry and emits zeros (the op's definition,
 *    ir/ops/control.cpp), rows along dim 0 as the interpreter's kernel does.
 *
 * The reference interpreter (backends/interp/control_kernels.cpp) keeps its own plain loop: it is
 * the oracle this one is tested against (tests/llvm_backend/scan_loop_test.cpp).
 */
#pragma once

#include <memory>

#include "backends/provider.h"

namespace weft {

/// The kernel running scan call `call` with `body` (the call's body, compiled by the chain) as its
/// step. Host memory only.
CallKernel scan_loop_kernel(const KernelCall& call, std::shared_ptr<CompiledExecutable> body);

}  // namespace weft
