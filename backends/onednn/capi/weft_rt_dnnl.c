/* weft_rt_dnnl.c — oneDNN primitives for the calls of a shared object compiled with
 * `weft-compile --provider onednn`. See weft_rt_dnnl.h.
 *
 * The same rules as the JIT's oneDNN provider (backends/onednn/primitive_cache.cpp), through
 * oneDNN's C API so that the shared object stays C: dense row-major operands (a transposed matmul
 * operand described by its strides, so weights are never reordered or copied), the normalizations
 * folded to the axis they work on, one primitive per set of operand shapes, and oneDNN's OpenMP team
 * as large as the instance's pool — one thread for a small primitive, where waking the team costs
 * more than the work.
 */
#include "weft_rt_dnnl.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "weft_rt_internal.h"

enum { MAX_ARGS = 8 + 2 * DNNL_MAX_NDIMS };

typedef struct weft_rt_dnnl_entry {
  struct weft_rt_dnnl_entry* next;
  int32_t key_size;
  int64_t* key; /* per operand: rank, then its dims */
  int empty;    /* a result with no elements: nothing to do */
  int refused;  /* oneDNN made no primitive (or an operand has no elements): the fallback runs */
  int serial;   /* too small to wake OpenMP's team for */
  dnnl_primitive_t primitive;
  int32_t num_args;
  int arg[MAX_ARGS];
  int32_t operand[MAX_ARGS]; /* the call operand bound to each argument; -1: the scalar below */
  float scalar[MAX_ARGS];
  dnnl_memory_desc_t md[MAX_ARGS];
} weft_rt_dnnl_entry;

static dnnl_engine_t engine;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static void make_engine(void) {
  if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
}

/* One stream per thread that runs primitives, made on its first call. */
static _Thread_local dnnl_stream_t thread_stream;

static int64_t product(const int64_t* d, int32_t n) {
  int64_t p = 1;
  for (int32_t i = 0; i < n; ++i) p *= d[i];
  return p;
}

/* A dense row-major f32 tensor of `n` dims `d` (a scalar: one element). */
static int plain(dnnl_memory_desc_t* md, const int64_t* d, int32_t n) {
  dnnl_dims_t dims, strides;
  int64_t one = 1;
  if (n == 0) {
    d = &one;
    n = 1;
  }
  for (int32_t i = n; i-- > 0;) {
    dims[i] = d[i];
    strides[i] = i == n - 1 ? 1 : strides[i + 1] * (d[i + 1] > 1 ? d[i + 1] : 1);
  }
  return dnnl_memory_desc_init_by_strides(md, n, dims, dnnl_f32, strides) == dnnl_success;
}

/* `d` (n dims) right-aligned to `rank` dims with leading 1s, as NumPy broadcasting reads it. */
static void padded(const int64_t* d, int32_t n, int32_t rank, int64_t* out) {
  for (int32_t i = 0; i < rank; ++i) out[i] = i < rank - n ? 1 : d[i - (rank - n)];
}

/* A matmul operand stored as `d` (n dims), padded to `rank`, read transposed when asked. */
static int matrix(dnnl_memory_desc_t* md, const int64_t* d, int32_t n, int32_t rank, int transposed) {
  dnnl_dims_t dims, strides;
  int64_t p[DNNL_MAX_NDIMS];
  padded(d, n, rank, p);
  for (int32_t i = rank; i-- > 0;) {
    dims[i] = p[i];
    strides[i] = i == rank - 1 ? 1 : strides[i + 1] * (p[i + 1] > 1 ? p[i + 1] : 1);
  }
  if (transposed) {
    int64_t t = dims[rank - 1];
    dims[rank - 1] = dims[rank - 2];
    dims[rank - 2] = t;
    t = strides[rank - 1];
    strides[rank - 1] = strides[rank - 2];
    strides[rank - 2] = t;
  }
  return dnnl_memory_desc_init_by_strides(md, rank, dims, dnnl_f32, strides) == dnnl_success;
}

static void bind(weft_rt_dnnl_entry* e, int arg, const dnnl_memory_desc_t* md, int32_t operand, float scalar) {
  int32_t k = e->num_args++;
  e->arg[k] = arg;
  e->md[k] = *md;
  e->operand[k] = operand;
  e->scalar[k] = scalar;
}

/* The primitive for `plan` at operand shapes `shape[k]` (rank[k] dims); sets e->refused when oneDNN
 * makes none. */
