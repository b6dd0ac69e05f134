/* weft_rt_internal.h — what the files of the C runtime share (hidden inside the shared object).
 *
 * The runtime is compiled with -fvisibility=hidden: only the functions of weft_model.h, marked
 * WEFT_API below, are exported. Everything declared here stays inside one shared object, so two
 * models loaded into one process each use their own runtime. For the same reason the runtime never
 * calls an exported function itself (another model's copy could interpose it): the API functions
 * are thin wrappers over the hidden helpers declared here.
 *
 * An instance keeps one `rt_prog_state` per entry, and one per scan call below it (recursively,
 * for scans in scan bodies), each with its arena and scratch allocated at create time, sized at
 * the declared bounds: weft_run allocates nothing (kernels' thread scratch aside, which grows once).
 */
#ifndef WEFT_RT_INTERNAL_H
#define WEFT_RT_INTERNAL_H

#define WEFT_API __attribute__((visibility("default")))

#include <stddef.h>
#include <stdint.h>

#include "weft_model.h"

/* Everything declared from here on is hidden, even where the flags forget -fvisibility=hidden. */
#pragma GCC visibility push(hidden)

#include "weft_rt_desc.h"

#define RT_ALIGN 64
#define RT_MAX_RANK 64  /* the tables' ranks are checked against this at create */
#define RT_MAX_DEPTH 32 /* scans nested in scan bodies */

/* ---- errors (weft_rt.c) */

/* Sets the calling thread's message (printf-style) and returns `status`. */
int32_t rt_fail(int32_t status, const char* format, ...) __attribute__((format(printf, 2, 3)));

/* A bounded text buffer for messages: appends are truncated, never overflow. */
typedef struct rt_text {
  char buf[768];
  size_t len;
} rt_text;

void rt_text_add(rt_text* t, const char* format, ...) __attribute__((format(printf, 2, 3)));
void rt_text_shape(rt_text* t, const int64_t* shape, int32_t rank);              /* "[3, 5]" */
void rt_text_dim(rt_text* t, const weft_rt_program* p, const weft_rt_dim* d);    /* "2*T", "4" */
void rt_text_type(rt_text* t, const weft_rt_program* p, const weft_rt_value* v); /* "f32[B, 4] (B <= 8)" */

/* ---- dtypes, dims and sizes (weft_rt_shapes.c) */

size_t rt_dtype_size(int32_t dtype); /* 0 for a code that is no weft_dtype */
const char* rt_dtype_name(int32_t dtype);

/* coeff × the product of its symbols' values. known = NULL: every symbol has a value. Returns 0,
 * or -1 when a symbol has no value or the product overflows. */
int rt_eval_dim(const weft_rt_dim* d, const int64_t* sym, const unsigned char* known, int64_t* out);
int rt_eval_shape(const weft_rt_value* v, const int64_t* sym, const unsigned char* known, int64_t* shape);
/* The element count and byte count of a shape; -1 on overflow. */
int rt_numel(const int64_t* shape, int32_t rank, int64_t* out);
int rt_nbytes(const weft_rt_value* v, const int64_t* shape, int64_t* out);
/* Bytes of `v` with every symbol at `sym` (the bounds): -1 on overflow or a missing symbol. */
int rt_nbytes_at(const weft_rt_value* v, const int64_t* sym, int64_t* out);

/* ---- the thread pool (weft_rt_pool.c) */

typedef struct rt_pool rt_pool;

/* NULL when threads or memory cannot be had. */
rt_pool* rt_pool_create(int32_t num_threads);
void rt_pool_destroy(rt_pool* pool);
int32_t rt_pool_threads(const rt_pool* pool);
int32_t rt_default_threads(void);

/* Makes `pool` the one that weft_parallel_for and friends use on the calling thread; returns what
 * was current, for rt_pool_leave to restore. */
typedef struct rt_pool_binding {
  rt_pool* pool;
  int32_t index;
  int inside;
} rt_pool_binding;
rt_pool_binding rt_pool_enter(rt_pool* pool);
void rt_pool_leave(rt_pool_binding previous);

/* The entry points generated kernels call (hidden, like the kernels). */
void weft_parallel_for(void* ctx, int64_t n, void (*fn)(void*, int64_t));
int64_t weft_num_threads(void);
void* weft_thread_scratch(int64_t bytes);

/* ---- instances */

typedef struct rt_scan_state rt_scan_state;

/* One program (an entry, or a scan's body) of an instance: its memory and its symbols' values. */
typedef struct rt_prog_state {
  const weft_rt_program* prog;
  unsigned char* arena;
  int64_t* bounds;       /* per symbol: its declared bound */
  int64_t* sym;          /* per symbol: its value in the current run */
  unsigned char* known;  /* per symbol: whether sym holds a value */
  int32_t* src_value;    /* per symbol: the input whose shape gave the value, -1 if none */
  int32_t* src_dim;      /* ... and which of its dims */
  unsigned char* used;   /* per symbol: some dim, kernel or scan body needs its value */
  void** ptrs;           /* per buffer: its memory in the current run */
  void** operands;       /* room for the largest call's operand pointers */
  int64_t* dims;         /* room for the largest call's dims */
  rt_scan_state** scans; /* per call: the scan's state; NULL for a kernel */
} rt_prog_state;

