/* weft_model.h — the C API of a model compiled by weft-compile.
 *
 * weft-compile writes this file next to the shared object as `<model>.h`, with a comment block
 * listing the model's entry points, their inputs and outputs, its parameters and what the shared
 * object links against. The API is the same for every model; only that listing changes.
 *
 * A model has one or more entry points ("forward"; or "encode", "decode_step", "train_step"). An
 * instance (weft_model) owns the model's parameters and optimizer state, a statically planned
 * arena per entry point (sized at the declared bounds of the symbolic dims) and a thread pool.
 * Entry points of one instance share its parameters by name: a train_step updates the weights
 * that a forward entry of the same instance then reads.
 *
 * Every function that can fail returns a weft_status (WEFT_OK = 0) and leaves a message for the
 * calling thread in weft_last_error(). Nothing aborts on bad input: null pointers, unknown names,
 * wrong dtypes or shapes and dims beyond their bounds are reported as errors.
 *
 * Instances are independent: several threads may each run their own instance at the same time
 * without any lock. One instance must not be used by two threads at once.
 *
 * Dtype codes follow Weft's DType: 0 f32, 1 f64, 2 f16, 3 bf16, 4 i32, 5 i64, 6 bool (1 byte).
 * Tensors are dense and row-major.
 */
#ifndef WEFT_MODEL_H
#define WEFT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef WEFT_API
#define WEFT_API
#endif

typedef enum weft_status {
  WEFT_OK = 0,
  WEFT_ERR_NULL_ARGUMENT = 1,   /* a required pointer is NULL */
  WEFT_ERR_NOT_FOUND = 2,       /* no entry, input, output, symbol or parameter of that name or index */
  WEFT_ERR_DTYPE = 3,           /* a tensor's dtype is not the declared one */
  WEFT_ERR_SHAPE = 4,           /* a tensor's rank or shape does not match the declaration */
  WEFT_ERR_DIM_RANGE = 5,       /* a symbolic dim is negative or beyond its declared bound */
  WEFT_ERR_UNBOUND_DIM = 6,     /* a symbolic dim has no value: no input carries it, none was bound */
  WEFT_ERR_WEIGHTS = 7,         /* the weights file is missing, malformed or does not match the model */
  WEFT_ERR_OUT_OF_MEMORY = 8,
  WEFT_ERR_INVALID_VALUE = 9,   /* a value in an input is out of range (an index, a sequence length) */
  WEFT_ERR_INVALID_HANDLE = 10  /* `model` is not a live instance: destroyed already, or not from weft_create */
} weft_status;

typedef enum weft_dtype {
  WEFT_F32 = 0,
  WEFT_F64 = 1,
  WEFT_F16 = 2,
  WEFT_BF16 = 3,
  WEFT_I32 = 4,
  WEFT_I64 = 5,
  WEFT_BOOL = 6
} weft_dtype;

/* An instance of the model. */
typedef struct weft_model weft_model;

/* A tensor passed to or returned from weft_run: the caller owns `shape` and `data`. */
typedef struct weft_tensor {
  int32_t dtype;        /* a weft_dtype */
  int32_t rank;
  const int64_t* shape; /* `rank` sizes */
  void* data;           /* dense row-major elements; inputs are only read */
} weft_tensor;

/* A declared input, output or parameter. Strings and arrays live as long as the loaded model. */
typedef struct weft_value_info {
  const char* name;
  int32_t dtype;
  int32_t rank;
  const int64_t* dims;          /* the static size, or -1 where the dim is symbolic */
  const char* const* dim_names; /* per dim: its text ("B", "2*T") where symbolic, NULL where static */
} weft_value_info;

typedef struct weft_options {
  /* Threads of the instance's pool (the caller's thread included); 0: the machine's cores. */
  int32_t num_threads;
  /* A safetensors file to read the parameters from. NULL: the weights embedded in the shared
   * object (a model compiled with --external-weights has none and needs this or param_data). */
  const char* weights_path;
  /* NULL, or one pointer per parameter, in weft_param_info order: the instance uses the caller's
   * memory as is (no copy; it must outlive the instance), and writes updated state into it. */
  void* const* param_data;
} weft_options;

/* ---- errors */

/* The message of the last failing call made on this thread ("" if none). */
WEFT_API const char* weft_last_error(void);
/* "WEFT_ERR_SHAPE", ... */
WEFT_API const char* weft_status_name(int32_t status);

/* ---- the model's description (no instance needed) */

