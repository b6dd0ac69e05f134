// weft-compile --decode and weft_generate: the decoding loop in the shared object's C runtime gives
// the tokens and scores of decode::greedy_decode / beam_search on the LLVM JIT with the same
// weights; examples/c_api/translate.c translates through it; bad arguments are errors that change
// nothing.
#include <gtest/gtest.h>

#include <cmath>

#include "backends/backend.h"
#include "frontend/decode.h"
#include "frontend/inference.h"
#include "ir/text.h"
#include "tests/aot/aot_testing.h"
#include "tests/decode/decode_models.h"

namespace weft::aot_tests {
namespace {

using decode::testing::kMaxLength;
using decode::testing::kMaxRows;
using decode::testing::random_ids;
using decode::testing::randomize;
using decode::testing::Translator;
using Host = weft::Tensor;

const std::string kCompile = std::string(WEFT_BINARY_DIR) + "/tools/weft-compile";
constexpr int64_t kBos = 1, kEos = 2;

using GenerateFn = decltype(&::weft_generate);

/// Every state tensor of `exe` under its Weft name (what weft-compile --weights reads).
SafetensorsFile weights_of(const Executable& exe) {
  SafetensorsFile weights;
  for (const TensorSpec& s : exe.signature().state) {
    Host t = exe.state(s.name);
    auto bytes = t.bytes();
    weights.tensors.push_back({s.name, t.dtype(), t.shape(), std::vector<std::byte>(bytes.begin(), bytes.end())});
  }
  return weights;
}

/// The model's graphs (named as weft-compile --decode wants), random weights, and its JIT search.
struct Fixture {
  fs::path dir = test_dir();
  Translator::Config config{};
  Graph full = Translator::full(config), encode = Translator::encode(config), step = Translator::step(config);
  std::unique_ptr<Executable> jit_encode, jit_step;
  Host src, padding;

  Fixture() {
    step.set_name("decode_step");
    auto backend = make_backend("llvm");
    auto trained = backend->compile(full);
    randomize(*trained, 5);
    Host bias = trained->state("generator.bias");
    bias.data<float>()[kEos] -= 2.0f;  // end less eagerly
    trained->set_state("generator.bias", bias);
    jit_encode = backend->compile(encode);
    jit_step = backend->compile(step);
    train::copy_parameters(*trained, *jit_encode);
    train::copy_parameters(*trained, *jit_step);
    SafetensorsFile weights = weights_of(*jit_step);
    write_safetensors_atomic((dir / "weights.safetensors").string(), weights);
    write_graph_file((dir / "encode.weft").string(), encode);
    write_graph_file((dir / "decode_step.weft").string(), step);
    src = random_ids({3, 6}, 3, config.vocab, 9);
    std::vector<bool> pad(18, false);
    pad[6 + 4] = pad[6 + 5] = true;  // source 1 has 4 tokens
    padding = Host::from<bool>({3, 6}, pad);
  }

