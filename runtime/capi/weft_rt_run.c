/* weft_rt_run.c — weft_run: checking the caller's tensors, binding the symbols, running the calls,
 * writing the outputs and applying the parameter updates.
 *
 * Checks come before anything runs, in this order: pointers and counts; per input its dtype, rank
 * and static dims; then the symbols. A symbol takes its value from the first dim that determines
 * it — single-symbol dims (B, 2*T) first, then products (B*T once T is known) — divided by the
 * rest of the dim, which must divide it, and within the symbol's bound. Symbols no input
 * determines take their weft_bind_dim value. Then every symbol must have a value, and every
 * symbolic dim of every input must equal its declaration under those values; then the outputs'
 * shapes. Messages name the entry, the tensor, its shape and the declared type with its bounds.
 *
 * Updates apply after the outputs are written and all at once, as in the JIT
 * (backends/llvm/llvm_backend.cpp): an update that reads another parameter reads its value from
 * before the run.
 */
#include <string.h>

#include "weft_rt_internal.h"

/* "weft_run(forward)" or "weft_run(forward): scan (scope 'rnn'): body". */
static void add_site(rt_text* t, const rt_site* site) {
  rt_text_add(t, "weft_run(%s)", site->entry);
  if (site->scan) rt_text_add(t, ": %s: body", site->scan);
}

/* "<site>: input 'x' has shape [3, 5], but the model declares f32[B, 4] (B <= 8)<: detail>". */
static int32_t fail_value(int32_t status, const rt_site* site, const weft_rt_program* p, const char* noun,
                          const weft_rt_value* decl, const int64_t* shape, int32_t rank, const char* detail) {
  rt_text t = {.len = 0};
  add_site(&t, site);
  rt_text_add(&t, ": %s '%s' has shape ", noun, decl->name);
  rt_text_shape(&t, shape, rank);
  rt_text_add(&t, ", but the model declares ");
  rt_text_type(&t, p, decl);
  if (detail) rt_text_add(&t, ": %s", detail);
  return rt_fail(status, "%s", t.buf);
}

/* "B = 3 (from input 'x' dim 0)" for each distinct symbol of `dim`. */
static void add_symbol_sources(rt_text* t, const rt_prog_state* ps, const weft_rt_value* decls,
                               const weft_rt_dim* dim) {
  for (int32_t k = 0; k < dim->num_factors; ++k) {
    int32_t s = dim->factors[k], repeat = 0;
    for (int32_t j = 0; j < k; ++j) repeat |= dim->factors[j] == s;
    if (repeat) continue;
    rt_text_add(t, k ? ", %s = %lld" : "%s = %lld", ps->prog->symbols[s].name, (long long)ps->sym[s]);
    if (ps->src_value[s] >= 0)
      rt_text_add(t, " from input '%s' dim %d", decls[ps->src_value[s]].name, ps->src_dim[s]);
    else
      rt_text_add(t, " as bound before the run");
  }
}

/* One sweep over the dims (only those of a single symbol when `singles`): solves each dim with
 * one unknown symbol appearing once, times a known non-zero rest. */
