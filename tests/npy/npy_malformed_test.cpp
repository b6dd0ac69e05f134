// Malformed and unsupported .npy files: each is a weft::Error that names the file and what is
// wrong, never a crash and never a read outside the bytes given.
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

/// A version 1.0 file with header `dict` (unpadded) followed by `data`.
std::string npy(const std::string& dict, const std::string& data = "") {
  std::string header = dict + "\n";
  return std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(header.size() & 0xff) +
         static_cast<char>(header.size() >> 8) + header + data;
}

std::string f32_dict(const std::string& shape) {
  return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
}

/// The message of the error parsing `file` throws, or "" if it parses.
std::string error_of(const std::string& file) {
  std::vector<std::byte> bytes(file.size());
  if (!file.empty()) std::memcpy(bytes.data(), file.data(), file.size());
  try {
    parse_npy(bytes, "bad.npy");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_NPY_ERROR(file, fragment)                                            \
  do {                                                                              \
    std::string message = error_of(file);                                           \
    EXPECT_EQ(message.rfind("bad.npy: ", 0), 0u) << message;                        \
    EXPECT_NE(message.find(fragment), std::string::npos) << "message: " << message; \
  } while (0)

TEST(NpyMalformed, TheHelperBuildsAValidFile) { EXPECT_EQ(error_of(npy(f32_dict("(2,)"), std::string(8, '\0'))), ""); }

TEST(NpyMalformed, WrongMagicOrVersionIsRejected) {
  EXPECT_NPY_ERROR("", "not a .npy file");
  EXPECT_NPY_ERROR("PK\x03\x04 a zip file", "not a .npy file");
  EXPECT_NPY_ERROR(std::string("\x93NUMPY", 6), "ends inside the version bytes");
  EXPECT_NPY_ERROR(std::string("\x93NUMPY\x04\x00\x10\x00", 10), "version 4.0 is not supported");
  EXPECT_NPY_ERROR(std::string("\x93NUMPY\x01\x01\x10\x00", 10), "version 1.1 is not supported");
  EXPECT_NPY_ERROR(std::string("\x93NUMPY\x00\x00\x10\x00", 10), "version 0.0 is not supported");
}

TEST(NpyMalformed, AHeaderLengthBeyondTheFileOrTheLimitIsRejected) {
  EXPECT_NPY_ERROR(std::string("\x93NUMPY\x01\x00\x10", 9), "ends inside the 2-byte header length");
  EXPECT_NPY_ERROR(std::string("\x93NUMPY\x02\x00\x10\x00", 10), "ends inside the 4-byte header length");
  EXPECT_NPY_ERROR(std::string("\x93NUMPY\x01\x00\x10\x00{}", 12), "the header claims 16 bytes, but only 2 follow");
  EXPECT_NPY_ERROR(std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12), "claims 4294967295 bytes, more than");
}

TEST(NpyMalformed, FortranOrderIsRejectedWithTheFix) {
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", std::string(16, '\0')),
                   "Fortran-order (column-major) arrays are not supported; save a C-order copy");
}

TEST(NpyMalformed, UnsupportedDtypesNameTheDtypeAndWhatIsSupported) {
  EXPECT_NPY_ERROR(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "abcd"),
                   "big-endian data ('>f4') is not supported");
  EXPECT_NPY_ERROR(npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }", "a"),
                   "uint8 data ('|u1') is not supported");
  EXPECT_NPY_ERROR(npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "abcdefgh"),
                   "dtype '<c8' is not supported (Weft reads <f4 <f8 <f2 <i4 <i8 |b1)");
  EXPECT_NPY_ERROR(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "abcd"),
                   "structured (record) dtypes are not supported");
}

TEST(NpyMalformed, KeysMustBeExactlyDescrFortranOrderAndShape) {
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False, }"), "has no 'shape' key");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (), }", "abcd"),
                   "the key 'descr' twice");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}", "abcd"),
                   "a value for 'extra'");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': True}", "abcd"),
                   "unknown key 'extra'");
  EXPECT_NPY_ERROR(npy("{'descr': True, 'fortran_order': False, 'shape': (), }", "abcd"), "'descr' must be a string");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': 'no', 'shape': (), }", "abcd"),
                   "'fortran_order' must be True or False");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False, 'shape': '2', }", "abcd"), "'shape' must be a tuple");
}

