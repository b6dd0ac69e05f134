/** \file
 * safetensors I/O: round trips, the exact bytes the writer produces, a table of lying files that the
 * reader must reject with a precise message, every truncation of a valid file, and atomic writes.
 */
#include "ir/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ir/error.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

std::vector<std::byte> to_bytes(const std::string& s) {
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

/// A file with the given header-length prefix, header text and data bytes — the prefix need not
/// agree with the header, which is the point.
std::vector<std::byte> raw_file(uint64_t header_length, const std::string& header, size_t data_bytes) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((header_length >> (8 * i)) & 0xff));
  s += header;
  s.append(data_bytes, '\x01');
  return to_bytes(s);
}

/// A well-framed file: the prefix holds the header's true length.
std::vector<std::byte> framed_file(const std::string& header, size_t data_bytes) {
  return raw_file(header.size(), header, data_bytes);
}

template <typename T>
std::vector<std::byte> bytes_of(const std::vector<T>& values) {
  std::vector<std::byte> out(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

std::string error_of(const std::vector<std::byte>& bytes) {
  try {
    parse_safetensors(bytes, "bad.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

SafetensorsFile sample_file() {
  SafetensorsFile f;
  f.tensors.push_back({"encoder.weight", DType::f32, {2, 3}, bytes_of<float>({1, 2, 3, 4, 5, 6.5f})});
  f.tensors.push_back({"tokens", DType::i64, {4}, bytes_of<int64_t>({-1, 0, 7, int64_t{1} << 40})});
  f.tensors.push_back({"mask", DType::boolean, {3}, bytes_of<uint8_t>({1, 0, 1})});
  f.tensors.push_back({"scale", DType::f64, {}, bytes_of<double>({0.125})});
  f.tensors.push_back({"half", DType::f16, {2}, bytes_of<uint16_t>({0x3c00, 0xc000})});
  f.tensors.push_back({"brain", DType::bf16, {1, 1}, bytes_of<uint16_t>({0x3f80})});
  f.tensors.push_back({"count", DType::i32, {2}, bytes_of<int32_t>({-5, 9})});
  f.tensors.push_back({"empty", DType::f32, {0, 5}, {}});
  f.metadata = {{"format", "pt"}, {"step", "1200"}};
  return f;
}

void expect_same(const SafetensorsFile& a, const SafetensorsFile& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    SCOPED_TRACE(a.tensors[i].name);
    EXPECT_EQ(a.tensors[i].name, b.tensors[i].name);
    EXPECT_EQ(a.tensors[i].dtype, b.tensors[i].dtype);
    EXPECT_EQ(a.tensors[i].shape, b.tensors[i].shape);
    EXPECT_EQ(a.tensors[i].data, b.tensors[i].data);
  }
  EXPECT_EQ(a.metadata, b.metadata);
}

/// A fresh, empty directory for one test, removed afterwards.
class TempDir {
 public:
  explicit TempDir(const std::string& tag)
      : path_(fs::temp_directory_path() / ("weft_safetensors_" + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path_)) names.push_back(e.path().filename().string());
    return names;
  }

 private:
  fs::path path_;
};

TEST(Safetensors, SerializesTheExactBytesOfTheFormat) {
  SafetensorsFile f;
  f.tensors.push_back({"w", DType::f32, {1}, bytes_of<float>({1.0f})});
  const std::string header = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  ASSERT_EQ(header.size(), 54u);  // padded with two spaces to 56, a multiple of 8
  const std::vector<std::byte> expected =
      to_bytes(std::string("\x38\0\0\0\0\0\0\0", 8) + header + "  " + std::string("\x00\x00\x80\x3f", 4));
  EXPECT_EQ(serialize_safetensors(f), expected);
}

TEST(Safetensors, RoundTripsEveryDTypeAndMetadataThroughADiskFile) {
  TempDir dir("roundtrip");
  const std::string path = (dir.path() / "model.safetensors").string();
  const SafetensorsFile original = sample_file();
  write_safetensors_atomic(path, original);
  const SafetensorsFile back = read_safetensors(path);
  expect_same(original, back);
  ASSERT_NE(back.find("tokens"), nullptr);
  EXPECT_EQ(back.find("tokens")->shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(back.find("nonexistent"), nullptr);
}

TEST(Safetensors, ReadsAFileInThePythonWritersLayout) {
  // Keys sorted, __metadata__ last, data packed in key order: what tests/golden's script writes.
  const std::string header =
      R"({"__metadata__":{"source":"torch"},"a":{"data_offsets":[0,8],"dtype":"I32","shape":[2]},)"
      R"("b":{"data_offsets":[8,9],"dtype":"BOOL","shape":[]}})";
  std::vector<std::byte> bytes = framed_file(header, 0);
  for (uint8_t b : {3, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 1}) bytes.push_back(std::byte{b});
  const SafetensorsFile f = parse_safetensors(bytes, "python.safetensors");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].name, "a");
  EXPECT_EQ(f.tensors[0].dtype, DType::i32);
  EXPECT_EQ(f.tensors[0].data, bytes_of<int32_t>({3, -2}));
  EXPECT_EQ(f.tensors[1].dtype, DType::boolean);
  EXPECT_TRUE(f.tensors[1].shape.empty());
  EXPECT_EQ(f.metadata.at("source"), "torch");
}

TEST(Safetensors, ReadsTheCommittedGoldenFiles) {
  const fs::path golden = fs::path(WEFT_SOURCE_DIR) / "tests" / "golden";
  int files = 0;
  if (fs::exists(golden))
    for (const auto& e : fs::directory_iterator(golden))
      if (e.path().extension() == ".safetensors") {
        SCOPED_TRACE(e.path().string());
        const SafetensorsFile f = read_safetensors(e.path().string());
        EXPECT_FALSE(f.tensors.empty());
        ++files;
      }
  if (files == 0) GTEST_SKIP() << "no golden files yet";
}

struct LyingFile {
  const char* name;
  std::vector<std::byte> bytes;
  const char* expected;  // a substring of the error message
};

TEST(Safetensors, RejectsEveryKindOfLyingFileWithAPreciseMessage) {
  const std::string x6 = R"({"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
  const std::vector<LyingFile> cases = {
      {"shorter than the length prefix", to_bytes(std::string("\x05\0\0", 3)), "file is 3 bytes, too short"},
      {"header length past end of file", raw_file(100, "{}", 0),
       "header length 100 runs past the end of the file (2 bytes follow the length)"},
      {"absurd header length", raw_file(uint64_t{1} << 40, "{}", 0), "exceeds the limit of 100000000 bytes"},
      {"malformed JSON", framed_file(R"({"x": {"dtype": )", 0), "header is not valid JSON"},
      {"header is not an object", framed_file("[1, 2]", 0), "header must be a JSON object, not array"},
      {"unknown dtype", framed_file(R"({"x":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}})", 1),
       "tensor 'x': unknown dtype 'I8'"},
      {"dtype not a string", framed_file(R"({"x":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4),
       "tensor 'x': dtype must be a string"},
      {"negative dim", framed_file(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
       "tensor 'x': shape [-1] has a dim that is not a non-negative integer: -1"},
      {"fractional dim", framed_file(R"({"x":{"dtype":"F32","shape":[2.5],"data_offsets":[0,4]}})", 4),
       "not a non-negative integer: 2.5"},
      {"shape product overflow",
       framed_file(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4),
       "tensor 'x': f32[4294967296, 4294967296] has more bytes than fit in 64 bits"},
      {"offsets past end", framed_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
       "tensor 'x': data_offsets [0, 8] run past the end of the data region (4 bytes)"},
      {"begin after end", framed_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
       "tensor 'x': data_offsets [8, 4] begin after they end"},
      {"byte count disagrees with dtype and shape",
       framed_file(R"({"x":{"dtype":"F32","shape":[2,3],"data_offsets":[0,12]}})", 12),
       "bad.safetensors: tensor 'x': data_offsets [0, 12] hold 12 bytes but f32[2, 3] needs 24"},
      {"overlapping tensors",
       framed_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                   12),
       "tensor 'b': data_offsets [4, 12] overlap tensor 'a' at [0, 8]"},
      {"hole between tensors",
       framed_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                   R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                   12),
       "bytes [4, 8) of the data region belong to no tensor (a hole before tensor 'b')"},
      {"trailing bytes", framed_file(x6, 28), "bytes [24, 28) of the data region belong to no tensor"},
      {"data but no tensors", framed_file("{}", 3), "bytes [0, 3) of the data region belong to no tensor"},
      {"duplicate tensor name",
       framed_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                   R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                   8),
       "tensor 'a' appears twice"},
      {"duplicate key inside an entry",
       framed_file(R"({"a":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}})", 4),
       "key 'dtype' appears twice"},
      {"missing data_offsets", framed_file(R"({"x":{"dtype":"F32","shape":[1]}})", 4),
       "tensor 'x': missing 'data_offsets'"},
      {"three offsets", framed_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 4),
       "data_offsets must be two non-negative integers"},
      {"unexpected key", framed_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"z":1}})", 4),
       "tensor 'x': unexpected key 'z'"},
      {"entry not an object", framed_file(R"({"x":[1]})", 0), "tensor 'x': header entry must be a JSON object"},
      {"metadata value not a string", framed_file(R"({"__metadata__":{"step":12}})", 0),
       "__metadata__ 'step' must be a string, not number"},
      {"absurd nesting", framed_file(std::string(100, '[') + std::string(100, ']'), 0), "nests deeper than 16"},
      {"invalid UTF-8 in a name", framed_file("{\"\xff\":{}}", 0), "not valid JSON"},
  };
  for (const LyingFile& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string message = error_of(c.bytes);
    EXPECT_NE(message.find(c.expected), std::string::npos) << "message: " << message;
    EXPECT_EQ(message.rfind("bad.safetensors: ", 0), 0u) << "message: " << message;
  }
}