static int32_t solve_sweep(const rt_site* site, rt_prog_state* ps, int32_t n, const weft_rt_value* decls,
                           const int64_t* const* shapes, int singles, int* progress) {
  const weft_rt_program* p = ps->prog;
  for (int32_t i = 0; i < n; ++i) {
    for (int32_t d = 0; d < decls[i].rank; ++d) {
      const weft_rt_dim* dim = &decls[i].shape[d];
      if (singles && dim->num_factors != 1) continue;
      int32_t unknown = -1, occurrences = 0, overflow = 0;
      int64_t rest = dim->coeff;
      for (int32_t k = 0; k < dim->num_factors; ++k) {
        int32_t s = dim->factors[k];
        if (!ps->known[s]) {
          unknown = s;
          ++occurrences;
        } else {
          overflow |= __builtin_mul_overflow(rest, ps->sym[s], &rest);
        }
      }
      if (occurrences != 1 || overflow || rest == 0) continue;
      int64_t value = shapes[i][d];
      rt_text detail = {.len = 0};
      if (value % rest != 0) {
        rt_text_add(&detail, "dim %d (%lld) is not a multiple of %lld", d, (long long)value, (long long)rest);
        if (dim->num_factors > 1) {
          rt_text_add(&detail, " (");
          rt_text_dim(&detail, p, dim);
          rt_text_add(&detail, " without %s)", p->symbols[unknown].name);
        }
        return fail_value(WEFT_ERR_SHAPE, site, p, "input", &decls[i], shapes[i], decls[i].rank, detail.buf);
      }
      value /= rest;
      if (value > p->symbols[unknown].bound) {
        rt_text_add(&detail, "%s = %lld is beyond its bound %lld", p->symbols[unknown].name, (long long)value,
                    (long long)p->symbols[unknown].bound);
        return fail_value(WEFT_ERR_DIM_RANGE, site, p, "input", &decls[i], shapes[i], decls[i].rank, detail.buf);
      }
      ps->sym[unknown] = value;
      ps->known[unknown] = 1;
      ps->src_value[unknown] = i;
      ps->src_dim[unknown] = d;
      *progress = 1;
    }
  }
  return WEFT_OK;
}

int32_t rt_bind_symbols(const rt_site* site, rt_prog_state* ps, int32_t n, const weft_rt_value* decls,
                        const int64_t* const* shapes, const int64_t* fallback, const unsigned char* fallback_set) {
  const weft_rt_program* p = ps->prog;
  for (int32_t s = 0; s < p->num_symbols; ++s) {
    ps->known[s] = 0;
    ps->src_value[s] = -1;
    ps->src_dim[s] = -1;
  }
  /* Single-symbol dims (B, 2*T) first, so that a product (B*T) is checked against them rather
   * than the other way round; then products, as their other factors become known. */
  int progress = 0;
  int32_t rc = solve_sweep(site, ps, n, decls, shapes, 1, &progress);
  for (int more = 1; !rc && more;) {
    do {
      progress = 0;
      rc = solve_sweep(site, ps, n, decls, shapes, 0, &progress);
    } while (!rc && progress);
    more = 0;
    for (int32_t s = 0; !rc && fallback && s < p->num_symbols; ++s) {
      if (ps->known[s] || !fallback_set[s]) continue;
      ps->sym[s] = fallback[s];
      ps->known[s] = 1;
      more = 1;
    }
  }
  return rc;
}

int32_t rt_check_symbols(const rt_site* site, rt_prog_state* ps, int32_t n, const weft_rt_value* decls,
                         const int64_t* const* shapes) {
  const weft_rt_program* p = ps->prog;
  for (int32_t s = 0; s < p->num_symbols; ++s) {
    if (!ps->used[s] || ps->known[s]) continue;
    rt_text t = {.len = 0};
    add_site(&t, site);
    return rt_fail(WEFT_ERR_UNBOUND_DIM,
                   "%s: symbol %s has no value: no input's shape determines it, and it was not bound with "
                   "weft_bind_dim",
                   t.buf, p->symbols[s].name);
  }
  for (int32_t s = 0; s < p->num_symbols; ++s) {
    if (!ps->known[s] || (ps->sym[s] >= 0 && ps->sym[s] <= p->symbols[s].bound)) continue;
    rt_text detail = {.len = 0};
    rt_text_add(&detail, "%s = %lld is beyond its bound %lld", p->symbols[s].name, (long long)ps->sym[s],
                (long long)p->symbols[s].bound);
    int32_t i = ps->src_value[s];
    if (i >= 0)
      return fail_value(WEFT_ERR_DIM_RANGE, site, p, "input", &decls[i], shapes[i], decls[i].rank, detail.buf);
    rt_text t = {.len = 0};
    add_site(&t, site);
    return rt_fail(WEFT_ERR_DIM_RANGE, "%s: %s", t.buf, detail.buf);
  }
  for (int32_t i = 0; i < n; ++i) {
    for (int32_t d = 0; d < decls[i].rank; ++d) {
      const weft_rt_dim* dim = &decls[i].shape[d];
      int64_t want = 0;
      int ok = rt_eval_dim(dim, ps->sym, ps->known, &want) == 0;
      if (ok && want == shapes[i][d]) continue;
      rt_text detail = {.len = 0};
      rt_text_add(&detail, "dim %d is %lld, but ", d, (long long)shapes[i][d]);
      rt_text_dim(&detail, p, dim);
      rt_text_add(&detail, ok ? " = %lld (" : " overflows 64 bits (", (long long)want);
      int32_t s = dim->factors[0];
      if (ok && dim->num_factors == 1 && dim->coeff == 1 && ps->src_value[s] >= 0) /* "B = 2 (from input 'x' dim 0)" */
        rt_text_add(&detail, "from input '%s' dim %d", decls[ps->src_value[s]].name, ps->src_dim[s]);
      else
        add_symbol_sources(&detail, ps, decls, dim);
      rt_text_add(&detail, ")");
      return fail_value(WEFT_ERR_SHAPE, site, p, "input", &decls[i], shapes[i], decls[i].rank, detail.buf);
    }
  }
  return WEFT_OK;
}

