/* weft_rt_safetensors.c — reading a model's parameters from a safetensors file (weights_path).
 *
 * The file is user input and is trusted in nothing. The rules are those of Weft's own reader
 * (ir/safetensors.cpp, docs/weights.md): an 8-byte little-endian header length N (at most 100 MB,
 * within the file), N bytes of JSON — one object mapping each tensor's name to an object with
 * exactly "dtype" (F32, F64, F16, BF16, I32, I64, BOOL), "shape" (non-negative integers) and
 * "data_offsets" ([begin, end], non-negative integers, relative to the data region), plus an
 * optional "__metadata__" object of strings — then the data region, which the tensors must tile
 * exactly (no overlap, no hole). The file names exactly the model's parameters (no extra tensor). Duplicate keys, trailing characters, invalid UTF-8 and numbers
 * that are not non-negative integers are rejected. Every failure is WEFT_ERR_WEIGHTS with a
 * message naming the file, the tensor and the numbers that disagree.
 *
 * The JSON parser knows this one structure (no general JSON tree, no recursion). Only the header
 * is read into memory; each parameter's bytes are then read straight into its buffer.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "weft_rt_internal.h"

#define ST_MAX_HEADER 100000000ull

typedef struct st_tensor {
  char* name;
  size_t name_len;
  int32_t dtype;
  int64_t* shape;
  int32_t rank;
  uint64_t begin, end;
} st_tensor;

typedef struct st_key {
  const char* text;
  size_t len;
} st_key;

typedef struct st_parser {
  const char* path;
  const char* s; /* the header */
  size_t n;
  size_t i;
  uint64_t data_size;
  st_tensor* tensors;
  size_t count, cap;
  st_key* meta;
  size_t meta_count, meta_cap;
  char** strings; /* metadata strings to free */
  size_t num_strings, cap_strings;
  int seen_meta;
} st_parser;

static int32_t st_fail(const st_parser* P, const char* format, ...) __attribute__((format(printf, 2, 3)));

static int32_t st_fail(const st_parser* P, const char* format, ...) {
  char what[600];
  va_list args;
  va_start(args, format);
  vsnprintf(what, sizeof what, format, args);
  va_end(args);
  return rt_fail(WEFT_ERR_WEIGHTS, "weft_create: weights file '%s': %s", P->path, what);
}

/* Names are printed up to 200 bytes (a hostile name could be megabytes). */
#define NAME_ARG(t) (int)((t)->name_len < 200 ? (t)->name_len : 200), (t)->name

static const char* kind_at(const st_parser* P) {
  if (P->i >= P->n) return "the end of the header";
  char c = P->s[P->i];
  if (c == '{') return "an object";
  if (c == '[') return "an array";
  if (c == '"') return "a string";
  if (c == '-' || (c >= '0' && c <= '9')) return "a number";
  if (c == 't' || c == 'f') return "a boolean";
  if (c == 'n') return "null";
  return "invalid JSON";
}

static void skip_ws(st_parser* P) {
  while (P->i < P->n && (P->s[P->i] == ' ' || P->s[P->i] == '\t' || P->s[P->i] == '\n' || P->s[P->i] == '\r')) ++P->i;
}

static int32_t syntax(const st_parser* P, const char* expected) {
  return st_fail(P, "safetensors header is not valid JSON: expected %s at byte %zu, found %s", expected, P->i,
                 kind_at(P));
}

