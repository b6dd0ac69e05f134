/* libFuzzer target for the C runtime of compiled models (runtime/capi), `make fuzz`: weft_create of
 * the hand-written model "testnet" (tests/capi_rt/model_desc.c) with a damaged weights file, read by
 * the C safetensors reader (weft_rt_safetensors.c).
 *
 * Properties on every input: weft_create returns WEFT_OK or WEFT_ERR_WEIGHTS with a message (any
 * other status is a bug); an instance it makes runs an entry and reads a parameter back cleanly.
 * The input is written to a file of this process's own; ASan/UBSan see every access. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft_model.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static char path[64];
  if (!path[0]) snprintf(path, sizeof path, "/tmp/weft_fuzz_weights_%ld.safetensors", (long)getpid());
  FILE* f = fopen(path, "wb");
  if (!f) abort();
  if (size > 0 && fwrite(data, 1, size, f) != size) abort();
  fclose(f);

  weft_options options = {.num_threads = 1, .weights_path = path};
  weft_model* m = NULL;
  int32_t rc = weft_create(&options, &m);
  if (rc != WEFT_OK) {
    if (rc != WEFT_ERR_WEIGHTS || m != NULL || weft_last_error()[0] == '\0') {
      fprintf(stderr, "weft_create: unexpected %s: %s\n", weft_status_name(rc), weft_last_error());
      abort();
    }
    return 0;
  }
  float x[4] = {1, 2, 3, 4}, y[3], b[3];
  int64_t xs[2] = {1, 4}, ys[2] = {1, 3};
  weft_tensor in = {WEFT_F32, 2, xs, x}, out = {WEFT_F32, 2, ys, y};
  int32_t entry = -1;
  if (weft_find_entry("affine", &entry) != WEFT_OK || weft_run(m, entry, &in, 1, &out, 1) != WEFT_OK ||
      weft_get_param(m, "b", b, sizeof b) != WEFT_OK) {
    fprintf(stderr, "a loaded instance fails: %s\n", weft_last_error());
    abort();
  }
  weft_destroy(m);
  return 0;
}
