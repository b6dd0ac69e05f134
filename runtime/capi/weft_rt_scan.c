/* weft_rt_scan.c — the scan driver: runs a body program once per time step.
 *
 * The semantics are those of Weft's scan op (run_scan in backends/interp/control_kernels.cpp):
 * step t of each sequence is taken along the time axis; the body maps (carries, steps,
 * constants) to (new carries, one step of each stacked output); with `reverse` t runs from the
 * last step down; with lengths, a row b whose sequence has ended (t >= lengths[b]) keeps its
 * carry and emits zeros; with zero steps the final carries are the initial ones and the stacked
 * outputs are empty.
 *
 * Memory, all allocated at create at the bounds: the body's own program state (arena and all),
 * two buffers per carry that take turns as the current carry and the next one (so a body that
 * swaps two carries reads both old values), and per sequence a buffer for one step, used only
 * when a step is not contiguous: when every dim before the time axis is 1 (time outermost) the
 * body reads the step in place.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "weft_rt_internal.h"

struct rt_scan_state {
  rt_prog_state body;
  void** body_inputs;          /* per body input: its memory for the current step */
  int64_t* shapes;             /* per call operand: its shape in this run (RT_MAX_RANK each) */
  const int64_t** body_shapes; /* per body input: its shape in this run */
  int64_t* step_shapes;        /* per sequence: the shape of one step (RT_MAX_RANK each) */
  int64_t* fallback;           /* per body symbol: the enclosing program's value */
  unsigned char* fallback_set;
  unsigned char** carry[2]; /* per carry: the current and the next value, taking turns */
  unsigned char** step;     /* per sequence: one step, or NULL when steps are contiguous */
  int64_t* carry_bytes;     /* per carry: its size in this run */
  unsigned char* frozen;    /* per row: its sequence has ended at this step */
  int64_t max_rows;
};

static int32_t norm_axis(int64_t axis, int32_t rank) { return (int32_t)(axis < 0 ? axis + rank : axis); }

static int32_t no_memory(const weft_rt_call* c) {
  return rt_fail(WEFT_ERR_OUT_OF_MEMORY, "weft_create: out of memory allocating the buffers of %s", c->what);
}

int32_t rt_setup_scan(weft_model* m, const weft_rt_program* p, rt_prog_state* ps, int32_t call) {
  const weft_rt_call* c = &p->calls[call];
  const weft_rt_program* body = c->body;
  rt_scan_state* st = rt_alloc(m, (int64_t)sizeof *st);
  if (!st) return no_memory(c);
  ps->scans[call] = st;
  int32_t rc = rt_setup_program(m, body, &st->body);
  if (rc) return rc;
  int64_t rank_bytes = (int64_t)sizeof(int64_t) * RT_MAX_RANK;
  st->body_inputs = rt_alloc(m, (int64_t)sizeof(void*) * body->num_inputs);
  st->shapes = rt_alloc(m, rank_bytes * c->num_operands);
  st->body_shapes = rt_alloc(m, (int64_t)sizeof(int64_t*) * body->num_inputs);
  st->step_shapes = rt_alloc(m, rank_bytes * c->num_seq);
  st->fallback = rt_alloc(m, (int64_t)sizeof(int64_t) * body->num_symbols);
  st->fallback_set = rt_alloc(m, body->num_symbols);
  st->carry[0] = rt_alloc(m, (int64_t)sizeof(unsigned char*) * c->num_carry);
  st->carry[1] = rt_alloc(m, (int64_t)sizeof(unsigned char*) * c->num_carry);
  st->step = rt_alloc(m, (int64_t)sizeof(unsigned char*) * c->num_seq);
  st->carry_bytes = rt_alloc(m, (int64_t)sizeof(int64_t) * c->num_carry);
  if (!st->carry_bytes || !st->body_inputs || !st->shapes || !st->body_shapes || !st->step_shapes || !st->fallback ||
      !st->fallback_set || !st->carry[0] || !st->carry[1] || !st->step)
    return no_memory(c);
  for (int32_t i = 0; i < c->num_carry; ++i) {
    int64_t bytes;
    if (rt_nbytes_at(&c->types[i], ps->bounds, &bytes) != 0) return no_memory(c);
    if (!(st->carry[0][i] = rt_alloc(m, bytes)) || !(st->carry[1][i] = rt_alloc(m, bytes))) return no_memory(c);
  }
  for (int32_t i = 0; i < c->num_seq; ++i) {
    const weft_rt_value* t = &c->types[c->num_carry + i];
    int32_t axis = norm_axis(c->time_axis, t->rank);
    int64_t shape[RT_MAX_RANK], outer = 1, bytes = (int64_t)rt_dtype_size(t->dtype);
    if (rt_eval_shape(t, ps->bounds, NULL, shape) != 0) return no_memory(c);
    for (int32_t d = 0; d < t->rank; ++d) {
      if (d < axis) outer *= shape[d];
      if (d != axis) bytes *= shape[d]; /* no overflow: the whole sequence fits (checked at create) */
    }
    if (outer > 1 && !(st->step[i] = rt_alloc(m, bytes))) return no_memory(c);
  }
  if (c->has_lengths) {
    if (rt_eval_dim(&c->types[c->num_inputs - 1].shape[0], ps->bounds, NULL, &st->max_rows) != 0 ||
        !(st->frozen = rt_alloc(m, st->max_rows)))
      return no_memory(c);
  }
  return WEFT_OK;
}

