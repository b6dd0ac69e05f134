// Done-criterion of the training stack: a small Transformer encoder learns to reverse sequences
// (vocabulary 10, length 8) to >= 99% token accuracy on held-out sequences it never trained on.
//
// Encoder-only: token embedding + sinusoidal positions, two pre-norm encoder layers (d_model 32,
// 4 heads, feed-forward 64), and a linear head predicting every output position in parallel;
// output position i must copy input position 7 - i, which self-attention learns from the
// positional encodings. Batch 32, Adam with warm-up. On the interpreter (the only backend when
// this was written) this is the slowest test of the suite; see docs/training.md for its timing.

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <sstream>
#include <unordered_set>

#include "frontend/nn/embedding.h"
#include "frontend/nn/transformer.h"
#include "frontend/trainer.h"
#include "tests/train/train_testing.h"

namespace weft::train {
namespace {

using namespace testing;

constexpr int64_t kVocab = 10, kLength = 8, kDModel = 32, kBatch = 32;

Graph reverser() {
  Builder b("reverser");
  auto tokens = b.input("tokens", "i64[B, 8]");
  auto targets = b.input("targets", "i64[B, 8]");
  nn::Embedding embed(b, "embed", kVocab, kDModel);
  nn::PositionalEncoding positions(b, "positions", kDModel);
  nn::TransformerEncoder encoder(
      b, "encoder", {.d_model = kDModel, .nhead = 4, .dim_feedforward = 64, .dropout = 0.0, .norm_first = true}, 2);
  nn::Linear head(b, "head", kDModel, kVocab);
  auto logits = head(encoder(positions(embed(tokens))));
  b.output("loss", dsl::cross_entropy(logits, targets));
  b.output("predictions", dsl::argmax(logits, -1));
  return b.finish();
}

/// Random sequences as digits; `key` packs one into an integer so held-out data can be checked.
struct Sequences {
  std::vector<int64_t> tokens, reversed;
  std::vector<uint64_t> keys;
};

Sequences draw(std::mt19937_64& rng, int64_t count) {
  Sequences s;
  std::uniform_int_distribution<int64_t> digit(0, kVocab - 1);
  for (int64_t n = 0; n < count; ++n) {
    uint64_t key = 0;
    std::vector<int64_t> seq(kLength);
    for (int64_t& t : seq) {
      t = digit(rng);
      key = key * kVocab + static_cast<uint64_t>(t);
    }
    s.tokens.insert(s.tokens.end(), seq.begin(), seq.end());
    s.reversed.insert(s.reversed.end(), seq.rbegin(), seq.rend());
    s.keys.push_back(key);
  }
  return s;
}

TEST(TransformerReverse, LearnsToReverseHeldOutSequences) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t steps = 300;
  auto exe = compile(make_train_step(reverser(), {.optimizer = AdamOptions{}, .clip_grad_norm = 1.0}));

  // Batch `step` comes from a generator keyed by the step, so a resumed run would see the same data.
  std::unordered_set<uint64_t> trained_on;
  std::ostringstream progress;
  Trainer trainer(*exe, {.total_steps = steps,
                         .lr = linear_warmup(30, cosine_lr(3e-3, steps, 1e-4)),
                         .log_every = 100,
                         .progress = &progress});
  trainer.run([&](int64_t step) {
    std::mt19937_64 rng(static_cast<uint64_t>(step));
    Sequences s = draw(rng, kBatch);
    trained_on.insert(s.keys.begin(), s.keys.end());
    return Batch{{{"tokens", Tensor::from<int64_t>({kBatch, kLength}, s.tokens)},
                  {"targets", Tensor::from<int64_t>({kBatch, kLength}, s.reversed)}},
                 kBatch * kLength};
  });
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Held-out: 1000 sequences from another generator, none of them seen in training.
  std::mt19937_64 rng(0xC0FFEE);
  Sequences held_out;
  while (held_out.keys.size() < 1000) {
    Sequences one = draw(rng, 1);
    if (trained_on.count(one.keys[0])) continue;
    held_out.tokens.insert(held_out.tokens.end(), one.tokens.begin(), one.tokens.end());
    held_out.reversed.insert(held_out.reversed.end(), one.reversed.begin(), one.reversed.end());
    held_out.keys.push_back(one.keys[0]);
  }
  auto forward = compile(reverser());
  copy_state(*exe, *forward);
  const auto n = static_cast<int64_t>(held_out.keys.size());
  auto out = forward->run_named({{"tokens", Tensor::from<int64_t>({n, kLength}, held_out.tokens)},
                                 {"targets", Tensor::from<int64_t>({n, kLength}, held_out.reversed)}});
  std::vector<int64_t> predicted = out.at("predictions").to_vector<int64_t>();
  int64_t correct = 0;
  for (size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == held_out.reversed[i];
  const double accuracy = static_cast<double>(correct) / static_cast<double>(predicted.size());
  const double total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::cerr << progress.str() << "held-out token accuracy " << accuracy << " after " << steps << " steps; training "
            << train_seconds << " s, total " << total_seconds << " s on the interpreter\n";
  EXPECT_GE(accuracy, 0.99);
}

}  // namespace
}  // namespace weft::train
