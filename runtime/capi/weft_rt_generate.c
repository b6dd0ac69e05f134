/* weft_rt_generate.c — weft_generate: greedy decoding and beam search over the entries "encode" and
 * "decode_step", with the loop in C (the C++ frontend's decode::greedy_decode and
 * decode::beam_search, frontend/decode.cpp, follow the same rules; docs/decoding.md).
 *
 * The step's inputs are read by name: `tokens` i64[R] (R, the rows, is a symbol), optionally
 * `position` i64[], caches `cache.<name>` whose dim 0 is the cache-length symbol P (the output
 * `cache.<name>.new` is the row written into slot `position` after each step), states
 * `state.<name>` (replaced by `state.<name>.next`), and fixed inputs that encode returns under the
 * same name. Every such input names R in exactly one dim: the row axis, along which sources are
 * repeated into beams and beams reordered (a gather of rows; for the caches, of the filled slots
 * only). Each cache lives in one buffer of the full capacity (P's bound), position-major, so the
 * filled prefix is passed to decode_step as is.
 *
 * Rows: b·k + j is beam j of source b. Beam search: each live beam's 2k best tokens are the
 * source's candidates; an EOS among the k best candidates ends a hypothesis; the k best others go
 * on. A source is done when it has k finished hypotheses and no live beam can beat the k-th (its
 * log P only falls and its length is at most max_length). Memory is allocated per call and freed
 * before returning.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft_rt_internal.h"

enum { KIND_FIXED = 0, KIND_CACHE = 1, KIND_STATE = 2 };

typedef struct gen_value {
  int32_t kind;
  int32_t input;     /* the step's input index */
  int32_t output;    /* cache: `.new`, state: `.next`; -1 otherwise */
  int32_t row_axis;  /* in the step input's dims */
  int32_t rank;
  int64_t shape[RT_MAX_RANK]; /* fixed, state: the value's shape (rows along row_axis); cache: [capacity, ...] */
  size_t elem;
  unsigned char* data;    /* fixed, state, cache: the current value */
  unsigned char* scratch; /* state: the next value; cache: the gather target */
} gen_value;

typedef struct gen_hyp {
  int64_t length;
  double log_prob, score;
} gen_hyp;

static int starts_with(const char* s, const char* prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int32_t find_output(const weft_rt_program* p, const char* name) {
  for (int32_t o = 0; o < p->num_outputs; ++o)
    if (strcmp(p->outputs[o].name, name) == 0) return o;
  return -1;
}

static int32_t find_input(const weft_rt_program* p, const char* name) {
  for (int32_t i = 0; i < p->num_inputs; ++i)
    if (strcmp(p->inputs[i].name, name) == 0) return i;
  return -1;
}

static int64_t product(const int64_t* shape, int32_t from, int32_t to) {
  int64_t n = 1;
  for (int32_t d = from; d < to; ++d) n *= shape[d];
  return n;
}

/* dst[o, r, :] = src[o, index[r], :] for o < outer, viewing both as [outer, rows, inner bytes]. */
static void gather_rows(unsigned char* dst, const unsigned char* src, int64_t outer, int64_t rows_in, int64_t rows_out,
                        size_t inner, const int64_t* index) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t r = 0; r < rows_out; ++r)
      memcpy(dst + ((size_t)(o * rows_out + r)) * inner, src + ((size_t)(o * rows_in + index[r])) * inner, inner);
}

static int cmp_desc(double a, double b) { return a > b ? -1 : a < b ? 1 : 0; }

typedef struct gen_candidate {
  double log_prob;
  int64_t row, token;
} gen_candidate;

static int cmp_candidate(const void* x, const void* y) {
  const gen_candidate* a = x;
  const gen_candidate* b = y;
  int c = cmp_desc(a->log_prob, b->log_prob);
  if (c) return c;
  return a->row != b->row ? (a->row < b->row ? -1 : 1) : (a->token < b->token ? -1 : a->token > b->token);
}

static double normalized(double log_prob, int64_t length, double alpha) {
  return alpha == 0.0 ? log_prob : log_prob / pow((double)length, alpha);
}

/* Everything weft_generate allocates, freed at the end. */
typedef struct gen_state {
  void* blocks[4096];
  int32_t num_blocks;
} gen_state;