/* The index check of a gather or scatter_add call (weft_rt_desc.h): -n <= i < n, or 0 <= i < n. */
static int32_t check_indices(const rt_site* site, rt_prog_state* ps, const weft_rt_call* c) {
  const weft_rt_value* type = &c->types[c->index_operand];
  int64_t shape[RT_MAX_RANK], count, n;
  if (rt_eval_shape(type, ps->sym, NULL, shape) != 0 || rt_numel(shape, type->rank, &count) != 0 ||
      rt_eval_dim(&c->types[c->bound_operand].shape[c->bound_axis], ps->sym, NULL, &n) != 0)
    return rt_fail(WEFT_ERR_SHAPE, "weft_run(%s): %s: the size of its indices overflows", site->entry, c->what);
  const void* data = ps->operands[c->index_operand];
  const int64_t low = c->index_nonnegative ? 0 : -n;
  for (int64_t j = 0; j < count; ++j) {
    int64_t i = type->dtype == WEFT_I32 ? (int64_t)((const int32_t*)data)[j] : ((const int64_t*)data)[j];
    if (i >= low && i < n) continue;
    int64_t position[RT_MAX_RANK];
    for (int64_t d = type->rank - 1, rest = j; d >= 0; --d) {
      position[d] = shape[d] > 0 ? rest % shape[d] : 0;
      rest = shape[d] > 0 ? rest / shape[d] : 0;
    }
    rt_text t = {.len = 0};
    add_site(&t, site);
    rt_text_add(&t, ": %s: index %lld at position ", c->what, (long long)i);
    rt_text_shape(&t, position, type->rank);
    rt_text_add(&t, " of the indices is out of range for axis %d of size %lld (valid: %lld to %lld)", c->bound_axis,
                (long long)n, (long long)low, (long long)(n - 1));
    return rt_fail(WEFT_ERR_INVALID_VALUE, "%s", t.buf);
  }
  return WEFT_OK;
}