  /// weft-compile with --decode `mode`; returns the shared object.
  fs::path compile(const std::string& mode) {
    fs::path so = dir / ("model_" + mode + ".so");
    std::string log;
    std::string sanitize = sanitizer_flags().empty() ? "" : " --cflag=-fsanitize=address,undefined";
    EXPECT_EQ(shell(fmt::format("'{}' '{}' '{}' --weights '{}' --decode {} --beam 3 -o '{}' --cc '{}'{}", kCompile,
                                (dir / "encode.weft").string(), (dir / "decode_step.weft").string(),
                                (dir / "weights.safetensors").string(), mode, so.string(), test_cc(), sanitize),
                    &log),
              0)
        << log;
    return so;
  }
};

/// Per source, its `beam` hypotheses: tokens and scores.
struct Generated {
  std::vector<std::vector<std::vector<int64_t>>> tokens;
  std::vector<std::vector<double>> scores;
};

Generated generate(const Model& m, weft_model* instance, const Fixture& f, const weft_generate_options& o) {
  auto fn = m.weft_generate;
  EXPECT_NE(fn, nullptr);
  std::vector<weft_tensor> in{{WEFT_I64, 2, f.src.shape().data(), const_cast<void*>(f.src.raw())},
                              {WEFT_BOOL, 2, f.padding.shape().data(), const_cast<void*>(f.padding.raw())}};
  const auto k = static_cast<size_t>(o.beam), max = static_cast<size_t>(o.max_length);
  std::vector<int64_t> tokens(3 * k * max), lengths(3 * k);
  std::vector<double> scores(3 * k);
  int32_t status = fn(instance, &o, in.data(), 2, 3, tokens.data(), lengths.data(), scores.data());
  EXPECT_EQ(status, WEFT_OK) << m.weft_last_error();
  Generated g;
  for (size_t b = 0; b < 3; ++b) {
    g.tokens.emplace_back();
    g.scores.emplace_back();
    for (size_t j = 0; j < k; ++j) {
      auto begin = tokens.begin() + static_cast<std::ptrdiff_t>((b * k + j) * max);
      g.tokens[b].emplace_back(begin, begin + lengths[b * k + j]);
      g.scores[b].push_back(scores[b * k + j]);
      for (auto it = begin + lengths[b * k + j]; it != begin + o.max_length; ++it) EXPECT_EQ(*it, kEos) << "padding";
    }
  }
  return g;
}

TEST(AotDecode, GenerateInTheSharedObjectMatchesTheJitSearch) {
  Fixture f;
  for (const std::string mode : {"greedy", "beam"}) {
    fs::path so = f.compile(mode);
    std::string header;
    ASSERT_EQ(shell(fmt::format("cat '{}'", (f.dir / ("model_" + mode + ".h")).string()), &header), 0);
    EXPECT_NE(header.find(fmt::format("#define WEFT_GENERATE_BEAM {}", mode == "greedy" ? 1 : 3)), std::string::npos);
    Model m(so);
    Instance instance(m);
    for (double alpha : {0.0, 0.6}) {
      weft_generate_options o{mode == "greedy" ? 1 : 3, kBos, kEos, 8, alpha};
      Generated got = generate(m, instance.instance, f, o);
      decode::SearchOptions so_options{.bos = kBos, .eos = kEos, .max_length = 8, .beam = o.beam, .alpha = alpha};
      std::map<std::string, Host> inputs{{"src", f.src}, {"src_padding", f.padding}};
      auto want = mode == "greedy" ? decode::greedy_decode(*f.jit_encode, *f.jit_step, inputs, so_options)
                                   : decode::beam_search(*f.jit_encode, *f.jit_step, inputs, so_options);
      for (size_t b = 0; b < 3; ++b) {
        ASSERT_EQ(want[b].best.size(), static_cast<size_t>(o.beam));
        for (size_t j = 0; j < want[b].best.size(); ++j) {
          EXPECT_EQ(got.tokens[b][j], want[b].best[j].tokens)
              << mode << " alpha " << alpha << " source " << b << " #" << j;
          EXPECT_NEAR(got.scores[b][j], want[b].best[j].score, 1e-9) << mode << " source " << b << " #" << j;
        }
      }
    }
  }
}

TEST(AotDecode, LstmStatesAreReorderedAlongTheirRowAxis) {
  // An LSTM encoder-decoder: its state [layers, R, H] has the rows in axis 1.
  using decode::testing::LstmTranslator;
  fs::path dir = test_dir();
  const int64_t vocab = 8;
  for (nn::AttentionStyle style : {nn::AttentionStyle::luong, nn::AttentionStyle::bahdanau}) {
    auto backend = make_backend("llvm");
    auto trained = backend->compile(LstmTranslator::full(vocab, style));
    randomize(*trained, 41);
    Graph encode = LstmTranslator::encode(vocab, style), step = LstmTranslator::step(vocab, style);
    step.set_name("decode_step");
    auto jit_encode = backend->compile(encode), jit_step = backend->compile(step);
    train::copy_parameters(*trained, *jit_encode);
    train::copy_parameters(*trained, *jit_step);
    SafetensorsFile weights = weights_of(*jit_step);
    Model m(compile({encode, step}, dir, style == nn::AttentionStyle::luong ? "luong" : "bahdanau", {}, &weights));
    Instance instance(m);
    auto fn = m.weft_generate;
    ASSERT_NE(fn, nullptr);
    Host src = random_ids({3, 5}, 3, vocab, 42), lengths = Host::from<int64_t>({3}, {5, 2, 4});
    std::vector<weft_tensor> in{{WEFT_I64, 2, src.shape().data(), src.raw()},
                                {WEFT_I64, 1, lengths.shape().data(), lengths.raw()}};
    weft_generate_options o{3, kBos, kEos, 6, 0.6};
    std::vector<int64_t> tokens(3 * 3 * 6), lens(3 * 3);
    std::vector<double> scores(3 * 3);
    ASSERT_EQ(fn(instance.instance, &o, in.data(), 2, 3, tokens.data(), lens.data(), scores.data()), WEFT_OK)
        << m.weft_last_error();
    auto want = decode::beam_search(*jit_encode, *jit_step, {{"src", src}, {"src_lengths", lengths}},
                                    {.bos = kBos, .eos = kEos, .max_length = 6, .beam = 3, .alpha = 0.6});
    for (size_t b = 0; b < 3; ++b)
      for (size_t j = 0; j < 3; ++j) {
        auto begin = tokens.begin() + static_cast<std::ptrdiff_t>((b * 3 + j) * 6);
        EXPECT_EQ(std::vector<int64_t>(begin, begin + lens[b * 3 + j]), want[b].best.at(j).tokens) << b << " #" << j;
        EXPECT_NEAR(scores[b * 3 + j], want[b].best.at(j).score, 1e-9);
      }
  }
}

TEST(AotDecode, BadArgumentsAreErrorsAndTheInstanceRunsOn) {
  Fixture f;
  Model m(f.compile("beam"));
  Instance instance(m);
  auto fn = m.weft_generate;
  ASSERT_NE(fn, nullptr);
  std::vector<weft_tensor> in{{WEFT_I64, 2, f.src.shape().data(), const_cast<void*>(f.src.raw())},
                              {WEFT_BOOL, 2, f.padding.shape().data(), const_cast<void*>(f.padding.raw())}};
  std::vector<int64_t> tokens(3 * 3 * 64), lengths(3 * 3);
  weft_generate_options ok{3, kBos, kEos, 8, 0.0};
  auto expect = [&](int32_t status, int32_t want, const std::string& text) {
    EXPECT_EQ(status, want) << text << ": " << m.weft_last_error();
    EXPECT_NE(std::string(m.weft_last_error()).find(text), std::string::npos) << m.weft_last_error();
  };
  expect(fn(instance.instance, nullptr, in.data(), 2, 3, tokens.data(), lengths.data(), nullptr),
         WEFT_ERR_NULL_ARGUMENT, "`options` is NULL");
  expect(fn(instance.instance, &ok, in.data(), 2, 3, nullptr, lengths.data(), nullptr), WEFT_ERR_NULL_ARGUMENT,
         "`tokens` is NULL");
  weft_generate_options bad = ok;
  bad.beam = 0;
  expect(fn(instance.instance, &bad, in.data(), 2, 3, tokens.data(), lengths.data(), nullptr), WEFT_ERR_INVALID_VALUE,
         "beam must be in [1, 1024], but is 0");
  bad = ok;
  bad.max_length = kMaxLength + 1;
  expect(fn(instance.instance, &bad, in.data(), 2, 3, tokens.data(), lengths.data(), nullptr), WEFT_ERR_INVALID_VALUE,
         "max_length 13 exceeds the caches' capacity 12");
  bad = ok;
  bad.alpha = NAN;
  expect(fn(instance.instance, &bad, in.data(), 2, 3, tokens.data(), lengths.data(), nullptr), WEFT_ERR_INVALID_VALUE,
         "alpha must be finite and >= 0");
  expect(fn(instance.instance, &ok, in.data(), 2, 2, tokens.data(), lengths.data(), nullptr), WEFT_ERR_SHAPE,
         "has 3 sources, but num_sources is 2");
  expect(fn(instance.instance, &ok, in.data(), 1, 3, tokens.data(), lengths.data(), nullptr), WEFT_ERR_NOT_FOUND,
         "encode takes 2 inputs, but 1 were given");
  weft_tensor wrong_dtype = in[0];
  wrong_dtype.dtype = WEFT_I32;
  std::vector<weft_tensor> bad_in{wrong_dtype, in[1]};
  expect(fn(instance.instance, &ok, bad_in.data(), 2, 3, tokens.data(), lengths.data(), nullptr), WEFT_ERR_DTYPE,
         "src");
  const int64_t too_many[2] = {kMaxRows + 1, 6};
  std::vector<int64_t> many_ids(static_cast<size_t>((kMaxRows + 1) * 6), 3);
  std::vector<unsigned char> many_pad(static_cast<size_t>((kMaxRows + 1) * 6), 0);
  std::vector<weft_tensor> big{{WEFT_I64, 2, too_many, many_ids.data()}, {WEFT_BOOL, 2, too_many, many_pad.data()}};
  std::vector<int64_t> big_tokens(static_cast<size_t>((kMaxRows + 1) * 3 * 8)), big_lengths((kMaxRows + 1) * 3);
  expect(fn(instance.instance, &ok, big.data(), 2, kMaxRows + 1, big_tokens.data(), big_lengths.data(), nullptr),
         WEFT_ERR_DIM_RANGE, "B");
  // After all that, a good call still gives the JIT's answer.
  Generated got = generate(m, instance.instance, f, ok);
  auto want = decode::beam_search(*f.jit_encode, *f.jit_step, {{"src", f.src}, {"src_padding", f.padding}},
                                  {.bos = kBos, .eos = kEos, .max_length = 8, .beam = 3});
  for (size_t b = 0; b < 3; ++b) EXPECT_EQ(got.tokens[b][0], want[b].best.at(0).tokens) << b;

  // A destroyed instance is refused, as every other call refuses it (no read of freed memory).
  weft_model* gone = nullptr;
  ASSERT_EQ(m.weft_create(nullptr, &gone), WEFT_OK) << m.weft_last_error();
  m.weft_destroy(gone);
  expect(fn(gone, &ok, in.data(), 2, 3, tokens.data(), lengths.data(), nullptr), WEFT_ERR_INVALID_HANDLE,
         "weft_generate: `model` is not a live instance");
  expect(fn(nullptr, &ok, in.data(), 2, 3, tokens.data(), lengths.data(), nullptr), WEFT_ERR_NULL_ARGUMENT,
         "weft_generate: `model` is NULL");
}

TEST(AotDecode, TranslateExampleTranslatesASequence) {
  Fixture f;
  fs::path so = f.compile("greedy");
  std::string log;
  ASSERT_EQ(shell(fmt::format("{} {} -std=c11 -Wall -Wextra -Werror -I'{}' -DWEFT_MODEL_HEADER='\"model_greedy.h\"' "
                              "'{}' '{}' -lm -Wl,-rpath,'{}' -o '{}'",
                              test_cc(), sanitizer_flags(), f.dir.string(),
                              std::string(WEFT_SOURCE_DIR) + "/examples/c_api/translate.c", so.string(), f.dir.string(),
                              (f.dir / "translate").string()),
                  &log),
            0)
      << log;
  std::vector<int64_t> ids{5, 3, 6, 4};
  std::string out;
  ASSERT_EQ(shell(fmt::format("'{}' --max 8 5 3 6 4", (f.dir / "translate").string()), &out), 0) << out;
  Host src = Host::from<int64_t>({1, 4}, ids);
  Host pad = Host::from<bool>({1, 4}, {false, false, false, false});
  auto want = decode::greedy_decode(*f.jit_encode, *f.jit_step, {{"src", src}, {"src_padding", pad}},
                                    {.bos = kBos, .eos = kEos, .max_length = 8});
  std::string line = "tokens:";
  for (int64_t t : want[0].best[0].tokens) line += " " + std::to_string(t);
  EXPECT_NE(out.find(line + "\n"), std::string::npos) << out << "\nwanted " << line;
}

TEST(AotDecode, CompileRejectsGraphsThatDoNotFollowTheNaming) {
  struct {
    fs::path dir = test_dir();
  } f;
  write_graph_file((f.dir / "encode.weft").string(), Translator::encode({}));
  Builder b("decode_step");
  b.output("logits", dsl::relu(b.input("x", "f32[R<=4, 7]")));
  write_graph_file((f.dir / "bad_step.weft").string(), b.finish());
  std::string log;
  EXPECT_EQ(shell(fmt::format("'{}' '{}' '{}' --decode greedy -o '{}'", kCompile, (f.dir / "encode.weft").string(),
                              (f.dir / "bad_step.weft").string(), (f.dir / "bad.so").string()),
                  &log),
            1);
  EXPECT_EQ(log, "weft-compile: decode: the step graph has no input `tokens` (i64[R]: each row's previous token)\n");
  EXPECT_EQ(shell(fmt::format("'{}' '{}' --decode beam -o '{}'", kCompile, (f.dir / "encode.weft").string(),
                              (f.dir / "bad.so").string()),
                  &log),
            1);
  EXPECT_EQ(log, "weft-compile: --decode needs two graphs named 'encode' and 'decode_step' (docs/decoding.md)\n");
}

}  // namespace
}  // namespace weft::aot_tests
