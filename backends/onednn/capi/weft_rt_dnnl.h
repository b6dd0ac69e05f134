/* weft_rt_dnnl.h — the oneDNN calls of a shared object compiled with `weft-compile --provider
 * onednn` (internal to the shared object; docs/shared-object.md).
 *
 * weft-compile writes one plan per call that oneDNN takes (backends/onednn/aot_calls.cpp) and a
 * kernel with the generated kernels' signature that runs it through weft_rt_dnnl_run. The plan holds
 * no sizes: the operands' types are in the program's symbols, and the kernel is given every symbol
 * of its program, so the first run at a set of sizes makes the primitive (oneDNN's C API, libdnnl.so)
 * and later runs at those sizes reuse it. A size oneDNN refuses, or an operand with no elements, runs
 * on the call's generated kernel instead (`fallback`), as the JIT's oneDNN provider runs the
 * interpreter's.
 */
#ifndef WEFT_RT_DNNL_H
#define WEFT_RT_DNNL_H

#include <dnnl.h>
#include <pthread.h>

#include "weft_rt_desc.h"

enum { WEFT_RT_DNNL_MATMUL = 0, WEFT_RT_DNNL_SOFTMAX = 1, WEFT_RT_DNNL_LOG_SOFTMAX = 2, WEFT_RT_DNNL_LAYER_NORM = 3 };

/* An eltwise post-op (alg, alpha, beta), or a binary one whose second operand is call operand
 * `operand` (broadcast to the result, right-aligned) or, when operand < 0, the scalar `scalar`. */
typedef struct weft_rt_dnnl_post_op {
  int32_t is_binary;
  dnnl_alg_kind_t alg;
  float alpha, beta;
  int32_t operand;
  float scalar;
} weft_rt_dnnl_post_op;

typedef struct weft_rt_dnnl_plan {
  int32_t primitive;
  /* Call operands (-1 when absent): matmul's a and b, the normalizations' source (src0); matmul's
   * bias, layer_norm's shift (bias); layer_norm's scale; the result (dst). */
  int32_t src0, src1, bias, scale, dst;
  int32_t transpose_a, transpose_b; /* matmul */
  int32_t axis;                     /* softmax, log_softmax (layer_norm: the last) */
  float eps;                        /* layer_norm */
  int32_t num_post_ops;
  const weft_rt_dnnl_post_op* post_ops;
  int32_t num_operands;
  const weft_rt_value* types; /* per operand, in the program's symbols */
  /* The call's generated kernel, and its dims as indices into the program's symbols. */
  weft_rt_kernel fallback;
  int32_t num_fallback_dims;
  const int32_t* fallback_dims;
} weft_rt_dnnl_plan;

struct weft_rt_dnnl_entry;

/* A plan and the primitives made for it so far, one per set of operand shapes. */
typedef struct weft_rt_dnnl_call {
  const weft_rt_dnnl_plan* plan;
  pthread_mutex_t lock;
  struct weft_rt_dnnl_entry* entries;
} weft_rt_dnnl_call;

/* Runs `call` on its operands; `dims` holds every symbol of the call's program, in order. */
void weft_rt_dnnl_run(weft_rt_dnnl_call* call, void* const* buffers, const int64_t* dims);

#endif /* WEFT_RT_DNNL_H */
