// The README's flow from a user's side: write a model as text IR, `weft-compile` it, build the C
// example (examples/c_api/run_model.c) against it with `cc`, run it, and compare what it prints with
// the LLVM JIT on the same inputs, bit for bit.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "frontend/builder.h"
#include "frontend/nn/nn.h"
#include "frontend/tensor_ops.h"
#include "ir/text.h"
#include "runtime/npy.h"
#include "tests/aot/aot_testing.h"

namespace weft::aot_tests {
namespace {

using dsl::Tensor;
using Host = weft::Tensor;

const std::string kCompile = std::string(WEFT_BINARY_DIR) + "/tools/weft-compile";

/// The example's input pattern (see run_model.c): element i is ((i * 7) % 23) / 8 - 1.25.
Host pattern(std::vector<int64_t> shape) {
  Host t = Host::zeros(DType::f32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(((i * 7) % 23) / 8.0 - 1.25);
  return t;
}

/// The values printed after the line "output <name> ...".
std::vector<double> printed_values(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("output " + name + " ", 0) != 0) continue;
    std::getline(lines, line);
    std::istringstream values(line);
    std::vector<double> out;
    std::string v;
    while (values >> v) out.push_back(std::strtod(v.c_str(), nullptr));
    return out;
  }
  return {};
}

TEST(CExample, CompiledWithCcRunsTheModelAndMatchesTheJitBitForBit) {
  fs::path dir = test_dir();
  Builder b("mlp");
  Tensor x = b.input("x", "f32[B<=64, 20]");
  nn::Linear fc1(b, "fc1", 20, 48), fc2(b, "fc2", 48, 7);
  b.output("y", softmax(fc2(gelu(fc1(x))), -1));
  Graph g = b.finish();
  write_graph_file((dir / "mlp.weft").string(), g);

  std::string log;
  std::string sanitize = sanitizer_flags().empty() ? "" : " --cflag=-fsanitize=address,undefined";
  std::string cc = test_cc();
  ASSERT_EQ(shell(fmt::format("'{}' '{}' -o '{}' --cc '{}'{}", kCompile, (dir / "mlp.weft").string(),
                              (dir / "mlp.so").string(), cc, sanitize),
                  &log),
            0)
      << log;
  EXPECT_NE(log.find("weft-compile: model 'mlp'"), std::string::npos) << log;
  ASSERT_TRUE(fs::exists(dir / "mlp.h"));
  ASSERT_EQ(shell(fmt::format("{} {} -std=c11 -Wall -Wextra -Werror -I'{}' -DWEFT_MODEL_HEADER='\"mlp.h\"' '{}' '{}' "
                              "-Wl,-rpath,'{}' -o '{}'",
                              cc, sanitizer_flags(), dir.string(),
                              std::string(WEFT_SOURCE_DIR) + "/examples/c_api/run_model.c", (dir / "mlp.so").string(),
                              dir.string(), (dir / "run_mlp").string()),
                  &log),
            0)
      << log;
  for (int64_t batch : {3, 64}) {
    std::string out;
    ASSERT_EQ(shell(fmt::format("'{}' B={}", (dir / "run_mlp").string(), batch), &out), 0) << out;
    EXPECT_NE(out.find("entry 0: mlp"), std::string::npos) << out;
    std::vector<double> got = printed_values(out, "y");
    Host want = LlvmBackend().compile(g)->run(std::vector<Host>{pattern({batch, 20})})[0];
    ASSERT_EQ(static_cast<int64_t>(got.size()), want.numel()) << out;
    for (int64_t i = 0; i < want.numel(); ++i)
      ASSERT_EQ(static_cast<float>(got[i]), want.data<float>()[i]) << "element " << i << " at B = " << batch;
  }
  // A dim beyond the bound is the API's error, printed by the example, not a crash.
  std::string out;
  EXPECT_EQ(shell(fmt::format("'{}' B=65", (dir / "run_mlp").string()), &out), 1) << out;
  EXPECT_NE(out.find("WEFT_ERR_DIM_RANGE"), std::string::npos) << out;
}

TEST(CExample, WeftRunRunsTheSharedObjectOnNpyInputsLikeTheJit) {
  fs::path dir = test_dir();
  Builder b("seq");
  Tensor x = b.input("x", "f32[B<=8, T<=6, 5]");
  Tensor lengths = b.input("lengths", "i64[B]");
  nn::LSTM lstm(b, "lstm", 5, 4);
  b.output("h_n", lstm(x, {}, lengths).h_n);
  Graph g = b.finish();
  write_graph_file((dir / "seq.weft").string(), g);
  std::string log;
  std::string sanitize = sanitizer_flags().empty() ? "" : " --cflag=-fsanitize=address,undefined";
  ASSERT_EQ(shell(fmt::format("'{}' '{}' -o '{}' --cc '{}'{}", kCompile, (dir / "seq.weft").string(),
                              (dir / "seq.so").string(), test_cc(), sanitize),
                  &log),
            0)
      << log;
  Host input = pattern({3, 6, 5});
  Host len = Host::from<int64_t>({3}, {6, 2, 0});
  write_npy((dir / "x.npy").string(), input);
  write_npy((dir / "lengths.npy").string(), len);
  const std::string run = std::string(WEFT_BINARY_DIR) + "/tools/weft-run";
  ASSERT_EQ(shell(fmt::format("'{}' '{}' --input x='{}' --input lengths='{}' --output-dir '{}'", run,
                              (dir / "seq.so").string(), (dir / "x.npy").string(), (dir / "lengths.npy").string(),
                              (dir / "out").string()),
                  &log),
            0)
      << log;
  Host got = read_npy((dir / "out" / "h_n.npy").string());
  Host want = LlvmBackend().compile(g)->run(std::vector<Host>{input, len})[0];
  ASSERT_EQ(got.shape(), want.shape());
  EXPECT_EQ(std::memcmp(got.raw(), want.raw(), got.nbytes()), 0) << log;
  // A wrong input shape is an error naming the input and the dim, with exit status 1.
  write_npy((dir / "x.npy").string(), pattern({3, 6, 4}));
  EXPECT_EQ(shell(fmt::format("'{}' '{}' --input x='{}' --input lengths='{}'", run, (dir / "seq.so").string(),
                              (dir / "x.npy").string(), (dir / "lengths.npy").string()),
                  &log),
            1)
      << log;
  EXPECT_NE(log.find("input 'x'"), std::string::npos) << log;
  EXPECT_NE(log.find("dim 2"), std::string::npos) << log;
}

// A scalar (rank-0) input and output: the .so is run from literals, as docs/getting-started.md runs
// its XOR model, and gives the JIT's values.
TEST(CExample, WeftRunRunsASharedObjectWithScalarInputsAndOutputsFromLiterals) {
  fs::path dir = test_dir();
  Builder b("scaled");
  Tensor x = b.input("x", "f32[2, 3]");
  Tensor scale = b.input("scale", "f32[]");
  b.output("total", sum(x) * scale);
  b.output("y", x * scale);
  Graph g = b.finish();
  write_graph_file((dir / "scaled.weft").string(), g);
  std::string log;
  ASSERT_EQ(shell(fmt::format("'{}' '{}' -q -o '{}' --cc '{}'", kCompile, (dir / "scaled.weft").string(),
                              (dir / "scaled.so").string(), test_cc()),
                  &log),
            0)
      << log;
  const std::string run = std::string(WEFT_BINARY_DIR) + "/tools/weft-run";
  ASSERT_EQ(shell(fmt::format("'{}' '{}' --input 'x=[[1, 2, 3], [4, 5, 6]]' --input scale=2 --output-dir '{}'", run,
                              (dir / "scaled.so").string(), (dir / "out").string()),
                  &log),
            0)
      << log;
  std::vector<Host> want = LlvmBackend().compile(g)->run(
      std::vector<Host>{Host::from<float>({2, 3}, {1, 2, 3, 4, 5, 6}), Host::from<float>({}, {2})});
  for (auto [name, index] : {std::pair{"total", 0}, std::pair{"y", 1}}) {
    Host got = read_npy((dir / "out" / (std::string(name) + ".npy")).string());
    ASSERT_EQ(got.shape(), want[index].shape()) << name;
    EXPECT_EQ(got.to_vector<float>(), want[index].to_vector<float>()) << name;
  }
  EXPECT_EQ(read_npy((dir / "out" / "total.npy").string()).to_vector<float>(), std::vector<float>{42});
}

TEST(CExample, WeftCompileReportsAnUnboundedDimAndExitsWithOne) {
  fs::path dir = test_dir();
  Builder b("open");
  b.output("y", relu(b.input("x", "f32[N, 4]")));
  write_graph_file((dir / "open.weft").string(), b.finish());
  std::string log;
  EXPECT_EQ(
      shell(fmt::format("'{}' '{}' -o '{}'", kCompile, (dir / "open.weft").string(), (dir / "open.so").string()), &log),
      1);
  EXPECT_NE(log.find("symbol N"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir / "open.so"));
}

}  // namespace
}  // namespace weft::aot_tests