static void* gen_alloc(gen_state* g, size_t bytes) {
  if (g->num_blocks == (int32_t)(sizeof g->blocks / sizeof g->blocks[0])) return NULL;
  void* p = calloc(1, bytes ? bytes : 1);
  if (p) g->blocks[g->num_blocks++] = p;
  return p;
}

static void gen_free(gen_state* g) {
  for (int32_t i = 0; i < g->num_blocks; ++i) free(g->blocks[i]);
  g->num_blocks = 0;
}

#define GEN_ALLOC(ptr, bytes)                                                               \
  do {                                                                                       \
    (ptr) = gen_alloc(&g, (size_t)(bytes));                                                  \
    if (!(ptr)) {                                                                            \
      status = rt_fail(WEFT_ERR_OUT_OF_MEMORY, "weft_generate: out of memory");              \
      goto done;                                                                             \
    }                                                                                        \
  } while (0)

/* Binds every single-symbol dim of `entry`'s inputs from `shapes`, then sizes its outputs. */
static int32_t bind_and_size(weft_model* m, int32_t entry, const int64_t* const* in_shapes, int64_t (*out_shapes)[RT_MAX_RANK]) {
  const weft_rt_program* p = m->desc->entries[entry];
  for (int32_t i = 0; i < p->num_inputs; ++i)
    for (int32_t d = 0; d < p->inputs[i].rank; ++d) {
      const char* name = p->inputs[i].dim_names[d];
      if (name && !strchr(name, '*')) {
        int32_t s = rt_api_bind_dim(m, entry, name, in_shapes[i][d]);
        if (s != WEFT_OK) return s;
      }
    }
  for (int32_t o = 0; o < p->num_outputs; ++o) {
    int32_t s = rt_api_output_shape(m, entry, o, out_shapes[o]);
    if (s != WEFT_OK) return s;
  }
  return WEFT_OK;
}