/* The empty-axis check of a call's maximums (weft_rt_desc.h): the interpreter's message. */
static int32_t check_maximums(const rt_site* site, rt_prog_state* ps, const weft_rt_call* c) {
  for (int32_t k = 0; k < c->num_maximums; ++k) {
    const weft_rt_maximum* m = &c->maximums[k];
    int64_t shape[RT_MAX_RANK], kept = 1;
    if (rt_eval_shape(&m->operand, ps->sym, NULL, shape) != 0)
      return rt_fail(WEFT_ERR_SHAPE, "weft_run(%s): %s: the size of a reduction's operand overflows", site->entry,
                     c->what);
    int32_t empty_axis = -1;
    for (int32_t d = 0; d < m->operand.rank; ++d) {
      if (!((m->reduced >> d) & 1))
        kept = shape[d] == 0 ? 0 : kept; /* only whether the result is empty matters */
      else if (shape[d] == 0 && empty_axis < 0)
        empty_axis = d;
    }
    if (empty_axis < 0 || kept == 0) continue;
    rt_text t = {.len = 0};
    add_site(&t, site);
    static const char* const names[] = {"reduce_max", "reduce_min", "argmax"};
    rt_text_add(&t, ": %s over an empty axis: axis %d of %s", names[m->op], empty_axis, rt_dtype_name(m->operand.dtype));
    rt_text_shape(&t, shape, m->operand.rank);
    if (m->op == WEFT_RT_ARGMAX)
      rt_text_add(&t, " has size 0, so there is no maximum to index");
    else
      rt_text_add(&t, " has size 0, and the %s of no elements is undefined",
                  m->op == WEFT_RT_REDUCE_MAX ? "maximum" : "minimum");
    if (m->loc && m->loc[0]) rt_text_add(&t, " (at %s)", m->loc);
    return rt_fail(WEFT_ERR_INVALID_VALUE, "%s", t.buf);
  }
  return WEFT_OK;
}

int32_t rt_run_program(weft_model* m, rt_prog_state* ps, void* const* inputs, void* const* direct,
                       const rt_site* site) {
  const weft_rt_program* p = ps->prog;
  for (int32_t b = 0; b < p->num_buffers; ++b) {
    const weft_rt_buffer* buf = &p->buffers[b];
    ps->ptrs[b] = buf->storage == WEFT_RT_INPUT   ? inputs[buf->index]
                  : buf->storage == WEFT_RT_PARAM ? m->params[buf->index]
                  : direct && direct[b]           ? direct[b]
                                                  : ps->arena + buf->offset;
  }
  for (int32_t i = 0; i < p->num_calls; ++i) {
    const weft_rt_call* c = &p->calls[i];
    for (int32_t k = 0; k < c->num_operands; ++k) ps->operands[k] = ps->ptrs[c->buffers[k]];
    if (c->index_operand >= 0) {
      int32_t rc = check_indices(site, ps, c);
      if (rc) return rc;
    }
    if (c->num_maximums > 0) {
      int32_t rc = check_maximums(site, ps, c);
      if (rc) return rc;
    }
    if (c->kind == WEFT_RT_KERNEL) {
      for (int32_t k = 0; k < c->num_dims; ++k) ps->dims[k] = ps->sym[c->dims[k]];
      c->kernel(ps->operands, ps->dims);
    } else {
      int32_t rc = rt_run_scan(m, ps, i, site);
      if (rc) return rc;
    }
  }
  return WEFT_OK;
}

/* ---- weft_run */

