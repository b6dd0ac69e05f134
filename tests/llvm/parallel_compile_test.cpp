/** \file
 * Compiling a program's regions on several threads (backends/llvm/region_codegen.h,
 * `compile_regions`; jit.h, "Threads").
 *
 *  - the same program compiled on one thread and on two, each over a Jit and a disk cache of its
 *    own, gives bit-identical outputs (and the interpreter's, up to rounding) and the same disk
 *    cache entries, byte for byte; a third Jit over the parallel compile's cache loads it all and
 *    compiles nothing;
 *  - many programs compiled at once on one Jit from several threads (some the same program, so
 *    that threads meet on the same regions and GEMM cores) all compute the interpreter's results.
 *
 * The program is an LSTM's gradients (scans whose bodies hold matmul regions; GEMM cores of three
 * transpose patterns) and a layer-normed, softmaxed MLP beside it.
 */
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "backends/interp/interpreter.h"
#include "backends/llvm/jit.h"
#include "backends/llvm/jit_disk_cache.h"
#include "backends/llvm/llvm_backend.h"
#include "frontend/builder.h"
#include "frontend/nn/recurrent.h"
#include "frontend/tensor_ops.h"
#include "passes/autodiff.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

namespace fs = std::filesystem;
using llvm_backend::Jit;
using llvm_backend::JitDiskCache;
using llvm_backend::JitOptions;

/// An LSTM's gradients beside an MLP; `width` varies the MLP's regions between programs.
Graph program(int64_t width) {
  dsl::Builder b("parallel_compile");
  auto x = b.input("x", "f32[3, 5, 4]");
  auto lengths = b.input("lengths", "i64[3]");
  auto m = b.input("m", "f32[B<=64, 24]");
  auto w1 = b.input("w1", fmt::format("f32[{}, 24]", width));
  auto w2 = b.input("w2", fmt::format("f32[{}, 16]", width));
  auto gamma = b.input("gamma", "f32[16]");
  auto beta = b.input("beta", "f32[16]");
  nn::LSTM lstm(b, "lstm", 4, 6);
  nn::LstmOutput out = lstm(x, {}, lengths);
  b.output("loss", dsl::sum(out.output * out.output) + dsl::sum(out.h_n));
  auto h = dsl::tanh(dsl::matmul(m, w1, false, true));  // x·Wᵀ
  auto n = dsl::layer_norm(dsl::matmul(h, w2), gamma, beta);
  b.output("p", dsl::softmax(n * 2.0f));
  b.output("col", dsl::max(n, {0}));
  return differentiate(b.finish(), "loss", {"x", "lstm.weight_ih_l0", "lstm.weight_hh_l0"});
}

std::vector<Tensor> inputs_of(const Graph& g) {
  std::vector<Tensor> inputs = random_inputs(g, {{"B", 37}}, 7);
  inputs[1] = Tensor::from<int64_t>({3}, {5, 2, 4});
  return inputs;
}

JitOptions over(JitDiskCache& cache) {
  JitOptions options;
  options.disk_cache = &cache;
  return options;
}

/// The LLVM chain over `jit`, its regions compiled on `threads` threads.
std::unique_ptr<CompiledExecutable> compile_on(Jit& jit, int threads, const Graph& g) {
  ProviderChain chain("llvm", {llvm_provider(jit, threads), interp_provider()});
  return chain.compile_chain(g, CompileOptions{.num_threads = 2});
}

/// Every file of `dir` by name, with its bytes.
std::map<std::string, std::string> files_of(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    out[e.path().filename().string()] = bytes.str();
  }
  return out;
}

void expect_same_bits(const std::vector<Tensor>& want, const std::vector<Tensor>& got, const Graph& g,
                      const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t k = 0; k < want.size(); ++k) {
    ASSERT_EQ(want[k].type_str(), got[k].type_str()) << what;
    EXPECT_EQ(std::memcmp(want[k].raw(), got[k].raw(), want[k].nbytes()), 0)
        << what << ": output " << g.outputs()[k].name << " differs";
  }
}