/* Step t along `axis` of a tensor of shape `shape`: outer blocks of `inner` bytes, `steps` apart. */
typedef struct rt_axis_split {
  int64_t outer, steps, inner;
} rt_axis_split;

static rt_axis_split split_at(const int64_t* shape, int32_t rank, int32_t axis, size_t elem) {
  rt_axis_split s = {1, shape[axis], (int64_t)elem};
  for (int32_t d = 0; d < rank; ++d) {
    if (d < axis) s.outer *= shape[d];
    if (d > axis) s.inner *= shape[d];
  }
  return s;
}

/* The memory of step t: in place when steps are contiguous, else gathered into `buffer`. */
static void* take_step(unsigned char* seq, rt_axis_split s, int64_t t, unsigned char* buffer) {
  if (s.outer == 1 || !buffer) return seq ? seq + t * s.inner : seq;  /* an empty sequence may have no memory */
  for (int64_t o = 0; o < s.outer; ++o)
    if (s.inner > 0) memcpy(buffer + o * s.inner, seq + (o * s.steps + t) * s.inner, (size_t)s.inner);
  return buffer;
}

/* Writes step t of a stacked output from `y`; rows (dim 0 of y) marked in `frozen` get zeros. */
static void put_step(unsigned char* stacked, const unsigned char* y, const int64_t* shape, int32_t rank, int32_t axis,
                     rt_axis_split s, int64_t t, const unsigned char* frozen, int64_t rows) {
  if (s.inner == 0) return;
  if (frozen && axis == 0 && rank >= 2 && shape[1] > 0) {
    unsigned char* dst = stacked + t * s.inner;
    int64_t row = s.inner / shape[1];
    memcpy(dst, y, (size_t)s.inner);
    for (int64_t b = 0; b < rows && b < shape[1]; ++b)
      if (frozen[b]) memset(dst + b * row, 0, (size_t)row);
    return;
  }
  int64_t per_row = axis > 0 && shape[0] > 0 ? s.outer / shape[0] : 0;
  for (int64_t o = 0; o < s.outer; ++o) {
    unsigned char* dst = stacked + (o * s.steps + t) * s.inner;
    int64_t b = per_row > 0 ? o / per_row : -1;
    if (frozen && b >= 0 && b < rows && frozen[b])
      memset(dst, 0, (size_t)s.inner);
    else
      memcpy(dst, y + o * s.inner, (size_t)s.inner);
  }
}

static int64_t length_at(const void* lengths, int32_t dtype, int64_t b) {
  return dtype == WEFT_I32 ? (int64_t)((const int32_t*)lengths)[b] : ((const int64_t*)lengths)[b];
}

static int32_t fail_scan(const rt_site* site, int32_t status, const char* format, ...)
    __attribute__((format(printf, 3, 4)));

static int32_t fail_scan(const rt_site* site, int32_t status, const char* format, ...) {
  char detail[512];
  va_list args;
  va_start(args, format);
  vsnprintf(detail, sizeof detail, format, args);
  va_end(args);
  return rt_fail(status, "weft_run(%s): %s: %s", site->entry, site->scan, detail);
}

