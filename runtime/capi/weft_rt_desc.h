/* weft_rt_desc.h — the tables that describe a compiled model (internal to a shared object).
 *
 * weft-compile (backends/llvm/aot.h) writes them as C source (`desc.c`, one constant
 * `weft_rt_the_model`), next to the kernels' object file; the runtime (weft_rt.c) reads them to
 * check arguments, plan buffers and call the kernels. They mirror ir/program.h: a program is an
 * ordered list of calls whose operands are buffers (the caller's inputs, parameters, or offsets
 * in one arena planned at the bounds of the symbolic dims).
 *
 * Everything here is hidden inside the shared object: only weft_model.h's functions are exported.
 */
#ifndef WEFT_RT_DESC_H
#define WEFT_RT_DESC_H

#include <stdint.h>

/* A generated kernel: buffers = its operands then its results; dims = the values of the symbols
 * listed in the call's `dims`, in that order. */
typedef void (*weft_rt_kernel)(void* const* buffers, const int64_t* dims);

/* A dim: coeff × the product of the program's symbols listed in `factors` (repeats allowed; no
 * factors: a static size). */
typedef struct weft_rt_dim {
  int64_t coeff;
  int32_t num_factors;
  const int32_t* factors; /* indices into the program's symbols */
} weft_rt_dim;

/* A typed value: an input, an output, or a call's operand. */
typedef struct weft_rt_value {
  const char* name;               /* inputs and outputs: as declared; operands: "" */
  int32_t dtype;                  /* weft_dtype */
  int32_t rank;
  const weft_rt_dim* shape;       /* `rank` dims */
  const int64_t* static_dims;     /* per dim: the size, or -1 if symbolic (for weft_value_info) */
  const char* const* dim_names;   /* per dim: "B", "2*T" if symbolic, NULL if static */
} weft_rt_value;

typedef struct weft_rt_symbol {
  const char* name;
  int64_t bound; /* the declared bound (always present: weft-compile rejects unbounded symbols) */
  /* Scan bodies: the index of the same-named symbol of the enclosing program, which gives the
   * value when no input of the body carries it; -1 at the top level or when there is none. */
  int32_t outer;
} weft_rt_symbol;

enum { WEFT_RT_INPUT = 0, WEFT_RT_PARAM = 1, WEFT_RT_ARENA = 2 };

typedef struct weft_rt_buffer {
  int32_t storage; /* WEFT_RT_INPUT, WEFT_RT_PARAM or WEFT_RT_ARENA */
  int32_t index;   /* the program's input index, or the model's parameter index */
  int64_t offset;  /* arena: byte offset (a multiple of 64) */
} weft_rt_buffer;

/* A reduction with no value over no elements (reduce_max, reduce_min, argmax) inside a call's
 * region. Before the call, weft_run fails with WEFT_ERR_INVALID_VALUE if one of its reduced axes
 * has size 0 while its result has elements: the error of the interpreter and of the JIT
 * (runtime/call_checks.h), where generated code would return -inf or an index of
 * nothing. */
typedef struct weft_rt_maximum {
  weft_rt_value operand; /* the reduction's operand, in the program's symbols */
  uint64_t reduced;      /* bit d: axis d of the operand is reduced */
  int32_t op;            /* WEFT_RT_REDUCE_MAX, WEFT_RT_REDUCE_MIN or WEFT_RT_ARGMAX */
  const char* loc;       /* its source location, "" if none */
} weft_rt_maximum;
enum { WEFT_RT_REDUCE_MAX = 0, WEFT_RT_REDUCE_MIN = 1, WEFT_RT_ARGMAX = 2 };

enum { WEFT_RT_KERNEL = 0, WEFT_RT_SCAN = 1 };

struct weft_rt_program;

/* One call. Operands: the node's operands, then its results (num_operands in all). */
typedef struct weft_rt_call {
  int32_t kind; /* WEFT_RT_KERNEL or WEFT_RT_SCAN */
  int32_t num_operands;
  int32_t num_inputs;
  const int32_t* buffers;      /* per operand: the program's buffer index */
  const weft_rt_value* types;  /* per operand: its type */
  /* WEFT_RT_KERNEL */
  weft_rt_kernel kernel;
  int32_t num_dims;
  const int32_t* dims; /* per kernel dims argument: the program's symbol index */
  /* WEFT_RT_SCAN: operands = carries (num_carry), sequences (num_seq), constants, then the
   * lengths (i32 or i64 [batch]) when has_lengths; results = final carries, then stacked outputs.
   * The body's inputs are carries, one step of each sequence (the time axis removed), constants;
   * its outputs are the new carries, then one step of each stacked output. Semantics: those of
   * Weft's scan op (backends/interp/control_kernels.cpp): with lengths, a row b whose sequence
   * has ended (t >= lengths[b]) keeps its carry and emits zeros. */
  const struct weft_rt_program* body;
  int32_t num_carry;
  int32_t num_seq;
  int32_t has_lengths;
  int32_t reverse;
  int64_t time_axis; /* may be negative: counts from the end of each sequence's (output's) rank */
  /* For messages: "scan (scope 'encoder.lstm', model.cpp:12)". */
  const char* what;
  /* Index validation (gather, scatter_add: runtime/call_checks.h), done by weft_run just
   * before the call. index_operand = -1: nothing to check. Otherwise every element (i32 or i64) i
   * of operand index_operand must satisfy -n <= i < n, where n = dim bound_axis (0 <= bound_axis <
   * its rank) of operand bound_operand under the run's symbols (a negative i counts from the end,
   * as numpy.take; with index_nonnegative, 0 <= i < n instead: a class label); else weft_run fails
   * with WEFT_ERR_INVALID_VALUE naming `what`, the index's position and value. A zero-initialized
   * call would check operand 0: write -1 explicitly. */
  int32_t index_operand;
  int32_t bound_operand;
  int32_t bound_axis;
  int32_t index_nonnegative;
  /* WEFT_RT_KERNEL: the maximums of its region, checked by weft_run just before the call. */
  int32_t num_maximums;
  const weft_rt_maximum* maximums;
} weft_rt_call;

typedef struct weft_rt_program {
  const char* name;
  int32_t num_symbols;
  const weft_rt_symbol* symbols;
  int32_t num_inputs;
  const weft_rt_value* inputs;
  int32_t num_outputs;
  const weft_rt_value* outputs;
  const int32_t* output_buffers; /* per output */
  int32_t num_buffers;
  const weft_rt_buffer* buffers;
  int32_t num_calls;
  const weft_rt_call* calls;
  /* After a run, parameter update_params[k] takes the value of buffer update_buffers[k] (all at
   * once; nothing to do when that buffer is the parameter's own). */
  int32_t num_updates;
  const int32_t* update_params;
  const int32_t* update_buffers;
  int64_t arena_bytes; /* at the bounds */
} weft_rt_program;

typedef struct weft_rt_param {
  const char* name;
  weft_rt_value type;   /* static shape */
  int64_t nbytes;
  int64_t offset;       /* in the embedded weights (64-byte aligned); -1 when external */
  int32_t updated;      /* some entry writes it (so each instance needs its own copy) */
} weft_rt_param;

typedef struct weft_rt_model {
  const char* name;
  int32_t num_entries;
  const weft_rt_program* const* entries;
  int32_t num_params;
  const weft_rt_param* params;
  const unsigned char* weights; /* embedded weights (64-byte aligned); NULL with --external-weights */
  int64_t weights_bytes;
} weft_rt_model;

/* Defined by the generated desc.c. */
extern const weft_rt_model weft_rt_the_model;

#endif /* WEFT_RT_DESC_H */