static int32_t check_inputs(const rt_site* site, rt_entry* e, const weft_tensor* inputs, int32_t num_inputs) {
  const weft_rt_program* p = e->top.prog;
  if (num_inputs != p->num_inputs)
    return rt_fail(WEFT_ERR_NOT_FOUND, "weft_run(%s): %d inputs given, but the entry declares %d", site->entry,
                   num_inputs, p->num_inputs);
  if (num_inputs > 0 && !inputs) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_run(%s): `inputs` is NULL", site->entry);
  for (int32_t i = 0; i < num_inputs; ++i) {
    const weft_tensor* t = &inputs[i];
    const weft_rt_value* decl = &p->inputs[i];
    rt_text detail = {.len = 0};
    if (t->rank > 0 && !t->shape)
      return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_run(%s): input '%s' has rank %d but its `shape` is NULL",
                     site->entry, decl->name, t->rank);
    if (t->dtype != decl->dtype) {
      rt_text_add(&detail, "weft_run(%s): input '%s' has dtype %s, but the model declares ", site->entry, decl->name,
                  rt_dtype_name(t->dtype));
      rt_text_type(&detail, p, decl);
      return rt_fail(WEFT_ERR_DTYPE, "%s", detail.buf);
    }
    if (t->rank != decl->rank) {
      rt_text_add(&detail, "weft_run(%s): input '%s' has rank %d", site->entry, decl->name, t->rank);
      if (t->rank > 0 && t->rank <= RT_MAX_RANK) {
        rt_text_add(&detail, " (shape ");
        rt_text_shape(&detail, t->shape, t->rank);
        rt_text_add(&detail, ")");
      }
      rt_text_add(&detail, ", but the model declares ");
      rt_text_type(&detail, p, decl);
      return rt_fail(WEFT_ERR_SHAPE, "%s", detail.buf);
    }
    for (int32_t d = 0; d < t->rank; ++d) {
      const weft_rt_dim* dim = &decl->shape[d];
      if (dim->num_factors > 0 || t->shape[d] == dim->coeff) continue;
      rt_text_add(&detail, "dim %d is %lld, not %lld", d, (long long)t->shape[d], (long long)dim->coeff);
      return fail_value(WEFT_ERR_SHAPE, site, p, "input", decl, t->shape, t->rank, detail.buf);
    }
    for (int32_t d = 0; d < t->rank; ++d) { /* then the symbolic ones: negative is out of range */
      if (t->shape[d] >= 0) continue;
      rt_text_add(&detail, "dim %d (", d);
      rt_text_dim(&detail, p, &decl->shape[d]);
      rt_text_add(&detail, ") is negative");
      return fail_value(WEFT_ERR_DIM_RANGE, site, p, "input", decl, t->shape, t->rank, detail.buf);
    }
    e->shapes[i] = t->shape;
  }
  return WEFT_OK;
}

static int32_t check_data(const rt_site* site, const weft_rt_value* decl, const char* noun, const int64_t* shape,
                          const void* data) {
  int64_t bytes;
  if (rt_nbytes(decl, shape, &bytes) != 0)
    return rt_fail(WEFT_ERR_SHAPE, "weft_run(%s): the size of %s '%s' overflows 64 bits", site->entry, noun,
                   decl->name);
  if (bytes > 0 && !data)
    return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_run(%s): %s '%s' holds %lld bytes but its `data` is NULL", site->entry,
                   noun, decl->name, (long long)bytes);
  return WEFT_OK;
}

static int32_t check_outputs(const rt_site* site, rt_prog_state* ps, const weft_tensor* outputs, int32_t num_outputs) {
  const weft_rt_program* p = ps->prog;
  if (num_outputs != p->num_outputs)
    return rt_fail(WEFT_ERR_NOT_FOUND, "weft_run(%s): %d outputs given, but the entry declares %d", site->entry,
                   num_outputs, p->num_outputs);
  if (num_outputs > 0 && !outputs)
    return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_run(%s): `outputs` is NULL", site->entry);
  for (int32_t o = 0; o < num_outputs; ++o) {
    const weft_tensor* t = &outputs[o];
    const weft_rt_value* decl = &p->outputs[o];
    int64_t want[RT_MAX_RANK];
    rt_text msg = {.len = 0};
    if (t->rank > 0 && !t->shape)
      return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_run(%s): output '%s' has rank %d but its `shape` is NULL",
                     site->entry, decl->name, t->rank);
    if (rt_eval_shape(decl, ps->sym, NULL, want) != 0)
      return rt_fail(WEFT_ERR_SHAPE, "weft_run(%s): the shape of output '%s' overflows 64 bits", site->entry,
                     decl->name);
    int status = t->dtype != decl->dtype ? WEFT_ERR_DTYPE : WEFT_OK;
    int same = t->rank == decl->rank;
    for (int32_t d = 0; same && d < t->rank; ++d) same = t->shape[d] == want[d];
    if (!status && !same) status = WEFT_ERR_SHAPE;
    if (status) {
      rt_text_add(&msg, "weft_run(%s): output '%s' is %s", site->entry, decl->name, rt_dtype_name(t->dtype));
      if (t->rank >= 0 && t->rank <= RT_MAX_RANK) rt_text_shape(&msg, t->shape, t->rank);
      rt_text_add(&msg, ", but the run computes %s", rt_dtype_name(decl->dtype));
      rt_text_shape(&msg, want, decl->rank);
      rt_text_add(&msg, " (");
      rt_text_type(&msg, p, decl);
      rt_text_add(&msg, ")");
      return rt_fail(status, "%s", msg.buf);
    }
    int32_t rc = check_data(site, decl, "output", want, t->data);
    if (rc) return rc;
  }
  return WEFT_OK;
}

