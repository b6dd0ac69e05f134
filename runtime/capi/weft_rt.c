/* weft_rt.c — the C API of a compiled model (weft_model.h): errors, the model's description,
 * instances (their parameters and memory), symbol binding and parameter access. weft_run itself
 * is in weft_rt_run.c.
 *
 * An instance's parameters come from one of three places, chosen at create: the caller's
 * pointers (param_data: used in place, never copied; with weights_path too, the file is read into
 * them), a safetensors file (weights_path: read into memory the instance owns), or the weights
 * embedded in the shared object. Embedded weights that no entry updates are used in place,
 * read-only, so that many instances share one copy; updated ones are copied into each instance.
 * weft_set_param on a read-only parameter makes the instance's own copy first.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft_rt_internal.h"

/* ---- errors */

static _Thread_local char tl_message[1024];

int32_t rt_fail(int32_t status, const char* format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(tl_message, sizeof tl_message, format, args);
  va_end(args);
  return status;
}

const char* weft_last_error(void) { return tl_message; }

const char* weft_status_name(int32_t status) {
  static const char* const names[] = {"WEFT_OK",
                                      "WEFT_ERR_NULL_ARGUMENT",
                                      "WEFT_ERR_NOT_FOUND",
                                      "WEFT_ERR_DTYPE",
                                      "WEFT_ERR_SHAPE",
                                      "WEFT_ERR_DIM_RANGE",
                                      "WEFT_ERR_UNBOUND_DIM",
                                      "WEFT_ERR_WEIGHTS",
                                      "WEFT_ERR_OUT_OF_MEMORY",
                                      "WEFT_ERR_INVALID_VALUE",
                                      "WEFT_ERR_INVALID_HANDLE"};
  if (status < 0 || status > WEFT_ERR_INVALID_HANDLE) return "WEFT_ERR_UNKNOWN";
  return names[status];
}

/* ---- the model's description */

static const weft_rt_model* model_desc(void) { return &weft_rt_the_model; }

static const weft_rt_program* entry_program(int32_t entry) {
  const weft_rt_model* d = model_desc();
  return entry >= 0 && entry < d->num_entries ? d->entries[entry] : NULL;
}

static int32_t fail_entry(const char* fn, int32_t entry) {
  return rt_fail(WEFT_ERR_NOT_FOUND, "%s: entry %d is out of range (model '%s' has %d entries)", fn, entry,
                 model_desc()->name, model_desc()->num_entries);
}

static void fill_info(weft_value_info* info, const char* name, const weft_rt_value* v) {
  info->name = name;
  info->dtype = v->dtype;
  info->rank = v->rank;
  info->dims = v->static_dims;
  info->dim_names = v->dim_names;
}

const char* weft_model_name(void) { return model_desc()->name; }

int32_t weft_num_entries(void) { return model_desc()->num_entries; }

const char* weft_entry_name(int32_t entry) {
  const weft_rt_program* p = entry_program(entry);
  if (!p) {
    fail_entry("weft_entry_name", entry);
    return NULL;
  }
  return p->name;
}

int32_t weft_find_entry(const char* name, int32_t* entry) {
  if (!name) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_find_entry: `name` is NULL");
  if (!entry) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_find_entry: `entry` (where to write the index) is NULL");
  const weft_rt_model* d = model_desc();
  rt_text names = {.len = 0};
  for (int32_t e = 0; e < d->num_entries; ++e) {
    if (strcmp(d->entries[e]->name, name) == 0) {
      *entry = e;
      return WEFT_OK;
    }
    rt_text_add(&names, e ? ", %s" : "%s", d->entries[e]->name);
  }
  return rt_fail(WEFT_ERR_NOT_FOUND, "weft_find_entry: model '%s' has no entry named '%s' (its entries: %s)", d->name,
                 name, names.buf);
}

int32_t weft_num_inputs(int32_t entry) {
  const weft_rt_program* p = entry_program(entry);
  if (!p) return fail_entry("weft_num_inputs", entry), -1;
  return p->num_inputs;
}

int32_t weft_num_outputs(int32_t entry) {
  const weft_rt_program* p = entry_program(entry);
  if (!p) return fail_entry("weft_num_outputs", entry), -1;
  return p->num_outputs;
}

