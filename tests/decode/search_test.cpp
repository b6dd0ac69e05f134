// greedy_decode and beam_search (frontend/decode.h) over the step graphs of a Transformer and an
// LSTM encoder-decoder, checked against the full (teacher-forced) graph run on whole prefixes: the
// oracle knows nothing of caches, states, beams or batching.

#include <gtest/gtest.h>

#include <cmath>

#include "frontend/decode.h"
#include "frontend/inference.h"
#include "tests/decode/decode_models.h"

namespace weft::decode::testing {
namespace {

constexpr int64_t kBos = 1, kEos = 2;

/// The compiled graphs of one model, sharing one set of random parameters.
struct Model {
  std::unique_ptr<Executable> full, encode, step;
  std::map<std::string, weft::Tensor> sources;  // B sources, as the encode graph takes them
  int64_t vocab = 0;

  /// Row `b` of every source tensor.
  std::map<std::string, weft::Tensor> source(int64_t b) const {
    std::map<std::string, weft::Tensor> one;
    for (const auto& [name, t] : sources) {
      std::vector<int64_t> shape = t.shape();
      shape[0] = 1;
      const size_t row = t.nbytes() / static_cast<size_t>(t.shape()[0]);
      std::span<const std::byte> bytes = t.bytes().subspan(static_cast<size_t>(b) * row, row);
      one[name] = weft::Tensor::from_bytes(t.dtype(), shape, bytes);
    }
    return one;
  }

  /// log P(token | source b, prefix) for every token, from the full graph on BOS + prefix.
  std::vector<double> next_log_probs(int64_t b, const std::vector<int64_t>& prefix) const {
    std::map<std::string, weft::Tensor> in = source(b);
    std::vector<int64_t> tgt{kBos};
    tgt.insert(tgt.end(), prefix.begin(), prefix.end());
    in["tgt_in"] = weft::Tensor::from<int64_t>({1, static_cast<int64_t>(tgt.size())}, tgt);
    std::vector<float> logits = full->run_named(in).at("logits").to_vector<float>();
    const float* last = logits.data() + (tgt.size() - 1) * static_cast<size_t>(vocab);
    double m = *std::max_element(last, last + vocab), total = 0.0;
    for (int64_t v = 0; v < vocab; ++v) total += std::exp(last[v] - m);
    std::vector<double> lp(static_cast<size_t>(vocab));
    for (int64_t v = 0; v < vocab; ++v) lp[static_cast<size_t>(v)] = last[v] - m - std::log(total);
    return lp;
  }

  /// The full graph's log-probability of `tokens` after BOS.
  double log_prob(int64_t b, const std::vector<int64_t>& tokens) const {
    double total = 0.0;
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::vector<int64_t> prefix(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(i));
      total += next_log_probs(b, prefix)[static_cast<size_t>(tokens[i])];
    }
    return total;
  }

