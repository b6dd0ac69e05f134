// PER and WER as the reference computes them, on hand-checked cases.
#include "examples/g2p/metrics.h"

#include <gtest/gtest.h>

namespace g2p {
namespace {

std::vector<std::string> chars(const std::string& s) {
  std::vector<std::string> out;
  for (char c : s) out.emplace_back(1, c);
  return out;
}

TEST(G2PMetrics, EditDistanceCountsInsertionsDeletionsAndSubstitutions) {
  EXPECT_EQ(edit_distance(chars("kitten"), chars("sitting")), 3);  // k->s, e->i, +g
  EXPECT_EQ(edit_distance(chars(""), chars("abc")), 3);
  EXPECT_EQ(edit_distance(chars("abc"), chars("")), 3);
  EXPECT_EQ(edit_distance(chars("abc"), chars("abc")), 0);
  EXPECT_EQ(edit_distance(chars("ab"), chars("ba")), 2);  // no transpositions
  EXPECT_EQ(edit_distance({"hh", "ax", "l", "ow"}, {"hh", "eh", "l", "ow"}), 1);
}

TEST(G2PMetrics, PerSumsDistancesOverReferenceLengthsAndWerCountsWrongWords) {
  ErrorRates r;
  EXPECT_EQ(r.per(), 0.0);
  r.add({"hh", "ax", "l", "ow"}, {"hh", "eh", "l", "ow"});  // 1 error in 4
  r.add({"k", "ae", "t"}, {"k", "ae", "t"});                // right
  r.add({"d"}, {"d", "ao", "g"});                           // 2 deletions in 3
  EXPECT_EQ(r.words(), 3);
  EXPECT_DOUBLE_EQ(r.per(), 100.0 * 3 / 10);
  EXPECT_DOUBLE_EQ(r.wer(), 100.0 * 2 / 3);
}

}  // namespace
}  // namespace g2p