static int32_t value_info(const char* fn, const char* kind, int32_t entry, int32_t index, weft_value_info* info,
                          int outputs) {
  if (!info) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "%s: `info` is NULL", fn);
  const weft_rt_program* p = entry_program(entry);
  if (!p) return fail_entry(fn, entry);
  int32_t n = outputs ? p->num_outputs : p->num_inputs;
  if (index < 0 || index >= n)
    return rt_fail(WEFT_ERR_NOT_FOUND, "%s(%s): %s %d is out of range (the entry has %d)", fn, p->name, kind, index, n);
  const weft_rt_value* v = outputs ? &p->outputs[index] : &p->inputs[index];
  fill_info(info, v->name, v);
  return WEFT_OK;
}

int32_t weft_input_info(int32_t entry, int32_t input, weft_value_info* info) {
  return value_info("weft_input_info", "input", entry, input, info, 0);
}

int32_t weft_output_info(int32_t entry, int32_t output, weft_value_info* info) {
  return value_info("weft_output_info", "output", entry, output, info, 1);
}

int32_t weft_num_symbols(int32_t entry) {
  const weft_rt_program* p = entry_program(entry);
  if (!p) return fail_entry("weft_num_symbols", entry), -1;
  return p->num_symbols;
}

int32_t weft_symbol_info(int32_t entry, int32_t symbol, const char** name, int64_t* bound) {
  if (!name || !bound)
    return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_symbol_info: `%s` is NULL", name ? "bound" : "name");
  const weft_rt_program* p = entry_program(entry);
  if (!p) return fail_entry("weft_symbol_info", entry);
  if (symbol < 0 || symbol >= p->num_symbols)
    return rt_fail(WEFT_ERR_NOT_FOUND, "weft_symbol_info(%s): symbol %d is out of range (the entry has %d)", p->name,
                   symbol, p->num_symbols);
  *name = p->symbols[symbol].name;
  *bound = p->symbols[symbol].bound;
  return WEFT_OK;
}

int32_t weft_num_params(void) { return model_desc()->num_params; }

int32_t weft_param_info(int32_t param, weft_value_info* info) {
  if (!info) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_param_info: `info` is NULL");
  const weft_rt_model* d = model_desc();
  if (param < 0 || param >= d->num_params)
    return rt_fail(WEFT_ERR_NOT_FOUND, "weft_param_info: parameter %d is out of range (model '%s' has %d)", param,
                   d->name, d->num_params);
  fill_info(info, d->params[param].name, &d->params[param].type);
  return WEFT_OK;
}

/* ---- instances */

void* rt_alloc(weft_model* m, int64_t bytes) {
  if (bytes < 0 || bytes > INT64_MAX - RT_ALIGN) return NULL;
  if (m->num_allocs == m->cap_allocs) {
    size_t cap = m->cap_allocs ? 2 * m->cap_allocs : 32;
    void** grown = realloc(m->allocs, cap * sizeof *grown);
    if (!grown) return NULL;
    m->allocs = grown;
    m->cap_allocs = cap;
  }
  size_t size = (size_t)((bytes + RT_ALIGN - 1) / RT_ALIGN * RT_ALIGN);
  if (size == 0) size = RT_ALIGN;
  void* p = aligned_alloc(RT_ALIGN, size);
  if (!p) return NULL;
  memset(p, 0, size);
  m->allocs[m->num_allocs++] = p;
  return p;
}

static int32_t out_of_memory(const char* what, int64_t bytes) {
  return rt_fail(WEFT_ERR_OUT_OF_MEMORY, "weft_create: out of memory allocating %s (%lld bytes)", what,
                 (long long)bytes);
}

static int32_t setup_params(weft_model* m, const weft_options* options) {
  const weft_rt_model* d = m->desc;
  void* const* given = options ? options->param_data : NULL;
  const char* path = options ? options->weights_path : NULL;
  for (int32_t p = 0; p < d->num_params; ++p) {
    const weft_rt_param* param = &d->params[p];
    m->writable[p] = 1;
    if (given) {
      m->params[p] = given[p];
      if (!given[p] && param->nbytes > 0)
        return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_create: param_data[%d] (parameter '%s', %lld bytes) is NULL", p,
                       param->name, (long long)param->nbytes);
      if (!given[p] && !(m->params[p] = rt_alloc(m, 0))) return out_of_memory("a parameter", 0);
    } else if (path) {
      if (!(m->params[p] = rt_alloc(m, param->nbytes))) return out_of_memory(param->name, param->nbytes);
    } else if (!d->weights || param->offset < 0) {
      return rt_fail(WEFT_ERR_WEIGHTS,
                     "weft_create: model '%s' has no embedded weights (parameter '%s' is external: it was compiled "
                     "with --external-weights); pass weft_options.weights_path or param_data",
                     d->name, param->name);
    } else if (param->updated) {
      if (!(m->params[p] = rt_alloc(m, param->nbytes))) return out_of_memory(param->name, param->nbytes);
      if (param->nbytes > 0) memcpy(m->params[p], d->weights + param->offset, (size_t)param->nbytes);
    } else {
      m->params[p] = (void*)(d->weights + param->offset); /* read-only: never written (updated == 0) */
      m->writable[p] = 0;
    }
  }
  return path ? rt_load_weights(d, path, m->params) : WEFT_OK;
}

