/** \file
 * The JIT's on-disk cache keyed by a region's source (backends/llvm/jit.h, "Keys known before the
 * IR") and its perf map (jit_perf_map.h). Each `Jit` here stands for a new process: its own LLJIT,
 * with nothing linked, over a cache directory of the test's own.
 *  - a region stored by one Jit is loaded by another without its IR, with the GEMM core it links
 *    against, and computes the same bits (checked against a product computed here by loops);
 *  - another region's key misses; a damaged entry is rejected, the region compiled again, and the
 *    entry replaced;
 *  - the perf map names a region's functions by its label at the addresses the JIT gives, and is
 *    written only when asked.
 */
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backends/llvm/jit.h"
#include "backends/llvm/jit_disk_cache.h"
#include "backends/llvm/jit_perf_map.h"
#include "backends/llvm/node_region.h"
#include "backends/llvm/region_codegen.h"
#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "passes/pipeline.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

namespace fs = std::filesystem;
using llvm_backend::Jit;
using llvm_backend::JitDiskCache;
using llvm_backend::JitLibrary;
using llvm_backend::JitOptions;
using llvm_backend::RegionFunction;

constexpr int64_t kM = 5, kK = 7;

/// The one region of relu(x · w) for x [5, 7] and w [7, n]: a matmul region (the GEMM core is
/// shared code) with an epilogue.
llvm_backend::NodeRegion matmul_relu_region(int64_t n) {
  dsl::Builder b("matmul_relu");
  auto scope = b.scope("encoder");
  auto inner = b.scope("ffn");
  auto x = b.input("x", DType::f32, {Dim(kM), Dim(kK)});
  auto w = b.input("w", DType::f32, {Dim(kK), Dim(n)});
  b.output("y", dsl::relu(dsl::matmul(x, w)));
  Graph fused = lower_graph(b.finish(), LlvmBackend().lowering_options());
  std::string why;
  std::optional<llvm_backend::NodeRegion> region = llvm_backend::call_region(plan_program(fused).calls.at(0), &why);
  EXPECT_TRUE(region.has_value()) << why;
  EXPECT_EQ(region->kind, "matmul");
  return *region;
}

/// Generates `region` as `name` and adds it to `jit` under its source key, as compile_region does.
JitLibrary compile(Jit& jit, const llvm_backend::NodeRegion& region, const std::string& name) {
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = jit.new_module(name, *context);
  auto why = llvm_backend::generate_region(*module, name, region.body, region.kind, jit.target().vector_floats());
  EXPECT_FALSE(why.has_value()) << *why;
  return jit.add_module(std::move(module), std::move(context),
                        llvm_backend::region_cache_key(region.body, region.kind));
}

struct Product {
  std::vector<float> x, w, y;
};

/// x and w with values that make some outputs negative (so relu acts), y from the region.
Product run(const JitLibrary& library, const std::string& name, int64_t n) {
  Product p{std::vector<float>(kM * kK), std::vector<float>(kK * n), std::vector<float>(kM * n, -1.0f)};
  for (size_t i = 0; i < p.x.size(); ++i) p.x[i] = static_cast<float>(static_cast<int>(i % 11) - 5) * 0.25f;
  for (size_t i = 0; i < p.w.size(); ++i) p.w[i] = static_cast<float>(static_cast<int>(i % 7) - 3) * 0.5f;
  void* buffers[] = {p.x.data(), p.w.data(), p.y.data()};
  library.lookup_function<RegionFunction>(name)(buffers, nullptr);
  return p;
}

void expect_relu_product(const Product& p, int64_t n) {
  for (int64_t i = 0; i < kM; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t k = 0; k < kK; ++k) sum += double(p.x[i * kK + k]) * double(p.w[k * n + j]);
      EXPECT_NEAR(p.y[i * n + j], std::max(sum, 0.0), 1e-5) << "y[" << i << ", " << j << "]";
    }
}

/// A Jit's options with the test's own cache.
JitOptions over(JitDiskCache& cache) {
  JitOptions options;
  options.disk_cache = &cache;
  return options;
}

class JitRegionCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("weft_jit_region_cache_{}_{}", ::getpid(),
                                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(JitRegionCacheTest, ANewJitLoadsARegionAndItsSharedCodeAndComputesTheSameBits) {
  JitDiskCache cache(dir_ / "jit");
  const llvm_backend::NodeRegion region = matmul_relu_region(9);
  const std::string key = llvm_backend::region_cache_key(region.body, region.kind);
  Jit cold(over(cache));
  EXPECT_EQ(cold.load_cached(key), std::nullopt);
  const Product first = run(compile(cold, region, "cached_region"), "cached_region", 9);
  expect_relu_product(first, 9);
  const int64_t stored = cache.stats().stored;
  EXPECT_GE(stored, 2) << "the region and the GEMM core it links against";

  Jit warm(over(cache));
  const int64_t hits = cache.stats().hits;
  std::optional<JitLibrary> loaded = warm.load_cached(key);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(cache.stats().hits, hits + 2) << "the region's entry and the core's";
  EXPECT_EQ(warm.compiled_modules(), 0) << "nothing generated or compiled";
  const Product second = run(*loaded, "cached_region", 9);
  EXPECT_EQ(second.y, first.y);
  EXPECT_EQ(cache.stats().stored, stored);
}

TEST_F(JitRegionCacheTest, AnotherRegionMisses) {
  JitDiskCache cache(dir_ / "jit");
  const llvm_backend::NodeRegion nine = matmul_relu_region(9), ten = matmul_relu_region(10);
  Jit cold(over(cache));
  compile(cold, nine, "cached_region");
  Jit warm(over(cache));
  EXPECT_EQ(warm.load_cached(llvm_backend::region_cache_key(ten.body, ten.kind)), std::nullopt);
  // Compiled, it links against the core the first Jit stored, and is right.
  expect_relu_product(run(compile(warm, ten, "other_region"), "other_region", 10), 10);
}

TEST_F(JitRegionCacheTest, ADamagedEntryIsIgnoredAndTheRegionCompiledAgain) {
  JitDiskCache cache(dir_ / "jit");
  const llvm_backend::NodeRegion region = matmul_relu_region(9);
  const std::string key = llvm_backend::region_cache_key(region.body, region.kind);
  Jit cold(over(cache));
  const Product first = run(compile(cold, region, "cached_region"), "cached_region", 9);
  for (const auto& entry : fs::directory_iterator(dir_ / "jit")) {  // one bit of every entry
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    in.close();
    bytes[bytes.size() - 50] ^= 1;
    std::ofstream(entry.path(), std::ios::binary) << bytes;
  }
  Jit damaged(over(cache));
  EXPECT_EQ(damaged.load_cached(key), std::nullopt);
  EXPECT_GE(cache.stats().rejected, 1);
  const int64_t stored = cache.stats().stored;
  EXPECT_EQ(run(compile(damaged, region, "cached_region"), "cached_region", 9).y, first.y);
  EXPECT_GE(cache.stats().stored, stored + 2) << "both entries replaced";

  Jit repaired(over(cache));
  std::optional<JitLibrary> loaded = repaired.load_cached(key);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(run(*loaded, "cached_region", 9).y, first.y);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_F(JitRegionCacheTest, ThePerfMapNamesARegionsFunctionsByItsLabelAtTheirAddresses) {
  fs::create_directories(dir_);
  JitDiskCache cache(dir_ / "jit");
  const fs::path map = dir_ / "perf.map";
  const llvm_backend::NodeRegion region = matmul_relu_region(9);
  const std::string label = llvm_backend::region_label(region.body, region.kind);
  EXPECT_EQ(label, "encoder.ffn matmul region");
  for (int run_index = 0; run_index < 2; ++run_index) {  // compiled, then loaded from the cache
    fs::remove(map);
    Jit jit(JitOptions{.perf_map = map.string(), .disk_cache = &cache});
    jit.set_label("mapped_region", label);
    JitLibrary library = run_index == 0
                             ? compile(jit, region, "mapped_region")
                             : jit.load_cached(llvm_backend::region_cache_key(region.body, region.kind)).value();
    const auto address = reinterpret_cast<uintptr_t>(library.lookup("mapped_region"));
    const std::string text = slurp(map);
    EXPECT_NE(text.find(fmt::format("{:x} ", address)), std::string::npos) << text;
    std::istringstream lines(text);
    bool entry = false, core = false;
    for (std::string line; std::getline(lines, line);) {
      uint64_t start = 0, size = 0;
      char name[512] = {};
      ASSERT_EQ(std::sscanf(line.c_str(), "%lx %lx %511[^\n]", &start, &size, name), 3) << line;
      EXPECT_GT(size, 0u) << line;
      if (start == address) {
        EXPECT_EQ(std::string(name), "weft: encoder.ffn matmul region");
        entry = true;
      }
      core = core || std::string(name).starts_with("weft: weft.gemm.nn.");
    }
    EXPECT_TRUE(entry) << text;
    EXPECT_TRUE(core) << "the GEMM core keeps its own name\n" << text;
  }
}

TEST_F(JitRegionCacheTest, ThePerfMapIsWrittenOnlyWhenAsked) {
  JitDiskCache cache(dir_ / "jit");
  const fs::path default_map = llvm_backend::PerfMap::default_path();
  EXPECT_EQ(default_map, fmt::format("/tmp/perf-{}.map", ::getpid()));
  fs::remove(default_map);  // this process's own file
  Jit jit(over(cache));
  jit.set_label("unmapped_region", "a label");
  run(compile(jit, matmul_relu_region(9), "unmapped_region"), "unmapped_region", 9);
  EXPECT_FALSE(fs::exists(default_map));

  ::setenv("WEFT_PERF_MAP", "1", 1);
  EXPECT_EQ(JitOptions::from_environment().perf_map, default_map.string());
  ::setenv("WEFT_PERF_MAP", "0", 1);
  EXPECT_EQ(JitOptions::from_environment().perf_map, "");
  ::unsetenv("WEFT_PERF_MAP");
  EXPECT_EQ(JitOptions::from_environment().perf_map, "");
}

TEST(RegionLabel, IsTheScopeTheNodesShareAndTheKind) {
  auto body = [](std::vector<std::string> scopes) {
    Graph g("body");
    ValueId v = g.add_input("x", f32({Dim(4)}));
    for (const std::string& s : scopes) {
      int32_t n = g.add_node(OpKind::relu, {v}, {}, {f32({Dim(4)})}, s);
      v = g.nodes()[n].results[0];
    }
    g.add_output("y", v);
    return g;
  };
  EXPECT_EQ(llvm_backend::region_label(body({"encoder.layers.0.attn.q", "encoder.layers.0.attn.k"}), "loop"),
            "encoder.layers.0.attn loop region");
  EXPECT_EQ(llvm_backend::region_label(body({"a.bc", "a.bd"}), "loop"), "a loop region");
  EXPECT_EQ(llvm_backend::region_label(body({"a.b", "", "a.b.c"}), "reduction"), "a.b reduction region");
  EXPECT_EQ(llvm_backend::region_label(body({"x", "y"}), "loop"), "x loop region");
  EXPECT_EQ(llvm_backend::region_label(body({""}), "loop"), "loop region");
}

}  // namespace
}  // namespace weft::llvm_tests