/* Whether [a, a + an) and [b, b + bn) share a byte. */
static int overlaps(const void* a, int64_t an, const void* b, int64_t bn) {
  uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
  return an > 0 && bn > 0 && x < y + (uintptr_t)bn && y < x + (uintptr_t)an;
}

/* Chooses the outputs computed straight into the caller's memory (rt_entry's `direct`): each
 * output held in an arena slot, when no call checks values at run time, whose tensor shares no
 * byte with an input or another output. Every value planned into such a slot has the output's
 * size (a slot holds one value and those written over it in place), so they all fit. */
static void choose_direct_outputs(rt_entry* e, const weft_tensor* inputs, const weft_tensor* outputs) {
  const weft_rt_program* p = e->top.prog;
  for (int32_t b = 0; b < p->num_buffers; ++b) e->direct[b] = NULL;
  for (int32_t o = 0; o < p->num_outputs; ++o) e->output_direct[o] = 0;
  if (e->checks_values) return;
  for (int32_t o = 0; o < p->num_outputs; ++o) {
    int32_t b = p->output_buffers[o];
    int64_t bytes;
    rt_nbytes(&p->outputs[o], outputs[o].shape, &bytes); /* checked by check_outputs */
    if (p->buffers[b].storage != WEFT_RT_ARENA || e->direct[b] || bytes <= 0) continue;
    int clear = 1;
    for (int32_t i = 0; clear && i < p->num_inputs; ++i) {
      int64_t in_bytes;
      rt_nbytes(&p->inputs[i], inputs[i].shape, &in_bytes); /* checked by check_inputs */
      clear = !overlaps(outputs[o].data, bytes, inputs[i].data, in_bytes);
    }
    for (int32_t k = 0; clear && k < p->num_outputs; ++k) {
      int64_t other;
      if (k == o) continue;
      rt_nbytes(&p->outputs[k], outputs[k].shape, &other);
      clear = !overlaps(outputs[o].data, bytes, outputs[k].data, other);
    }
    if (!clear) continue;
    e->direct[b] = outputs[o].data;
    e->output_direct[o] = 1;
  }
}

/* An output whose memory is also a parameter's (param_data lent to weft_create) would be written
 * while the run still reads the parameter, or overwritten by the parameter's update: refused. */
static int32_t check_outputs_apart_from_params(const rt_site* site, const weft_model* m, const weft_rt_program* p,
                                              const weft_tensor* outputs) {
  const weft_rt_model* d = m->desc;
  for (int32_t o = 0; o < p->num_outputs; ++o) {
    int64_t bytes;
    rt_nbytes(&p->outputs[o], outputs[o].shape, &bytes); /* checked by check_outputs */
    for (int32_t k = 0; k < d->num_params; ++k)
      if (overlaps(outputs[o].data, bytes, m->params[k], d->params[k].nbytes))
        return rt_fail(WEFT_ERR_INVALID_VALUE,
                       "weft_run(%s): output '%s' shares memory with parameter '%s' (param_data given to "
                       "weft_create): an output must not overlap a parameter",
                       site->entry, p->outputs[o].name, d->params[k].name);
  }
  return WEFT_OK;
}

static void write_outputs(rt_entry* e, rt_prog_state* ps, weft_tensor* outputs) {
  const weft_rt_program* p = ps->prog;
  for (int32_t o = 0; o < p->num_outputs; ++o) {
    if (e->output_direct[o]) continue; /* computed in place */
    int64_t bytes;
    rt_nbytes(&p->outputs[o], outputs[o].shape, &bytes); /* checked by check_outputs */
    if (bytes > 0) memmove(outputs[o].data, ps->ptrs[p->output_buffers[o]], (size_t)bytes);
  }
}