static int32_t setup_entry(weft_model* m, const weft_rt_program* p, rt_entry* e) {
  int32_t rc = rt_setup_program(m, p, &e->top);
  if (rc) return rc;
  e->bound_value = rt_alloc(m, (int64_t)sizeof(int64_t) * p->num_symbols);
  e->bound_set = rt_alloc(m, p->num_symbols);
  e->shapes = rt_alloc(m, (int64_t)sizeof(int64_t*) * p->num_inputs);
  e->input_data = rt_alloc(m, (int64_t)sizeof(void*) * p->num_inputs);
  e->direct = rt_alloc(m, (int64_t)sizeof(void*) * p->num_buffers);
  e->output_direct = rt_alloc(m, p->num_outputs);
  if (!e->bound_value || !e->bound_set || !e->shapes || !e->input_data || !e->direct || !e->output_direct)
    return out_of_memory("an entry's tables", 0);
  for (int32_t i = 0; i < p->num_calls; ++i) {
    const weft_rt_call* c = &p->calls[i];
    e->checks_values |= c->kind == WEFT_RT_SCAN || c->index_operand >= 0 || c->num_maximums > 0;
  }
  /* Updates that read another parameter's buffer are staged, so that all take the values from
   * before the run (a swap stays a swap). */
  int64_t staged = 0;
  for (int32_t k = 0; k < p->num_updates; ++k) {
    const weft_rt_buffer* b = &p->buffers[p->update_buffers[k]];
    if (b->storage == WEFT_RT_PARAM && b->index != p->update_params[k])
      staged += (m->desc->params[p->update_params[k]].nbytes + RT_ALIGN - 1) / RT_ALIGN * RT_ALIGN;
  }
  if (staged > 0 && !(e->staging = rt_alloc(m, staged))) return out_of_memory("the staging of updates", staged);
  return WEFT_OK;
}

/* ---- live instances
 *
 * Every handle a call receives is looked up here before it is dereferenced, so that a call on a
 * destroyed instance (or on a pointer weft_create never returned) is WEFT_ERR_INVALID_HANDLE rather
 * than a read of freed memory. The list is small (one entry per live instance) and the lookup is a
 * scan under a mutex: nanoseconds beside a run. What C cannot detect: a handle destroyed on one
 * thread while another thread is inside a call on it, and a stale handle whose address a later
 * weft_create happens to reuse (weft_model.h says so). */

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static const weft_model** live;
static size_t num_live, cap_live;

static int live_add(const weft_model* m) {
  pthread_mutex_lock(&live_lock);
  int ok = 1;
  if (num_live == cap_live) {
    size_t cap = cap_live ? 2 * cap_live : 16;
    const weft_model** grown = realloc(live, cap * sizeof *grown);
    if (grown) {
      live = grown;
      cap_live = cap;
    } else {
      ok = 0;
    }
  }
  if (ok) live[num_live++] = m;
  pthread_mutex_unlock(&live_lock);
  return ok;
}

/* Removes `m`; returns whether it was live. */
static int live_remove(const weft_model* m) {
  pthread_mutex_lock(&live_lock);
  int found = 0;
  for (size_t i = 0; i < num_live && !found; ++i) {
    if (live[i] != m) continue;
    live[i] = live[--num_live];
    found = 1;
  }
  if (num_live == 0) { /* the last instance: nothing of the list outlives a dlclose of the model */
    free(live);
    live = NULL;
    cap_live = 0;
  }
  pthread_mutex_unlock(&live_lock);
  return found;
}

int32_t rt_check_instance(const char* fn, const weft_model* m) {
  if (!m) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "%s: `model` is NULL", fn);
  pthread_mutex_lock(&live_lock);
  int found = 0;
  for (size_t i = 0; i < num_live && !found; ++i) found = live[i] == m;
  pthread_mutex_unlock(&live_lock);
  if (!found)
    return rt_fail(WEFT_ERR_INVALID_HANDLE,
                   "%s: `model` is not a live instance (destroyed already, or not made by weft_create)", fn);
  return WEFT_OK;
}

