// The CMU dictionary as the PyTorch reference reads it (../shared/g2p/data.py): the counts, the
// split and the first words of each part were printed by data.py itself; Python's random module
// is reproduced bit for bit (values printed by CPython 3.11); malformed lines are reported by line
// number and skipped.
#include "examples/g2p/cmudict.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ir/error.h"

namespace g2p {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> spellings(const std::vector<Word>& words, size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n && i < words.size(); ++i) out.push_back(words[i].spelling);
  return out;
}

TEST(PythonRandom, ReproducesCPythonsGeneratorSeededWithAnInteger) {
  PythonRandom r(1234);
  EXPECT_EQ(r.getrandbits(32), 4150886329u);
  EXPECT_EQ(r.getrandbits(32), 3342196574u);
  EXPECT_EQ(r.getrandbits(32), 1892932127u);
  EXPECT_EQ(r.getrandbits(5), 3u);
  EXPECT_EQ(r.getrandbits(5), 0u);
  EXPECT_EQ(r.getrandbits(5), 2u);
  PythonRandom s(7);
  std::vector<uint32_t> drawn;
  for (int i = 0; i < 5; ++i) drawn.push_back(s.randbelow(1000));
  EXPECT_EQ(drawn, (std::vector<uint32_t>{331, 970, 154, 404, 666}));
}

TEST(PythonRandom, ShufflesAsRandomShuffle) {
  std::vector<int> x = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  PythonRandom(1234).shuffle(x);
  EXPECT_EQ(x, (std::vector<int>{2, 8, 3, 5, 6, 4, 9, 0, 1, 7}));
}

TEST(CmuDict, ParsesAnEntryDroppingStressAndFlatteningSyllables) {
  Word w;
  ASSERT_TRUE(parse_entry("(\"Aaberg\" nil (((aa) 1) ((b er g) 0)))", w));
  EXPECT_EQ(w.spelling, "aaberg");
  EXPECT_EQ(w.phonemes, (std::vector<std::string>{"aa", "b", "er", "g"}));
  EXPECT_FALSE(parse_entry("MNCL", w));
  EXPECT_FALSE(parse_entry("(\"abc\" nil ((ey) 1)", w));  // two parentheses short
  EXPECT_FALSE(parse_entry("(\"abc\"nil (((ey) 1)))", w));
}

TEST(CmuDict, TheDebianDictionaryGivesTheReferenceCountsAndSplit) {
  ASSERT_TRUE(fs::exists(kDictionaryPath))
      << kDictionaryPath << " is missing: scripts/install-deps.sh installs festlex-cmu";
  Lexicon lex = load_lexicon();
  EXPECT_EQ(lex.stats.lines, 105902);
  EXPECT_EQ(lex.stats.unparsed, 1);  // the MNCL header, not reported as a problem
  EXPECT_TRUE(lex.problems.empty());
  EXPECT_EQ(lex.stats.bad_spelling, 0);
  EXPECT_EQ(lex.stats.duplicate, 237);
  EXPECT_EQ(lex.words.size(), 105664u);
  EXPECT_EQ(lex.words[0].spelling, "a");
  EXPECT_EQ(lex.words[0].phonemes, (std::vector<std::string>{"ax"}));  // the first of the homographs

  Split s = split_lexicon(lex);
  EXPECT_EQ(s.train.size(), 95097u);
  EXPECT_EQ(s.dev.size(), 5283u);
  EXPECT_EQ(s.test.size(), 5284u);
  EXPECT_EQ(spellings(s.train, 5), (std::vector<std::string>{"keynesians", "swell", "boorda", "unload", "kalata"}));
  EXPECT_EQ(spellings(s.dev, 5),
            (std::vector<std::string>{"imprisoned", "wehe", "quicksand", "observing", "proletarian"}));
  EXPECT_EQ(spellings(s.test, 5), (std::vector<std::string>{"herndon", "mayers", "southers", "hauver", "emilio"}));
  EXPECT_EQ(s.test.back().spelling, "weilbacher");
  EXPECT_EQ(s.train[0].phonemes, (std::vector<std::string>{"k", "ey", "n", "iy", "s", "iy", "ax", "n", "z"}));

  auto [letters, phones] = make_vocabs(s.train);
  EXPECT_EQ(letters.size(), 30);
  EXPECT_EQ(phones.size(), 44);
  EXPECT_EQ(letters.symbols()[4], "a");
  EXPECT_EQ(phones.symbols()[4], "aa");
  EXPECT_EQ(phones.symbols()[43], "zh");
  EXPECT_EQ(encode_spelling("ab", letters), (std::vector<int64_t>{4, 5, kEos}));
  EXPECT_EQ(phones.decode({5, 43, kEos, 6}), (std::vector<std::string>{"ae", "zh"}));
}

TEST(CmuDict, MalformedLinesAreReportedWithTheirLineNumbersAndSkipped) {
  fs::path path = fs::temp_directory_path() / "weft_g2p_malformed.out";
  {
    std::ofstream f(path);
    f << "MNCL\n"
         "(\"a\" dt (((ax) 0)))\n"
         "(\"b\" n ((b iy) 1)\n"   // a parenthesis short
         "(\"A\" n (((ey) 1)))\n"  // a homograph: the first is kept
         "(\"c3po\" n (((s iy) 1)))\n"
         "garbage\n"
         "(\"bee\" n (((b iy) 1)))\n";
  }
  Lexicon lex = load_lexicon(path.string());
  EXPECT_EQ(lex.stats.lines, 7);
  EXPECT_EQ(lex.stats.unparsed, 3);
  EXPECT_EQ(lex.stats.duplicate, 1);
  EXPECT_EQ(lex.stats.bad_spelling, 1);
  ASSERT_EQ(lex.words.size(), 2u);
  EXPECT_EQ(lex.words[1].spelling, "bee");
  ASSERT_EQ(lex.problems.size(), 2u);
  EXPECT_EQ(lex.problems[0],
            path.string() + ":3: not an entry of the form (\"word\" pos (syllables)), skipped: (\"b\" n ((b iy) 1)");
  EXPECT_EQ(lex.problems[1],
            path.string() + ":6: not an entry of the form (\"word\" pos (syllables)), skipped: garbage");
  fs::remove(path);
}

TEST(CmuDict, AMissingDictionaryIsAClearError) {
  try {
    load_lexicon("/nonexistent/cmudict.out");
    FAIL() << "no error";
  } catch (const weft::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "g2p: cannot read the dictionary '/nonexistent/cmudict.out' (Debian's festlex-cmu installs it; "
              "scripts/install-deps.sh does)");
  }
}

}  // namespace
}  // namespace g2p
