// The G2P pipeline end to end on a tiny Transformer and a few dictionary words: the batches the
// loader makes, training lowers the loss, the trained model pronounces its words back exactly with
// greedy and beam search (the JIT), and weft-g2p (examples/g2p/weft_g2p.c on the shared object
// weft-compile --decode makes) prints what the JIT's beam search decodes, with clear errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "backends/backend.h"
#include "examples/g2p/evaluate.h"
#include "examples/g2p/export.h"
#include "examples/g2p/model.h"
#include "examples/g2p/training.h"
#include "frontend/inference.h"
#include "frontend/train_step.h"
#include "frontend/trainer.h"
#include "ir/text.h"
#include "tests/tool_runner.h"

namespace g2p {
namespace {

namespace fs = std::filesystem;
namespace train = weft::train;
using weft::tool_testing::q;
using weft::tool_testing::run_tool;

const std::vector<Word> kWords = {
    {"cat", {"k", "ae", "t"}},        {"dog", {"d", "ao", "g"}},     {"phone", {"f", "ow", "n"}},
    {"knight", {"n", "ay", "t"}},     {"bee", {"b", "iy"}},          {"shoe", {"sh", "uw"}},
    {"weft", {"w", "eh", "f", "t"}},  {"thing", {"th", "ih", "ng"}}, {"zoo", {"z", "uw"}},
    {"quick", {"k", "w", "ih", "k"}}, {"judge", {"jh", "ah", "jh"}}, {"yes", {"y", "eh", "s"}},
};

ModelConfig tiny(const Vocab& letters, const Vocab& phones) {
  return {.src_vocab = letters.size(),
          .tgt_vocab = phones.size(),
          .d_model = 32,
          .heads = 2,
          .layers = 1,
          .feedforward = 64,
          .dropout = 0.0,
          .label_smoothing = 0.0};
}

/// weft-g2p built against the shared object of `config`'s graphs with the weights of `encode` and
/// `step`, as examples/demo.sh builds it, in a fresh directory.
fs::path build_weft_g2p(const ModelConfig& config, const weft::Executable& encode, const weft::Executable& step,
                        const Vocab& letters, const Vocab& phones) {
  fs::path dir = weft::tool_testing::fresh_test_dir("g2p");
  weft::write_graph_file((dir / "encode.weft").string(),
                         graph_of("encode", [&](Builder& b) { build_encode_graph(b, config); }));
  weft::write_graph_file((dir / "decode_step.weft").string(),
                         graph_of("decode_step", [&](Builder& b) { build_step_graph(b, config); }));
  save_inference_weights((dir / "weights.safetensors").string(), encode, step);
  write_vocab_header((dir / "g2p_vocab.h").string(), letters, phones);
  std::string tools = std::string(WEFT_BINARY_DIR) + "/tools/";
  weft::tool_testing::RunResult compiled =
      run_tool(tools + "weft-compile",
               fmt::format("{} {} --weights {} --decode beam --beam 4 --name g2p -o {}", q(dir / "encode.weft"),
                           q(dir / "decode_step.weft"), q(dir / "weights.safetensors"), q(dir / "g2p.so")),
               dir);
  EXPECT_EQ(compiled.status, 0) << compiled.err;
  std::string cc = fmt::format("{} -std=c11 -I{} -DWEFT_MODEL_HEADER='\"g2p.h\"' {} {} -Wl,-rpath,{} -o {} 2>{}",
                               WEFT_TEST_CC, q(dir), q(std::string(WEFT_SOURCE_DIR) + "/examples/g2p/weft_g2p.c"),
                               q(dir / "g2p.so"), q(dir), q(dir / "weft-g2p"), q(dir / "cc.txt"));
  EXPECT_EQ(std::system(cc.c_str()), 0) << weft::tool_testing::slurp(dir / "cc.txt");
  return dir / "weft-g2p";
}

TEST(G2PLoader, BatchesAreLettersThenEosAndBosShiftedPhonemes) {
  auto [letters, phones] = make_vocabs(kWords);
  train::SequenceLoader loader = make_loader({kWords[0], kWords[4]}, letters, phones, 2, 1);
  train::Batch b = target_token_batch(loader, 1);
  ASSERT_EQ(b.inputs.count("src_lengths"), 0u);
  weft::Tensor src = b.inputs.at("src"), tgt_in = b.inputs.at("tgt_in"), tgt_out = b.inputs.at("tgt_out");
  ASSERT_EQ(src.shape(), (std::vector<int64_t>{2, 4}));  // "cat" + <eos>, "bee" + <eos>
  ASSERT_EQ(tgt_in.shape(), (std::vector<int64_t>{2, 4}));
  std::vector<int64_t> s = src.to_vector<int64_t>(), in = tgt_in.to_vector<int64_t>(),
                       out = tgt_out.to_vector<int64_t>();
  // Which row is "cat" depends on the shuffle; find it by its first letter.
  size_t cat = s[0] == letters.id("c") ? 0 : 1, bee = 1 - cat;
  EXPECT_EQ(std::vector<int64_t>(s.begin() + 4 * cat, s.begin() + 4 * cat + 4),
            (std::vector<int64_t>{letters.id("c"), letters.id("a"), letters.id("t"), kEos}));
  EXPECT_EQ(std::vector<int64_t>(in.begin() + 4 * bee, in.begin() + 4 * bee + 4),
            (std::vector<int64_t>{kBos, phones.id("b"), phones.id("iy"), kPad}));
  EXPECT_EQ(std::vector<int64_t>(out.begin() + 4 * bee, out.begin() + 4 * bee + 4),
            (std::vector<int64_t>{phones.id("b"), phones.id("iy"), kEos, -100}));
  EXPECT_EQ(b.tokens, 4 + 3);  // phonemes + <eos> of both words
}

TEST(G2PTraining, ATinyTransformerLearnsItsWordsAndWeftG2pPronouncesThem) {
  auto [letters, phones] = make_vocabs(kWords);
  ModelConfig config = tiny(letters, phones);
  auto backend = weft::make_backend("llvm");
  train::Compiler compile = [&](const weft::Graph& g) { return backend->compile(g); };
  auto exe = compile(train::make_train_step(graph_of("g2p", [&](Builder& b) { build_train_graph(b, config); }),
                                            {.optimizer = train::AdamOptions{.beta1 = 0.9, .beta2 = 0.98}}));
  train::Trainer trainer(*exe, {.total_steps = 250, .lr = train::constant_lr(1e-2), .progress = nullptr});
  train::SequenceLoader loader = make_loader(kWords, letters, phones, 12, 1);
  std::vector<double> losses;
  trainer.run([&](int64_t step) { return target_token_batch(loader, step); },
              [&](const train::StepReport& r) {
                losses.push_back(r.loss);
                return true;
              });
  ASSERT_EQ(losses.size(), 250u);
  EXPECT_LT(losses.back(), 0.1 * losses.front()) << "first " << losses.front() << ", last " << losses.back();

  auto encode = train::inference_executable(
      *exe, "encode", [&](Builder& b) { build_encode_graph(b, config); }, compile);
  auto step = train::inference_executable(
      *exe, "decode_step", [&](Builder& b) { build_step_graph(b, config); }, compile);
  Evaluation greedy = evaluate(*encode, *step, letters, phones, kWords, {.batch = 5});  // three batches
  Evaluation beam = evaluate(*encode, *step, letters, phones, kWords, {.beam = 4});
  EXPECT_EQ(greedy.rates.wer(), 0.0);
  EXPECT_EQ(beam.rates.wer(), 0.0);
  ASSERT_EQ(beam.decoded.size(), kWords.size());
  EXPECT_EQ(beam.decoded[3].phonemes, kWords[3].phonemes);  // written back in the words' order

  // The shared object, and weft-g2p built against it, as examples/demo.sh builds them.
  fs::path tool = build_weft_g2p(config, *encode, *step, letters, phones);
  fs::path dir = tool.parent_path();

  auto r = run_tool(tool, "Knight weft zoo", dir);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Knight n ay t\nweft w eh f t\nzoo z uw\n");
  EXPECT_EQ(r.err, "");
  r = run_tool(tool, "--greedy judge", dir);
  EXPECT_EQ(r.out, "judge jh ah jh\n");

  r = run_tool(tool, "cat c3po", dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");  // every word is checked before anything is printed
  EXPECT_EQ(r.err, "weft-g2p: 'c3po': the letter '3' is not one the model knows (abcdefghijknopqstuwyz)\n");
  r = run_tool(tool, "''", dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "weft-g2p: an empty word cannot be pronounced\n");
  r = run_tool(tool, std::string(kMaxSource, 'a'), dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, fmt::format("weft-g2p: '{}' has {} letters, more than the model's {}\n",
                               std::string(kMaxSource, 'a'), kMaxSource, kMaxSource - 1));
  r = run_tool(tool, "", dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "weft-g2p: no word to pronounce (see --help)\n");
  r = run_tool(tool, "--beam 0 cat", dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "weft-g2p: --beam needs a width from 1 to 64\n");
  r = run_tool(tool, "--loud cat", dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "weft-g2p: unknown option '--loud' (see --help)\n");
  r = run_tool(tool, "--help", dir);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("usage: weft-g2p [--greedy] [--beam K] WORD ..."), std::string::npos);
}

TEST(G2PTraining, ATinyLstmWithAdditiveAttentionLearnsItsWords) {
  auto [letters, phones] = make_vocabs(kWords);
  ModelConfig config = tiny(letters, phones);
  config.kind = ModelKind::lstm, config.lstm_embed = 16;
  auto backend = weft::make_backend("llvm");
  train::Compiler compile = [&](const weft::Graph& g) { return backend->compile(g); };
  auto exe = compile(train::make_train_step(graph_of("g2p", [&](Builder& b) { build_train_graph(b, config); })));
  train::Trainer trainer(*exe, {.total_steps = 200, .lr = train::constant_lr(2e-2), .progress = nullptr});
  train::SequenceLoader loader = make_loader(kWords, letters, phones, 12, 1);
  std::vector<double> losses;
  trainer.run([&](int64_t step) { return target_token_batch(loader, step); },
              [&](const train::StepReport& r) {
                losses.push_back(r.loss);
                return true;
              });
  EXPECT_LT(losses.back(), 0.1 * losses.front()) << "first " << losses.front() << ", last " << losses.back();
  auto encode = train::inference_executable(
      *exe, "encode", [&](Builder& b) { build_encode_graph(b, config); }, compile);
  auto step = train::inference_executable(
      *exe, "decode_step", [&](Builder& b) { build_step_graph(b, config); }, compile);
  Evaluation greedy = evaluate(*encode, *step, letters, phones, kWords, {.batch = 5, .attention = true});
  Evaluation beam = evaluate(*encode, *step, letters, phones, kWords, {.beam = 3});
  EXPECT_EQ(greedy.rates.wer(), 0.0);
  EXPECT_EQ(beam.rates.wer(), 0.0);
  // One attention row per phoneme and <eos>, over the word's letters, <eos> and the batch's padding.
  const weft::Tensor& a = greedy.decoded[3].attention;  // "knight": 3 phonemes
  ASSERT_EQ(a.shape().size(), 2u);
  EXPECT_EQ(a.shape()[0], 4);
  EXPECT_GE(a.shape()[1], 7);

  // Its step carries a state, not a cache: weft-g2p decodes without a cache bound.
  fs::path tool = build_weft_g2p(config, *encode, *step, letters, phones);
  auto r = run_tool(tool, "thing quick", tool.parent_path());
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "thing th ih ng\nquick k w ih k\n");
}

}  // namespace
}  // namespace g2p
