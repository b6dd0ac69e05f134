// The decoding section of docs/transformer-tutorial.md (section 5): a Transformer learns to reverse
// digit sequences, then decodes held-out sources greedily and with beam search. Every snippet there is
// copied from this file, and this test runs it.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <sstream>

#include "backends/backend.h"
#include "frontend/decode.h"
#include "frontend/inference.h"
#include "frontend/nn/nn.h"
#include "frontend/train_step.h"
#include "frontend/trainer.h"

namespace tutorial {

using namespace weft::dsl;
using weft::Dim;
using weft::Graph;
namespace nn = weft::nn;
namespace decode = weft::decode;
namespace train = weft::train;

// --- 5.1 One model, three graphs -------------------------------------------------------------------

constexpr int64_t kBos = 1, kEos = 2, kVocab = 13;  // tokens 3..12 are the digits 0..9
constexpr int64_t kLength = 5;

struct Reverser {
  explicit Reverser(Builder& b, nn::Mode mode = nn::Mode::eval)
      : dropout(nn::dropout_step(b, mode)),
        src_embed(b, "src_embed", kVocab, 32, {.scale_by_sqrt_dim = true}),
        tgt_embed(b, "tgt_embed", kVocab, 32, {.scale_by_sqrt_dim = true}),
        positions(b, "positions", 32, 0.0),
        transformer(b, "transformer",
                    {.layer = {.d_model = 32, .nhead = 4, .dim_feedforward = 64, .dropout = 0.0, .norm_first = true},
                     .num_encoder_layers = 1,
                     .num_decoder_layers = 1}),
        generator(b, "generator", 32, kVocab) {}

  Tensor memory(const Tensor& src) const {
    return transformer.encoder(positions(src_embed(src), dropout), {}, dropout);
  }

  /// Training: src [B, S], tgt_in = BOS + reversed [B, T], tgt_out = reversed + EOS [B, T] -> loss.
  static void train_graph(Builder& b) {
    Tensor src = b.input("src", "i64[B<=64, S<=16]");
    Tensor tgt_in = b.input("tgt_in", "i64[B, T<=16]");
    Tensor tgt_out = b.input("tgt_out", "i64[B, T]");
    Reverser m(b, nn::Mode::train);
    Tensor y = m.transformer.decoder(m.positions(m.tgt_embed(tgt_in), m.dropout), m.memory(src),
                                     {.self = {.causal = true}}, m.dropout);
    b.output("loss", cross_entropy(m.generator(y), tgt_out));
  }

  /// Decoding, once per source: the cross-attention keys and values of every decoder layer.
  static void encode_graph(Builder& b) {
    Tensor src = b.input("src", "i64[B<=64, S<=16]");
    Reverser m(b);
    m.transformer.decoder.output_memory(b, m.transformer.decoder.project_memory(m.memory(src)));
  }

  /// Decoding, once per token: the previous tokens [R] at `position`, the caches -> the next logits.
  static void step_graph(Builder& b) {
    Dim rows = b.symbol("R", 64), past = b.symbol("P", 16), src_length = b.symbol("S", 16);
    Tensor tokens = b.input("tokens", weft::DType::i64, {rows});
    Tensor position = b.input("position", "i64[]");
    Reverser m(b);
    const nn::TransformerDecoder& decoder = m.transformer.decoder;
    nn::TransformerDecoder::Cache cache = decoder.declare_cache(b, rows, past, src_length, false);
    Tensor x = m.tgt_embed(tokens) + m.positions.encode(position);
    nn::TransformerDecoder::StepOutput out = decoder.step(x, position, cache, /*want_weights=*/true);
    b.output("logits", m.generator(out.output));
    b.output("attention", out.cross_weights);  // [R, heads, S]
    decoder.output_cache(b, out);
  }

