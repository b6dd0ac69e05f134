/* weft-g2p — pronounces English words with the G2P Transformer compiled into a shared object
 * (`make demo` builds it in out/g2p; docs/g2p.md). Plain C11 on the model's C API: the decoding
 * loop runs inside the shared object (weft_generate), with no C++ or LLVM at run time.
 *
 *   cc -std=c11 -Iout/g2p -DWEFT_MODEL_HEADER='"g2p.h"' weft_g2p.c out/g2p/g2p.so -o weft-g2p
 *   weft-g2p [--greedy] [--beam K] WORD ...
 *
 * Prints one line per word: the word, then its phonemes (CMU dictionary symbols, without stress).
 * Letters are those of the training words (a-z); upper case is folded. Exit status 0 on success; 1 with one
 * line on stderr for a word the model cannot read (an unknown letter, an empty or over-long word)
 * or a runtime error, before anything is printed; 2 for a bad command line.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include WEFT_MODEL_HEADER
#include "g2p_vocab.h" /* g2p_letters, g2p_phonemes: written by example_g2p */

#ifndef WEFT_GENERATE_BEAM
#define WEFT_GENERATE_BEAM 1
#endif

enum { kPad = 0, kBos = 1, kEos = 2, kSpecials = 4, kMaxBeam = 64 };

static int usage(FILE* to, int status) {
  fprintf(to,
          "usage: weft-g2p [--greedy] [--beam K] WORD ...\n"
          "Pronounces each WORD (letters a-z; upper case is folded) with the compiled G2P model:\n"
          "one line per word, the word then its phonemes.\n"
          "  --greedy   greedy decoding (default: beam search of width %d)\n"
          "  --beam K   beam width, 1 to %d\n"
          "  --help     this text\n"
          "Exit status: 0 success, 1 a word the model cannot read or a runtime error, 2 a bad command line.\n",
          WEFT_GENERATE_BEAM, kMaxBeam);
  return status;
}

static int runtime_failure(const char* what) {
  fprintf(stderr, "weft-g2p: %s: %s\n", what, weft_last_error());
  return 1;
}

/* The bound of symbol `name` of entry `entry`, or -1. */
static int64_t symbol_bound(int32_t entry, const char* name) {
  int32_t n = weft_num_symbols(entry);
  for (int32_t i = 0; i < n; ++i) {
    const char* s = NULL;
    int64_t bound = -1;
    if (weft_symbol_info(entry, i, &s, &bound) == WEFT_OK && strcmp(s, name) == 0) return bound;
  }
  return -1;
}

static int64_t letter_id(char c) {
  for (int i = kSpecials; i < g2p_letters_count; ++i)
    if (g2p_letters[i][0] == c && g2p_letters[i][1] == '\0') return i;
  return -1;
}

/* The word's letter ids then <eos> into ids; 0 on success, else 1 with the reason on stderr. */
static int encode_word(const char* word, int64_t max_letters, int64_t* ids, int64_t* n) {
  size_t len = strlen(word);
  if (len == 0) {
    fprintf(stderr, "weft-g2p: an empty word cannot be pronounced\n");
    return 1;
  }
  if ((int64_t)len > max_letters) {
    fprintf(stderr, "weft-g2p: '%s' has %zu letters, more than the model's %lld\n", word, len, (long long)max_letters);
    return 1;
  }
  for (size_t i = 0; i < len; ++i) {
    char c = (char)tolower((unsigned char)word[i]);
    int64_t id = letter_id(c);
    if (id < 0) {
      fprintf(stderr, "weft-g2p: '%s': the letter '%c' is not one the model knows (", word, word[i]);
      for (int k = kSpecials; k < g2p_letters_count; ++k) fputs(g2p_letters[k], stderr);
      fputs(")\n", stderr);
      return 1;
    }
    ids[i] = id;
  }
  ids[len] = kEos;
  *n = (int64_t)len + 1;
  return 0;
}

int main(int argc, char** argv) {
  int beam = WEFT_GENERATE_BEAM, first_word = argc;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--help") == 0) return usage(stdout, 0);
    if (strcmp(argv[i], "--greedy") == 0) {
      beam = 1;
    } else if (strcmp(argv[i], "--beam") == 0) {
      char* end = NULL;
      long k = i + 1 < argc ? strtol(argv[++i], &end, 10) : 0;
      if (!end || *end != '\0' || k < 1 || k > kMaxBeam) {
        fprintf(stderr, "weft-g2p: --beam needs a width from 1 to %d\n", kMaxBeam);
        return 2;
      }
      beam = (int)k;
    } else if (strcmp(argv[i], "--") == 0) {
      first_word = i + 1;
      break;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "weft-g2p: unknown option '%s' (see --help)\n", argv[i]);
      return 2;
    } else {
      first_word = i;
      break;
    }
  }
  if (first_word >= argc) {
    fprintf(stderr, "weft-g2p: no word to pronounce (see --help)\n");
    return 2;
  }

  int32_t encode = 0, step = 0;
  if (weft_find_entry("encode", &encode) != WEFT_OK || weft_find_entry("decode_step", &step) != WEFT_OK)
    return runtime_failure("this shared object is not a G2P model");
  /* The Transformer's KV cache bounds the output (P); the LSTM's state does not. */
  const int64_t max_source = symbol_bound(encode, "S"), cache = symbol_bound(step, "P");
  const int64_t max_length = cache > 0 ? cache : max_source + 10;
  if (max_source < 2) return runtime_failure("the model's bounds");

  /* Every word is checked before anything is printed. */
  const int words = argc - first_word;
  int64_t* ids = calloc((size_t)words * (size_t)max_source, sizeof(int64_t));
  int64_t* lengths = calloc((size_t)words, sizeof(int64_t));
  if (!ids || !lengths) return 1;
  for (int w = 0; w < words; ++w)
    if (encode_word(argv[first_word + w], max_source - 1, ids + (size_t)w * (size_t)max_source, &lengths[w])) return 1;

  weft_model* model = NULL;
  if (weft_create(NULL, &model) != WEFT_OK) return runtime_failure("weft_create");
  int64_t* tokens = calloc((size_t)beam * (size_t)max_length, sizeof(int64_t));
  int64_t hyp_lengths[kMaxBeam];
  double scores[kMaxBeam];
  if (!tokens) return 1;
  for (int w = 0; w < words; ++w) {
    int64_t shape[2] = {1, lengths[w]};
    weft_tensor src = {WEFT_I64, 2, shape, ids + (size_t)w * (size_t)max_source};
    /* As the evaluation does: up to 10 more tokens than the source's, within the cache. */
    int64_t limit = lengths[w] + 10 < max_length ? lengths[w] + 10 : max_length;
    weft_generate_options options = {beam, kBos, kEos, limit, 0.0};
    if (weft_generate(model, &options, &src, 1, 1, tokens, hyp_lengths, scores) != WEFT_OK) {
      weft_destroy(model);
      return runtime_failure("weft_generate");
    }
    printf("%s", argv[first_word + w]);
    for (int64_t i = 0; i < hyp_lengths[0] && tokens[i] != kEos; ++i)
      if (tokens[i] >= kSpecials && tokens[i] < g2p_phonemes_count) printf(" %s", g2p_phonemes[tokens[i]]);
    printf("\n");
  }
  free(tokens);
  free(ids);
  free(lengths);
  weft_destroy(model);
  return 0;
}
