/* run_model.c — a C program that links a model compiled by weft-compile and runs it.
 *
 *   weft-compile out/mlp.weft -o out/mlp.so            # writes out/mlp.so and out/mlp.h
 *   cc -std=c11 -Iout -DWEFT_MODEL_HEADER='"mlp.h"' examples/c_api/run_model.c out/mlp.so \
 *      -Wl,-rpath,'$ORIGIN' -o out/run_mlp
 *   out/run_mlp B=3
 *
 * It lists the model's entry points, then runs one (the first, or `--entry NAME`) on inputs it
 * fills with a fixed pattern — element i of a float input is ((i * 7) % 23) / 8 - 1.25, of an
 * integer input (i * 3) % 5, of a bool input i % 2 — with each symbolic dim set by a NAME=VALUE
 * argument (default: 2, or the bound if smaller), and prints every output element with enough
 * digits to read back exactly (9 for f32, 17 for f64), so that another program can compare the
 * results bit for bit.
 *
 * Plain C11: only the model's header, libc and the shared object.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WEFT_MODEL_HEADER
#define WEFT_MODEL_HEADER "model.h"
#endif
#include WEFT_MODEL_HEADER

static size_t dtype_bytes(int32_t dtype) {
  switch (dtype) {
    case WEFT_F64: case WEFT_I64: return 8;
    case WEFT_F32: case WEFT_I32: return 4;
    case WEFT_F16: case WEFT_BF16: return 2;
    default: return 1;
  }
}

static const char* dtype_text(int32_t dtype) {
  static const char* names[] = {"f32", "f64", "f16", "bf16", "i32", "i64", "bool"};
  return dtype >= 0 && dtype <= 6 ? names[dtype] : "?";
}

static int fail(const char* what, int32_t status) {
  fprintf(stderr, "run_model: %s failed: %s: %s\n", what, weft_status_name(status), weft_last_error());
  return 1;
}

static void fill(void* data, int32_t dtype, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    double v = (double)((i * 7) % 23) / 8.0 - 1.25;
    switch (dtype) {
      case WEFT_F32: ((float*)data)[i] = (float)v; break;
      case WEFT_F64: ((double*)data)[i] = v; break;
      case WEFT_I32: ((int32_t*)data)[i] = (int32_t)((i * 3) % 5); break;
      case WEFT_I64: ((int64_t*)data)[i] = (i * 3) % 5; break;
      case WEFT_BOOL: ((uint8_t*)data)[i] = (uint8_t)(i % 2); break;
      default: memset((char*)data + i * dtype_bytes(dtype), 0, dtype_bytes(dtype)); break;
    }
  }
}

static void print_values(const void* data, int32_t dtype, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case WEFT_F32: printf("%.9g", (double)((const float*)data)[i]); break;   /* 9 digits: exact for f32 */
      case WEFT_F64: printf("%.17g", ((const double*)data)[i]); break;         /* 17: exact for f64 */
      case WEFT_I32: printf("%d", ((const int32_t*)data)[i]); break;
      case WEFT_I64: printf("%lld", (long long)((const int64_t*)data)[i]); break;
      case WEFT_BOOL: printf("%d", ((const uint8_t*)data)[i]); break;
      default: printf("?"); break;
    }
    putchar(i + 1 < n ? ' ' : '\n');
  }
  if (n == 0) putchar('\n');
}