void expect_interpreters(const Graph& g, const std::vector<Tensor>& inputs, const std::vector<Tensor>& got,
                         const std::string& what) {
  std::vector<Tensor> want = interpret(g, inputs, initial_params(g));
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t k = 0; k < want.size(); ++k)
    expect_close(want[k], got[k], kMatmul, fmt::format("{}: output {}", what, g.outputs()[k].name));
}

class ParallelCompileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("weft_parallel_compile_{}_{}", ::getpid(),
                                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ParallelCompileTest, OneThreadAndTwoGiveTheSameObjectsAndOutputs) {
  const Graph g = program(20);
  const std::vector<Tensor> inputs = inputs_of(g);
  JitDiskCache serial_cache(dir_ / "serial"), parallel_cache(dir_ / "parallel");
  Jit serial_jit(over(serial_cache)), parallel_jit(over(parallel_cache));
  auto serial = compile_on(serial_jit, 1, g);
  auto parallel = compile_on(parallel_jit, 2, g);
  EXPECT_EQ(parallel->stats().fallback, serial->stats().fallback);
  EXPECT_EQ(parallel_jit.compiled_modules(), serial_jit.compiled_modules());
  const std::vector<Tensor> want = serial->run(inputs);
  expect_same_bits(want, parallel->run(inputs), g, "compiled on two threads");
  expect_interpreters(g, inputs, want, "compiled on one thread");

  // The same entries under the same names: a module's object does not depend on the thread or the
  // order that made it (a GEMM core is compiled in a module of its own name).
  const std::map<std::string, std::string> serial_files = files_of(dir_ / "serial");
  const std::map<std::string, std::string> parallel_files = files_of(dir_ / "parallel");
  EXPECT_GE(serial_files.size(), 10u) << "regions of the MLP and of the scans' bodies, and three GEMM cores";
  ASSERT_EQ(serial_files.size(), parallel_files.size());
  for (const auto& [name, bytes] : serial_files) {
    auto it = parallel_files.find(name);
    ASSERT_NE(it, parallel_files.end()) << name << " only in the serial compile's cache";
    EXPECT_TRUE(it->second == bytes) << "entry " << name << " differs";
  }

  // A new process over the parallel compile's cache: everything loaded, nothing compiled.
  Jit warm_jit(over(parallel_cache));
  auto warm = compile_on(warm_jit, 2, g);
  EXPECT_EQ(warm_jit.compiled_modules(), 0);
  expect_same_bits(want, warm->run(inputs), g, "loaded from the cache");
}

TEST_F(ParallelCompileTest, ManyProgramsCompileAtOnceOnOneJit) {
  JitDiskCache cache(dir_ / "jit");
  Jit jit(over(cache));
  // Four threads, two programs each; widths repeat across threads, so that two threads compile
  // the same regions (and all of them the same GEMM cores) at the same time.
  constexpr int kThreads = 4;
  const int64_t widths[kThreads][2] = {{8, 12}, {12, 8}, {16, 8}, {12, 16}};
  std::vector<std::vector<std::string>> failures(kThreads);
  std::vector<std::thread> threads;
  std::vector<std::vector<std::vector<Tensor>>> results(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int64_t width : widths[t]) {
          const Graph g = program(width);
          results[t].push_back(compile_on(jit, 2, g)->run(inputs_of(g)));
        }
      } catch (const std::exception& e) {
        failures[t].push_back(e.what());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(failures[t].empty()) << "thread " << t << ": " << failures[t].front();
    ASSERT_EQ(results[t].size(), 2u);
    for (size_t p = 0; p < 2; ++p) {
      const Graph g = program(widths[t][p]);
      expect_interpreters(g, inputs_of(g), results[t][p], fmt::format("thread {}, width {}", t, widths[t][p]));
    }
  }
}

}  // namespace
}  // namespace weft::llvm_tests
