// The .npy writer against bytes NumPy wrote, and round trips of every dtype at ranks 0 to 4.
//
// The expected bytes come from NumPy 1.24.2 (`np.save` into a BytesIO, and
// `np.lib.format.write_array(f, a, version=(2, 0))` / `(3, 0)`), copied here as literals.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ir/error.h"
#include "runtime/npy.h"

namespace weft {
namespace {

namespace fs = std::filesystem;

std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> out(s.size());
  if (!s.empty()) std::memcpy(out.data(), s.data(), s.size());
  return out;
}

std::string string_of(const std::vector<std::byte>& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

/// A .npy header as NumPy lays it out: preamble, dict, `spaces` spaces, a newline.
std::string numpy_header(const std::string& preamble, const std::string& dict, size_t spaces) {
  return preamble + dict + std::string(spaces, ' ') + "\n";
}

const std::string kV1 = std::string("\x93NUMPY\x01\x00\x76\x00", 10);          // version 1.0, header 118 bytes
const std::string kV2 = std::string("\x93NUMPY\x02\x00\x74\x00\x00\x00", 12);  // version 2.0, header 116 bytes
const std::string kV3 = std::string("\x93NUMPY\x03\x00\x74\x00\x00\x00", 12);  // version 3.0, header 116 bytes

TEST(NpyWriter, WritesExactlyTheBytesNumpyWritesForA2x3Float32Array) {
  Tensor t = Tensor::from<float>({2, 3}, {1.5f, -2.0f, 0.25f, 0.0f, 3.0f, -0.5f});
  // 1.5f = 0x3fc00000, -2.0f = 0xc0000000, 0.25f = 0x3e800000, 3.0f = 0x40400000, -0.5f = 0xbf000000.
  const std::string data(
      "\x00\x00\xc0\x3f\x00\x00\x00\xc0\x00\x00\x80\x3e"
      "\x00\x00\x00\x00\x00\x00\x40\x40\x00\x00\x00\xbf",
      24);
  std::string expected = numpy_header(kV1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 58) + data;
  ASSERT_EQ(expected.size(), 152u);
  EXPECT_EQ(string_of(serialize_npy(t)), expected);
}

TEST(NpyWriter, WritesNumpysHeaderForAScalarAVectorAndARank4Array) {
  EXPECT_EQ(string_of(serialize_npy(Tensor::from<double>({}, {2.5}))).substr(0, 128),
            numpy_header(kV1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 62));
  EXPECT_EQ(string_of(serialize_npy(Tensor::from<bool>({3}, {true, false, true}))),
            numpy_header(kV1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", 60) +
                std::string("\x01\x00\x01", 3));
  EXPECT_EQ(string_of(serialize_npy(Tensor::zeros(DType::f16, {1, 2, 3, 4}))).substr(0, 128),
            numpy_header(kV1, "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 2, 3, 4), }", 52));
  EXPECT_EQ(string_of(serialize_npy(Tensor::zeros(DType::i32, {0, 3}))),
            numpy_header(kV1, "{'descr': '<i4', 'fortran_order': False, 'shape': (0, 3), }", 58));
}

TEST(NpyWriter, EveryHeaderIsPaddedSoTheDataStartsOn64Bytes) {
  for (int64_t first : {int64_t{1}, int64_t{12}, int64_t{123456}, int64_t{1234567890123}}) {
    std::vector<std::byte> b = serialize_npy(Tensor::zeros(DType::boolean, {first, 0}));
    size_t header_end = string_of(b).find('\n') + 1;
    EXPECT_EQ(header_end % 64, 0u) << first;
  }
}

TEST(NpyWriter, RejectsBf16WhichNumpyHasNoDtypeFor) {
  try {
    serialize_npy(Tensor::zeros(DType::bf16, {2}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NumPy has no bf16 dtype"), std::string::npos) << e.what();
  }
}

TEST(NpyReader, ReadsNumpysVersion1File) {
  std::string file = numpy_header(kV1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 58) +
                     std::string(
                         "\x00\x00\xc0\x3f\x00\x00\x00\xc0\x00\x00\x80\x3e"
                         "\x00\x00\x00\x00\x00\x00\x40\x40\x00\x00\x00\xbf",
                         24);
  Tensor t = parse_npy(bytes_of(file), "a.npy");
  EXPECT_EQ(t.type_str(), "f32[2, 3]");
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1.5f, -2.0f, 0.25f, 0.0f, 3.0f, -0.5f}));
}

TEST(NpyReader, ReadsNumpysVersion2And3Files) {
  std::string v2 = numpy_header(kV2, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", 58) +
                   std::string("\x07\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff", 16);
  Tensor a = parse_npy(bytes_of(v2), "v2.npy");
  EXPECT_EQ(a.type_str(), "i64[2]");
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{7, -1}));

  // 1.0 in half precision is 0x3c00.
  std::string v3 =
      numpy_header(kV3, "{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", 58) + std::string("\x00\x3c", 2);
  Tensor b = parse_npy(bytes_of(v3), "v3.npy");
  EXPECT_EQ(b.type_str(), "f16[1]");
  EXPECT_EQ(std::memcmp(b.raw(), "\x00\x3c", 2), 0);
}

TEST(NpyReader, AcceptsAnyKeyOrderQuotingSpacingAndPython2Longs) {
  // As hand-written or older writers produce it: no padding, double quotes, (2L, 1L), no trailing comma.
  std::string dict = "{ \"shape\" : (2L,1L) ,\"fortran_order\":False,'descr':'<i4'}\n";
  std::string file = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(dict.size()) + '\0' + dict +
                     std::string("\x05\x00\x00\x00\xfb\xff\xff\xff", 8);
  Tensor t = parse_npy(bytes_of(file), "hand.npy");
  EXPECT_EQ(t.type_str(), "i32[2, 1]");
  EXPECT_EQ(t.to_vector<int32_t>(), (std::vector<int32_t>{5, -5}));
}

TEST(NpyReader, ReadsBoolBytesOtherThanOneAsTrue) {
  std::string file = numpy_header(kV1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", 60) +
                     std::string("\x00\x02\xff", 3);
  Tensor t = parse_npy(bytes_of(file), "b.npy");
  const auto* p = static_cast<const unsigned char*>(t.raw());
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[1], 1);
  EXPECT_EQ(p[2], 1);
}

/// Distinct, exactly representable values for element i of any dtype.
Tensor pattern(DType dtype, std::vector<int64_t> shape) {
  Tensor t = Tensor::zeros(dtype, std::move(shape));
  auto* bytes = static_cast<unsigned char*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = static_cast<unsigned char>((i * 37 + 11) % 251);
  if (dtype == DType::boolean)
    for (int64_t i = 0; i < t.numel(); ++i) bytes[i] = i % 3 == 1;
  return t;
}

TEST(NpyRoundTrip, EveryDtypeAtRanks0To4) {
  const std::vector<std::vector<int64_t>> shapes = {{}, {5}, {2, 3}, {2, 1, 3}, {1, 2, 3, 2}, {0, 4}};
  for (DType dtype : {DType::f32, DType::f64, DType::f16, DType::i32, DType::i64, DType::boolean}) {
    for (const auto& shape : shapes) {
      Tensor t = pattern(dtype, shape);
      Tensor back = parse_npy(serialize_npy(t), "round.npy");
      ASSERT_EQ(back.type_str(), t.type_str());
      EXPECT_EQ(std::memcmp(back.raw(), t.raw(), t.nbytes()), 0) << t.type_str();
    }
  }
}

class NpyFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("weft_npy_test_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(NpyFiles, WriteThenReadGivesTheSameTensorAndNoTemporaryFileIsLeft) {
  for (DType dtype : {DType::f32, DType::f64, DType::f16, DType::i32, DType::i64, DType::boolean}) {
    Tensor t = pattern(dtype, {3, 4});
    std::string path = (dir_ / "t.npy").string();
    write_npy(path, t);
    Tensor back = read_npy(path);
    ASSERT_EQ(back.type_str(), t.type_str());
    EXPECT_EQ(std::memcmp(back.raw(), t.raw(), t.nbytes()), 0);
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(NpyFiles, ReadsAScalarAndAnEmptyArrayFromFiles) {
  std::string path = (dir_ / "s.npy").string();
  write_npy(path, Tensor::from<int32_t>({}, {-7}));
  EXPECT_EQ(read_npy(path).to_vector<int32_t>(), std::vector<int32_t>{-7});
  write_npy(path, Tensor::zeros(DType::f32, {0}));
  EXPECT_EQ(read_npy(path).type_str(), "f32[0]");
}

TEST_F(NpyFiles, MissingFileAndDirectoryAreErrorsNamingThePath) {
  std::string missing = (dir_ / "nope.npy").string();
  try {
    read_npy(missing);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(missing + ": cannot open"), std::string::npos) << e.what();
  }
  try {
    read_npy(dir_.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("directory"), std::string::npos) << e.what();
  }
  try {
    write_npy((dir_ / "no" / "such" / "dir.npy").string(), Tensor::zeros(DType::f32, {1}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace weft