int main(int argc, char** argv) {
  const char* entry_name = NULL;
  for (int a = 1; a < argc; ++a)
    if (strcmp(argv[a], "--entry") == 0 && a + 1 < argc) entry_name = argv[++a];

  printf("model %s: %d entr%s\n", weft_model_name(), weft_num_entries(), weft_num_entries() == 1 ? "y" : "ies");
  for (int32_t e = 0; e < weft_num_entries(); ++e) printf("  entry %d: %s\n", e, weft_entry_name(e));
  int32_t entry = 0;
  int32_t status = entry_name ? weft_find_entry(entry_name, &entry) : WEFT_OK;
  if (status != WEFT_OK) return fail("weft_find_entry", status);

  weft_model* model = NULL;
  weft_options options = {0};
  options.num_threads = 0;
  if ((status = weft_create(&options, &model)) != WEFT_OK) return fail("weft_create", status);

  /* Symbolic dims: NAME=VALUE arguments, else min(2, bound). */
  for (int32_t s = 0; s < weft_num_symbols(entry); ++s) {
    const char* name = NULL;
    int64_t bound = 0, value = -1;
    weft_symbol_info(entry, s, &name, &bound);
    size_t len = strlen(name);
    for (int a = 1; a < argc; ++a)
      if (strncmp(argv[a], name, len) == 0 && argv[a][len] == '=') value = strtoll(argv[a] + len + 1, NULL, 10);
    if (value < 0) value = bound < 2 ? bound : 2;
    if ((status = weft_bind_dim(model, entry, name, value)) != WEFT_OK) return fail("weft_bind_dim", status);
    printf("  %s = %lld (bound %lld)\n", name, (long long)value, (long long)bound);
  }

  int32_t n_in = weft_num_inputs(entry), n_out = weft_num_outputs(entry);
  weft_tensor* inputs = calloc((size_t)n_in + 1, sizeof(weft_tensor));
  weft_tensor* outputs = calloc((size_t)n_out + 1, sizeof(weft_tensor));
  int64_t (*in_shapes)[16] = calloc((size_t)n_in + 1, sizeof *in_shapes);
  int64_t (*out_shapes)[16] = calloc((size_t)n_out + 1, sizeof *out_shapes);
  if (!inputs || !outputs || !in_shapes || !out_shapes) return 1;

  for (int32_t i = 0; i < n_in; ++i) {
    weft_value_info info;
    weft_input_info(entry, i, &info);
    if (info.rank > 16) { fprintf(stderr, "run_model: input %s has rank > 16\n", info.name); return 1; }
    if ((status = weft_input_shape(model, entry, i, in_shapes[i])) != WEFT_OK) return fail("weft_input_shape", status);
    int64_t n = 1;
    for (int32_t d = 0; d < info.rank; ++d) n *= in_shapes[i][d];
    inputs[i].dtype = info.dtype;
    inputs[i].rank = info.rank;
    inputs[i].shape = in_shapes[i];
    inputs[i].data = malloc((size_t)(n > 0 ? n : 1) * dtype_bytes(info.dtype));
    if (!inputs[i].data) return 1;
    fill(inputs[i].data, info.dtype, n);
  }
  for (int32_t k = 0; k < n_out; ++k) {
    weft_value_info info;
    weft_output_info(entry, k, &info);
    if (info.rank > 16) return 1;
    if ((status = weft_output_shape(model, entry, k, out_shapes[k])) != WEFT_OK) return fail("weft_output_shape", status);
    int64_t n = 1;
    for (int32_t d = 0; d < info.rank; ++d) n *= out_shapes[k][d];
    outputs[k].dtype = info.dtype;
    outputs[k].rank = info.rank;
    outputs[k].shape = out_shapes[k];
    outputs[k].data = malloc((size_t)(n > 0 ? n : 1) * dtype_bytes(info.dtype));
    if (!outputs[k].data) return 1;
  }

  if ((status = weft_run(model, entry, inputs, n_in, outputs, n_out)) != WEFT_OK) return fail("weft_run", status);

  printf("ran %s\n", weft_entry_name(entry));
  for (int32_t k = 0; k < n_out; ++k) {
    weft_value_info info;
    weft_output_info(entry, k, &info);
    int64_t n = 1;
    printf("output %s %s [", info.name, dtype_text(info.dtype));
    for (int32_t d = 0; d < info.rank; ++d) {
      printf("%s%lld", d ? ", " : "", (long long)out_shapes[k][d]);
      n *= out_shapes[k][d];
    }
    printf("]\n");
    print_values(outputs[k].data, info.dtype, n);
  }

  for (int32_t i = 0; i < n_in; ++i) free(inputs[i].data);
  for (int32_t k = 0; k < n_out; ++k) free(outputs[k].data);
  free(inputs); free(outputs); free(in_shapes); free(out_shapes);
  weft_destroy(model);
  return 0;
}
