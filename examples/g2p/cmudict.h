/** \file
 * The CMU pronouncing dictionary (Festival's cmudict-0.4, Debian's `festlex-cmu`) for
 * grapheme-to-phoneme conversion, with the rules and the split of the PyTorch reference
 * (`../shared/g2p/data.py`) reproduced exactly, so that both are scored on the same words:
 *
 *  - a line is an entry `("word" pos (syllables))`, each syllable `((ph ph ...) stress)`;
 *  - spellings are lower-cased and kept only if made of a-z and apostrophe;
 *  - the first entry of a spelling (homographs differ by part of speech) is kept;
 *  - stress digits are dropped and the phonemes flattened across syllables;
 *  - the sorted unique words are shuffled with Python's `random.Random(1234)` (PythonRandom
 *    reproduces its Mersenne Twister, seeding and `shuffle`) and cut 90/5/5 into train/dev/test.
 *
 * Source = letters + `<eos>`; target = phonemes (the data loader adds `<bos>` and `<eos>`).
 * A line that is not an entry (other than the `MNCL` header) is reported with its line number in
 * `Lexicon::problems` and skipped; a missing or unreadable file is a weft::Error.
 */
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace g2p {

constexpr const char* kDictionaryPath = "/usr/share/festival/dicts/cmu/cmudict-0.4.out";
constexpr int64_t kPad = 0, kBos = 1, kEos = 2, kUnk = 3;

struct Word {
  std::string spelling;
  std::vector<std::string> phonemes;
};

/// What the rules dropped, as data.py counts it.
struct LexiconStats {
  int64_t lines = 0;
  int64_t unparsed = 0;  // the header and every malformed line
  int64_t bad_spelling = 0;
  int64_t duplicate = 0;
};

struct Lexicon {
  std::vector<Word> words;  // in file order, one per spelling
  LexiconStats stats;
  std::vector<std::string> problems;  // "path:line: ..." for each malformed line
};

/// Reads a dictionary in cmudict-0.4's format. Throws weft::Error when it cannot be opened.
Lexicon load_lexicon(const std::string& path = kDictionaryPath);

/// Parses one line (without its newline): true and `word` filled for an entry.
bool parse_entry(const std::string& line, Word& word);

/// Python's `random.Random(seed)` for a non-negative seed below 2^32: MT19937 seeded by
/// `init_by_array`, `getrandbits` and `shuffle` as CPython implements them.
class PythonRandom {
 public:
  explicit PythonRandom(uint32_t seed);
  uint32_t next_u32();
  /// random.getrandbits(k) for 1 <= k <= 32.
  uint32_t getrandbits(int k);
  /// random.randrange(n) / _randbelow(n) for 1 <= n < 2^32.
  uint32_t randbelow(uint32_t n);

  template <typename T>
  void shuffle(std::vector<T>& x) {
    for (size_t i = x.size(); i-- > 1;) std::swap(x[i], x[randbelow(static_cast<uint32_t>(i + 1))]);
  }

 private:
  std::array<uint32_t, 624> mt_{};
  size_t index_ = 624;
};

struct Split {
  std::vector<Word> train, dev, test;
};

/// data.split: the sorted unique words, shuffled with PythonRandom(seed), cut at
/// int(n * 0.90) and int(n * 0.95).
Split split_lexicon(const Lexicon& lexicon, uint32_t seed = 1234);

/// Specials, then the sorted symbols (data.Vocab).
class Vocab {
 public:
  Vocab() = default;
  explicit Vocab(std::vector<std::string> symbols);

  int64_t size() const { return static_cast<int64_t>(itos_.size()); }
  const std::vector<std::string>& symbols() const { return itos_; }
  int64_t id(const std::string& symbol) const;  // kUnk when unknown
  /// Symbols up to the first `<eos>`, specials dropped.
  std::vector<std::string> decode(const std::vector<int64_t>& ids) const;

 private:
  std::vector<std::string> itos_;
};

/// Letter and phoneme vocabularies of the training words (data.vocabs).
std::pair<Vocab, Vocab> make_vocabs(const std::vector<Word>& train);

/// A word's letters as ids, then `<eos>`.
std::vector<int64_t> encode_spelling(const std::string& spelling, const Vocab& letters);
/// A word's phonemes as ids (no `<bos>`/`<eos>`: the SequenceLoader adds them).
std::vector<int64_t> encode_phonemes(const std::vector<std::string>& phonemes, const Vocab& phones);

}  // namespace g2p