/* Binds the body's symbols from its inputs' shapes (then the enclosing program's values) and
 * checks that its outputs have the shapes the scan expects. */
static int32_t bind_body(const rt_site* site, rt_scan_state* st, const weft_rt_call* c, const rt_prog_state* ps) {
  const weft_rt_program* body = c->body;
  for (int32_t s = 0; s < body->num_symbols; ++s) {
    int32_t outer = body->symbols[s].outer;
    st->fallback_set[s] = outer >= 0 && ps->known[outer];
    st->fallback[s] = outer >= 0 ? ps->sym[outer] : 0;
  }
  int32_t rc =
      rt_bind_symbols(site, &st->body, body->num_inputs, body->inputs, st->body_shapes, st->fallback, st->fallback_set);
  if (!rc) rc = rt_check_symbols(site, &st->body, body->num_inputs, body->inputs, st->body_shapes);
  if (rc) return rc;
  for (int32_t k = 0; k < body->num_outputs; ++k) {
    const weft_rt_value* t = &c->types[c->num_inputs + k];
    const int64_t* want = st->shapes + (int64_t)(c->num_inputs + k) * RT_MAX_RANK;
    int32_t axis = k < c->num_carry ? -1 : norm_axis(c->time_axis, t->rank);
    int64_t got[RT_MAX_RANK];
    if (rt_eval_shape(&body->outputs[k], st->body.sym, NULL, got) != 0)
      return fail_scan(site, WEFT_ERR_SHAPE, "the shape of body output %d overflows", k);
    for (int32_t d = 0, e = 0; d < t->rank; ++d) {
      if (d == axis) continue;
      if (got[e] != want[d])
        return fail_scan(site, WEFT_ERR_SHAPE, "body output %d has %lld in dim %d, unlike the scan's result", k,
                         (long long)got[e], e);
      ++e;
    }
  }
  return WEFT_OK;
}