/* Consumes `c` after whitespace. */
static int32_t expect(st_parser* P, char c, const char* expected) {
  skip_ws(P);
  if (P->i >= P->n || P->s[P->i] != c) return syntax(P, expected);
  ++P->i;
  return WEFT_OK;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int read_hex4(const char* s, uint32_t* out) {
  uint32_t v = 0;
  for (int k = 0; k < 4; ++k) {
    int h = hex_value(s[k]);
    if (h < 0) return -1;
    v = v * 16 + (uint32_t)h;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char* out, uint32_t cp) {
  if (cp < 0x80) return out[0] = (char)cp, 1;
  if (cp < 0x800) return out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), 2;
  if (cp < 0x10000)
    return out[0] = (char)(0xE0 | (cp >> 12)), out[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
           out[2] = (char)(0x80 | (cp & 0x3F)), 3;
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* The length of the valid UTF-8 sequence at s[0..avail), or 0 (overlong, surrogate, > U+10FFFF,
 * truncated). */
static size_t utf8_length(const unsigned char* s, size_t avail) {
  unsigned char c = s[0];
  size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (len == 0 || len > avail) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((s[k] & 0xC0) != 0x80) return 0;
  if (c == 0xE0 && s[1] < 0xA0) return 0;  /* overlong */
  if (c == 0xED && s[1] >= 0xA0) return 0; /* surrogate */
  if (c == 0xF0 && s[1] < 0x90) return 0;  /* overlong */
  if (c == 0xF4 && s[1] >= 0x90) return 0; /* beyond U+10FFFF */
  return len;
}

/* A JSON string, decoded into a new buffer (*out, NUL-terminated; *len excludes the NUL). */
static int32_t parse_string(st_parser* P, char** out, size_t* len) {
  *out = NULL;
  skip_ws(P);
  if (P->i >= P->n || P->s[P->i] != '"') return syntax(P, "a string");
  size_t start = ++P->i, end = start;
  while (end < P->n && P->s[end] != '"') end += P->s[end] == '\\' ? 2 : 1;
  if (end >= P->n)
    return st_fail(P, "safetensors header is not valid JSON: a string starting at byte %zu never ends", start - 1);
  char* buf = malloc(end - start + 1);
  if (!buf) return rt_fail(WEFT_ERR_OUT_OF_MEMORY, "weft_create: out of memory reading '%s'", P->path);
  size_t o = 0;
  for (size_t i = start; i < end;) {
    unsigned char c = (unsigned char)P->s[i];
    if (c < 0x20) {
      free(buf);
      return st_fail(P, "safetensors header is not valid JSON: a control character (0x%02x) in a string at byte %zu", c,
                     i);
    }
    if (c >= 0x80) {
      size_t k = utf8_length((const unsigned char*)P->s + i, end - i);
      if (k == 0) {
        free(buf);
        return st_fail(P, "safetensors header is not valid UTF-8 at byte %zu", i);
      }
      memcpy(buf + o, P->s + i, k);
      o += k;
      i += k;
      continue;
    }
    if (c != '\\') {
      buf[o++] = (char)c;
      ++i;
      continue;
    }
    char e = P->s[i + 1];
    const char* simple = strchr("\"\\/bfnrt", e);
    if (e != 'u' && (!simple || e == '\0')) {
      free(buf);
      return st_fail(P, "safetensors header is not valid JSON: a bad escape in a string at byte %zu", i);
    }
    if (e != 'u') {
      static const char decoded[] = "\"\\/\b\f\n\r\t";
      buf[o++] = decoded[simple - "\"\\/bfnrt"];
      i += 2;
      continue;
    }
    uint32_t cp = 0, low = 0;
    int ok = i + 6 <= end && read_hex4(P->s + i + 2, &cp) == 0;
    i += 6;
    if (ok && cp >= 0xD800 && cp <= 0xDBFF) {
      ok = i + 6 <= end && P->s[i] == '\\' && P->s[i + 1] == 'u' && read_hex4(P->s + i + 2, &low) == 0 &&
           low >= 0xDC00 && low <= 0xDFFF;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      i += 6;
    } else if (ok && cp >= 0xDC00 && cp <= 0xDFFF) {
      ok = 0;
    }
    if (!ok) {
      free(buf);
      return st_fail(P, "safetensors header is not valid JSON: a bad \\u escape in a string before byte %zu",
                     i < end ? i : end);
    }
    o += put_utf8(buf + o, cp);
  }
  buf[o] = '\0';
  P->i = end + 1;
  *out = buf;
  *len = o;
  return WEFT_OK;
}

/* A JSON number that must be a non-negative integer within `max`. Returns WEFT_OK, or an error
 * naming `what` and the number's text (or the kind of value found instead). */
static int32_t parse_index(st_parser* P, uint64_t max, uint64_t* value, const char* what) {
  skip_ws(P);
  size_t start = P->i;
  if (P->i >= P->n || (P->s[P->i] != '-' && (P->s[P->i] < '0' || P->s[P->i] > '9')))
    return st_fail(P, "%s (found %s)", what, kind_at(P));
  int negative = P->s[P->i] == '-', fraction = 0, overflow = 0;
  if (negative) ++P->i;
  if (P->i >= P->n || P->s[P->i] < '0' || P->s[P->i] > '9') return syntax(P, "a digit");
  uint64_t v = 0;
  if (P->s[P->i] == '0') {
    ++P->i;
  } else {
    for (; P->i < P->n && P->s[P->i] >= '0' && P->s[P->i] <= '9'; ++P->i)
      overflow |= __builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(P->s[P->i] - '0'), &v);
  }
  if (P->i < P->n && P->s[P->i] == '.') {
    fraction = 1;
    ++P->i;
    if (P->i >= P->n || P->s[P->i] < '0' || P->s[P->i] > '9') return syntax(P, "a digit after '.'");
    while (P->i < P->n && P->s[P->i] >= '0' && P->s[P->i] <= '9') ++P->i;
  }
  if (P->i < P->n && (P->s[P->i] == 'e' || P->s[P->i] == 'E')) {
    fraction = 1;
    ++P->i;
    if (P->i < P->n && (P->s[P->i] == '+' || P->s[P->i] == '-')) ++P->i;
    if (P->i >= P->n || P->s[P->i] < '0' || P->s[P->i] > '9') return syntax(P, "a digit in an exponent");
    while (P->i < P->n && P->s[P->i] >= '0' && P->s[P->i] <= '9') ++P->i;
  }
  if (negative || fraction || overflow || v > max) {
    size_t len = P->i - start;
    return st_fail(P, "%s (found %.*s)", what, (int)(len < 40 ? len : 40), P->s + start);
  }
  *value = v;
  return WEFT_OK;
}

/* Then ',' (1: another item follows) or `close` (0). */
static int32_t next_item(st_parser* P, char close, int* more) {
  skip_ws(P);
  if (P->i < P->n && P->s[P->i] == ',') {
    ++P->i;
    *more = 1;
    return WEFT_OK;
  }
  if (P->i < P->n && P->s[P->i] == close) {
    ++P->i;
    *more = 0;
    return WEFT_OK;
  }
  return syntax(P, close == '}' ? "',' or '}'" : "',' or ']'");
}

/* '[' then ']' (0 items) or the first item: *more says whether an item follows. */
static int32_t open_array(st_parser* P, int* more) {
  if (expect(P, '[', "'['")) return WEFT_ERR_WEIGHTS;
  skip_ws(P);
  *more = !(P->i < P->n && P->s[P->i] == ']');
  if (!*more) ++P->i;
  return WEFT_OK;
}

static int32_t dtype_of(const char* code, int32_t* dtype) {
  static const char* const codes[] = {"F32", "F64", "F16", "BF16", "I32", "I64", "BOOL"};
  for (int32_t k = 0; k < 7; ++k)
    if (strcmp(code, codes[k]) == 0) return *dtype = k, 0;
  return -1;
}

static int32_t parse_shape(st_parser* P, st_tensor* t) {
  char what[300];
  snprintf(what, sizeof what, "tensor '%.*s': shape has a dim that is not a non-negative integer", NAME_ARG(t));
  int more;
  int32_t rc = open_array(P, &more);
  for (int32_t cap = 0; !rc && more;) {
    if (t->rank == cap) {
      cap = cap ? 2 * cap : 8;
      int64_t* grown = realloc(t->shape, sizeof(int64_t) * (size_t)cap);
      if (!grown) return rt_fail(WEFT_ERR_OUT_OF_MEMORY, "weft_create: out of memory reading '%s'", P->path);
      t->shape = grown;
    }
    uint64_t d;
    rc = parse_index(P, INT64_MAX, &d, what);
    if (!rc) t->shape[t->rank++] = (int64_t)d;
    if (!rc) rc = next_item(P, ']', &more);
  }
  return rc;
}

static int32_t parse_offsets(st_parser* P, st_tensor* t) {
  char what[300];
  snprintf(what, sizeof what, "tensor '%.*s': data_offsets must be two non-negative integers [begin, end]",
           NAME_ARG(t));
  int more;
  int32_t rc = open_array(P, &more);
  if (!rc && !more) return st_fail(P, "%s (found [])", what);
  if (!rc) rc = parse_index(P, UINT64_MAX, &t->begin, what);
  if (!rc) rc = next_item(P, ']', &more);
  if (!rc && !more) return st_fail(P, "%s (found one)", what);
  if (!rc) rc = parse_index(P, UINT64_MAX, &t->end, what);
  if (!rc) rc = next_item(P, ']', &more);
  if (!rc && more) return st_fail(P, "%s (found more than two)", what);
  return rc;
}

static int32_t parse_entry(st_parser* P, st_tensor* t) {
  skip_ws(P);
  if (P->i >= P->n || P->s[P->i] != '{')
    return st_fail(P, "tensor '%.*s': header entry must be a JSON object, not %s", NAME_ARG(t), kind_at(P));
  ++P->i;
  int seen[3] = {0, 0, 0}, more = 1;
  skip_ws(P);
  if (P->i < P->n && P->s[P->i] == '}') ++P->i, more = 0;
  int32_t rc = WEFT_OK;
  while (!rc && more) {
    char* key;
    size_t key_len;
    if ((rc = parse_string(P, &key, &key_len))) return rc;
    int which = strcmp(key, "dtype") == 0          ? 0
                : strcmp(key, "shape") == 0        ? 1
                : strcmp(key, "data_offsets") == 0 ? 2
                                                   : -1;
    if (which < 0 || key_len != strlen(key)) {
      rc = st_fail(P, "tensor '%.*s': unexpected key '%.*s' (an entry has only dtype, shape and data_offsets)",
                   NAME_ARG(t), (int)(key_len < 100 ? key_len : 100), key);
    } else if (seen[which]) {
      rc = st_fail(P, "tensor '%.*s': key '%s' appears twice", NAME_ARG(t), key);
    }
    free(key);
    if (rc || (rc = expect(P, ':', "':'"))) return rc;
    seen[which] = 1;
    skip_ws(P);
    if (which == 0) {
      if (P->i >= P->n || P->s[P->i] != '"')
        return st_fail(P, "tensor '%.*s': dtype must be a string, not %s", NAME_ARG(t), kind_at(P));
      char* code;
      size_t code_len;
      if ((rc = parse_string(P, &code, &code_len))) return rc;
      if (code_len != strlen(code) || dtype_of(code, &t->dtype) != 0)
        rc = st_fail(P, "tensor '%.*s': unknown dtype '%.*s' (Weft reads F32, F64, F16, BF16, I32, I64 and BOOL)",
                     NAME_ARG(t), (int)(code_len < 40 ? code_len : 40), code);
      free(code);
    } else if (P->i >= P->n || P->s[P->i] != '[') {
      return st_fail(P, "tensor '%.*s': %s must be an array, not %s", NAME_ARG(t),
                     which == 1 ? "shape" : "data_offsets", kind_at(P));
    } else {
      rc = which == 1 ? parse_shape(P, t) : parse_offsets(P, t);
    }
    if (!rc) rc = next_item(P, '}', &more);
  }
  if (rc) return rc;
  static const char* const keys[] = {"dtype", "shape", "data_offsets"};
  for (int k = 0; k < 3; ++k)
    if (!seen[k]) return st_fail(P, "tensor '%.*s': missing '%s'", NAME_ARG(t), keys[k]);

  uint64_t needed = rt_dtype_size(t->dtype);
  for (int32_t d = 0; d < t->rank; ++d)
    if (__builtin_mul_overflow(needed, (uint64_t)t->shape[d], &needed))
      return st_fail(P, "tensor '%.*s': its shape has more bytes than fit in 64 bits", NAME_ARG(t));
  if (t->begin > t->end)
    return st_fail(P, "tensor '%.*s': data_offsets [%llu, %llu] begin after they end", NAME_ARG(t),
                   (unsigned long long)t->begin, (unsigned long long)t->end);
  if (t->end > P->data_size)
    return st_fail(P, "tensor '%.*s': data_offsets [%llu, %llu] run past the end of the data region (%llu bytes)",
                   NAME_ARG(t), (unsigned long long)t->begin, (unsigned long long)t->end,
                   (unsigned long long)P->data_size);
  if (t->end - t->begin != needed) {
    rt_text type = {.len = 0};
    rt_text_add(&type, "%s", rt_dtype_name(t->dtype));
    rt_text_shape(&type, t->shape, t->rank);
    return st_fail(P, "tensor '%.*s': data_offsets [%llu, %llu] hold %llu bytes, but %s needs %llu", NAME_ARG(t),
                   (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)(t->end - t->begin),
                   type.buf, (unsigned long long)needed);
  }
  return WEFT_OK;
}

static int32_t parse_metadata(st_parser* P) {
  skip_ws(P);
  if (P->i >= P->n || P->s[P->i] != '{')
    return st_fail(P, "__metadata__ must be a JSON object of strings, not %s", kind_at(P));
  ++P->i;
  int more = 1;
  skip_ws(P);
  if (P->i < P->n && P->s[P->i] == '}') ++P->i, more = 0;
  while (more) {
    char *key, *value;
    size_t key_len, value_len;
    int32_t rc = parse_string(P, &key, &key_len);
    if (rc) return rc;
    if (P->meta_count == P->meta_cap || P->num_strings + 2 > P->cap_strings) {
      size_t cap = P->meta_cap ? 2 * P->meta_cap : 16;
      st_key* keys = realloc(P->meta, sizeof *keys * cap);
      if (keys) P->meta = keys, P->meta_cap = cap;
      char** strings = realloc(P->strings, sizeof *strings * 2 * cap);
      if (strings) P->strings = strings, P->cap_strings = 2 * cap;
      if (!keys || !strings) {
        free(key);
        return rt_fail(WEFT_ERR_OUT_OF_MEMORY, "weft_create: out of memory reading '%s'", P->path);
      }
    }
    P->strings[P->num_strings++] = key;
    P->meta[P->meta_count++] = (st_key){key, key_len};
    if ((rc = expect(P, ':', "':'"))) return rc;
    skip_ws(P);
    if (P->i >= P->n || P->s[P->i] != '"')
      return st_fail(P, "__metadata__ '%.*s' must be a string, not %s", (int)(key_len < 100 ? key_len : 100), key,
                     kind_at(P));
    if ((rc = parse_string(P, &value, &value_len))) return rc;
    free(value);
    if ((rc = next_item(P, '}', &more))) return rc;
  }
  return WEFT_OK;
}

static int compare_keys(const void* a, const void* b) {
  const st_key* x = a;
  const st_key* y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->text, y->text, n);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int compare_names(const void* a, const void* b) {
  const st_tensor* x = a;
  const st_tensor* y = b;
  st_key kx = {x->name, x->name_len}, ky = {y->name, y->name_len};
  return compare_keys(&kx, &ky);
}

static int compare_extents(const void* a, const void* b) {
  const st_tensor* x = *(const st_tensor* const*)a;
  const st_tensor* y = *(const st_tensor* const*)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return (x->end > y->end) - (x->end < y->end);
}

static int32_t parse_header(st_parser* P) {
  /* The same first checks as Weft's own reader (ir/safetensors.cpp), in the same words. */
  if (P->n >= 3 && memcmp(P->s, "\xef\xbb\xbf", 3) == 0)
    return st_fail(P, "safetensors header starts with a UTF-8 byte-order mark (the header is plain JSON, without one)");
  const char* nul = memchr(P->s, 0, P->n);
  if (nul) return st_fail(P, "safetensors header holds a NUL byte at byte %zu (JSON text has none)", (size_t)(nul - P->s));
  skip_ws(P);
  if (P->i >= P->n || P->s[P->i] != '{')
    return st_fail(P, "safetensors header must be a JSON object, not %s", kind_at(P));
  ++P->i;
  int more = 1;
  skip_ws(P);
  if (P->i < P->n && P->s[P->i] == '}') ++P->i, more = 0;
  while (more) {
    char* name;
    size_t name_len;
    int32_t rc = parse_string(P, &name, &name_len);
    if (rc) return rc;
    if (name_len == strlen("__metadata__") && strcmp(name, "__metadata__") == 0) {
      free(name);
      if (P->seen_meta) return st_fail(P, "__metadata__ appears twice in the safetensors header");
      P->seen_meta = 1;
      if ((rc = expect(P, ':', "':'")) || (rc = parse_metadata(P))) return rc;
    } else {
      if (name_len == 0) {
        free(name);
        return st_fail(P, "a tensor in the safetensors header has an empty name");
      }
      if (P->count == P->cap) {
        size_t cap = P->cap ? 2 * P->cap : 16;
        st_tensor* grown = realloc(P->tensors, sizeof *grown * cap);
        if (!grown) {
          free(name);
          return rt_fail(WEFT_ERR_OUT_OF_MEMORY, "weft_create: out of memory reading '%s'", P->path);
        }
        P->tensors = grown;
        P->cap = cap;
      }
      st_tensor* t = &P->tensors[P->count++];
      memset(t, 0, sizeof *t);
      t->name = name;
      t->name_len = name_len;
      if ((rc = expect(P, ':', "':'")) || (rc = parse_entry(P, t))) return rc;
    }
    if ((rc = next_item(P, '}', &more))) return rc;
  }
  skip_ws(P);
  if (P->i != P->n)
    return st_fail(P, "safetensors header is not valid JSON: %s after the header's object at byte %zu", kind_at(P),
                   P->i);

  /* (qsort and bsearch want a non-null array even when it is empty) */
  if (P->meta_count > 1) qsort(P->meta, P->meta_count, sizeof *P->meta, compare_keys);
  for (size_t k = 1; k < P->meta_count; ++k)
    if (compare_keys(&P->meta[k - 1], &P->meta[k]) == 0)
      return st_fail(P, "key '%.*s' appears twice in __metadata__", (int)(P->meta[k].len < 100 ? P->meta[k].len : 100),
                     P->meta[k].text);
  if (P->count > 1) qsort(P->tensors, P->count, sizeof *P->tensors, compare_names);
  for (size_t k = 1; k < P->count; ++k)
    if (compare_names(&P->tensors[k - 1], &P->tensors[k]) == 0)
      return st_fail(P, "tensor '%.*s' appears twice in the safetensors header", NAME_ARG(&P->tensors[k]));

  /* The tensors must tile the data region exactly: sorted by offset, each begins where the
   * previous one ends, the first at 0, the last at the end. */
  const st_tensor** order = malloc(sizeof *order * (P->count ? P->count : 1));
  if (!order) return rt_fail(WEFT_ERR_OUT_OF_MEMORY, "weft_create: out of memory reading '%s'", P->path);
  for (size_t k = 0; k < P->count; ++k) order[k] = &P->tensors[k];
  if (P->count > 1) qsort(order, P->count, sizeof *order, compare_extents);
  uint64_t covered = 0;
  int32_t rc = WEFT_OK;
  for (size_t k = 0; !rc && k < P->count; ++k) {
    const st_tensor* t = order[k];
    if (t->begin < covered)
      rc = st_fail(P, "tensor '%.*s': data_offsets [%llu, %llu] overlap tensor '%.*s' at [%llu, %llu]", NAME_ARG(t),
                   (unsigned long long)t->begin, (unsigned long long)t->end, NAME_ARG(order[k - 1]),
                   (unsigned long long)order[k - 1]->begin, (unsigned long long)order[k - 1]->end);
    else if (t->begin > covered)
      rc = st_fail(P, "bytes [%llu, %llu) of the data region belong to no tensor (a hole before tensor '%.*s')",
                   (unsigned long long)covered, (unsigned long long)t->begin, NAME_ARG(t));
    covered = t->end;
  }
  free(order);
  if (!rc && covered != P->data_size)
    rc = st_fail(P, "bytes [%llu, %llu) of the data region belong to no tensor (a hole at the end)",
                 (unsigned long long)covered, (unsigned long long)P->data_size);
  return rc;
}

/* A tensor of the file that no parameter names, or NULL: the file must hold exactly the model's
 * parameters (PyTorch's strict load_state_dict, as weft-run and weft-compile do for a graph). */
static const st_tensor* first_extra_tensor(const st_parser* P, const weft_rt_model* d) {
  for (size_t k = 0; k < P->count; ++k) {
    int known = 0;
    for (int32_t p = 0; p < d->num_params && !known; ++p)
      known = strlen(d->params[p].name) == P->tensors[k].name_len &&
              memcmp(d->params[p].name, P->tensors[k].name, P->tensors[k].name_len) == 0;
    if (!known) return &P->tensors[k];
  }
  return NULL;
}

/* Finds each parameter's tensor, checks its dtype and shape, and reads its bytes. */
static int32_t read_params(st_parser* P, const weft_rt_model* d, FILE* f, uint64_t data_start, void* const* dst) {
  const st_tensor* extra = first_extra_tensor(P, d);
  if (extra)
    return st_fail(P, "the file has tensor '%.*s', which is not a parameter of model '%s' (the weights must name "
                   "exactly the model's parameters)",
                   NAME_ARG(extra), d->name);
  for (int32_t p = 0; p < d->num_params; ++p) {
    const weft_rt_param* param = &d->params[p];
    st_tensor key = {.name = (char*)param->name, .name_len = strlen(param->name)};
    const st_tensor* t = P->count > 0 ? bsearch(&key, P->tensors, P->count, sizeof *P->tensors, compare_names) : NULL;
    rt_text want = {.len = 0};
    rt_text_type(&want, NULL, &param->type);
    if (!t) return st_fail(P, "parameter '%s' (%s) is not in the file", param->name, want.buf);
    int same = t->dtype == param->type.dtype && t->rank == param->type.rank;
    for (int32_t k = 0; same && k < t->rank; ++k) same = t->shape[k] == param->type.shape[k].coeff;
    if (!same) {
      rt_text got = {.len = 0};
      rt_text_add(&got, "%s", rt_dtype_name(t->dtype));
      rt_text_shape(&got, t->shape, t->rank);
      return st_fail(P, "tensor '%s' is %s, but the model's parameter '%s' is %s", param->name, got.buf, param->name,
                     want.buf);
    }
    if (param->nbytes == 0) continue;
    if (fseeko(f, (off_t)(data_start + t->begin), SEEK_SET) != 0 ||
        fread(dst[p], 1, (size_t)param->nbytes, f) != (size_t)param->nbytes)
      return st_fail(P, "cannot read tensor '%s' (%lld bytes at %llu): %s", param->name, (long long)param->nbytes,
                     (unsigned long long)(data_start + t->begin), ferror(f) ? strerror(errno) : "the file ended early");
  }
  return WEFT_OK;
}

static void free_parser(st_parser* P) {
  for (size_t k = 0; k < P->count; ++k) {
    free(P->tensors[k].name);
    free(P->tensors[k].shape);
  }
  for (size_t k = 0; k < P->num_strings; ++k) free(P->strings[k]);
  free(P->tensors);
  free(P->meta);
  free(P->strings);
  free((char*)P->s);
}

int32_t rt_load_weights(const weft_rt_model* d, const char* path, void* const* dst) {
  st_parser P = {.path = path};
  FILE* f = fopen(path, "rb");
  if (!f) return st_fail(&P, "cannot open: %s", strerror(errno));
  struct stat info;
  int32_t rc = WEFT_OK;
  unsigned char prefix[8];
  uint64_t header = 0, size = 0;
  if (fstat(fileno(f), &info) != 0) {
    rc = st_fail(&P, "cannot stat: %s", strerror(errno));
  } else if (!S_ISREG(info.st_mode)) {
    rc = st_fail(&P, "not a regular file");
  } else if ((size = (uint64_t)info.st_size) < 8 || fread(prefix, 1, 8, f) != 8) {
    rc =
        st_fail(&P, "file is %llu bytes, too short for the 8-byte safetensors header length", (unsigned long long)size);
  } else {
    for (int k = 7; k >= 0; --k) header = header << 8 | prefix[k];
    if (header > ST_MAX_HEADER)
      rc = st_fail(&P, "safetensors header length %llu exceeds the limit of %llu bytes (the file is %llu bytes)",
                   (unsigned long long)header, ST_MAX_HEADER, (unsigned long long)size);
    else if (header > size - 8)
      rc = st_fail(&P, "safetensors header length %llu runs past the end of the file (%llu bytes follow the length)",
                   (unsigned long long)header, (unsigned long long)(size - 8));
  }
  if (!rc) {
    char* text = malloc(header ? header : 1);
    P.s = text;
    P.n = header;
    P.data_size = size - 8 - header;
    if (!text)
      rc = rt_fail(WEFT_ERR_OUT_OF_MEMORY, "weft_create: out of memory reading the header of '%s'", path);
    else if (fread(text, 1, header, f) != header)
      rc = st_fail(&P, "cannot read the %llu-byte header: %s", (unsigned long long)header,
                   ferror(f) ? strerror(errno) : "the file ended early");
  }
  if (!rc) rc = parse_header(&P);
  if (!rc) rc = read_params(&P, d, f, 8 + header, dst);
  fclose(f);
  free_parser(&P);
  return rc;
}