static void destroy_instance(weft_model* model) {
  if (!model) return;
  if (model->pool) rt_pool_destroy(model->pool);
  for (size_t i = 0; i < model->num_allocs; ++i) free(model->allocs[i]);
  free(model->allocs);
  free(model);
}

int32_t weft_create(const weft_options* options, weft_model** model) {
  if (!model) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_create: `model` (where to write the instance) is NULL");
  *model = NULL;
  const weft_rt_model* d = model_desc();
  int32_t rc = rt_check_model(d);
  if (rc) return rc;
  int32_t threads = options ? options->num_threads : 0;
  if (threads < 0 || threads > 1024)
    return rt_fail(WEFT_ERR_INVALID_VALUE,
                   "weft_create: num_threads is %d, but it must be in [0, 1024] (0: the machine's cores)", threads);
  if (threads == 0) threads = rt_default_threads();

  weft_model* m = calloc(1, sizeof *m);
  if (!m) return out_of_memory("the instance", (int64_t)sizeof *m);
  m->desc = d;
  m->params = rt_alloc(m, (int64_t)sizeof(void*) * d->num_params);
  m->writable = rt_alloc(m, d->num_params);
  m->entries = rt_alloc(m, (int64_t)sizeof(rt_entry) * d->num_entries);
  if (!m->params || !m->writable || !m->entries) rc = out_of_memory("the instance's tables", 0);
  if (!rc) rc = setup_params(m, options);
  for (int32_t e = 0; !rc && e < d->num_entries; ++e) rc = setup_entry(m, d->entries[e], &m->entries[e]);
  if (!rc && !(m->pool = rt_pool_create(threads)))
    rc = rt_fail(WEFT_ERR_OUT_OF_MEMORY, "weft_create: cannot start a pool of %d threads", threads);
  if (!rc && !live_add(m)) rc = out_of_memory("the list of live instances", 0);
  if (rc) {
    destroy_instance(m);
    return rc;
  }
  *model = m;
  return WEFT_OK;
}

void weft_destroy(weft_model* model) {
  if (!model) return;
  /* A second destroy, or a pointer that is not an instance, is refused (and said in
   * weft_last_error) instead of freeing it again. */
  if (!live_remove(model)) {
    rt_check_instance("weft_destroy", model);
    return;
  }
  destroy_instance(model);
}

/* ---- symbols */

static void list_symbols(rt_text* t, const weft_rt_program* p) {
  for (int32_t s = 0; s < p->num_symbols; ++s) rt_text_add(t, s ? ", %s" : "%s", p->symbols[s].name);
  if (p->num_symbols == 0) rt_text_add(t, "none");
}

int32_t weft_bind_dim(weft_model* model, int32_t entry, const char* symbol, int64_t value) {
  int32_t live_rc = rt_check_instance("weft_bind_dim", model);
  if (live_rc) return live_rc;
  if (!symbol) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "weft_bind_dim: `symbol` is NULL");
  const weft_rt_program* p = entry_program(entry);
  if (!p) return fail_entry("weft_bind_dim", entry);
  for (int32_t s = 0; s < p->num_symbols; ++s) {
    if (strcmp(p->symbols[s].name, symbol) != 0) continue;
    if (value < 0 || value > p->symbols[s].bound)
      return rt_fail(WEFT_ERR_DIM_RANGE, "weft_bind_dim(%s): %s = %lld is outside [0, %lld] (its declared bound)",
                     p->name, symbol, (long long)value, (long long)p->symbols[s].bound);
    model->entries[entry].bound_value[s] = value;
    model->entries[entry].bound_set[s] = 1;
    return WEFT_OK;
  }
  rt_text names = {.len = 0};
  list_symbols(&names, p);
  return rt_fail(WEFT_ERR_NOT_FOUND, "weft_bind_dim(%s): the entry has no symbol named '%s' (its symbols: %s)", p->name,
                 symbol, names.buf);
}