WEFT_API const char* weft_model_name(void);
WEFT_API int32_t weft_num_entries(void);
/* NULL when `entry` is out of range. */
WEFT_API const char* weft_entry_name(int32_t entry);
WEFT_API int32_t weft_find_entry(const char* name, int32_t* entry);
WEFT_API int32_t weft_num_inputs(int32_t entry);  /* -1 when `entry` is out of range */
WEFT_API int32_t weft_num_outputs(int32_t entry); /* -1 when `entry` is out of range */
WEFT_API int32_t weft_input_info(int32_t entry, int32_t input, weft_value_info* info);
WEFT_API int32_t weft_output_info(int32_t entry, int32_t output, weft_value_info* info);
/* The symbolic dims of an entry ("B", "T") and their declared bounds. */
WEFT_API int32_t weft_num_symbols(int32_t entry); /* -1 when `entry` is out of range */
WEFT_API int32_t weft_symbol_info(int32_t entry, int32_t symbol, const char** name, int64_t* bound);
/* Parameters and optimizer state, shared by every entry of an instance. */
WEFT_API int32_t weft_num_params(void);
WEFT_API int32_t weft_param_info(int32_t param, weft_value_info* info);

/* ---- instances */

/* A new instance; `options` may be NULL (all defaults). */
WEFT_API int32_t weft_create(const weft_options* options, weft_model** model);
/* Frees the instance (NULL is allowed). Every call checks its `model` against the live instances
 * first: a call on a destroyed instance, or a second weft_destroy, is WEFT_ERR_INVALID_HANDLE (for
 * weft_destroy, in weft_last_error), never a read of freed memory. Undefined, as C cannot detect
 * it: destroying an instance while another thread is inside a call on it, and using a stale
 * handle after a later weft_create has been given the same address. */
WEFT_API void weft_destroy(weft_model* model);

/* Sets symbol `symbol` of `entry` for the next runs (0 <= value <= its bound). Symbols that an
 * input's shape carries are bound by weft_run itself; this is for the others, and for asking
 * weft_output_shape before a run. */
WEFT_API int32_t weft_bind_dim(weft_model* model, int32_t entry, const char* symbol, int64_t value);
/* The shape of output `output` under the symbols bound so far (by weft_bind_dim or the last run):
 * writes its rank sizes into `shape` (room for weft_output_info's rank). */
WEFT_API int32_t weft_output_shape(weft_model* model, int32_t entry, int32_t output, int64_t* shape);

/* The shape of input `input` under the symbols bound so far (for allocating it). */
WEFT_API int32_t weft_input_shape(weft_model* model, int32_t entry, int32_t input, int64_t* shape);

/* Runs `entry` once. `inputs` holds num_inputs tensors in declaration order, `outputs`
 * num_outputs tensors whose shape the caller has filled in (weft_output_shape) and whose data has
 * room for them. An output may share memory with an input (it is then computed aside and copied),
 * never with a parameter given as param_data (WEFT_ERR_INVALID_VALUE). Checks every dtype,
 * rank and size, binds the symbols from the inputs' shapes,
 * runs, writes the outputs and applies the parameter updates in place. */
WEFT_API int32_t weft_run(weft_model* model, int32_t entry, const weft_tensor* inputs, int32_t num_inputs,
                          weft_tensor* outputs, int32_t num_outputs);

/* Copies parameter `name` (nbytes must be its exact size) out of / into the instance. */
WEFT_API int32_t weft_get_param(const weft_model* model, const char* name, void* data, size_t nbytes);
WEFT_API int32_t weft_set_param(weft_model* model, const char* name, const void* data, size_t nbytes);

/* ---- generation: greedy decoding and beam search, the loop in C (docs/decoding.md)
 *
 * For a model whose entries "encode" and "decode_step" follow Weft's decoding convention (compile it
 * with `weft-compile --decode greedy|beam`, which checks that): decode_step takes `tokens` i64[R]
 * (each row's previous token), optionally `position` i64[], caches `cache.<name>` [P, ..R..]
 * (their new rows are the outputs `cache.<name>.new`), states `state.<name>` (replaced by the
 * outputs `state.<name>.next`) and other inputs that encode returns by the same name; it returns
 * `logits` f32[R, V]. */
typedef struct weft_generate_options {
  int32_t beam;       /* beams per source: 1 for greedy decoding */
  int64_t bos;        /* the first token of every row */
  int64_t eos;        /* the token that ends a hypothesis */
  int64_t max_length; /* tokens generated at most, EOS included; at most the caches' capacity */
  double alpha;       /* length normalisation: a hypothesis scores log P / length^alpha (0: log P) */
} weft_generate_options;

/* Runs "encode" on `inputs` (its inputs in order; they hold `num_sources` sources), then
 * "decode_step" until every source is done, and writes each source's `beam` best hypotheses, best
 * first (finished ones, ending with EOS, before those cut at max_length): hypothesis j of source b
 * has its tokens at tokens[(b * beam + j) * max_length ...] (the rest of that row filled with eos),
 * its length in lengths[b * beam + j] and its score in scores[b * beam + j] (`scores` may be NULL);
 * a source with fewer hypotheses gets empty ones (length 0, score -inf). `tokens` has room for
 * num_sources × beam × max_length values. Options are checked before anything runs (beam in
 * [1, 1024]), and encode's and decode_step's inputs as weft_run checks them. */
WEFT_API int32_t weft_generate(weft_model* model, const weft_generate_options* options, const weft_tensor* inputs,
                               int32_t num_inputs, int64_t num_sources, int64_t* tokens, int64_t* lengths,
                               double* scores);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_MODEL_H */
