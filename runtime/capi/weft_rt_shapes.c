/* weft_rt_shapes.c — dtypes, dims as monomials of the symbols, and the text of shapes and types
 * for messages.
 *
 * Every size computation checks for overflow: a shape comes from the caller, and a product of
 * in-range dims can still exceed 64 bits.
 */
#include <stdarg.h>
#include <stdio.h>

#include "weft_rt_internal.h"

size_t rt_dtype_size(int32_t dtype) {
  static const size_t sizes[] = {4, 8, 2, 2, 4, 8, 1}; /* in weft_dtype order */
  return dtype >= 0 && dtype <= WEFT_BOOL ? sizes[dtype] : 0;
}

const char* rt_dtype_name(int32_t dtype) {
  static const char* const names[] = {"f32", "f64", "f16", "bf16", "i32", "i64", "bool"};
  return dtype >= 0 && dtype <= WEFT_BOOL ? names[dtype] : "(not a weft_dtype)";
}

int rt_eval_dim(const weft_rt_dim* d, const int64_t* sym, const unsigned char* known, int64_t* out) {
  int64_t v = d->coeff;
  for (int32_t k = 0; k < d->num_factors; ++k) {
    int32_t s = d->factors[k];
    if (known && !known[s]) return -1;
    if (__builtin_mul_overflow(v, sym[s], &v)) return -1;
  }
  *out = v;
  return 0;
}

int rt_eval_shape(const weft_rt_value* v, const int64_t* sym, const unsigned char* known, int64_t* shape) {
  for (int32_t d = 0; d < v->rank; ++d)
    if (rt_eval_dim(&v->shape[d], sym, known, &shape[d]) != 0) return -1;
  return 0;
}

int rt_numel(const int64_t* shape, int32_t rank, int64_t* out) {
  int64_t n = 1;
  for (int32_t d = 0; d < rank; ++d)
    if (shape[d] < 0 || __builtin_mul_overflow(n, shape[d], &n)) return -1;
  *out = n;
  return 0;
}

int rt_nbytes(const weft_rt_value* v, const int64_t* shape, int64_t* out) {
  int64_t n;
  if (rt_numel(shape, v->rank, &n) != 0) return -1;
  if (__builtin_mul_overflow(n, (int64_t)rt_dtype_size(v->dtype), &n)) return -1;
  *out = n;
  return 0;
}

int rt_nbytes_at(const weft_rt_value* v, const int64_t* sym, int64_t* out) {
  int64_t shape[RT_MAX_RANK];
  if (v->rank > RT_MAX_RANK || rt_eval_shape(v, sym, NULL, shape) != 0) return -1;
  return rt_nbytes(v, shape, out);
}

/* ---- text */

void rt_text_add(rt_text* t, const char* format, ...) {
  if (t->len + 1 >= sizeof t->buf) return;
  va_list args;
  va_start(args, format);
  int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, format, args);
  va_end(args);
  if (n < 0) return;
  t->len += (size_t)n;
  if (t->len >= sizeof t->buf) t->len = sizeof t->buf - 1;
}

void rt_text_shape(rt_text* t, const int64_t* shape, int32_t rank) {
  rt_text_add(t, "[");
  for (int32_t d = 0; d < rank; ++d) rt_text_add(t, d ? ", %lld" : "%lld", (long long)shape[d]);
  rt_text_add(t, "]");
}

void rt_text_dim(rt_text* t, const weft_rt_program* p, const weft_rt_dim* d) {
  if (d->num_factors == 0) {
    rt_text_add(t, "%lld", (long long)d->coeff);
    return;
  }
  if (d->coeff != 1) rt_text_add(t, "%lld*", (long long)d->coeff);
  for (int32_t k = 0; k < d->num_factors; ++k) rt_text_add(t, k ? "*%s" : "%s", p->symbols[d->factors[k]].name);
}

void rt_text_type(rt_text* t, const weft_rt_program* p, const weft_rt_value* v) {
  rt_text_add(t, "%s[", rt_dtype_name(v->dtype));
  for (int32_t d = 0; d < v->rank; ++d) {
    if (d) rt_text_add(t, ", ");
    rt_text_dim(t, p, &v->shape[d]);
  }
  rt_text_add(t, "]");
  /* The bounds of the symbols it names, each once, in order of appearance. */
  int listed = 0;
  for (int32_t d = 0; d < v->rank; ++d) {
    for (int32_t k = 0; k < v->shape[d].num_factors; ++k) {
      int32_t s = v->shape[d].factors[k];
      int seen = 0;
      for (int32_t e = 0; e <= d && !seen; ++e)
        for (int32_t j = 0; j < (e < d ? v->shape[e].num_factors : k) && !seen; ++j) seen = v->shape[e].factors[j] == s;
      if (seen) continue;
      rt_text_add(t, listed ? ", %s <= %lld" : " (%s <= %lld", p->symbols[s].name, (long long)p->symbols[s].bound);
      listed = 1;
    }
  }
  if (listed) rt_text_add(t, ")");
}