/* The shape of an input or output under the symbols bound so far (weft_bind_dim, the last run). */
static int32_t value_shape(const char* fn, const char* kind, weft_model* model, int32_t entry, int32_t index,
                           int64_t* shape, int outputs) {
  int32_t live_rc = rt_check_instance(fn, model);
  if (live_rc) return live_rc;
  const weft_rt_program* p = entry_program(entry);
  if (!p) return fail_entry(fn, entry);
  int32_t n = outputs ? p->num_outputs : p->num_inputs;
  if (index < 0 || index >= n)
    return rt_fail(WEFT_ERR_NOT_FOUND, "%s(%s): %s %d is out of range (the entry has %d)", fn, p->name, kind, index, n);
  const rt_entry* e = &model->entries[entry];
  const weft_rt_value* v = outputs ? &p->outputs[index] : &p->inputs[index];
  /* A scalar has no sizes to write: `shape` may then be NULL. */
  if (!shape && v->rank > 0)
    return rt_fail(WEFT_ERR_NULL_ARGUMENT, "%s(%s): `shape` is NULL, but %s '%s' has rank %d", fn, p->name, kind,
                   v->name, v->rank);
  for (int32_t d = 0; d < v->rank; ++d) {
    const weft_rt_dim* dim = &v->shape[d];
    for (int32_t k = 0; k < dim->num_factors; ++k) {
      int32_t s = dim->factors[k];
      if (e->bound_set[s]) continue;
      rt_text type = {.len = 0};
      rt_text_type(&type, p, v);
      return rt_fail(WEFT_ERR_UNBOUND_DIM,
                     "%s(%s): %s '%s' is %s, and %s has no value yet: bind it with weft_bind_dim or run the entry", fn,
                     p->name, kind, v->name, type.buf, p->symbols[s].name);
    }
    if (rt_eval_dim(dim, e->bound_value, NULL, &shape[d]) != 0)
      return rt_fail(WEFT_ERR_DIM_RANGE, "%s(%s): dim %d of %s '%s' overflows 64 bits", fn, p->name, d, kind, v->name);
  }
  return WEFT_OK;
}

int32_t weft_output_shape(weft_model* model, int32_t entry, int32_t output, int64_t* shape) {
  return value_shape("weft_output_shape", "output", model, entry, output, shape, 1);
}

int32_t weft_input_shape(weft_model* model, int32_t entry, int32_t input, int64_t* shape) {
  return value_shape("weft_input_shape", "input", model, entry, input, shape, 0);
}

/* ---- parameters */

static int32_t find_param(const char* fn, const char* name, const void* data, size_t nbytes, int32_t* out) {
  if (!name) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "%s: `name` is NULL", fn);
  const weft_rt_model* d = model_desc();
  for (int32_t p = 0; p < d->num_params; ++p) {
    if (strcmp(d->params[p].name, name) != 0) continue;
    rt_text type = {.len = 0};
    rt_text_type(&type, NULL, &d->params[p].type);
    if ((uint64_t)nbytes != (uint64_t)d->params[p].nbytes)
      return rt_fail(WEFT_ERR_SHAPE, "%s: parameter '%s' is %s (%lld bytes), but nbytes is %zu", fn, name, type.buf,
                     (long long)d->params[p].nbytes, nbytes);
    if (!data && nbytes > 0) return rt_fail(WEFT_ERR_NULL_ARGUMENT, "%s: `data` is NULL", fn);
    *out = p;
    return WEFT_OK;
  }
  return rt_fail(WEFT_ERR_NOT_FOUND, "%s: model '%s' has no parameter named '%s'", fn, d->name, name);
}

int32_t weft_get_param(const weft_model* model, const char* name, void* data, size_t nbytes) {
  int32_t p;
  int32_t rc = rt_check_instance("weft_get_param", model);
  if (!rc) rc = find_param("weft_get_param", name, data, nbytes, &p);
  if (rc) return rc;
  if (nbytes > 0) memcpy(data, model->params[p], nbytes);
  return WEFT_OK;
}

int32_t weft_set_param(weft_model* model, const char* name, const void* data, size_t nbytes) {
  int32_t p;
  int32_t rc = rt_check_instance("weft_set_param", model);
  if (!rc) rc = find_param("weft_set_param", name, data, nbytes, &p);
  if (rc) return rc;
  if (!model->writable[p]) {
    /* The embedded weights are shared and read-only: this instance gets its own copy. */
    void* own = rt_alloc(model, (int64_t)nbytes);
    if (!own)
      return rt_fail(WEFT_ERR_OUT_OF_MEMORY, "weft_set_param: out of memory copying parameter '%s' (%zu bytes)", name,
                     nbytes);
    model->params[p] = own;
    model->writable[p] = 1;
  }
  if (nbytes > 0) memmove(model->params[p], data, nbytes);
  return WEFT_OK;
}

/* Hidden names of API functions for the runtime's own use (weft_rt_generate.c), bound inside this
 * shared object so that another model's exported copy cannot interpose them. */
extern __typeof__(weft_bind_dim) rt_api_bind_dim __attribute__((alias("weft_bind_dim")));
extern __typeof__(weft_output_shape) rt_api_output_shape __attribute__((alias("weft_output_shape")));