typedef struct rt_entry {
  rt_prog_state top;
  int64_t* bound_value;     /* per symbol: from weft_bind_dim or the last run */
  unsigned char* bound_set; /* per symbol: whether bound_value holds a value */
  unsigned char* staging;   /* updates that read another parameter go through here (NULL: none do) */
  const int64_t** shapes;   /* per input: the caller's shape, for the checks */
  void** input_data;        /* per input: the caller's data */
  /* Outputs computed straight into the caller's tensors (weft_run): per buffer of the program, the
   * caller's output memory standing in for its arena slot in this run, or NULL; per output,
   * whether it was. Only when no call can fail once the run has started (`checks_values`: an
   * index, length or empty-axis check), so that a failed run still leaves the outputs alone. */
  void** direct;
  unsigned char* output_direct;
  int checks_values;
} rt_entry;

struct weft_model {
  const weft_rt_model* desc;
  rt_pool* pool;
  void** params;           /* per parameter: its memory */
  unsigned char* writable; /* per parameter: params[p] may be written (not the embedded weights) */
  rt_entry* entries;
  void** allocs; /* everything rt_alloc handed out, freed by weft_destroy */
  size_t num_allocs;
  size_t cap_allocs;
};

/* WEFT_OK when `m` is an instance that weft_create made and weft_destroy has not freed; else
 * NULL_ARGUMENT or INVALID_HANDLE, with `fn` in the message (weft_rt.c). */
int32_t rt_check_instance(const char* fn, const weft_model* m);

/* Zeroed, 64-byte-aligned memory owned by the instance (freed by weft_destroy); NULL when out of
 * memory. A size of 0 still returns a valid pointer. */
void* rt_alloc(weft_model* m, int64_t bytes);

/* Where messages come from: "weft_run(forward)", and for a scan body the scan's `what`. */
typedef struct rt_site {
  const char* entry;
  const char* scan; /* NULL at the top level */
} rt_site;

/* ---- building an instance (weft_rt_setup.c) */

/* Checks that the tables are consistent (every index in range, every arena operand inside the
 * arena at the bounds), so that no later step can index out of bounds. */
int32_t rt_check_model(const weft_rt_model* d);
/* Allocates the state of program `p` (recursively for its scans). */
int32_t rt_setup_program(weft_model* m, const weft_rt_program* p, rt_prog_state* ps);

/* ---- running (weft_rt_run.c) */

/* Binds the symbols that the shapes of n values (declared `decls`, actual `shapes`, ranks already
 * checked) determine: single-symbol dims first, then products as their other factors become
 * known; then takes symbols from `fallback` (may be NULL) where they are still unknown, and
 * repeats. Errors: a dim that is not a multiple of its known factors (SHAPE), a value beyond its
 * symbol's bound (DIM_RANGE). */
int32_t rt_bind_symbols(const rt_site* site, rt_prog_state* ps, int32_t n, const weft_rt_value* decls,
                        const int64_t* const* shapes, const int64_t* fallback, const unsigned char* fallback_set);
/* After rt_bind_symbols: every symbol has a value within its bound, and every dim of the values
 * equals its declaration (UNBOUND_DIM, DIM_RANGE, SHAPE). */
int32_t rt_check_symbols(const rt_site* site, rt_prog_state* ps, int32_t n, const weft_rt_value* decls,
                         const int64_t* const* shapes);
/* Runs the calls of a program whose symbols are bound, with `inputs` as its input buffers. */
int32_t rt_run_program(weft_model* m, rt_prog_state* ps, void* const* inputs, void* const* direct,
                       const rt_site* site);

/* ---- scans (weft_rt_scan.c) */

int32_t rt_setup_scan(weft_model* m, const weft_rt_program* p, rt_prog_state* ps, int32_t call);
int32_t rt_run_scan(weft_model* m, rt_prog_state* ps, int32_t call, const rt_site* site);

/* ---- weights (weft_rt_safetensors.c) */

/* Reads every parameter of the model from the safetensors file `path` into dst[p] (each with room
 * for the parameter's nbytes). Errors: WEFT_ERR_WEIGHTS naming the file and what is wrong. */
int32_t rt_load_weights(const weft_rt_model* d, const char* path, void* const* dst);

/* ---- the API, under hidden names bound inside this shared object (aliases, defined in weft_rt.c and
 * weft_rt_run.c), for weft_generate (weft_rt_generate.c) */

int32_t rt_api_bind_dim(weft_model* model, int32_t entry, const char* symbol, int64_t value);
int32_t rt_api_output_shape(weft_model* model, int32_t entry, int32_t output, int64_t* shape);
int32_t rt_api_run(weft_model* model, int32_t entry, const weft_tensor* inputs, int32_t num_inputs,
                   weft_tensor* outputs, int32_t num_outputs);

#pragma GCC visibility pop

#endif /* WEFT_RT_INTERNAL_H */