TEST(Safetensors, RejectsEveryProperPrefixOfAValidFile) {
  const std::vector<std::byte> full = serialize_safetensors(sample_file());
  for (size_t n = 0; n < full.size(); ++n) {
    const std::span<const std::byte> prefix(full.data(), n);
    EXPECT_THROW(parse_safetensors(prefix, "prefix"), Error) << "prefix length " << n;
  }
  expect_same(parse_safetensors(full, "full"), sample_file());
}

TEST(Safetensors, EverySingleByteCorruptionIsRejectedOrParsedWithoutCrashing) {
  // Only weft::Error may escape; anything else (or a crash under ASan) is a bug.
  const std::vector<std::byte> good = serialize_safetensors(sample_file());
  for (size_t i = 0; i < good.size(); ++i)
    for (uint8_t v : {0x00, 0x22, 0x2c, 0x39, 0x5d, 0x7d, 0xff}) {
      std::vector<std::byte> bad = good;
      bad[i] = std::byte{v};
      try {
        const SafetensorsFile f = parse_safetensors(bad, "corrupt");
        for (const auto& t : f.tensors) EXPECT_LE(t.data.size(), bad.size());
      } catch (const Error&) {
      }
    }
}

TEST(Safetensors, ReadReportsAMissingFileByPath) {
  try {
    read_safetensors("/nonexistent/dir/weights.safetensors");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/weights.safetensors: cannot open"), std::string::npos)
        << e.what();
  }
}