static void make_primitive(const weft_rt_dnnl_plan* plan, weft_rt_dnnl_entry* e, int64_t shape[][DNNL_MAX_NDIMS],
                           const int32_t* rank) {
  const int64_t* out = shape[plan->dst];
  const int32_t out_rank = rank[plan->dst];
  if (product(out, out_rank) == 0) {
    e->empty = 1;
    return;
  }
  e->refused = 1;
  for (int32_t k = 0; k < plan->num_operands; ++k)
    if (rank[k] > DNNL_MAX_NDIMS || product(shape[k], rank[k]) == 0) return;
  pthread_once(&engine_once, make_engine);
  if (!engine || plan->num_post_ops > MAX_ARGS - 8) return;
  const int32_t r = out_rank > 0 ? out_rank : 1;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t ops = NULL;
  dnnl_primitive_desc_t pd = NULL;
  if (dnnl_primitive_attr_create(&attr) != dnnl_success || dnnl_post_ops_create(&ops) != dnnl_success) goto done;
  for (int32_t i = 0; i < plan->num_post_ops; ++i) {
    const weft_rt_dnnl_post_op* p = &plan->post_ops[i];
    if (!p->is_binary) {
      if (dnnl_post_ops_append_eltwise(ops, 1.0f, p->alg, p->alpha, p->beta) != dnnl_success) goto done;
      continue;
    }
    int64_t d[DNNL_MAX_NDIMS];
    if (p->operand >= 0) {
      padded(shape[p->operand], rank[p->operand], r, d);
    } else {
      for (int32_t k = 0; k < r; ++k) d[k] = 1;
    }
    dnnl_memory_desc_t md;
    if (!plain(&md, d, r) || dnnl_post_ops_append_binary(ops, p->alg, &md) != dnnl_success) goto done;
    bind(e, DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1, &md, p->operand, p->scalar);
  }
  if (dnnl_primitive_attr_set_post_ops(attr, ops) != dnnl_success) goto done;
  dnnl_memory_desc_t dst;
  int64_t work = 0;
  switch (plan->primitive) {
    case WEFT_RT_DNNL_MATMUL: {
      dnnl_memory_desc_t a, b, bias;
      dnnl_matmul_desc_t desc;
      if (!plain(&dst, out, out_rank) || !matrix(&a, shape[plan->src0], rank[plan->src0], r, plan->transpose_a) ||
          !matrix(&b, shape[plan->src1], rank[plan->src1], r, plan->transpose_b))
        goto done;
      if (plan->bias >= 0) {
        int64_t d[DNNL_MAX_NDIMS];
        for (int32_t k = 0; k < r; ++k) d[k] = 1;
        d[r - 1] = out[out_rank - 1];
        if (!plain(&bias, d, r)) goto done;
        bind(e, DNNL_ARG_BIAS, &bias, plan->bias, 0);
      }
      if (dnnl_matmul_desc_init(&desc, &a, &b, plan->bias >= 0 ? &bias : NULL, &dst) != dnnl_success ||
          dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) != dnnl_success)
        goto done;
      bind(e, DNNL_ARG_SRC, &a, plan->src0, 0);
      bind(e, DNNL_ARG_WEIGHTS, &b, plan->src1, 0);
      const int64_t* sa = shape[plan->src0];
      work = product(out, out_rank) * sa[rank[plan->src0] - (plan->transpose_a ? 2 : 1)];
      e->serial = work < ((int64_t)1 << 18);
      break;
    }
    case WEFT_RT_DNNL_SOFTMAX:
    case WEFT_RT_DNNL_LOG_SOFTMAX: {
      /* Folded to [outer, C] or [outer, C, inner]: the same memory, the axis in the middle. */
      int64_t folded[3] = {product(out, plan->axis), out[plan->axis],
                           product(out + plan->axis + 1, out_rank - plan->axis - 1)};
      if (!plain(&dst, folded, folded[2] > 1 ? 3 : 2)) goto done;
      dnnl_softmax_desc_t sd;
      dnnl_logsoftmax_desc_t ld;
      dnnl_status_t s = plan->primitive == WEFT_RT_DNNL_SOFTMAX
                            ? dnnl_softmax_forward_desc_init(&sd, dnnl_forward_inference, &dst, 1)
                            : dnnl_logsoftmax_forward_desc_init(&ld, dnnl_forward_inference, &dst, 1);
      if (s != dnnl_success) goto done;
      const void* desc = plan->primitive == WEFT_RT_DNNL_SOFTMAX ? (const void*)&sd : (const void*)&ld;
      if (dnnl_primitive_desc_create(&pd, desc, attr, engine, NULL) != dnnl_success) goto done;
      bind(e, DNNL_ARG_SRC, &dst, plan->src0, 0);
      e->serial = product(out, out_rank) < ((int64_t)1 << 16);
      break;
    }
    case WEFT_RT_DNNL_LAYER_NORM: {
      const int64_t c = out[out_rank - 1];
      int64_t folded[2] = {product(out, out_rank) / c, c};
      dnnl_memory_desc_t vec;
      dnnl_layer_normalization_desc_t desc;
      unsigned flags = plan->scale >= 0 ? dnnl_use_scale | dnnl_use_shift : 0u;
      if (!plain(&dst, folded, 2) || !plain(&vec, &c, 1) ||
          dnnl_layer_normalization_forward_desc_init(&desc, dnnl_forward_inference, &dst, NULL, plan->eps, flags) !=
              dnnl_success ||
          dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) != dnnl_success)
        goto done;
      bind(e, DNNL_ARG_SRC, &dst, plan->src0, 0);
      if (plan->scale >= 0) {
        bind(e, DNNL_ARG_SCALE, &vec, plan->scale, 0);
        bind(e, DNNL_ARG_SHIFT, &vec, plan->bias, 0);
      }
      e->serial = product(out, out_rank) < ((int64_t)1 << 16);
      break;
    }
    default:
      goto done;
  }
  bind(e, DNNL_ARG_DST, &dst, plan->dst, 0);
  if (dnnl_primitive_create(&e->primitive, pd) == dnnl_success) e->refused = 0;
