#include "examples/g2p/cmudict.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unordered_set>

#include "ir/error.h"

namespace g2p {

namespace {

std::string strip(const std::string& s) {
  auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  size_t b = 0, e = s.size();
  while (b < e && space(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && space(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

bool good_spelling(const std::string& w) {
  return !w.empty() && std::all_of(w.begin(), w.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '\''; });
}

/// data.SYLLABLE's findall: every `((...) d)` without parentheses inside, left to right.
std::vector<std::string> syllables(const std::string& body) {
  std::vector<std::string> found;
  size_t p = 0;
  while (p + 1 < body.size()) {
    if (body[p] == '(' && body[p + 1] == '(') {
      size_t q = p + 2;
      while (q < body.size() && body[q] != '(' && body[q] != ')') ++q;
      if (q + 3 < body.size() && body[q] == ')' && body[q + 1] == ' ' &&
          std::isdigit(static_cast<unsigned char>(body[q + 2])) && body[q + 3] == ')') {
        found.push_back(body.substr(p + 2, q - p - 2));
        p = q + 4;
        continue;
      }
    }
    ++p;
  }
  return found;
}

}  // namespace

bool parse_entry(const std::string& raw, Word& word) {
  // data.ENTRY: ^\("([^"]*)" (\S+) \((.*)\)\)$ on the stripped line.
  std::string line = strip(raw);
  if (line.size() < 2 || line[0] != '(' || line[1] != '"') return false;
  size_t quote = line.find('"', 2);
  if (quote == std::string::npos || quote + 1 >= line.size() || line[quote + 1] != ' ') return false;
  size_t pos_begin = quote + 2, pos_end = pos_begin;
  while (pos_end < line.size() && !std::isspace(static_cast<unsigned char>(line[pos_end]))) ++pos_end;
  if (pos_end == pos_begin || pos_end + 1 >= line.size() || line[pos_end] != ' ' || line[pos_end + 1] != '(')
    return false;
  size_t body_begin = pos_end + 2;
  if (line.size() < body_begin + 2 || line.compare(line.size() - 2, 2, "))") != 0) return false;
  std::string body = line.substr(body_begin, line.size() - 2 - body_begin);
  if (body.find('\n') != std::string::npos || body.find('\r') != std::string::npos) return false;

  word.spelling = line.substr(2, quote - 2);
  for (char& c : word.spelling) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  word.phonemes.clear();
  for (const std::string& s : syllables(body)) {
    std::istringstream in(s);
    for (std::string ph; in >> ph;) word.phonemes.push_back(ph);
  }
  return true;
}

Lexicon load_lexicon(const std::string& path) {
  std::ifstream f(path);
  if (!f)
    throw weft::Error(
        fmt::format("g2p: cannot read the dictionary '{}' (Debian's festlex-cmu installs it; "
                    "scripts/install-deps.sh does)",
                    path));
  Lexicon lex;
  std::unordered_set<std::string> seen;
  Word w;
  for (std::string line; std::getline(f, line);) {
    ++lex.stats.lines;
    if (!parse_entry(line, w)) {
      ++lex.stats.unparsed;
      bool header = lex.stats.lines == 1 && strip(line) == "MNCL";
      if (!header)
        lex.problems.push_back(fmt::format("{}:{}: not an entry of the form (\"word\" pos (syllables)), skipped: {}",
                                           path, lex.stats.lines, line.substr(0, 80)));
      continue;
    }
    if (!good_spelling(w.spelling)) {
      ++lex.stats.bad_spelling;
    } else if (!seen.insert(w.spelling).second) {
      ++lex.stats.duplicate;
    } else {
      lex.words.push_back(w);
    }
  }
  if (f.bad()) throw weft::Error(fmt::format("g2p: reading the dictionary '{}' failed", path));
  return lex;
}

// --- Python's random module ---------------------------------------------------------------------

PythonRandom::PythonRandom(uint32_t seed) {
  // init_genrand(19650218), then init_by_array with the seed's one 32-bit word (CPython's
  // random_seed splits |seed| into 32-bit words, little end first).
  constexpr size_t n = 624;
  mt_[0] = 19650218u;
  for (size_t i = 1; i < n; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  const uint32_t key[1] = {seed};
  size_t i = 1, j = 0;
  for (size_t k = n; k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= n) {
      mt_[0] = mt_[n - 1];
      i = 1;
    }
    if (j >= 1) j = 0;
  }
  for (size_t k = n - 1; k; --k) {
    mt_[i] = (mt_[i] ^ ((mt_[i - 1] ^ (mt_[i - 1] >> 30)) * 1566083941u)) - static_cast<uint32_t>(i);
    ++i;
    if (i >= n) {
      mt_[0] = mt_[n - 1];
      i = 1;
    }
  }
  mt_[0] = 0x80000000u;
  index_ = n;
}

uint32_t PythonRandom::next_u32() {
  constexpr size_t n = 624, m = 397;
  constexpr uint32_t upper = 0x80000000u, lower = 0x7fffffffu, matrix = 0x9908b0dfu;
  if (index_ >= n) {
    for (size_t k = 0; k < n; ++k) {
      uint32_t y = (mt_[k] & upper) | (mt_[(k + 1) % n] & lower);
      mt_[k] = mt_[(k + m) % n] ^ (y >> 1) ^ ((y & 1u) ? matrix : 0u);
    }
    index_ = 0;
  }
  uint32_t y = mt_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint32_t PythonRandom::getrandbits(int k) { return next_u32() >> (32 - k); }

uint32_t PythonRandom::randbelow(uint32_t n) {
  int k = 0;
  for (uint32_t v = n; v; v >>= 1) ++k;  // n.bit_length()
  uint32_t r = getrandbits(k);
  while (r >= n) r = getrandbits(k);
  return r;
}

Split split_lexicon(const Lexicon& lexicon, uint32_t seed) {
  std::map<std::string, const Word*> by_spelling;
  for (const Word& w : lexicon.words) by_spelling.emplace(w.spelling, &w);
  std::vector<const Word*> words;  // sorted(lex): byte order, as Python compares ASCII strings
  for (const auto& [spelling, w] : by_spelling) words.push_back(w);
  PythonRandom(seed).shuffle(words);
  const size_t n = words.size();
  // int(n * 0.90) and int(n * (0.90 + 0.05)) with Python's doubles.
  const auto a = static_cast<size_t>(static_cast<double>(n) * 0.90);
  const auto b = static_cast<size_t>(static_cast<double>(n) * (0.90 + 0.05));
  Split s;
  for (size_t i = 0; i < n; ++i) (i < a ? s.train : i < b ? s.dev : s.test).push_back(*words[i]);
  return s;
}

// --- vocabularies ---------------------------------------------------------------------------------

Vocab::Vocab(std::vector<std::string> symbols) {
  itos_ = {"<pad>", "<bos>", "<eos>", "<unk>"};
  std::set<std::string> sorted(symbols.begin(), symbols.end());
  itos_.insert(itos_.end(), sorted.begin(), sorted.end());
}

int64_t Vocab::id(const std::string& symbol) const {
  for (size_t i = 4; i < itos_.size(); ++i)
    if (itos_[i] == symbol) return static_cast<int64_t>(i);
  return kUnk;
}

std::vector<std::string> Vocab::decode(const std::vector<int64_t>& ids) const {
  std::vector<std::string> out;
  for (int64_t i : ids) {
    if (i == kEos) break;
    if (i >= 4 && i < size()) out.push_back(itos_[static_cast<size_t>(i)]);
  }
  return out;
}

std::pair<Vocab, Vocab> make_vocabs(const std::vector<Word>& train) {
  std::vector<std::string> letters, phones;
  for (const Word& w : train) {
    for (char c : w.spelling) letters.emplace_back(1, c);
    phones.insert(phones.end(), w.phonemes.begin(), w.phonemes.end());
  }
  return {Vocab(letters), Vocab(phones)};
}

std::vector<int64_t> encode_spelling(const std::string& spelling, const Vocab& letters) {
  std::vector<int64_t> ids;
  for (char c : spelling) ids.push_back(letters.id(std::string(1, c)));
  ids.push_back(kEos);
  return ids;
}

std::vector<int64_t> encode_phonemes(const std::vector<std::string>& phonemes, const Vocab& phones) {
  std::vector<int64_t> ids;
  for (const std::string& p : phonemes) ids.push_back(phones.id(p));
  return ids;
}

}  // namespace g2p