int32_t rt_run_scan(weft_model* m, rt_prog_state* ps, int32_t call, const rt_site* outer_site) {
  const weft_rt_call* c = &ps->prog->calls[call];
  const weft_rt_program* body = c->body;
  rt_scan_state* st = ps->scans[call];
  rt_site site = {outer_site->entry, c->what};
  int32_t nc = c->num_carry, ns = c->num_seq, ni = c->num_inputs, ny = c->num_operands - ni - nc;
  int32_t nconst = ni - nc - ns - c->has_lengths;
  int64_t* carry_bytes = st->carry_bytes;

  for (int32_t k = 0; k < c->num_operands; ++k)
    if (rt_eval_shape(&c->types[k], ps->sym, NULL, st->shapes + (int64_t)k * RT_MAX_RANK) != 0)
      return fail_scan(&site, WEFT_ERR_SHAPE, "the shape of operand %d overflows", k);
  const int64_t* first = st->shapes + (int64_t)nc * RT_MAX_RANK;
  int64_t steps = first[norm_axis(c->time_axis, c->types[nc].rank)];
  for (int32_t k = nc; k < c->num_operands; ++k) {
    int is_seq = k < nc + ns, is_y = k >= ni + nc;
    if (!is_seq && !is_y) continue;
    int64_t len = st->shapes[(int64_t)k * RT_MAX_RANK + norm_axis(c->time_axis, c->types[k].rank)];
    if (len != steps)
      return fail_scan(&site, WEFT_ERR_SHAPE, "operand %d has %lld steps, but the first sequence has %lld", k,
                       (long long)len, (long long)steps);
  }
  const void* lengths = c->has_lengths ? ps->ptrs[c->buffers[ni - 1]] : NULL;
  int32_t lengths_dtype = c->has_lengths ? c->types[ni - 1].dtype : WEFT_I64;
  int64_t rows = c->has_lengths ? st->shapes[(int64_t)(ni - 1) * RT_MAX_RANK] : 0;
  for (int64_t b = 0; b < rows; ++b) {
    int64_t l = length_at(lengths, lengths_dtype, b);
    if (l < 0 || l > steps)
      return fail_scan(&site, WEFT_ERR_INVALID_VALUE, "lengths[%lld] = %lld is outside [0, %lld] (the sequence length)",
                       (long long)b, (long long)l, (long long)steps);
  }

  for (int32_t i = 0; i < nc; ++i) {
    rt_nbytes(&c->types[i], st->shapes + (int64_t)i * RT_MAX_RANK, &carry_bytes[i]);
    if (carry_bytes[i] > 0) memcpy(st->carry[0][i], ps->ptrs[c->buffers[i]], (size_t)carry_bytes[i]);
  }
  int cur = 0;
  if (steps > 0) {
    /* The body's input shapes: the carries, one step of each sequence, the constants. */
    for (int32_t i = 0; i < ni - c->has_lengths; ++i) {
      const int64_t* shape = st->shapes + (int64_t)i * RT_MAX_RANK;
      st->body_shapes[i] = shape;
      if (i < nc || i >= nc + ns) continue;
      int64_t* step = st->step_shapes + (int64_t)(i - nc) * RT_MAX_RANK;
      int32_t axis = norm_axis(c->time_axis, c->types[i].rank);
      for (int32_t d = 0, e = 0; d < c->types[i].rank; ++d)
        if (d != axis) step[e++] = shape[d];
      st->body_shapes[i] = step;
    }
    int32_t rc = bind_body(&site, st, c, ps);
    if (rc) return rc;
  }
  for (int64_t s = 0; s < steps; ++s) {
    int64_t t = c->reverse ? steps - 1 - s : s;
    for (int32_t i = 0; i < nc; ++i) st->body_inputs[i] = st->carry[cur][i];
    for (int32_t i = 0; i < ns; ++i) {
      const weft_rt_value* type = &c->types[nc + i];
      int32_t axis = norm_axis(c->time_axis, type->rank);
      rt_axis_split split =
          split_at(st->shapes + (int64_t)(nc + i) * RT_MAX_RANK, type->rank, axis, rt_dtype_size(type->dtype));
      st->body_inputs[nc + i] = take_step(ps->ptrs[c->buffers[nc + i]], split, t, st->step[i]);
    }
    for (int32_t j = 0; j < nconst; ++j) st->body_inputs[nc + ns + j] = ps->ptrs[c->buffers[nc + ns + j]];
    int32_t rc = rt_run_program(m, &st->body, st->body_inputs, NULL, &site);
    if (rc) return rc;

    int any_frozen = 0;
    for (int64_t b = 0; b < rows && b < st->max_rows; ++b) {
      st->frozen[b] = t >= length_at(lengths, lengths_dtype, b);
      any_frozen |= st->frozen[b];
    }
    for (int32_t i = 0; i < nc; ++i) {
      unsigned char* next = st->carry[1 - cur][i];
      const unsigned char* old = st->carry[cur][i];
      if (carry_bytes[i] > 0) memcpy(next, st->body.ptrs[body->output_buffers[i]], (size_t)carry_bytes[i]);
      const int64_t* shape = st->shapes + (int64_t)i * RT_MAX_RANK;
      if (!any_frozen || c->types[i].rank == 0 || shape[0] == 0) continue;
      int64_t row = carry_bytes[i] / shape[0];
      for (int64_t b = 0; b < rows && b < shape[0] && b < st->max_rows; ++b)
        if (st->frozen[b] && row > 0) memcpy(next + b * row, old + b * row, (size_t)row);
    }
    for (int32_t j = 0; j < ny; ++j) {
      int32_t k = ni + nc + j;
      const weft_rt_value* type = &c->types[k];
      int32_t axis = norm_axis(c->time_axis, type->rank);
      const int64_t* shape = st->shapes + (int64_t)k * RT_MAX_RANK;
      rt_axis_split split = split_at(shape, type->rank, axis, rt_dtype_size(type->dtype));
      put_step(ps->ptrs[c->buffers[k]], st->body.ptrs[body->output_buffers[nc + j]], shape, type->rank, axis, split, t,
               any_frozen ? st->frozen : NULL, rows < st->max_rows ? rows : st->max_rows);
    }
    cur = 1 - cur;
  }
  for (int32_t i = 0; i < nc; ++i)
    if (carry_bytes[i] > 0) memmove(ps->ptrs[c->buffers[ni + i]], st->carry[cur][i], (size_t)carry_bytes[i]);
  return WEFT_OK;
}