  /// Greedy decoding the slow way: re-run the whole prefix for every token.
  std::vector<int64_t> greedy(int64_t b, int64_t max_length) const {
    std::vector<int64_t> out;
    while (static_cast<int64_t>(out.size()) < max_length) {
      std::vector<double> lp = next_log_probs(b, out);
      out.push_back(std::max_element(lp.begin(), lp.end()) - lp.begin());
      if (out.back() == kEos) break;
    }
    return out;
  }
};

Model transformer(const std::string& backend_name, uint64_t seed) {
  Translator::Config config{};
  auto backend = make_backend(backend_name);
  Model m;
  m.vocab = config.vocab;
  m.full = backend->compile(Translator::full(config));
  randomize(*m.full, seed);
  weft::Tensor bias = m.full->state("generator.bias");
  bias.data<float>()[kEos] -= 2.0f;  // end less eagerly, so that hypotheses have several tokens
  m.full->set_state("generator.bias", bias);
  m.encode = backend->compile(Translator::encode(config));
  m.step = backend->compile(Translator::step(config));
  train::copy_parameters(*m.full, *m.encode);
  train::copy_parameters(*m.full, *m.step);
  const int64_t batch = 3, src_len = 6;
  std::vector<bool> pad(static_cast<size_t>(batch * src_len), false);
  for (int64_t s = 3; s < src_len; ++s) pad[static_cast<size_t>(src_len + s)] = true;  // source 1 has 3 tokens
  m.sources = {{"src", random_ids({batch, src_len}, 3, config.vocab, seed + 1)},
               {"src_padding", weft::Tensor::from<bool>({batch, src_len}, pad)}};
  return m;
}

Model lstm(uint64_t seed, nn::AttentionStyle style = nn::AttentionStyle::luong) {
  const int64_t vocab = 8;
  auto backend = make_backend("interp");
  Model m;
  m.vocab = vocab;
  m.full = backend->compile(LstmTranslator::full(vocab, style));
  randomize(*m.full, seed);
  m.encode = backend->compile(LstmTranslator::encode(vocab, style));
  m.step = backend->compile(LstmTranslator::step(vocab, style));
  train::copy_parameters(*m.full, *m.encode);
  train::copy_parameters(*m.full, *m.step);
  m.sources = {{"src", random_ids({3, 5}, 3, vocab, seed + 1)},
               {"src_lengths", weft::Tensor::from<int64_t>({3}, {5, 2, 4})}};
  return m;
}

void expect_greedy_matches_full_prefix_loop(const Model& m, int64_t max_length) {
  SearchOptions options{.bos = kBos, .eos = kEos, .max_length = max_length, .alpha = 0.0};
  std::vector<SourceResult> results = greedy_decode(*m.encode, *m.step, m.sources, options);
  ASSERT_EQ(results.size(), 3u);
  for (int64_t b = 0; b < 3; ++b) {
    const Hypothesis& h = results[static_cast<size_t>(b)].best.at(0);
    EXPECT_EQ(h.tokens, m.greedy(b, max_length)) << "source " << b;
    EXPECT_EQ(h.finished, !h.tokens.empty() && h.tokens.back() == kEos);
    EXPECT_NEAR(h.log_prob, m.log_prob(b, h.tokens), 1e-4) << "source " << b;
  }
}

TEST(GreedyDecode, TransformerMatchesFullPrefixLoop) {
  for (uint64_t seed : {11, 12, 13}) expect_greedy_matches_full_prefix_loop(transformer("interp", seed), 8);
}

TEST(GreedyDecode, TransformerMatchesFullPrefixLoopOnLlvm) {
  expect_greedy_matches_full_prefix_loop(transformer("llvm", 11), 8);
}

TEST(GreedyDecode, LstmMatchesFullPrefixLoop) {
  for (uint64_t seed : {21, 22}) expect_greedy_matches_full_prefix_loop(lstm(seed), 8);
}

TEST(GreedyDecode, BahdanauLstmMatchesFullPrefixLoop) {
  for (uint64_t seed : {23, 24}) expect_greedy_matches_full_prefix_loop(lstm(seed, nn::AttentionStyle::bahdanau), 8);
}

/// Every returned hypothesis' log-probability and score are the full graph's, best first, distinct.
void expect_rescored(const Model& m, const std::vector<SourceResult>& results, const SearchOptions& o) {
  for (size_t b = 0; b < results.size(); ++b) {
    const std::vector<Hypothesis>& best = results[b].best;
    ASSERT_EQ(static_cast<int64_t>(best.size()), o.beam) << "source " << b;
    for (size_t i = 0; i < best.size(); ++i) {
      const Hypothesis& h = best[i];
      EXPECT_NEAR(h.log_prob, m.log_prob(static_cast<int64_t>(b), h.tokens), 1e-4) << "source " << b << " #" << i;
      EXPECT_NEAR(h.score, h.log_prob / std::pow(static_cast<double>(h.tokens.size()), o.alpha), 1e-9);
      EXPECT_EQ(h.finished, h.tokens.back() == kEos);
      if (i > 0 && h.finished == best[i - 1].finished) EXPECT_LE(h.score, best[i - 1].score);
      if (i > 0) EXPECT_TRUE(best[i - 1].finished || !h.finished) << "finished hypotheses come first";
      for (size_t j = 0; j < i; ++j) EXPECT_NE(h.tokens, best[j].tokens);
    }
  }
}

TEST(BeamSearch, TransformerHypothesesAreRescoredByTheFullGraph) {
  Model m = transformer("interp", 31);
  for (double alpha : {0.0, 0.7}) {
    SearchOptions o{.bos = kBos, .eos = kEos, .max_length = 6, .beam = 4, .alpha = alpha};
    expect_rescored(m, beam_search(*m.encode, *m.step, m.sources, o), o);
  }
}

TEST(BeamSearch, LstmHypothesesAreRescoredByTheFullGraph) {
  for (nn::AttentionStyle style : {nn::AttentionStyle::luong, nn::AttentionStyle::bahdanau}) {
    Model m = lstm(41, style);
    SearchOptions o{.bos = kBos, .eos = kEos, .max_length = 6, .beam = 3, .alpha = 0.6};
    expect_rescored(m, beam_search(*m.encode, *m.step, m.sources, o), o);
  }
}

TEST(BeamSearch, BatchedSourcesDecodeAsIfAlone) {
  Model m = transformer("interp", 51);
  SearchOptions o{.bos = kBos, .eos = kEos, .max_length = 7, .beam = 3, .alpha = 0.6};
  std::vector<SourceResult> together = beam_search(*m.encode, *m.step, m.sources, o);
  for (int64_t b = 0; b < 3; ++b) {
    std::vector<SourceResult> alone = beam_search(*m.encode, *m.step, m.source(b), o);
    ASSERT_EQ(alone.size(), 1u);
    ASSERT_EQ(alone[0].best.size(), together[static_cast<size_t>(b)].best.size());
    for (size_t i = 0; i < alone[0].best.size(); ++i) {
      EXPECT_EQ(alone[0].best[i].tokens, together[static_cast<size_t>(b)].best[i].tokens) << "source " << b;
      EXPECT_NEAR(alone[0].best[i].score, together[static_cast<size_t>(b)].best[i].score, 1e-5);
    }
  }
}

TEST(BeamSearch, WidthOneIsGreedy) {
  for (uint64_t seed : {61, 62}) {
    Model m = transformer("interp", seed);
    SearchOptions o{.bos = kBos, .eos = kEos, .max_length = 8, .beam = 1};
    std::vector<SourceResult> beam = beam_search(*m.encode, *m.step, m.sources, o);
    std::vector<SourceResult> greedy = greedy_decode(*m.encode, *m.step, m.sources, o);
    for (size_t b = 0; b < 3; ++b) EXPECT_EQ(beam[b].best.at(0).tokens, greedy[b].best.at(0).tokens);
  }
}

TEST(BeamSearch, FindsTheMostProbableSequenceWhenTheBeamHoldsEveryPrefix) {
  // With max_length 2 there are at most (V - 1)·V candidates at the second step; a beam that wide
  // keeps every one of them, so the search is exhaustive: its best must be the best of every
  // sequence the oracle scores.
  Model m = transformer("interp", 71);
  SearchOptions o{.bos = kBos, .eos = kEos, .max_length = 2, .beam = (m.vocab - 1) * m.vocab};
  std::vector<SourceResult> results = beam_search(*m.encode, *m.step, m.sources, o);
  for (int64_t b = 0; b < 3; ++b) {
    std::vector<double> first = m.next_log_probs(b, {});
    double best = first[kEos];  // [EOS]
    std::vector<int64_t> best_tokens{kEos};
    for (int64_t y = 0; y < m.vocab; ++y) {
      if (y == kEos) continue;
      std::vector<double> second = m.next_log_probs(b, {y});
      if (first[static_cast<size_t>(y)] + second[kEos] > best) {  // finished hypotheses rank first
        best = first[static_cast<size_t>(y)] + second[kEos];
        best_tokens = {y, kEos};
      }
    }
    EXPECT_EQ(results[static_cast<size_t>(b)].best.at(0).tokens, best_tokens) << "source " << b;
    EXPECT_NEAR(results[static_cast<size_t>(b)].best.at(0).log_prob, best, 1e-4);
  }
}

TEST(Decode, AttentionOfTheBestHypothesis) {
  Model m = transformer("interp", 81);
  SearchOptions o{.bos = kBos, .eos = kEos, .max_length = 5, .beam = 2, .attention = true};
  for (bool beam : {false, true}) {
    std::vector<SourceResult> results =
        beam ? beam_search(*m.encode, *m.step, m.sources, o) : greedy_decode(*m.encode, *m.step, m.sources, o);
    const SourceResult& r = results[1];  // the source with 3 real tokens of 6
    const auto steps = static_cast<int64_t>(r.best[0].tokens.size());
    ASSERT_EQ(r.attention.shape(), (std::vector<int64_t>{steps, 6}));
    ASSERT_EQ(r.attention_heads.shape(), (std::vector<int64_t>{2, steps, 6}));
    std::vector<float> avg = r.attention.to_vector<float>(), heads = r.attention_heads.to_vector<float>();
    for (int64_t t = 0; t < steps; ++t) {
      float total = 0.0f;
      for (int64_t s = 0; s < 6; ++s) {
        float w = avg[static_cast<size_t>(t * 6 + s)];
        total += w;
        EXPECT_FLOAT_EQ(w,
                        (heads[static_cast<size_t>(t * 6 + s)] + heads[static_cast<size_t>((steps + t) * 6 + s)]) / 2);
        if (s >= 3) EXPECT_EQ(w, 0.0f) << "a padded source position";
      }
      EXPECT_NEAR(total, 1.0f, 1e-5);
    }
  }
}

TEST(DecodeErrors, StepGraphWithoutTokens) {
  Model m = transformer("interp", 1);
  Builder b("not_a_step");
  b.output("logits", dsl::relu(b.input("x", "f32[R, 4]")));
  auto exe = make_backend("interp")->compile(b.finish());
  try {
    greedy_decode(*m.encode, *exe, m.sources);
    ADD_FAILURE() << "expected a weft::Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "decode: the step graph has no input `tokens` (i64[R]: each row's previous token)");
  }
}

TEST(DecodeErrors, MaxLengthBeyondTheCacheCapacity) {
  Model m = transformer("interp", 1);
  try {
    greedy_decode(*m.encode, *m.step, m.sources, {.max_length = kMaxLength + 1});
    ADD_FAILURE() << "expected a weft::Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "decode: max_length 13 exceeds the caches' capacity 12 (the bound of P)");
  }
}

TEST(DecodeErrors, EncodeGraphMissingAStepInput) {
  Model m = transformer("interp", 1);
  Model other = lstm(1);
  try {
    greedy_decode(*other.encode, *m.step, other.sources, {.max_length = 8});
    ADD_FAILURE() << "expected a weft::Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "decode: the encode graph has no output `memory.0.k` for the step's input");
  }
}

}  // namespace
}  // namespace weft::decode::testing