  nn::DropoutStep dropout;
  nn::Embedding src_embed, tgt_embed;
  nn::PositionalEncoding positions;
  nn::Transformer transformer;
  nn::Linear generator;
};

// --- data: random digit sequences and their reversals ------------------------------------------------

struct Pairs {
  weft::Tensor src, tgt_in, tgt_out;
  std::vector<std::vector<int64_t>> reversed;
};

/// `count` random pairs; `skip` (optional) lists reversed sequences + EOS not to draw.
Pairs draw(uint64_t seed, int64_t count, const std::set<std::vector<int64_t>>* skip = nullptr) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> digit(3, kVocab - 1);
  std::vector<int64_t> src, tgt_in, tgt_out;
  Pairs p;
  for (int64_t n = 0; n < count;) {
    std::vector<int64_t> seq(kLength);
    for (int64_t& t : seq) t = digit(rng);
    std::vector<int64_t> rev(seq.rbegin(), seq.rend());
    rev.push_back(kEos);
    if (skip && skip->count(rev)) continue;
    rev.pop_back();
    ++n;
    src.insert(src.end(), seq.begin(), seq.end());
    tgt_in.push_back(kBos);
    tgt_in.insert(tgt_in.end(), rev.begin(), rev.end());
    tgt_out.insert(tgt_out.end(), rev.begin(), rev.end());
    tgt_out.push_back(kEos);
    rev.push_back(kEos);
    p.reversed.push_back(rev);
  }
  p.src = weft::Tensor::from<int64_t>({count, kLength}, src);
  p.tgt_in = weft::Tensor::from<int64_t>({count, kLength + 1}, tgt_in);
  p.tgt_out = weft::Tensor::from<int64_t>({count, kLength + 1}, tgt_out);
  return p;
}

TEST(ReversalTutorial, TrainsThenDecodesGreedilyAndWithBeamSearch) {
  // --- 5.2 Train, then decode -----------------------------------------------------------------------
  auto backend = weft::make_backend("llvm");
  train::Compiler compile = [&](const Graph& g) { return backend->compile(g); };

  Builder b("reverser");
  Reverser::train_graph(b);
  auto trainer_exe = compile(train::make_train_step(b.finish(), {.optimizer = train::AdamOptions{}}));
  std::ostringstream progress;
  train::Trainer trainer(
      *trainer_exe,
      {.total_steps = 800, .lr = train::linear_warmup(80, train::cosine_lr(5e-3, 800, 1e-4)), .progress = &progress});
  std::set<std::vector<int64_t>> seen;  // to hold out only sequences never trained on
  trainer.run([&](int64_t step) {
    Pairs p = draw(static_cast<uint64_t>(step), 32);
    seen.insert(p.reversed.begin(), p.reversed.end());
    return train::Batch{{{"src", p.src}, {"tgt_in", p.tgt_in}, {"tgt_out", p.tgt_out}}, 32 * (kLength + 1)};
  });

  // The same layers, in eval mode (no dropout), with the trained weights:
  auto encode = train::inference_executable(*trainer_exe, "encode", Reverser::encode_graph, compile);
  auto step = train::inference_executable(*trainer_exe, "step", Reverser::step_graph, compile);

  Pairs held_out = draw(/*seed=*/1'000'000, 16, &seen);
  decode::SearchOptions options{
      .bos = kBos, .eos = kEos, .max_length = kLength + 2, .beam = 4, .alpha = 0.6, .attention = true};
  std::vector<decode::SourceResult> greedy = decode::greedy_decode(*encode, *step, {{"src", held_out.src}}, options);
  std::vector<decode::SourceResult> beam = decode::beam_search(*encode, *step, {{"src", held_out.src}}, options);
  // greedy[i].best[0].tokens: the reversed digits, then EOS; beam[i].best: the 4 best, best first.
  // --- end of 5.2 --------------------------------------------------------------------------------------

  int64_t greedy_right = 0, beam_right = 0;
  for (size_t i = 0; i < held_out.reversed.size(); ++i) {
    greedy_right += greedy[i].best.at(0).tokens == held_out.reversed[i];
    beam_right += beam[i].best.at(0).tokens == held_out.reversed[i];
    ASSERT_EQ(beam[i].best.size(), 4u);
  }
  // Where each output digit looked: source position kLength - 1 - t, the digit it copies.
  int64_t aligned = 0;
  for (const decode::SourceResult& r : beam) {
    std::vector<float> a = r.attention.to_vector<float>();
    for (int64_t t = 0; t < kLength; ++t) {
      const float* row = a.data() + t * kLength;
      aligned += std::max_element(row, row + kLength) - row == kLength - 1 - t;
    }
  }
  std::cerr << progress.str() << "held-out sequences reversed exactly: greedy " << greedy_right << "/16, beam "
            << beam_right << "/16; output digits attending most to the digit they copy: " << aligned << "/"
            << 16 * kLength << "\n";
  EXPECT_GE(greedy_right, 15);
  EXPECT_GE(beam_right, 15);
  EXPECT_GE(aligned, 16 * kLength * 3 / 4);
}

}  // namespace tutorial
