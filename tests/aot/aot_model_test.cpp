// Models compiled to shared objects give the same bits as the LLVM JIT on the same inputs: an MLP at
// several batch sizes, an LSTM with per-sequence lengths (a scan), a Transformer encoder layer, and
// one shared object with three entry points (forward, decode_step with a cache as state, train_step)
// sharing their parameters.
#include <gtest/gtest.h>

#include <random>

#include "frontend/builder.h"
#include "frontend/nn/nn.h"
#include "frontend/tensor_ops.h"
#include "frontend/train_step.h"
#include "tests/aot/aot_testing.h"

namespace weft::aot_tests {
namespace {

using dsl::Tensor;
using Host = weft::Tensor;

std::vector<Host> jit_run(const Graph& g, const std::vector<Host>& inputs) {
  auto exe = LlvmBackend().compile(g);
  return exe->run(inputs);
}

Graph mlp() {
  Builder b("forward");
  Tensor x = b.input("x", "f32[B<=16, 12]");
  nn::Linear fc1(b, "fc1", 12, 32), fc2(b, "fc2", 32, 5);
  b.output("y", fc2(relu(fc1(x))));
  return b.finish();
}

TEST(SharedObject, MlpMatchesTheJitBitForBitAtEveryBatchSizeUpToTheBound) {
  fs::path dir = test_dir();
  Graph g = mlp();
  Model model(compile({g}, dir, "mlp"));
  Instance instance(model);
  EXPECT_STREQ(model.weft_model_name(), "forward");
  ASSERT_EQ(model.weft_num_entries(), 1);
  EXPECT_STREQ(model.weft_entry_name(0), "forward");
  for (int64_t batch : {1, 3, 16, 0}) {
    std::vector<Host> in{random_f32({batch, 12}, 10 + static_cast<uint64_t>(batch))};
    expect_bitwise_equal(instance.run("forward", in), jit_run(g, in), fmt::format("B = {}", batch));
  }
}

TEST(SharedObject, EmbeddedWeightsAreTheInitializersOrTheWeightsFile) {
  fs::path dir = test_dir();
  Graph g = mlp();
  Model plain(compile({g}, dir, "plain"));
  Instance a(plain);
  auto jit = LlvmBackend().compile(g);
  // The initializers: the same values the JIT's parameters start with.
  Host w = a.param("fc1.weight", DType::f32, {32, 12});
  Host jw = jit->state("fc1.weight");
  EXPECT_EQ(std::memcmp(w.raw(), jw.raw(), w.nbytes()), 0);

  // A weights file replaces them by name.
  SafetensorsFile file;
  Host new_bias = random_f32({5}, 77);
  file.tensors.push_back(TensorBlob{"fc2.bias", DType::f32, {5},
                                    std::vector<std::byte>(new_bias.bytes().begin(), new_bias.bytes().end())});
  Model loaded(compile({g}, dir, "loaded", {}, &file));
  Instance b(loaded);
  Host bias = b.param("fc2.bias", DType::f32, {5});
  EXPECT_EQ(std::memcmp(bias.raw(), new_bias.raw(), bias.nbytes()), 0);
  jit->set_state("fc2.bias", new_bias);
  std::vector<Host> in{random_f32({4, 12}, 5)};
  expect_bitwise_equal(b.run("forward", in), jit->run(in), "with fc2.bias from the weights file");

  // A weight of the wrong shape is an error naming it.
  file.tensors[0].shape = {6};
  file.tensors[0].data.resize(24);
  try {
    compile({g}, dir, "wrong", {}, &file);
    FAIL() << "a [6] weight for a [5] parameter compiled";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fc2.bias"), std::string::npos) << e.what();
  }
}

TEST(SharedObject, LstmWithLengthsRunsItsScanAndMatchesTheJit) {
  fs::path dir = test_dir();
  Builder b("lstm");
  Tensor x = b.input("x", "f32[B<=4, T<=6, 3]");
  Tensor lengths = b.input("lengths", "i64[B]");
  nn::LSTM lstm(b, "lstm", 3, 5, {.num_layers = 2});
  nn::LstmOutput out = lstm(x, {}, lengths);
  b.output("output", out.output);
  b.output("h_n", out.h_n);
  b.output("c_n", out.c_n);
  Graph g = b.finish();
  Model model(compile({g}, dir, "lstm"));
  Instance instance(model);
  for (auto [batch, steps] : std::vector<std::pair<int64_t, int64_t>>{{2, 6}, {4, 3}, {3, 1}}) {
    Host len = Host::zeros(DType::i64, {batch});
    for (int64_t i = 0; i < batch; ++i) len.data<int64_t>()[i] = (i * 2 + 1) % (steps + 1);
    std::vector<Host> in{random_f32({batch, steps, 3}, 3 + static_cast<uint64_t>(steps)), len};
    expect_bitwise_equal(instance.run("lstm", in), jit_run(g, in), fmt::format("B = {}, T = {}", batch, steps));
  }
  // A length beyond the sequence is the scan's error, not a read past the input.
  Host bad = Host::zeros(DType::i64, {2});
  bad.data<int64_t>()[1] = 7;
  EXPECT_THROW(instance.run("lstm", {random_f32({2, 6, 3}, 1), bad}), std::runtime_error);
}

TEST(SharedObject, TransformerEncoderLayerMatchesTheJit) {
  fs::path dir = test_dir();
  Builder b("encoder");
  Tensor src = b.input("src", "f32[B<=3, S<=7, 16]");
  nn::TransformerEncoderLayer layer(b, "layer", {.d_model = 16, .nhead = 4, .dim_feedforward = 32, .dropout = 0.0});
  b.output("out", layer(src));
  Graph g = b.finish();
  Model model(compile({g}, dir, "encoder"));
  Instance instance(model);
  for (int64_t s : {7, 4}) {
    std::vector<Host> in{random_f32({3, s, 16}, 40 + static_cast<uint64_t>(s))};
    expect_bitwise_equal(instance.run("encoder", in), jit_run(g, in), fmt::format("S = {}", s));
  }
}

TEST(SharedObject, EmbeddingLookupAndItsTrainStepMatchTheJitAndCheckTheIndices) {
  fs::path dir = test_dir();
  Builder b("loss");
  Tensor ids = b.input("ids", "i64[B<=4, T<=6]");
  Tensor wanted = b.input("target", "f32[B, T, 3]");
  nn::Embedding emb(b, "emb", 10, 8);
  nn::Linear fc(b, "fc", 8, 3);
  b.output("loss", mse_loss(fc(tanh(emb(ids))), wanted));
  Graph step = train::make_train_step(b.finish(), {.optimizer = train::AdamOptions{}});
  step.set_name("train_step");
  Model model(compile({step}, dir, "emb"));
  Instance instance(model);
  auto jit = LlvmBackend().compile(step);
  Host tokens = Host::zeros(DType::i64, {3, 5});
  for (int64_t i = 0; i < tokens.numel(); ++i) tokens.data<int64_t>()[i] = (i * 7) % 13 - 3;  // -3 .. 9: valid
  Host target = random_f32({3, 5, 3}, 8);
  for (int64_t s = 1; s <= 2; ++s) {
    std::vector<Host> in{tokens, target, Host::from<float>({}, {0.01f}), Host::from<int64_t>({}, {s})};
    expect_bitwise_equal(instance.run("train_step", in), jit->run(in), fmt::format("step {}", s));
  }
  Host w = instance.param("emb.weight", DType::f32, {10, 8}), jw = jit->state("emb.weight");
  EXPECT_EQ(std::memcmp(w.raw(), jw.raw(), w.nbytes()), 0) << "the embedding after two Adam steps";

  // An id beyond the table is WEFT_ERR_INVALID_VALUE naming it, and the instance is unchanged.
  tokens.data<int64_t>()[4] = 10;
  try {
    instance.run("train_step",
                 std::vector<Host>{tokens, target, Host::from<float>({}, {0.01f}), Host::from<int64_t>({}, {3})});
    FAIL() << "ran with id 10 in a table of 10";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("WEFT_ERR_INVALID_VALUE"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("index 10"), std::string::npos) << e.what();
  }
  Host after = instance.param("emb.weight", DType::f32, {10, 8});
  EXPECT_EQ(std::memcmp(after.raw(), w.raw(), w.nbytes()), 0) << "a failed run changed the parameters";
}

TEST(SharedObject, AMaximumOverAnEmptyAxisIsTheJitsErrorNotMinusInfinity) {
  // softmax over T (its reduce_max), a max over T and an argmax over T: with T = 0 and B > 0 each
  // has results but nothing to take the maximum of. The JIT throws the interpreter's error; the
  // shared object returns WEFT_ERR_INVALID_VALUE with the same message, and runs again afterwards.
  fs::path dir = test_dir();
  std::vector<Graph> entries;
  for (int which = 0; which < 3; ++which) {
    Builder b(which == 0 ? "softmax" : which == 1 ? "max" : "argmax");
    Tensor x = b.input("x", "f32[B<=4, T<=6]");
    if (which == 0) b.output("y", softmax(x));
    if (which == 1) b.output("y", max(x, {1}) * 2.0f);
    if (which == 2) b.output("y", argmax(x, 1));
    entries.push_back(b.finish());
  }
  Model model(compile(entries, dir, "maximums"));
  Instance instance(model);
  for (const Graph& g : entries) {
    auto jit = LlvmBackend().compile(g);
    std::string jit_error;
    try {
      jit->run(std::vector<Host>{Host::zeros(DType::f32, {3, 0})});
    } catch (const Error& e) {
      jit_error = e.what();
    }
    ASSERT_FALSE(jit_error.empty()) << g.name() << ": the JIT ran over an empty axis";
    try {
      instance.run(g.name(), {Host::zeros(DType::f32, {3, 0})});
      ADD_FAILURE() << g.name() << ": the shared object ran over an empty axis";
    } catch (const std::runtime_error& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("WEFT_ERR_INVALID_VALUE"), std::string::npos) << what;
      EXPECT_NE(what.find(jit_error), std::string::npos) << what << "\nthe JIT said: " << jit_error;
    }
    // No rows: nothing to take the maximum of, and no results either: runs, as on the JIT.
    EXPECT_EQ(instance.run(g.name(), {Host::zeros(DType::f32, {0, 0})})[0].numel(), 0);
    Host x = random_f32({3, 5}, 4);
    expect_bitwise_equal(instance.run(g.name(), {x}), jit->run(std::vector<Host>{x}), g.name());
  }
}

/// forward: y = fc(x); decode_step: writes x into row `pos` of the state `cache` and returns the
/// cache's column sums through fc; train_step: one SGD step of mse(fc(x), target).
struct ThreeEntries {
  Graph forward, decode_step, train_step;
  ThreeEntries() {
    {
      Builder b("forward");
      Tensor x = b.input("x", "f32[B<=8, 4]");
      nn::Linear fc(b, "fc", 4, 3);
      b.output("y", fc(x));
      forward = b.finish();
    }
    {
      Builder b("decode_step");
      Tensor x = b.input("x", "f32[4]");
      Tensor pos = b.input("pos", "i64[1]");
      nn::Linear fc(b, "fc", 4, 3);
      Tensor cache = b.param("cache", "f32[6, 4]");
      Tensor row = reshape(one_hot(pos, 6), {6, 1});  // [6, 1]: 1 at pos
      Tensor updated = cache * (1.0 - row) + row * reshape(x, {1, 4});
      b.update("cache", updated);
      b.output("y", fc(reshape(sum(updated, {0}), {1, 4})));
      decode_step = b.finish();
    }
    {
      Builder b("loss");
      Tensor x = b.input("x", "f32[B<=8, 4]");
      Tensor target = b.input("target", "f32[B, 3]");
      nn::Linear fc(b, "fc", 4, 3);
      b.output("loss", mse_loss(fc(x), target));
      Graph loss = b.finish();
      train_step = train::make_train_step(loss, {.optimizer = train::SgdOptions{.momentum = 0.9}});
      train_step.set_name("train_step");
    }
  }
};

TEST(SharedObject, ThreeEntryPointsShareParametersAndState) {
  fs::path dir = test_dir();
  ThreeEntries m;
  Model model(compile({m.forward, m.decode_step, m.train_step}, dir, "three", {.name = "three"}));
  ASSERT_EQ(model.weft_num_entries(), 3);
  EXPECT_STREQ(model.weft_model_name(), "three");
  Instance instance(model);

  // The JIT: one executable per graph; the shared parameters are carried across by hand.
  LlvmBackend llvm;
  auto forward = llvm.compile(m.forward), decode = llvm.compile(m.decode_step), train = llvm.compile(m.train_step);
  auto sync = [&](Executable& from, Executable& to) {
    for (const TensorSpec& s : from.signature().state)
      if (to.signature().find_state(s.name)) to.set_state(s.name, from.state(s.name));
  };

  Host x = random_f32({5, 4}, 1), target = random_f32({5, 3}, 2);
  for (int64_t step = 1; step <= 3; ++step) {
    Host lr = Host::from<float>({}, {0.05f}), st = Host::from<int64_t>({}, {step});
    expect_bitwise_equal(instance.run("train_step", {x, target, lr, st}), train->run(std::vector<Host>{x, target, lr, st}),
                         fmt::format("train_step {}", step));
  }
  sync(*train, *forward);
  expect_bitwise_equal(instance.run("forward", {x}), forward->run(std::vector<Host>{x}), "forward after training");

  sync(*train, *decode);
  for (int64_t pos : {2, 5, 2}) {
    Host row = random_f32({4}, 100 + static_cast<uint64_t>(pos)), p = Host::from<int64_t>({1}, {pos});
    expect_bitwise_equal(instance.run("decode_step", {row, p}), decode->run(std::vector<Host>{row, p}),
                         fmt::format("decode_step at {}", pos));
  }
  Host cache = instance.param("cache", DType::f32, {6, 4});
  Host jit_cache = decode->state("cache");
  EXPECT_EQ(std::memcmp(cache.raw(), jit_cache.raw(), cache.nbytes()), 0) << "the cache state after three steps";

  // Two instances are independent: a fresh one still has the initial weights.
  Instance fresh(model);
  Host w0 = fresh.param("fc.weight", DType::f32, {3, 4});
  Host w_init = llvm.compile(m.forward)->state("fc.weight");
  EXPECT_EQ(std::memcmp(w0.raw(), w_init.raw(), w0.nbytes()), 0);
  Host w_trained = instance.param("fc.weight", DType::f32, {3, 4});
  EXPECT_NE(std::memcmp(w_trained.raw(), w_init.raw(), w0.nbytes()), 0) << "training changed the weights";
}

TEST(SharedObject, EntryPointsThatDisagreeOnAParameterTypeAreRejected) {
  fs::path dir = test_dir();
  Builder b1("a"), b2("b");
  b1.output("y", b1.input("x", "f32[2]") + b1.param("w", "f32[2]"));
  b2.output("y", b2.input("x", "f32[3]") + b2.param("w", "f32[3]"));
  try {
    compile({b1.finish(), b2.finish()}, dir, "clash");
    FAIL() << "compiled";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'w'"), std::string::npos) << e.what();
  }
}

TEST(SharedObject, AnUnboundedSymbolIsAnErrorNamingIt) {
  fs::path dir = test_dir();
  Builder b("open");
  b.output("y", relu(b.input("x", "f32[N, 4]")));
  try {
    compile({b.finish()}, dir, "open");
    FAIL() << "compiled";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("symbol N"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bound"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace weft::aot_tests
