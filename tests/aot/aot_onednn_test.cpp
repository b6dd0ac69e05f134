// Shared objects compiled with `weft-compile --provider onednn` (backends/onednn/aot_calls.h): their
// matmuls, softmaxes and layer norms run on oneDNN through the C shim, linked dynamically, and they
// give the interpreter's results (within the oneDNN tests' tolerance) on a forward pass and on train
// steps; a default shared object does not link oneDNN; the C API's errors are unchanged. Each test
// skips when this build has no oneDNN.
#include <gtest/gtest.h>

#include <cmath>

#include "backends/backend.h"
#include "frontend/builder.h"
#include "frontend/nn/nn.h"
#include "frontend/tensor_ops.h"
#include "frontend/train_step.h"
#include "tests/aot/aot_testing.h"

#ifdef WEFT_HAVE_ONEDNN
#include "backends/onednn/aot_calls.h"
#endif

namespace weft::aot_tests {
namespace {

using dsl::Tensor;
using Host = weft::Tensor;

#ifdef WEFT_HAVE_ONEDNN
#define SKIP_WITHOUT_ONEDNN()
#else
#define SKIP_WITHOUT_ONEDNN() GTEST_SKIP() << "this build has no oneDNN (libdnnl-dev): no --provider onednn"
#endif

/// Compiles `entries` with oneDNN (or without, when `onednn` is false); returns how many calls
/// oneDNN runs.
int compile_with(const std::vector<Graph>& entries, const fs::path& so, bool onednn) {
  llvm_backend::AotOptions options;
#ifdef WEFT_HAVE_ONEDNN
  if (onednn) options.library = &onednn::aot_library();
#endif
  use_build_cache();
  options.cc = test_cc();
  std::istringstream flags(sanitizer_flags());
  for (std::string f; flags >> f;) options.cflags.push_back(f);
  fs::path header = so;
  header.replace_extension(".h");
  return llvm_backend::compile_shared_object(entries, nullptr, so.string(), header.string(), options).library_calls;
}

/// |got - want| <= 1e-4 + 1e-4·|want| element by element (oneDNN's products and exp against the
/// interpreter's, as in tests/onednn).
void expect_close(const std::vector<Host>& got, const std::vector<Host>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t k = 0; k < got.size(); ++k) {
    ASSERT_EQ(got[k].type_str(), want[k].type_str()) << what << " output " << k;
    int reported = 0;
    for (int64_t i = 0; i < got[k].numel() && reported < 5; ++i) {
      double g = got[k].at(i), w = want[k].at(i);
      if (std::fabs(g - w) <= 1e-4 + 1e-4 * std::fabs(w)) continue;
      ADD_FAILURE() << what << " output " << k << " element " << i << ": shared object " << g << ", interpreter " << w;
      ++reported;
    }
  }
}

Graph encoder_layer() {
  Builder b("encoder");
  Tensor src = b.input("src", "f32[B<=3, S<=7, 16]");
  nn::TransformerEncoderLayer layer(b, "layer", {.d_model = 16, .nhead = 4, .dim_feedforward = 32, .dropout = 0.0});
  b.output("out", log_softmax(layer(src), -1));
  return b.finish();
}

TEST(SharedObjectOnednn, EncoderLayerGivesTheInterpretersResultsAtEverySize) {
  SKIP_WITHOUT_ONEDNN();
  fs::path dir = test_dir();
  Graph g = encoder_layer();
  int on_onednn = compile_with({g}, dir / "encoder.so", true);
  EXPECT_GE(on_onednn, 6) << "the projections, the attention products, the feed-forward, softmax, log_softmax";
  Model model(dir / "encoder.so");
  Instance instance(model);
  auto interp = make_backend("interp")->compile(g);
  // B = 0: an empty batch runs on the generated fallbacks (oneDNN would leave results unwritten).
  for (auto [batch, steps] : std::vector<std::pair<int64_t, int64_t>>{{3, 7}, {2, 4}, {3, 7}, {0, 5}}) {
    std::vector<Host> in{random_f32({batch, steps, 16}, 40 + static_cast<uint64_t>(steps))};
    expect_close(instance.run("encoder", in), interp->run(in), fmt::format("B = {}, S = {}", batch, steps));
  }
}

TEST(SharedObjectOnednn, TrainStepsGiveTheInterpretersLossesAndParameters) {
  SKIP_WITHOUT_ONEDNN();
  fs::path dir = test_dir();
  Builder b("loss");
  Tensor x = b.input("x", "f32[B<=8, 12]");
  Tensor labels = b.input("labels", "i64[B]");
  nn::Linear fc1(b, "fc1", 12, 24), fc2(b, "fc2", 24, 5);
  nn::LayerNorm norm(b, "norm", 24);
  b.output("loss", cross_entropy(fc2(relu(norm(fc1(x)))), labels));
  Graph step = train::make_train_step(b.finish(), {.optimizer = train::AdamOptions{}});
  step.set_name("train_step");
  int on_onednn = compile_with({step}, dir / "train.so", true);
  EXPECT_GE(on_onednn, 2) << "at least the forward products";
  Model model(dir / "train.so");
  Instance instance(model);
  auto interp = make_backend("interp")->compile(step);
  Host labels_in = Host::from<int64_t>({6}, {0, 4, 2, 1, 3, 4});
  for (int64_t s = 1; s <= 3; ++s) {
    std::vector<Host> in{random_f32({6, 12}, 5), labels_in, Host::from<float>({}, {0.01f}),
                         Host::from<int64_t>({}, {s})};
    expect_close(instance.run("train_step", in), interp->run(in), fmt::format("step {}", s));
  }
  for (const char* name : {"fc1.weight", "norm.weight", "fc2.bias"}) {
    Host want = interp->state(name);
    expect_close({instance.param(name, DType::f32, want.shape())}, {want}, fmt::format("{} after 3 steps", name));
  }
}

TEST(SharedObjectOnednn, OnlyAnObjectCompiledWithOnednnLinksLibdnnl) {
  SKIP_WITHOUT_ONEDNN();
  fs::path dir = test_dir();
  Graph g = encoder_layer();
  EXPECT_EQ(compile_with({g}, dir / "plain.so", false), 0);
  EXPECT_GT(compile_with({g}, dir / "dnnl.so", true), 0);
  std::string plain, dnnl;
  ASSERT_EQ(shell("ldd " + (dir / "plain.so").string(), &plain), 0) << plain;
  ASSERT_EQ(shell("ldd " + (dir / "dnnl.so").string(), &dnnl), 0) << dnnl;
  EXPECT_EQ(plain.find("libdnnl"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("libgomp"), std::string::npos) << plain;
  EXPECT_NE(dnnl.find("libdnnl.so"), std::string::npos) << dnnl;
  // Only the C API is exported, as from a default shared object.
  std::string symbols;
  ASSERT_EQ(shell("nm -D --defined-only " + (dir / "dnnl.so").string(), &symbols), 0) << symbols;
  EXPECT_EQ(symbols.find("weft_rt_dnnl"), std::string::npos) << symbols;
  EXPECT_NE(symbols.find("weft_run"), std::string::npos) << symbols;
  // The header says what it links.
  std::string header;
  ASSERT_EQ(shell("cat " + (dir / "dnnl.h").string(), &header), 0);
  EXPECT_NE(header.find("Links against: libc, libm, libpthread, libdnnl.so"), std::string::npos) << header;
}

TEST(SharedObjectOnednn, TheCApiStillReportsBadArgumentsAndRunsOnAfterwards) {
  SKIP_WITHOUT_ONEDNN();
  fs::path dir = test_dir();
  Graph g = encoder_layer();
  compile_with({g}, dir / "encoder.so", true);
  Model m(dir / "encoder.so");
  Instance instance(m);
  int64_t good_shape[3] = {2, 5, 16}, bad_shape[3] = {2, 5, 15}, long_shape[3] = {2, 9, 16};
  std::vector<float> in(2 * 9 * 16, 0.5f), out(2 * 9 * 16);
  weft_tensor x{WEFT_F32, 3, good_shape, in.data()}, y{WEFT_F32, 3, good_shape, out.data()};
  weft_tensor bad{WEFT_F32, 3, bad_shape, in.data()}, too_long{WEFT_F32, 3, long_shape, in.data()};
  weft_tensor wrong_dtype{WEFT_I64, 3, good_shape, in.data()};
  EXPECT_EQ(m.weft_run(instance.instance, 0, &bad, 1, &y, 1), WEFT_ERR_SHAPE) << m.weft_last_error();
  EXPECT_EQ(m.weft_run(instance.instance, 0, &too_long, 1, &y, 1), WEFT_ERR_DIM_RANGE) << m.weft_last_error();
  EXPECT_EQ(m.weft_run(instance.instance, 0, &wrong_dtype, 1, &y, 1), WEFT_ERR_DTYPE) << m.weft_last_error();
  EXPECT_EQ(m.weft_run(instance.instance, 0, nullptr, 1, &y, 1), WEFT_ERR_NULL_ARGUMENT) << m.weft_last_error();
  ASSERT_EQ(m.weft_run(instance.instance, 0, &x, 1, &y, 1), WEFT_OK) << m.weft_last_error();
  Host host_in = Host::zeros(DType::f32, {2, 5, 16});
  for (int64_t i = 0; i < host_in.numel(); ++i) host_in.data<float>()[i] = 0.5f;
  Host want = make_backend("interp")->compile(g)->run(std::vector<Host>{host_in})[0];
  Host got = Host::zeros(DType::f32, {2, 5, 16});
  std::memcpy(got.raw(), out.data(), got.nbytes());
  expect_close({got}, {want}, "the run after the errors");
}

TEST(SharedObjectOnednn, WeftCompileTakesProviderOnednnAndSaysWhatItLinks) {
  SKIP_WITHOUT_ONEDNN();
  fs::path dir = test_dir();
  const std::string tool = std::string(WEFT_BINARY_DIR) + "/tools/weft-compile";
  const std::string model = std::string(WEFT_SOURCE_DIR) + "/tests/fixtures/mlp.weft";
  std::string out;
  ASSERT_EQ(
      shell(fmt::format("{} {} -o {} --provider onednn --cc {}", tool, model, (dir / "mlp.so").string(), test_cc()),
            &out),
      0)
      << out;
  EXPECT_NE(out.find("needs libc, libm, libpthread, libdnnl.so.2 and libgomp.so.1 (2 of 2 calls on oneDNN)"),
            std::string::npos)
      << out;
  ASSERT_EQ(shell(fmt::format("{} {} -o {} --cc {}", tool, model, (dir / "plain.so").string(), test_cc()), &out), 0)
      << out;
  EXPECT_NE(out.find("needs libc, libm, libpthread\n"), std::string::npos) << out;
  // Any other provider is a usage error (exit status 2), naming the choices.
  EXPECT_EQ(shell(fmt::format("{} {} -o {} --provider cuda", tool, model, (dir / "x.so").string()), &out), 2) << out;
  EXPECT_NE(out.find("--provider"), std::string::npos) << out;
}

}  // namespace
}  // namespace weft::aot_tests
