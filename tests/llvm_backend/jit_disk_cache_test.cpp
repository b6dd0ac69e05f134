// The JIT's on-disk object cache (backends/llvm/jit_disk_cache.h): what is stored is loaded back
// whole; a damaged, truncated or misplaced entry is rejected, never loaded; writers racing on one
// key leave a whole entry. (tests/tools_cli checks that a second process loads what a first stored.)
#include "backends/llvm/jit_disk_cache.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

namespace weft::llvm_backend {
namespace {

namespace fs = std::filesystem;

class JitDiskCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("weft_jit_cache_{}_{}", ::getpid(),
                                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

TEST_F(JitDiskCacheTest, LoadsWhatItStored) {
  JitDiskCache cache(dir_);
  EXPECT_EQ(cache.load("module text"), std::nullopt);
  cache.store("module text", std::string("\x7f"
                                         "ELF object\0bytes",
                                         17));
  EXPECT_EQ(cache.load("module text"), std::string("\x7f"
                                                   "ELF object\0bytes",
                                                   17));
  EXPECT_EQ(cache.load("other module text"), std::nullopt);
  JitDiskCacheStats s = cache.stats();
  EXPECT_EQ(s.hits, 1);
  EXPECT_EQ(s.misses, 2);
  EXPECT_EQ(s.stored, 1);
  EXPECT_EQ(s.rejected, 0);
}

TEST_F(JitDiskCacheTest, RejectsADamagedTruncatedOrMisplacedEntry) {
  JitDiskCache cache(dir_);
  const std::string object(4096, 'x');
  cache.store("key", object);
  const fs::path file = cache.path_of("key");
  const std::string good = bytes_of(file);

  std::string flipped = good;
  flipped[flipped.size() - 100] ^= 1;  // one bit of the object
  write_bytes(file, flipped);
  EXPECT_EQ(cache.load("key"), std::nullopt);

  write_bytes(file, good.substr(0, good.size() - 1));  // truncated
  EXPECT_EQ(cache.load("key"), std::nullopt);
  write_bytes(file, good + "x");  // trailing bytes
  EXPECT_EQ(cache.load("key"), std::nullopt);
  write_bytes(file, good.substr(0, 20));  // a header cut short
  EXPECT_EQ(cache.load("key"), std::nullopt);

  write_bytes(cache.path_of("another key"), good);  // a whole entry, but for another key
  EXPECT_EQ(cache.load("another key"), std::nullopt);
  EXPECT_EQ(cache.stats().rejected, 5);

  cache.store("key", object);  // the next compile replaces the damaged entry
  EXPECT_EQ(cache.load("key"), object);
}

TEST_F(JitDiskCacheTest, WritersRacingOnOneKeyLeaveAWholeEntry) {
  JitDiskCache cache(dir_);
  std::vector<std::string> objects;
  for (char c : std::string("abcdefgh")) objects.push_back(std::string(1 << 18, c));
  std::vector<std::thread> writers;
  std::vector<std::optional<std::string>> seen(64);
  for (const std::string& o : objects)
    writers.emplace_back([&cache, &o] {
      for (int i = 0; i < 4; ++i) cache.store("shared key", o);
    });
  std::thread reader([&] {
    for (auto& s : seen) s = cache.load("shared key");
  });
  for (auto& w : writers) w.join();
  reader.join();
  const std::set<std::string> valid(objects.begin(), objects.end());
  for (const auto& s : seen) {
    if (s) {
      EXPECT_TRUE(valid.count(*s)) << "a partial or mixed entry was loaded";
    }
  }
  ASSERT_TRUE(cache.load("shared key"));
  EXPECT_TRUE(valid.count(*cache.load("shared key")));
  EXPECT_EQ(cache.stats().rejected, 0);
  for (const auto& e : fs::directory_iterator(dir_))  // no temporary file left behind
    EXPECT_EQ(e.path().extension(), ".o") << e.path();
}

// A writer killed between writing and renaming leaves tmp-<pid>-XXXXXX behind; an hour-old one is
// deleted by the next process's first store, while a fresh one (a live writer's) is left alone.
TEST_F(JitDiskCacheTest, TheFirstStoreDeletesTemporaryFilesLeftByKilledWriters) {
  fs::create_directories(dir_);
  const fs::path stale = dir_ / "tmp-123-abcdef", fresh = dir_ / "tmp-456-ghijkl";
  write_bytes(stale, "half an object");
  write_bytes(fresh, "half an object");
  fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(2));
  JitDiskCache cache(dir_);
  ASSERT_EQ(cache.load("key"), std::nullopt);  // loading does not sweep
  EXPECT_TRUE(fs::exists(stale));
  cache.store("key", "object");
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(fresh));
  EXPECT_EQ(cache.load("key"), "object");
}

TEST_F(JitDiskCacheTest, AnEmptyDirectoryIsACacheThatIsOff) {
  JitDiskCache off{fs::path()};
  EXPECT_FALSE(off.enabled());
  off.store("k", "v");
  EXPECT_EQ(off.load("k"), std::nullopt);
}

}  // namespace
}  // namespace weft::llvm_backend