int32_t weft_generate(weft_model* model, const weft_generate_options* options, const weft_tensor* inputs,
                      int32_t num_inputs, int64_t num_sources, int64_t* tokens, int64_t* lengths, double* scores) {
  int32_t live_rc = rt_check_instance("weft_generate", model);
  if (live_rc != WEFT_OK) return live_rc;
  if (!options) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_generate: `options` is NULL");
  if (!tokens) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_generate: `tokens` is NULL");
  if (!lengths) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_generate: `lengths` is NULL");
  if (!inputs && num_inputs > 0) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_generate: `inputs` is NULL");
  const weft_generate_options o = *options;
  if (o.beam < 1 || o.beam > 1024)
    return rt_fail(WEFT_ERR_INVALID_VALUE, "weft_generate: beam must be in [1, 1024], but is %d", o.beam);
  if (o.max_length < 1)
    return rt_fail(WEFT_ERR_INVALID_VALUE, "weft_generate: max_length must be at least 1, but is %lld",
                   (long long)o.max_length);
  if (!(o.alpha >= 0.0) || isinf(o.alpha))
    return rt_fail(WEFT_ERR_INVALID_VALUE, "weft_generate: alpha must be finite and >= 0, but is %g", o.alpha);
  const weft_rt_model* d = model->desc;
  int32_t enc = -1, step = -1;
  for (int32_t e = 0; e < d->num_entries; ++e) {
    if (strcmp(d->entries[e]->name, "encode") == 0) enc = e;
    if (strcmp(d->entries[e]->name, "decode_step") == 0) step = e;
  }
  if (enc < 0 || step < 0)
    return rt_fail(WEFT_ERR_NOT_FOUND, "weft_generate: model '%s' needs the entries 'encode' and 'decode_step'",
                   d->name);
  const weft_rt_program* sp = d->entries[step];
  const weft_rt_program* ep = d->entries[enc];
  if (num_inputs != ep->num_inputs)
    return rt_fail(WEFT_ERR_NOT_FOUND, "weft_generate: encode takes %d inputs, but %d were given", ep->num_inputs,
                   num_inputs);

  /* The step's signature (weft-compile --decode checked it; checked again, cheaply). */
  int32_t tokens_in = find_input(sp, "tokens"), position_in = find_input(sp, "position");
  int32_t logits_out = find_output(sp, "logits");
  if (tokens_in < 0 || logits_out < 0 || sp->inputs[tokens_in].rank != 1 || !sp->inputs[tokens_in].dim_names[0] ||
      sp->inputs[tokens_in].dtype != WEFT_I64 || sp->num_inputs > 64 ||
      sp->outputs[logits_out].rank != 2 || sp->outputs[logits_out].dtype != WEFT_F32)
    return rt_fail(WEFT_ERR_NOT_FOUND,
                   "weft_generate: decode_step needs an input `tokens` i64[R], an output `logits` f32[R, V] and at "
                   "most 64 inputs");
  const char* rows_symbol = sp->inputs[tokens_in].dim_names[0];
  const int64_t k = o.beam, sources = num_sources, rows = num_sources * o.beam;
  int64_t capacity = -1;

  gen_state g = {.num_blocks = 0};
  int32_t status = WEFT_OK;
  gen_value* values = NULL;
  int32_t num_values = 0;
  GEN_ALLOC(values, sizeof(gen_value) * (size_t)(sp->num_inputs + 1));

  /* ---- encode */
  int64_t(*enc_shapes)[RT_MAX_RANK] = NULL;
  unsigned char** enc_data = NULL;
  weft_tensor* enc_out = NULL;
  const int64_t** enc_in_shapes = NULL;
  GEN_ALLOC(enc_shapes, sizeof *enc_shapes * (size_t)(ep->num_outputs + 1));
  GEN_ALLOC(enc_data, sizeof *enc_data * (size_t)(ep->num_outputs + 1));
  GEN_ALLOC(enc_out, sizeof *enc_out * (size_t)(ep->num_outputs + 1));
  GEN_ALLOC(enc_in_shapes, sizeof *enc_in_shapes * (size_t)(ep->num_inputs + 1));
  for (int32_t i = 0; i < num_inputs; ++i) {
    if (!inputs[i].shape && inputs[i].rank > 0) {
      status = rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_generate: input %d's shape is NULL", i);
      goto done;
    }
    if (inputs[i].rank != ep->inputs[i].rank) {
      status = rt_fail(WEFT_ERR_SHAPE, "weft_generate: encode's input '%s' has rank %d, but the tensor has rank %d",
                       ep->inputs[i].name, ep->inputs[i].rank, inputs[i].rank);
      goto done;
    }
    enc_in_shapes[i] = inputs[i].shape;
  }
  if ((status = bind_and_size(model, enc, enc_in_shapes, enc_shapes)) != WEFT_OK) goto done;
  for (int32_t out = 0; out < ep->num_outputs; ++out) {
    int64_t n = product(enc_shapes[out], 0, ep->outputs[out].rank);
    GEN_ALLOC(enc_data[out], (size_t)n * rt_dtype_size(ep->outputs[out].dtype));
    enc_out[out] = (weft_tensor){ep->outputs[out].dtype, ep->outputs[out].rank, enc_shapes[out], enc_data[out]};
  }
  if ((status = rt_api_run(model, enc, inputs, num_inputs, enc_out, ep->num_outputs)) != WEFT_OK) goto done;

  /* ---- the step's inputs: where each comes from, and its row axis */
  for (int32_t i = 0; i < sp->num_inputs; ++i) {
    if (i == tokens_in || i == position_in) continue;
    const weft_rt_value* in = &sp->inputs[i];
    gen_value* v = &values[num_values++];
    v->input = i;
    v->output = -1;
    v->kind = starts_with(in->name, "cache.") ? KIND_CACHE : starts_with(in->name, "state.") ? KIND_STATE : KIND_FIXED;
    v->rank = in->rank;
    v->elem = rt_dtype_size(in->dtype);
    v->row_axis = -1;
    for (int32_t a = v->kind == KIND_CACHE ? 1 : 0; a < in->rank; ++a)
      if (in->dim_names[a] && strcmp(in->dim_names[a], rows_symbol) == 0) {
        if (v->row_axis >= 0) v->row_axis = -2;
        if (v->row_axis == -1) v->row_axis = a;
      }
    if (v->row_axis < 0) {
      status = rt_fail(WEFT_ERR_SHAPE, "weft_generate: decode_step's input '%s' must have the rows symbol %s in exactly one dim",
                       in->name, rows_symbol);
      goto done;
    }
    if (v->kind == KIND_CACHE) {
      char name[512];
      snprintf(name, sizeof name, "%s.new", in->name);
      v->output = find_output(sp, name);
      const char* p = in->rank > 0 ? in->dim_names[0] : NULL;
      int64_t bound = -1;
      for (int32_t s = 0; p && s < sp->num_symbols; ++s)
        if (strcmp(sp->symbols[s].name, p) == 0) bound = sp->symbols[s].bound;
      if (v->output < 0 || bound < 0 || (capacity >= 0 && bound != capacity)) {
        status = rt_fail(WEFT_ERR_SHAPE, "weft_generate: cache '%s' needs an output '%s' and a first dim shared by every cache",
                         in->name, name);
        goto done;
      }
      capacity = bound;
      v->shape[0] = capacity;
      for (int32_t a = 1; a < in->rank; ++a) {
        if (in->dim_names[a] && a != v->row_axis) {
          status = rt_fail(WEFT_ERR_SHAPE, "weft_generate: cache '%s' may have no symbol but its length and the rows",
                           in->name);
          goto done;
        }
        v->shape[a] = a == v->row_axis ? rows : in->static_dims[a];
      }
      size_t bytes = (size_t)product(v->shape, 0, v->rank) * v->elem;
      GEN_ALLOC(v->data, bytes);
      GEN_ALLOC(v->scratch, bytes);
      continue;
    }
    if (v->kind == KIND_STATE) {
      char name[512];
      snprintf(name, sizeof name, "%s.next", in->name);
      v->output = find_output(sp, name);
      if (v->output < 0) {
        status = rt_fail(WEFT_ERR_NOT_FOUND, "weft_generate: state '%s' needs an output '%s'", in->name, name);
        goto done;
      }
    }
    int32_t from = -1;
    for (int32_t out = 0; out < ep->num_outputs; ++out)
      if (strcmp(ep->outputs[out].name, in->name) == 0) from = out;
    if (from < 0 || ep->outputs[from].rank != in->rank || ep->outputs[from].dtype != in->dtype) {
      status = rt_fail(WEFT_ERR_NOT_FOUND, "weft_generate: encode has no output '%s' of decode_step's type", in->name);
      goto done;
    }
    if (enc_shapes[from][v->row_axis] != sources) {
      status = rt_fail(WEFT_ERR_SHAPE, "weft_generate: encode's output '%s' has %lld sources, but num_sources is %lld",
                       in->name, (long long)enc_shapes[from][v->row_axis], (long long)sources);
      goto done;
    }
    memcpy(v->shape, enc_shapes[from], sizeof(int64_t) * (size_t)in->rank);
    v->shape[v->row_axis] = rows;
    size_t bytes = (size_t)product(v->shape, 0, v->rank) * v->elem;
    GEN_ALLOC(v->data, bytes);
    GEN_ALLOC(v->scratch, bytes);
    int64_t* expand;
    GEN_ALLOC(expand, sizeof(int64_t) * (size_t)rows);
    for (int64_t r = 0; r < rows; ++r) expand[r] = r / k;  /* every beam of a source starts as the source */
    gather_rows(v->data, enc_data[from], product(v->shape, 0, v->row_axis), sources, rows,
                (size_t)product(v->shape, v->row_axis + 1, v->rank) * v->elem, expand);
  }
  if (capacity >= 0 && position_in < 0) {
    status = rt_fail(WEFT_ERR_NOT_FOUND, "weft_generate: decode_step has caches but no input `position`");
    goto done;
  }
  if (capacity >= 0 && o.max_length > capacity) {
    status = rt_fail(WEFT_ERR_INVALID_VALUE, "weft_generate: max_length %lld exceeds the caches' capacity %lld",
                     (long long)o.max_length, (long long)capacity);
    goto done;
  }

  /* ---- the loop */
  int64_t vocab = sp->outputs[logits_out].static_dims[1];
  if (vocab < 1) {
    status = rt_fail(WEFT_ERR_SHAPE, "weft_generate: decode_step's logits need a static vocabulary size");
    goto done;
  }
  int64_t *row_tokens, *last, *parent, *next, *history, *next_history;
  double *log_prob, *next_log_prob, *lp;
  unsigned char* source_done;
  gen_hyp* finished;  /* per source: up to k */
  int64_t* finished_tokens;
  int32_t* num_finished;
  const int64_t** step_shapes;
  weft_tensor *step_in, *step_out;
  int64_t(*out_shapes)[RT_MAX_RANK];
  unsigned char** out_data;
  size_t* out_bytes;
  gen_candidate* cands;
  int64_t* ids;
  GEN_ALLOC(row_tokens, sizeof(int64_t) * (size_t)rows);
  GEN_ALLOC(last, sizeof(int64_t) * (size_t)rows);
  GEN_ALLOC(parent, sizeof(int64_t) * (size_t)rows);
  GEN_ALLOC(next, sizeof(int64_t) * (size_t)rows);
  GEN_ALLOC(history, sizeof(int64_t) * (size_t)(rows * o.max_length));
  GEN_ALLOC(next_history, sizeof(int64_t) * (size_t)(rows * o.max_length));
  GEN_ALLOC(log_prob, sizeof(double) * (size_t)rows);
  GEN_ALLOC(next_log_prob, sizeof(double) * (size_t)rows);
  GEN_ALLOC(lp, sizeof(double) * (size_t)(rows * vocab));
  GEN_ALLOC(source_done, (size_t)sources);
  GEN_ALLOC(finished, sizeof(gen_hyp) * (size_t)(sources * k));
  GEN_ALLOC(finished_tokens, sizeof(int64_t) * (size_t)(sources * k * o.max_length));
  GEN_ALLOC(num_finished, sizeof(int32_t) * (size_t)sources);
  GEN_ALLOC(step_shapes, sizeof *step_shapes * (size_t)sp->num_inputs);
  GEN_ALLOC(step_in, sizeof *step_in * (size_t)sp->num_inputs);
  GEN_ALLOC(step_out, sizeof *step_out * (size_t)(sp->num_outputs + 1));
  GEN_ALLOC(out_shapes, sizeof *out_shapes * (size_t)(sp->num_outputs + 1));
  GEN_ALLOC(out_data, sizeof *out_data * (size_t)(sp->num_outputs + 1));
  GEN_ALLOC(out_bytes, sizeof *out_bytes * (size_t)(sp->num_outputs + 1));
  GEN_ALLOC(cands, sizeof(gen_candidate) * (size_t)(2 * k * k));
  GEN_ALLOC(ids, sizeof(int64_t) * (size_t)vocab);
  const int64_t row_count = rows, zero_rank_shape = 0;
  int64_t position = 0, step_count = 0;
  for (int64_t r = 0; r < rows; ++r) {
    last[r] = o.bos;
    log_prob[r] = r % k == 0 ? 0.0 : -INFINITY;  /* one live beam per source to start */
  }
  for (int64_t t = 0; t < o.max_length; ++t) {
    position = t;
    step_count = t + 1;
    step_shapes[tokens_in] = &row_count;
    step_in[tokens_in] = (weft_tensor){WEFT_I64, 1, &row_count, last};
    if (position_in >= 0) {
      step_shapes[position_in] = &zero_rank_shape;
      step_in[position_in] = (weft_tensor){WEFT_I64, 0, &zero_rank_shape, &position};
    }
    int64_t prefix_shapes[64][RT_MAX_RANK];
    for (int32_t i = 0; i < num_values; ++i) {
      gen_value* v = &values[i];
      const int64_t* shape = v->shape;
      if (v->kind == KIND_CACHE) {
        memcpy(prefix_shapes[i], v->shape, sizeof(int64_t) * (size_t)v->rank);
        prefix_shapes[i][0] = step_count;
        shape = prefix_shapes[i];
      }
      step_shapes[v->input] = shape;
      step_in[v->input] = (weft_tensor){sp->inputs[v->input].dtype, v->rank, shape, v->data};
    }
    if ((status = bind_and_size(model, step, step_shapes, out_shapes)) != WEFT_OK) goto done;
    for (int32_t out = 0; out < sp->num_outputs; ++out) {
      size_t bytes = (size_t)product(out_shapes[out], 0, sp->outputs[out].rank) * rt_dtype_size(sp->outputs[out].dtype);
      if (!out_data[out] || bytes > out_bytes[out]) {  /* an output that grows with the step gets a larger buffer */
        GEN_ALLOC(out_data[out], bytes);
        out_bytes[out] = bytes;
      }
      step_out[out] = (weft_tensor){sp->outputs[out].dtype, sp->outputs[out].rank, out_shapes[out], out_data[out]};
    }
    for (int32_t i = 0; i < num_values; ++i)  /* a state's next value is written into its scratch */
      if (values[i].kind == KIND_STATE) step_out[values[i].output].data = values[i].scratch;
    if ((status = rt_api_run(model, step, step_in, sp->num_inputs, step_out, sp->num_outputs)) != WEFT_OK) goto done;
    for (int32_t i = 0; i < num_values; ++i) {
      gen_value* v = &values[i];
      if (v->kind == KIND_STATE) {
        unsigned char* swap = v->data;
        v->data = v->scratch;
        v->scratch = swap;
      } else if (v->kind == KIND_CACHE) {  /* the new row goes into slot t, in place */
        size_t slot = (size_t)product(v->shape, 1, v->rank) * v->elem;
        memcpy(v->data + (size_t)t * slot, out_data[v->output], slot);
      }
    }
    const float* logits = (const float*)out_data[logits_out];
    for (int64_t r = 0; r < rows; ++r) {  /* log_softmax in double */
      const float* x = logits + r * vocab;
      double m = x[0], total = 0.0;
      for (int64_t c = 1; c < vocab; ++c) m = x[c] > m ? x[c] : m;
      for (int64_t c = 0; c < vocab; ++c) total += exp((double)x[c] - m);
      double lse = m + log(total);
      for (int64_t c = 0; c < vocab; ++c) lp[r * vocab + c] = (double)x[c] - lse;
    }

    /* ---- selection */
    int all_done = 1;
    for (int64_t r = 0; r < rows; ++r) {
      parent[r] = r;
      next[r] = o.eos;
      next_log_prob[r] = -INFINITY;
    }
    for (int64_t b = 0; b < sources; ++b) {
      if (source_done[b]) continue;
      int64_t n = 0;
      for (int64_t j = 0; j < k; ++j) {
        int64_t r = b * k + j;
        if (log_prob[r] == -INFINITY) continue;
        const double* row = lp + r * vocab;
        int64_t top = 2 * k < vocab ? 2 * k : vocab;
        for (int64_t c = 0; c < vocab; ++c) ids[c] = c;
        for (int64_t s = 0; s < top; ++s) {  /* partial selection sort: the first maximum first */
          int64_t best = s;
          for (int64_t c = s + 1; c < vocab; ++c)
            if (row[ids[c]] > row[ids[best]] || (row[ids[c]] == row[ids[best]] && ids[c] < ids[best])) best = c;
          int64_t tmp = ids[s];
          ids[s] = ids[best];
          ids[best] = tmp;
          cands[n++] = (gen_candidate){log_prob[r] + row[ids[s]], r, ids[s]};
        }
      }
      /* stable by (log P desc, row, token): the order the C++ search's stable sort gives */
      qsort(cands, (size_t)n, sizeof *cands, cmp_candidate);
      int64_t filled = 0;
      for (int64_t rank = 0; rank < n && filled < k; ++rank) {
        const gen_candidate* c = &cands[rank];
        if (c->token == o.eos) {
          if (rank >= k) continue;  /* EOS ends a hypothesis only among the k best */
          {
            double score = normalized(c->log_prob, t + 1, o.alpha);
            /* insert into the source's k best finished, by score (stable: earlier first on ties) */
            int32_t at = num_finished[b];
            while (at > 0 && finished[b * k + at - 1].score < score) --at;
            if (at < k) {
              int32_t last_kept = num_finished[b] < k ? num_finished[b] : (int32_t)k - 1;
              for (int32_t s = last_kept; s > at; --s) {
                finished[b * k + s] = finished[b * k + s - 1];
                memcpy(finished_tokens + (b * k + s) * o.max_length, finished_tokens + (b * k + s - 1) * o.max_length,
                       sizeof(int64_t) * (size_t)o.max_length);
              }
              finished[b * k + at] = (gen_hyp){t + 1, c->log_prob, score};
              int64_t* dst = finished_tokens + (b * k + at) * o.max_length;
              memcpy(dst, history + c->row * o.max_length, sizeof(int64_t) * (size_t)t);
              dst[t] = o.eos;
              if (num_finished[b] < k) ++num_finished[b];
            }
          }
          continue;
        }
        int64_t r = b * k + filled++;
        parent[r] = c->row;
        next[r] = c->token;
        next_log_prob[r] = c->log_prob;
      }
      if (num_finished[b] >= k) {
        double best_alive = -INFINITY;
        for (int64_t j = 0; j < k; ++j) best_alive = next_log_prob[b * k + j] > best_alive ? next_log_prob[b * k + j] : best_alive;
        if (best_alive / pow((double)o.max_length, o.alpha) <= finished[b * k + k - 1].score) source_done[b] = 1;
      }
      if (k == 1 && num_finished[b] >= 1) source_done[b] = 1;  /* greedy: a row ends at EOS */
      all_done = all_done && source_done[b];
    }

    /* ---- reorder: a gather of rows by parent (caches: the filled slots only) */
    int identity = 1;
    for (int64_t r = 0; r < rows; ++r) identity = identity && parent[r] == r;
    if (!identity) {
      for (int32_t i = 0; i < num_values; ++i) {
        gen_value* v = &values[i];
        if (v->kind == KIND_FIXED) continue;  /* a source's beams share its fixed inputs */
        int64_t outer = product(v->shape, 0, v->row_axis);
        if (v->kind == KIND_CACHE) outer = outer / capacity * (t + 1);
        gather_rows(v->scratch, v->data, outer, rows, rows, (size_t)product(v->shape, v->row_axis + 1, v->rank) * v->elem,
                    parent);
        unsigned char* swap = v->data;
        v->data = v->scratch;
        v->scratch = swap;
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      memcpy(next_history + r * o.max_length, history + parent[r] * o.max_length, sizeof(int64_t) * (size_t)t);
      next_history[r * o.max_length + t] = next[r];
    }
    int64_t* swap_history = history;
    history = next_history;
    next_history = swap_history;
    double* swap_lp = log_prob;
    log_prob = next_log_prob;
    next_log_prob = swap_lp;
    memcpy(last, next, sizeof(int64_t) * (size_t)rows);
    if (all_done) break;
  }

  /* ---- results: per source its k best, finished ones (by score) before live ones (by score) */
  for (int64_t b = 0; b < sources; ++b) {
    int64_t filled = 0;
    for (int32_t f = 0; f < num_finished[b] && filled < k; ++f, ++filled) {
      int64_t* out = tokens + (b * k + filled) * o.max_length;
      for (int64_t i = 0; i < o.max_length; ++i) out[i] = o.eos;
      memcpy(out, finished_tokens + (b * k + f) * o.max_length, sizeof(int64_t) * (size_t)finished[b * k + f].length);
      lengths[b * k + filled] = finished[b * k + f].length;
      if (scores) scores[b * k + filled] = finished[b * k + f].score;
    }
    unsigned char taken[1024] = {0};  /* live beams already written (k <= 1024 here; larger k: see below) */
    while (!source_done[b] && filled < k) {
      int64_t best = -1;
      double best_score = -INFINITY;
      for (int64_t j = 0; j < k && j < 1024; ++j) {
        int64_t r = b * k + j;
        if (taken[j] || log_prob[r] == -INFINITY) continue;
        double score = normalized(log_prob[r], step_count, o.alpha);
        if (best < 0 || score > best_score) best = j, best_score = score;
      }
      if (best < 0) break;
      taken[best] = 1;
      int64_t* out = tokens + (b * k + filled) * o.max_length;
      for (int64_t i = 0; i < o.max_length; ++i) out[i] = o.eos;
      memcpy(out, history + (b * k + best) * o.max_length, sizeof(int64_t) * (size_t)step_count);
      lengths[b * k + filled] = step_count;
      if (scores) scores[b * k + filled] = best_score;
      ++filled;
    }
    for (; filled < k; ++filled) {  /* fewer than k hypotheses: empty ones */
      int64_t* out = tokens + (b * k + filled) * o.max_length;
      for (int64_t i = 0; i < o.max_length; ++i) out[i] = o.eos;
      lengths[b * k + filled] = 0;
      if (scores) scores[b * k + filled] = -INFINITY;
    }
  }

done:
  gen_free(&g);
  return status;
}