static void apply_updates(weft_model* m, rt_entry* e) {
  const weft_rt_program* p = e->top.prog;
  int64_t at = 0;
  for (int32_t k = 0; k < p->num_updates; ++k) { /* first, stage what reads another parameter */
    const weft_rt_buffer* b = &p->buffers[p->update_buffers[k]];
    int64_t bytes = m->desc->params[p->update_params[k]].nbytes;
    if (b->storage != WEFT_RT_PARAM || b->index == p->update_params[k]) continue;
    if (bytes > 0) memcpy(e->staging + at, e->top.ptrs[p->update_buffers[k]], (size_t)bytes);
    at += (bytes + RT_ALIGN - 1) / RT_ALIGN * RT_ALIGN;
  }
  at = 0;
  for (int32_t k = 0; k < p->num_updates; ++k) {
    const weft_rt_buffer* b = &p->buffers[p->update_buffers[k]];
    int32_t param = p->update_params[k];
    int64_t bytes = m->desc->params[param].nbytes;
    if (b->storage == WEFT_RT_PARAM && b->index == param) continue; /* written in place */
    const void* src = e->top.ptrs[p->update_buffers[k]];
    if (b->storage == WEFT_RT_PARAM) {
      src = e->staging + at;
      at += (bytes + RT_ALIGN - 1) / RT_ALIGN * RT_ALIGN;
    }
    if (bytes > 0 && src != m->params[param]) memmove(m->params[param], src, (size_t)bytes);
  }
}

int32_t weft_run(weft_model* model, int32_t entry, const weft_tensor* inputs, int32_t num_inputs, weft_tensor* outputs,
                 int32_t num_outputs) {
  int32_t live_rc = rt_check_instance("weft_run", model);
  if (live_rc) return live_rc;
  if (entry < 0 || entry >= model->desc->num_entries)
    return rt_fail(WEFT_ERR_NOT_FOUND, "weft_run: entry %d is out of range (model '%s' has %d entries)", entry,
                   model->desc->name, model->desc->num_entries);
  rt_entry* e = &model->entries[entry];
  rt_prog_state* ps = &e->top;
  const weft_rt_program* p = ps->prog;
  rt_site site = {p->name, NULL};
  int32_t rc = check_inputs(&site, e, inputs, num_inputs);
  if (!rc) rc = rt_bind_symbols(&site, ps, p->num_inputs, p->inputs, e->shapes, e->bound_value, e->bound_set);
  if (!rc) rc = rt_check_symbols(&site, ps, p->num_inputs, p->inputs, e->shapes);
  for (int32_t i = 0; !rc && i < num_inputs; ++i) {
    rc = check_data(&site, &p->inputs[i], "input", inputs[i].shape, inputs[i].data);
    e->input_data[i] = inputs[i].data;
  }
  if (!rc) rc = check_outputs(&site, ps, outputs, num_outputs);
  if (!rc) rc = check_outputs_apart_from_params(&site, model, p, outputs);
  if (rc) return rc;

  choose_direct_outputs(e, inputs, outputs);
  rt_pool_binding previous = rt_pool_enter(model->pool);
  rc = rt_run_program(model, ps, e->input_data, e->direct, &site);
  rt_pool_leave(previous);
  if (rc) return rc;
  write_outputs(e, ps, outputs);
  apply_updates(model, e);
  for (int32_t s = 0; s < p->num_symbols; ++s) {
    if (!ps->known[s]) continue;
    e->bound_value[s] = ps->sym[s];
    e->bound_set[s] = 1;
  }
  return WEFT_OK;
}

/* A hidden name of weft_run for the runtime's own use (see weft_rt.c). */
extern __typeof__(weft_run) rt_api_run __attribute__((alias("weft_run")));
