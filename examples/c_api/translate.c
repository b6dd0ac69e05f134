/* translate.c — translates one sequence through a seq2seq model compiled with
 * `weft-compile encode.weft decode_step.weft --decode greedy|beam -o model.so`: plain C11, the
 * model's C API only (weft_generate runs the decoding loop inside the shared object).
 *
 *   cc -std=c11 -I<dir> -DWEFT_MODEL_HEADER='"model.h"' translate.c model.so -o translate
 *   ./translate [--bos N] [--eos N] [--max N] [--alpha A] ID ID ID ...
 *
 * The source ids become encode's inputs: an i64 [1, S] input gets the ids, a bool [1, S] input (a
 * padding mask) all false, an i64 [1] input (the lengths) S. Prints "tokens: ..." (the best
 * hypothesis, EOS included when it ended with one) and "score: ...". Exit status 1 with the
 * runtime's message on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include WEFT_MODEL_HEADER

#ifndef WEFT_GENERATE_BEAM
#define WEFT_GENERATE_BEAM 1
#endif

#define MAX_IDS 1024

static int fail(const char* what) {
  fprintf(stderr, "translate: %s: %s\n", what, weft_last_error());
  return 1;
}

int main(int argc, char** argv) {
  weft_generate_options options = {WEFT_GENERATE_BEAM, 1, 2, 32, 0.0};
  int64_t ids[MAX_IDS];
  int64_t n = 0;
  for (int i = 1; i < argc; ++i) {
    if (i + 1 < argc && strcmp(argv[i], "--bos") == 0) {
      options.bos = strtoll(argv[++i], NULL, 10);
    } else if (i + 1 < argc && strcmp(argv[i], "--eos") == 0) {
      options.eos = strtoll(argv[++i], NULL, 10);
    } else if (i + 1 < argc && strcmp(argv[i], "--max") == 0) {
      options.max_length = strtoll(argv[++i], NULL, 10);
    } else if (i + 1 < argc && strcmp(argv[i], "--alpha") == 0) {
      options.alpha = strtod(argv[++i], NULL);
    } else if (n < MAX_IDS) {
      ids[n++] = strtoll(argv[i], NULL, 10);
    }
  }
  if (n == 0 || options.max_length < 1 || options.max_length > MAX_IDS) {
    fprintf(stderr, "usage: translate [--bos N] [--eos N] [--max N<=%d] [--alpha A] ID ...\n", MAX_IDS);
    return 2;
  }

  int32_t encode = 0;
  if (weft_find_entry("encode", &encode) != WEFT_OK) return fail("weft_find_entry");
  int32_t num_inputs = weft_num_inputs(encode);
  if (num_inputs < 1 || num_inputs > 8) return fail("encode's inputs");
  weft_tensor inputs[8];
  int64_t shapes[8][2];
  unsigned char padding[MAX_IDS] = {0};
  for (int32_t i = 0; i < num_inputs; ++i) {
    weft_value_info info;
    if (weft_input_info(encode, i, &info) != WEFT_OK) return fail("weft_input_info");
    shapes[i][0] = 1;
    shapes[i][1] = n;
    if (info.dtype == WEFT_I64 && info.rank == 2) {
      inputs[i] = (weft_tensor){WEFT_I64, 2, shapes[i], ids};
    } else if (info.dtype == WEFT_BOOL && info.rank == 2) {
      inputs[i] = (weft_tensor){WEFT_BOOL, 2, shapes[i], padding};
    } else if (info.dtype == WEFT_I64 && info.rank == 1) {
      inputs[i] = (weft_tensor){WEFT_I64, 1, shapes[i], &shapes[i][1]};
    } else {
      fprintf(stderr, "translate: encode's input '%s' is neither ids, a padding mask nor lengths\n", info.name);
      return 1;
    }
  }

  weft_model* model = NULL;
  if (weft_create(NULL, &model) != WEFT_OK) return fail("weft_create");
  /* Room for every hypothesis of the one source; the best comes first. */
  int64_t* tokens = calloc((size_t)(options.beam * options.max_length), sizeof(int64_t));
  int64_t* lengths = calloc((size_t)options.beam, sizeof(int64_t));
  double* scores = calloc((size_t)options.beam, sizeof(double));
  if (!tokens || !lengths || !scores) return 1;
  if (weft_generate(model, &options, inputs, num_inputs, 1, tokens, lengths, scores) != WEFT_OK) {
    weft_destroy(model);
    return fail("weft_generate");
  }
  printf("model %s, beam %d\ntokens:", weft_model_name(), options.beam);
  for (int64_t i = 0; i < lengths[0]; ++i) printf(" %lld", (long long)tokens[i]);
  printf("\nscore: %.9g\n", scores[0]);
  free(tokens);
  free(lengths);
  free(scores);
  weft_destroy(model);
  return 0;
}
