/** \file
 * The scores of grapheme-to-phoneme conversion, as the reference computes them: the phoneme error
 * rate (PER: the summed Levenshtein distances between decoded and reference phonemes over the
 * summed reference lengths) and the word error rate (WER: the share of words whose phonemes are not
 * exactly right), both in percent.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace g2p {

/// Levenshtein distance (insertions, deletions and substitutions cost 1).
int64_t edit_distance(const std::vector<std::string>& a, const std::vector<std::string>& b);

class ErrorRates {
 public:
  void add(const std::vector<std::string>& decoded, const std::vector<std::string>& reference);
  /// Percent; 0 when nothing was added.
  double per() const;
  double wer() const;
  int64_t words() const { return words_; }

 private:
  int64_t errors_ = 0, reference_length_ = 0, wrong_ = 0, words_ = 0;
};

}  // namespace g2p