TEST(NpyMalformed, HeaderSyntaxErrorsSayWhatWasExpectedAndWhere) {
  EXPECT_NPY_ERROR(npy("descr: <f4"), "expected the header to start with '{' at byte 0");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), } x"),
                   "nothing but spaces after the closing '}'");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4"), "the closing ' of the string");
  EXPECT_NPY_ERROR(npy("{'descr' '<f4'}"), "':' after the key");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4' 'shape': ()}"), "',' or '}' after a value");
  EXPECT_NPY_ERROR(npy("{'de\\scr': '<f4'}"), "a string without backslash escapes");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3"), "',' or ')' in the shape tuple");
  EXPECT_NPY_ERROR(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }"), "a non-negative integer dim");
}

TEST(NpyMalformed, ShapesMustBeTuplesOfNonNegativeIntegersThatFit) {
  EXPECT_NPY_ERROR(npy(f32_dict("(3)"), std::string(12, '\0')), "',' after the only dim of a one-dim shape");
  EXPECT_NPY_ERROR(npy(f32_dict("(2, -1)")), "non-negative integers, but one is negative");
  EXPECT_NPY_ERROR(npy(f32_dict("(99999999999999999999,)")), "does not fit in 64 bits");
  EXPECT_NPY_ERROR(npy(f32_dict("(4294967296, 4294967296)")), "the shape (4294967296, 4294967296) is too large");
  std::string rank65 = "(";
  for (int i = 0; i < 65; ++i) rank65 += "1, ";
  EXPECT_NPY_ERROR(npy(f32_dict(rank65 + ")"), "abcd"), "more than 64 dims");
}

TEST(NpyMalformed, TheDataMustBeExactlyWhatTheHeaderSays) {
  EXPECT_NPY_ERROR(npy(f32_dict("(2, 3)"), std::string(20, '\0')),
                   "the .npy header says <f4 (2, 3) (24 bytes of data), but the file has 20 bytes after the header "
                   "(truncated)");
  EXPECT_NPY_ERROR(npy(f32_dict("(2,)"), std::string(9, '\0')), "has 9 bytes after the header (trailing bytes)");
}

TEST(NpyMalformed, EveryTruncationOfAValidFileIsAnError) {
  std::string file = npy(f32_dict("(2, 3)"), std::string(24, '\x01'));
  for (size_t n = 0; n < file.size(); ++n) EXPECT_NE(error_of(file.substr(0, n)), "") << "prefix of " << n << " bytes";
}

TEST(NpyMalformed, EveryByteOfTheHeaderReplacedGivesAValueOrAnError) {
  // Parses or throws weft::Error (error_of catches only that); a crash or other exception fails.
  std::string file = npy(f32_dict("(2, 3)"), std::string(24, '\x01'));
  for (size_t i = 0; i < file.size() - 24; ++i)
    for (int c : std::initializer_list<int>{0, '\'', '(', ')', ',', '{', '}', '9', 'L', 0x80, 0xff}) {
      std::string mutated = file;
      mutated[i] = static_cast<char>(c);
      EXPECT_NO_THROW(error_of(mutated)) << "byte " << i << " = " << c;
    }
}

TEST(NpyMalformed, ReadingATruncatedFileFromDiskIsAnErrorNamingIt) {
  fs::path path = fs::temp_directory_path() / "weft_npy_truncated.npy";
  std::string file = npy(f32_dict("(2, 3)"), std::string(24, '\x01'));
  for (size_t n : {size_t{0}, size_t{5}, size_t{9}, size_t{11}, size_t{30}, file.size() - 1}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << file.substr(0, n);
    try {
      read_npy(path.string());
      ADD_FAILURE() << "no error for a prefix of " << n << " bytes";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(path.string() + ": ", 0), 0u) << e.what();
    }
  }
  fs::remove(path);
}

}  // namespace
}  // namespace weft
