/** \file
 * Decoding a word list with the compiled `encode` and `decode_step` graphs (greedy or beam search,
 * frontend/decode.h) in batches, and scoring it against the dictionary (metrics.h).
 */
#pragma once

#include <string>
#include <vector>

#include "examples/g2p/cmudict.h"
#include "examples/g2p/metrics.h"
#include "frontend/decode.h"

namespace g2p {

struct Pronunciation {
  std::vector<std::string> phonemes;
  /// When asked: the attention weights [T, S] (T: phonemes + <eos>; for the Transformer, the mean
  /// of every decoder layer's cross-attention heads) and, for the Transformer, per head
  /// [layers * heads, T, S], layer by layer.
  weft::Tensor attention, attention_heads;
};

struct DecodeOptions {
  int64_t beam = 1;  // 1: greedy
  double alpha = 0.0;
  int64_t batch = 256;  // words per call (times `beam` rows)
  bool attention = false;
};

/// Pronounces `spellings` (letters outside `letters` become <unk>).
std::vector<Pronunciation> pronounce(weft::Executable& encode, weft::Executable& step, const Vocab& letters,
                                     const Vocab& phones, const std::vector<std::string>& spellings,
                                     const DecodeOptions& options);

struct Evaluation {
  ErrorRates rates;
  std::vector<Pronunciation> decoded;  // one per word, in order
  double seconds = 0.0;
};

Evaluation evaluate(weft::Executable& encode, weft::Executable& step, const Vocab& letters, const Vocab& phones,
                    const std::vector<Word>& words, const DecodeOptions& options);

}  // namespace g2p
