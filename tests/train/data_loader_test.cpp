// SequenceLoader: padded batches of token sequences, every example once per epoch, shuffled by
// (seed, epoch), bucketed by length, and a pure function of the step.
#include "frontend/data_loader.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include "frontend/nn/seq2seq.h"
#include "tests/train/train_testing.h"

namespace weft::train {
namespace {

using namespace testing;

std::vector<int64_t> ids(const Batch& b, const std::string& name) { return b.inputs.at(name).to_vector<int64_t>(); }

TEST(SequenceLoader, PadsABatchOfPairsForTeacherForcing) {
  SequenceLoader loader({{{5, 6, 7}, {8}}, {{9}, {10, 11}}},
                        {.batch_size = 2, .shuffle = false, .pad_id = 0, .bos_id = 1, .eos_id = 2});
  Batch b = loader(1);
  EXPECT_EQ(b.inputs.at("src").type_str(), "i64[2, 3]");
  EXPECT_EQ(ids(b, "src"), (std::vector<int64_t>{5, 6, 7, 9, 0, 0}));
  EXPECT_EQ(ids(b, "src_lengths"), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(b.inputs.at("tgt_in").type_str(), "i64[2, 3]");
  EXPECT_EQ(ids(b, "tgt_in"), (std::vector<int64_t>{1, 8, 0, 1, 10, 11}));
  EXPECT_EQ(ids(b, "tgt_out"), (std::vector<int64_t>{8, 2, -100, 10, 11, 2}));
  EXPECT_EQ(b.tokens, 7);  // 4 source + 3 target tokens, no padding
}

TEST(SequenceLoader, SingleSequencesGiveSourcesOnly) {
  SequenceLoader loader({{{1, 2}}, {{3}}, {{4, 5, 6}}}, {.batch_size = 2, .shuffle = false, .pad_id = -1});
  EXPECT_EQ(loader.batches_per_epoch(), 2);
  Batch last = loader(2);  // the epoch's last batch is smaller
  EXPECT_EQ(last.inputs.size(), 2u);
  EXPECT_EQ(ids(last, "src"), (std::vector<int64_t>{4, 5, 6}));
  EXPECT_EQ(ids(loader(3), "src"), (std::vector<int64_t>{1, 2, 3, -1}));  // epoch 2 starts over
}

std::vector<TokenExample> random_lengths(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<TokenExample> out;
  for (int i = 0; i < n; ++i) out.push_back({std::vector<int64_t>(1 + rng() % 50, i)});
  return out;
}

TEST(SequenceLoader, EachEpochVisitsEveryExampleOnceInANewOrder) {
  SequenceLoader loader(random_lengths(103, 1), {.batch_size = 10, .seed = 7});
  ASSERT_EQ(loader.batches_per_epoch(), 11);
  std::vector<std::vector<size_t>> epochs(2);
  for (int64_t step = 1; step <= 22; ++step)
    for (size_t i : loader.batch_indices(step)) epochs[(step - 1) / 11].push_back(i);
  for (const auto& epoch : epochs) {
    EXPECT_EQ(epoch.size(), 103u);
    EXPECT_EQ(std::set<size_t>(epoch.begin(), epoch.end()).size(), 103u);
  }
  EXPECT_NE(epochs[0], epochs[1]);
}

TEST(SequenceLoader, IsAFunctionOfSeedAndStep) {
  SequenceLoader a(random_lengths(200, 2), {.batch_size = 8, .seed = 3});
  SequenceLoader b(random_lengths(200, 2), {.batch_size = 8, .seed = 3});
  SequenceLoader other(random_lengths(200, 2), {.batch_size = 8, .seed = 4});
  EXPECT_EQ(a.batch_indices(37), b.batch_indices(37));  // b asked first for step 37, out of order
  for (int64_t step = 1; step <= 37; ++step) (void)a(step);
  EXPECT_EQ(a.batch_indices(37), b.batch_indices(37));
  EXPECT_NE(a.batch_indices(37), other.batch_indices(37));
}

/// Padding tokens over a whole epoch.
int64_t padding(const SequenceLoader& loader, const std::vector<TokenExample>& examples) {
  int64_t pad = 0;
  for (int64_t step = 1; step <= loader.batches_per_epoch(); ++step) {
    std::vector<size_t> rows = loader.batch_indices(step);
    size_t longest = 0, total = 0;
    for (size_t i : rows) longest = std::max(longest, examples[i].src.size()), total += examples[i].src.size();
    pad += static_cast<int64_t>(longest * rows.size() - total);
  }
  return pad;
}

TEST(SequenceLoader, BucketingByLengthCutsThePadding) {
  std::vector<TokenExample> examples = random_lengths(1000, 5);
  const int64_t bucketed = padding(SequenceLoader(examples, {.batch_size = 16, .bucket_pool = 100}), examples);
  const int64_t plain = padding(SequenceLoader(examples, {.batch_size = 16, .bucket_pool = 1}), examples);
  EXPECT_LT(bucketed * 10, plain) << "bucketed " << bucketed << ", plain " << plain;
}

TEST(SequenceLoader, RejectsExamplesItCannotBatch) {
  try {
    SequenceLoader({{{1}, {2}}, {{3}}});
    FAIL() << "accepted a target on one example only";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "SequenceLoader: either every example has a target or none has, but example 0 has one and example 1 "
              "has none");
  }
  EXPECT_THROW(SequenceLoader(std::vector<TokenExample>{}), Error);
  EXPECT_THROW(SequenceLoader(std::vector<TokenExample>{TokenExample{}}), Error);  // an empty source
  EXPECT_THROW(SequenceLoader({{{1}}}, {.batch_size = 0}), Error);
}

// The loader's inputs are what the seq2seq layers and cross_entropy take: a Trainer runs on it.
TEST(SequenceLoader, FeedsASeq2SeqTrainStep) {
  Builder b("s2s");
  auto src = b.input("src", "i64[B, S]");
  auto src_lengths = b.input("src_lengths", "i64[B]");
  auto tgt_in = b.input("tgt_in", "i64[B, T]");
  auto tgt_out = b.input("tgt_out", "i64[B, T]");
  nn::Seq2Seq model(b, "model", {.src_vocab = 12, .tgt_vocab = 12, .embed_dim = 8, .hidden_size = 8});
  b.output("loss", dsl::cross_entropy(model(src, tgt_in, src_lengths), tgt_out));
  auto exe = compile(make_train_step(b.finish()));
  std::vector<TokenExample> examples;
  for (int64_t n = 1; n <= 8; ++n) examples.push_back({std::vector<int64_t>(n, 3 + n), std::vector<int64_t>(n, 3 + n)});
  SequenceLoader loader(examples, {.batch_size = 4});
  Trainer trainer(*exe, {.total_steps = 6, .lr = constant_lr(0.01), .progress = nullptr});
  double first = 0, last = 0;
  trainer.run(loader, [&](const StepReport& r) {
    (r.step == 1 ? first : last) = r.loss;
    return std::isfinite(r.loss);
  });
  EXPECT_EQ(trainer.steps_done(), 6);
  EXPECT_TRUE(std::isfinite(first) && std::isfinite(last));
}

}  // namespace
}  // namespace weft::train