TEST(Safetensors, SerializeRejectsATensorWhoseBytesDisagreeWithItsShape) {
  SafetensorsFile f;
  f.tensors.push_back({"w", DType::f32, {2, 2}, bytes_of<float>({1, 2, 3})});
  try {
    serialize_safetensors(f);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'w': holds 12 bytes but f32[2, 2] needs 16"), std::string::npos)
        << e.what();
  }
}

TEST(Safetensors, SerializeRejectsDuplicateAndReservedNames) {
  SafetensorsFile dup;
  dup.tensors.push_back({"w", DType::f32, {1}, bytes_of<float>({1})});
  dup.tensors.push_back({"w", DType::f32, {1}, bytes_of<float>({2})});
  EXPECT_THROW(serialize_safetensors(dup), Error);
  SafetensorsFile reserved;
  reserved.tensors.push_back({"__metadata__", DType::f32, {1}, bytes_of<float>({1})});
  EXPECT_THROW(serialize_safetensors(reserved), Error);
}

TEST(SafetensorsAtomicWrite, AFailureMidWriteLeavesTheOldFileIntactAndNoTempFile) {
  TempDir dir("atomic_fail");
  const std::string path = (dir.path() / "ckpt.safetensors").string();
  SafetensorsFile old_file;
  old_file.tensors.push_back({"step", DType::i64, {1}, bytes_of<int64_t>({41})});
  write_safetensors_atomic(path, old_file);

  // 10,000 doubles: the write goes out in several chunks, and the hook fails after the first.
  SafetensorsFile new_file;
  new_file.tensors.push_back({"big", DType::f64, {100, 100}, bytes_of<double>(std::vector<double>(10000, 2.5))});
  std::vector<size_t> progress;
  auto fail_after_first_chunk = [&](size_t written) {
    progress.push_back(written);
    if (written >= 1) throw std::runtime_error("disk full (simulated)");
  };
  EXPECT_THROW(write_safetensors_atomic(path, new_file, fail_after_first_chunk), std::runtime_error);
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_LT(progress[0], serialize_safetensors(new_file).size());  // it really failed part-way

  expect_same(read_safetensors(path), old_file);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt.safetensors"});
}

TEST(SafetensorsAtomicWrite, ASuccessfulWriteReplacesTheOldFile) {
  TempDir dir("atomic_ok");
  const std::string path = (dir.path() / "ckpt.safetensors").string();
  SafetensorsFile old_file;
  old_file.tensors.push_back({"step", DType::i64, {1}, bytes_of<int64_t>({41})});
  write_safetensors_atomic(path, old_file);
  size_t calls = 0;
  write_safetensors_atomic(path, sample_file(), [&](size_t) { ++calls; });
  EXPECT_GE(calls, 1u);
  expect_same(read_safetensors(path), sample_file());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt.safetensors"});
}

TEST(SafetensorsAtomicWrite, AnInvalidFileIsRejectedBeforeTheDiskIsTouched) {
  TempDir dir("atomic_invalid");
  const std::string path = (dir.path() / "ckpt.safetensors").string();
  SafetensorsFile old_file;
  old_file.tensors.push_back({"step", DType::i64, {1}, bytes_of<int64_t>({41})});
  write_safetensors_atomic(path, old_file);
  SafetensorsFile bad;
  bad.tensors.push_back({"w", DType::f32, {2}, bytes_of<float>({1})});
  EXPECT_THROW(write_safetensors_atomic(path, bad), Error);
  expect_same(read_safetensors(path), old_file);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt.safetensors"});
}

TEST(SafetensorsAtomicWrite, AMissingDirectoryIsAClearError) {
  try {
    write_safetensors_atomic("/nonexistent/dir/ckpt.safetensors", sample_file());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/ckpt.safetensors: cannot create a temporary file"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace weft