done:
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (ops) dnnl_post_ops_destroy(ops);
  if (attr) dnnl_primitive_attr_destroy(attr);
}

/* The entry for the operands' shapes at `dims`, made on first use; NULL without memory. */
static weft_rt_dnnl_entry* entry_for(weft_rt_dnnl_call* call, const int64_t* dims) {
  const weft_rt_dnnl_plan* plan = call->plan;
  int64_t shape[MAX_ARGS][DNNL_MAX_NDIMS];
  int32_t rank[MAX_ARGS];
  int64_t key[MAX_ARGS * (DNNL_MAX_NDIMS + 1)];
  int32_t key_size = 0;
  if (plan->num_operands > MAX_ARGS) return NULL;
  for (int32_t k = 0; k < plan->num_operands; ++k) {
    const weft_rt_value* t = &plan->types[k];
    rank[k] = t->rank;
    key[key_size++] = t->rank;
    for (int32_t d = 0; d < t->rank && d < DNNL_MAX_NDIMS; ++d) {
      int64_t size = t->shape[d].coeff;
      for (int32_t f = 0; f < t->shape[d].num_factors; ++f) size *= dims[t->shape[d].factors[f]];
      shape[k][d] = size;
      key[key_size++] = size;
    }
  }
  pthread_mutex_lock(&call->lock);
  weft_rt_dnnl_entry* e = call->entries;
  while (e && !(e->key_size == key_size && memcmp(e->key, key, sizeof(int64_t) * (size_t)key_size) == 0)) e = e->next;
  if (!e && (e = calloc(1, sizeof *e)) != NULL) {
    e->key = malloc(sizeof(int64_t) * (size_t)key_size);
    if (!e->key) {
      free(e);
      e = NULL;
    } else {
      memcpy(e->key, key, sizeof(int64_t) * (size_t)key_size);
      e->key_size = key_size;
      make_primitive(plan, e, shape, rank);
      e->next = call->entries;
      call->entries = e;
    }
  }
  pthread_mutex_unlock(&call->lock);
  return e;
}

static void run_fallback(const weft_rt_dnnl_plan* plan, void* const* buffers, const int64_t* dims) {
  int64_t fallback_dims[64];
  for (int32_t k = 0; k < plan->num_fallback_dims && k < 64; ++k) fallback_dims[k] = dims[plan->fallback_dims[k]];
  plan->fallback(buffers, fallback_dims);
}

/* Runs entry `e` on `buffers`: 0 when oneDNN failed before writing anything. The memory objects are
 * made per run, so that two instances can run the same primitive at once. */
static int execute(const weft_rt_dnnl_entry* e, void* const* buffers) {
  dnnl_exec_arg_t args[MAX_ARGS];
  int32_t made = 0;
  int ok = 1;
  if (!thread_stream && dnnl_stream_create(&thread_stream, engine, dnnl_stream_default_flags) != dnnl_success) {
    thread_stream = NULL;
    return 0;
  }
  for (; made < e->num_args && ok; ++made) {
    void* handle = e->operand[made] >= 0 ? buffers[e->operand[made]] : (void*)&e->scalar[made];
    args[made].arg = e->arg[made];
    ok = dnnl_memory_create(&args[made].memory, &e->md[made], engine, handle) == dnnl_success;
  }
  if (!ok) --made; /* the failed one was not made */
  if (ok) {
    omp_set_num_threads(e->serial ? 1 : (int)weft_num_threads());
    ok = dnnl_primitive_execute(e->primitive, thread_stream, e->num_args, args) == dnnl_success &&
         dnnl_stream_wait(thread_stream) == dnnl_success;
  }
  for (int32_t k = 0; k < made; ++k) dnnl_memory_destroy(args[k].memory);
  return ok;
}

void weft_rt_dnnl_run(weft_rt_dnnl_call* call, void* const* buffers, const int64_t* dims) {
  const weft_rt_dnnl_entry* e = entry_for(call, dims);
  if (e && e->empty) return;
  if (e && !e->refused && execute(e, buffers)) return;
  run_fallback(call->plan, buffers, dims);
}
