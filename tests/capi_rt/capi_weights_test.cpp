/** \file
 * Where an instance's parameters come from: a safetensors file (weights_path) — valid ones, a table
 * of malformed or lying ones that must each fail with WEFT_ERR_WEIGHTS and a precise message, and
 * every truncation and many corruptions of a valid one, none of which may crash — the caller's
 * pointers (param_data), and a model without embedded weights (external_desc.c, loaded with dlopen
 * beside "testnet", which also shows that two models' runtimes stay apart).
 */
#include <dlfcn.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ir/safetensors.h"
#include "tests/capi_rt/capi_test_util.h"

namespace weft::capi_test {
namespace {

namespace fs = std::filesystem;

template <typename T>
std::vector<std::byte> bytes_of(const std::vector<T>& values) {
  std::vector<std::byte> out(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

/// Every parameter of "testnet", with values unlike the embedded ones: w = the identity over a
/// row of zeros, so affine gives y = x[0:3] + b with b = [1, 1, 1].
SafetensorsFile testnet_weights() {
  SafetensorsFile f;
  f.tensors.push_back({"w", DType::f32, {4, 3}, bytes_of<float>({1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0})});
  f.tensors.push_back({"b", DType::f32, {3}, bytes_of<float>({1, 1, 1})});
  f.tensors.push_back({"acc", DType::f32, {3}, bytes_of<float>({10, 20, 30})});
  f.tensors.push_back({"count", DType::i64, {}, bytes_of<int64_t>({5})});
  f.tensors.push_back({"p", DType::f32, {2}, bytes_of<float>({7, 8})});
  f.tensors.push_back({"q", DType::f32, {2}, bytes_of<float>({9, 10})});
  f.tensors.push_back({"c", DType::f32, {2}, bytes_of<float>({2, 2})});
  f.tensors.push_back({"emb", DType::f32, {5, 2}, bytes_of<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9})});
  return f;
}

/// The message of Weft's own safetensors reader (ir/safetensors.cpp) on the file at `path`, or
/// "(accepted)".
std::string cxx_reader_error(const std::string& path) {
  try {
    read_safetensors(path);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(accepted)";
}

/// Weft's own reader rejects the file at `path` with a message containing `text`.
#define EXPECT_CXX_READER_REJECTS(path, text) EXPECT_PRED2(contains, cxx_reader_error(path), text)

class CapiWeights : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("weft_capi_rt_" + std::to_string(getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string write(const std::string& name, const std::vector<std::byte>& bytes) {
    std::string path = (dir_ / name).string();
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  /// A file whose 8-byte prefix says `header_length`, then `header`, then `data` bytes of 0x01.
  std::string write_raw(uint64_t header_length, const std::string& header, size_t data) {
    std::string s;
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((header_length >> (8 * i)) & 0xff));
    s += header;
    s.append(data, '\x01');
    std::vector<std::byte> bytes(s.size());
    std::memcpy(bytes.data(), s.data(), s.size());
    return write("raw.safetensors", bytes);
  }
  std::string write_framed(const std::string& header, size_t data) { return write_raw(header.size(), header, data); }

  /// weft_create with weights_path = path: the status, the message in weft_last_error().
  int32_t create_from(const std::string& path) {
    weft_options options{};
    options.num_threads = 1;
    options.weights_path = path.c_str();
    weft_model* m = nullptr;
    int32_t rc = weft_create(&options, &m);
    weft_destroy(m);
    return rc;
  }

  fs::path dir_;
};

TEST_F(CapiWeights, LoadsEveryParameterFromASafetensorsFile) {
  SafetensorsFile file = testnet_weights();
  file.metadata = {{"format", "pt"}};
  std::string path = write("w.safetensors", serialize_safetensors(file));
  weft_options options{};
  options.weights_path = path.c_str();
  Instance inst(&options);
  ASSERT_NE(inst.m, nullptr);
  Arg x = f32({1, 4}, {1, 2, 3, 4});
  Arg y = out(WEFT_F32, {1, 3});
  EXPECT_WEFT_OK(run(inst.m, "affine", {&x}, {&y}));
  EXPECT_EQ(y.values<float>(), (std::vector<float>{2, 3, 4}));
  int64_t count = 0;
  EXPECT_WEFT_OK(weft_get_param(inst.m, "count", &count, sizeof count));
  EXPECT_EQ(count, 5);
  Arg one = f32({3}, {1, 1, 1}), total = out(WEFT_F32, {3}), steps = out(WEFT_I64, {}, 8);
  EXPECT_WEFT_OK(run(inst.m, "accumulate", {&one}, {&total, &steps}));
  EXPECT_EQ(total.values<float>(), (std::vector<float>{11, 21, 31}));
  EXPECT_EQ(steps.values<int64_t>(), (std::vector<int64_t>{6}));
}

TEST_F(CapiWeights, ReadsEscapedNamesAndEmptyObjects) {
  // "\u0077" is "w"; b's entry lists its keys in another order; __metadata__ may be empty.
  std::string header = R"({"__metadata__": {}, "\u0077": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 48]},)"
                       R"( "b": {"data_offsets": [48, 60], "shape": [3], "dtype": "F32"}})";
  // It parses, tiles its 60 bytes, and matches w and b: what fails is the next parameter.
  EXPECT_WEFT_ERROR(create_from(write_framed(header, 60)), WEFT_ERR_WEIGHTS,
                    "parameter 'acc' (f32[3]) is not in the file");
}

TEST_F(CapiWeights, RejectsMissingAndUnreadableFiles) {
  EXPECT_WEFT_ERROR(create_from((dir_ / "absent.safetensors").string()), WEFT_ERR_WEIGHTS,
                    "absent.safetensors': cannot open: No such file or directory");
  EXPECT_WEFT_ERROR(create_from(dir_.string()), WEFT_ERR_WEIGHTS, "not a regular file");
  EXPECT_WEFT_ERROR(create_from(write("short", std::vector<std::byte>(5))), WEFT_ERR_WEIGHTS,
                    "file is 5 bytes, too short for the 8-byte safetensors header length");
}

TEST_F(CapiWeights, RejectsLyingHeaderLengths) {
  EXPECT_WEFT_ERROR(create_from(write_raw(1000, "{}", 0)), WEFT_ERR_WEIGHTS,
                    "safetensors header length 1000 runs past the end of the file (2 bytes follow the length)");
  EXPECT_WEFT_ERROR(create_from(write_raw(200000000, "{}", 0)), WEFT_ERR_WEIGHTS,
                    "safetensors header length 200000000 exceeds the limit of 100000000 bytes");
}

struct BadHeader {
  const char* header;
  size_t data;
  const char* message;
};

TEST_F(CapiWeights, RejectsMalformedOrLyingHeadersWithPreciseMessages) {
  const BadHeader cases[] = {
      {R"({"w": {"dtype": "F32")", 0, "safetensors header is not valid JSON: expected ',' or '}'"},
      {R"([])", 0, "safetensors header must be a JSON object, not an array"},
      {R"({} x)", 0, "not valid JSON: invalid JSON after the header's object at byte 3"},
      {R"({"w": 3})", 0, "tensor 'w': header entry must be a JSON object, not a number"},
      {R"({"w": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 48]}})", 40,
       "tensor 'w': data_offsets [0, 48] run past the end of the data region (40 bytes)"},
      {R"({"w": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 40]}})", 40,
       "tensor 'w': data_offsets [0, 40] hold 40 bytes, but f32[4, 3] needs 48"},
      {R"({"w": {"dtype": "F32", "shape": [4, 3], "data_offsets": [48, 0]}})", 48,
       "data_offsets [48, 0] begin after they end"},
      {R"({"w": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 48]},)"
       R"( "b": {"dtype": "F32", "shape": [3], "data_offsets": [40, 52]}})",
       52, "tensor 'b': data_offsets [40, 52] overlap tensor 'w' at [0, 48]"},
      {R"({"w": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 48]},)"
       R"( "b": {"dtype": "F32", "shape": [3], "data_offsets": [52, 64]}})",
       64, "bytes [48, 52) of the data region belong to no tensor (a hole before tensor 'b')"},
      {R"({"w": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 48]}})", 50,
       "bytes [48, 50) of the data region belong to no tensor (a hole at the end)"},
      {R"({"b": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},)"
       R"( "b": {"dtype": "F32", "shape": [3], "data_offsets": [12, 24]}})",
       24, "tensor 'b' appears twice in the safetensors header"},
      {R"({"b": {"dtype": "U8", "shape": [3], "data_offsets": [0, 3]}})", 3,
       "tensor 'b': unknown dtype 'U8' (Weft reads F32, F64, F16, BF16, I32, I64 and BOOL)"},
      {R"({"b": {"dtype": 4, "shape": [3], "data_offsets": [0, 3]}})", 3,
       "tensor 'b': dtype must be a string, not a number"},
      {R"({"b": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 12]}})", 12,
       "tensor 'b': shape has a dim that is not a non-negative integer (found -1)"},
      {R"({"b": {"dtype": "F32", "shape": [3.0], "data_offsets": [0, 12]}})", 12, "(found 3.0)"},
      {R"({"b": {"dtype": "F32", "shape": ["3"], "data_offsets": [0, 12]}})", 12, "(found a string)"},
      {R"({"b": {"dtype": "F32", "shape": 3, "data_offsets": [0, 12]}})", 12,
       "tensor 'b': shape must be an array, not a number"},
      {R"({"b": {"dtype": "F32", "shape": [99999999999999999999], "data_offsets": [0, 12]}})", 12,
       "(found 99999999999999999999)"},
      {R"({"b": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12, 24]}})", 24, "(found more than two)"},
      {R"({"b": {"dtype": "F32", "shape": [3], "data_offsets": [0]}})", 12,
       "data_offsets must be two non-negative integers [begin, end] (found one)"},
      {R"({"b": {"dtype": "F32", "shape": [3]}})", 12, "tensor 'b': missing 'data_offsets'"},
      {R"({"b": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12], "foo": 1}})", 12,
       "tensor 'b': unexpected key 'foo' (an entry has only dtype, shape and data_offsets)"},
      {R"({"b": {"dtype": "F32", "dtype": "F32", "shape": [3], "data_offsets": [0, 12]}})", 12,
       "tensor 'b': key 'dtype' appears twice"},
      {R"({"": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}})", 12,
       "a tensor in the safetensors header has an empty name"},
      {R"({"b\q": {}})", 0, "a bad escape in a string"},
      {R"({"\ud800": {}})", 0, "a bad \\u escape"},
      {"{\"b\xff\": {}}", 0, "safetensors header is not valid UTF-8 at byte 3"},
      {"{\"b\x01\": {}}", 0, "a control character (0x01) in a string"},
      {R"({"b)", 0, "a string starting at byte 1 never ends"},
      {R"({"__metadata__": {"k": 1}})", 0, "__metadata__ 'k' must be a string, not a number"},
      {R"({"__metadata__": {"k": "a", "k": "b"}})", 0, "key 'k' appears twice in __metadata__"},
      {R"({"__metadata__": [], "b": {}})", 0, "__metadata__ must be a JSON object of strings, not an array"},
      {R"({"b": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},})", 12, "expected a string at byte"},
      {R"({"b" {"dtype": "F32"}})", 0, "expected ':'"},
      {R"({"b": {"dtype": "F32", "shape": [1, 01], "data_offsets": [0, 4]}})", 4, "expected ',' or ']'"},
  };
  for (const BadHeader& c : cases) {
    SCOPED_TRACE(c.header);
    std::string path = write_framed(c.header, c.data);
    EXPECT_WEFT_ERROR(create_from(path), WEFT_ERR_WEIGHTS, c.message);
    // Weft's own reader (nlohmann's JSON parser) words these its own way, but rejects each too.
    EXPECT_NE(cxx_reader_error(path), "(accepted)");
  }
}

TEST_F(CapiWeights, BothReadersRejectWhatTheFormatDoesNotAllow) {
  // One strictness for the C runtime's reader and Weft's own (ir/safetensors.cpp): the same bytes,
  // the same verdict, the same words. A NUL cannot hide a second header after the first.
  using namespace std::string_literals;
  const std::string b = R"({"b": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}})";
  struct Case {
    std::string header;
    size_t data;
    const char* message;
  };
  const Case cases[] = {
      {"\xef\xbb\xbf{}", 0, "safetensors header starts with a UTF-8 byte-order mark"},
      {"{}\0"s, 0, "safetensors header holds a NUL byte at byte 2"},
      {"{}\0{\"w\": {}}"s, 0, "safetensors header holds a NUL byte at byte 2"},
      {b + "\0"s + b, 12, "safetensors header holds a NUL byte at byte 62"},
      {"{} \t\0"s, 0, "safetensors header holds a NUL byte at byte 4"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.header);
    std::string path = write_framed(c.header, c.data);
    EXPECT_WEFT_ERROR(create_from(path), WEFT_ERR_WEIGHTS, c.message);
    EXPECT_CXX_READER_REJECTS(path, c.message);
  }
  // Trailing spaces pad a header (the format's alignment): both readers take them.
  std::string padded = write_framed(b + "    ", 12);
  EXPECT_NO_THROW(read_safetensors(padded));
  EXPECT_WEFT_ERROR(create_from(padded), WEFT_ERR_WEIGHTS, "parameter 'w' (f32[4, 3]) is not in the file");
}

TEST_F(CapiWeights, RejectsTensorsThatDoNotMatchTheModel) {
  SafetensorsFile wrong_dtype = testnet_weights();
  wrong_dtype.tensors[0].dtype = DType::i32;
  EXPECT_WEFT_ERROR(create_from(write("a", serialize_safetensors(wrong_dtype))), WEFT_ERR_WEIGHTS,
                    "tensor 'w' is i32[4, 3], but the model's parameter 'w' is f32[4, 3]");
  SafetensorsFile wrong_shape = testnet_weights();
  wrong_shape.tensors[0].shape = {3, 4};
  EXPECT_WEFT_ERROR(create_from(write("b", serialize_safetensors(wrong_shape))), WEFT_ERR_WEIGHTS,
                    "tensor 'w' is f32[3, 4], but the model's parameter 'w' is f32[4, 3]");
  SafetensorsFile extra = testnet_weights();
  extra.tensors.push_back({"unused.extra", DType::i32, {2}, bytes_of<int32_t>({1, 2})});
  EXPECT_WEFT_ERROR(create_from(write("d", serialize_safetensors(extra))), WEFT_ERR_WEIGHTS,
                    "the file has tensor 'unused.extra', which is not a parameter of model 'testnet'");
  SafetensorsFile missing = testnet_weights();
  missing.tensors.erase(missing.tensors.begin() + 1);
  EXPECT_WEFT_ERROR(create_from(write("c", serialize_safetensors(missing))), WEFT_ERR_WEIGHTS,
                    "parameter 'b' (f32[3]) is not in the file");
}

TEST_F(CapiWeights, EveryTruncationAndCorruptionFailsCleanly) {
  const std::vector<std::byte> valid = serialize_safetensors(testnet_weights());
  ASSERT_EQ(create_from(write("valid", valid)), WEFT_OK) << weft_last_error();
  for (size_t n = 0; n < valid.size(); ++n) {
    std::vector<std::byte> prefix(valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(n));
    int32_t rc = create_from(write("cut", prefix));
    ASSERT_EQ(rc, WEFT_ERR_WEIGHTS) << "truncated to " << n << " bytes: " << weft_last_error();
  }
  uint32_t state = 12345;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  int ok = 0;
  for (int i = 0; i < 1500; ++i) {
    std::vector<std::byte> bytes = valid;
    for (int flips = 1 + static_cast<int>(next() % 3); flips > 0; --flips)
      bytes[next() % bytes.size()] = static_cast<std::byte>(next() >> 24);
    int32_t rc = create_from(write("flip", bytes));
    ASSERT_TRUE(rc == WEFT_OK || rc == WEFT_ERR_WEIGHTS) << weft_status_name(rc) << ": " << weft_last_error();
    ok += rc == WEFT_OK;
  }
  EXPECT_LT(ok, 1500);  // most corruptions are caught; those in the data region load other values
}

// ---- the caller's pointers

TEST_F(CapiWeights, UsesTheCallersMemoryInPlace) {
  float w[12] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}, b[3] = {0, 0, 0}, acc[3] = {1, 1, 1}, p[2] = {}, q[2] = {},
        c[2] = {}, emb[10] = {};
  int64_t count = 100;
  void* ptrs[8] = {w, b, acc, &count, p, q, c, emb};
  weft_options options{};
  options.param_data = ptrs;
  Instance inst(&options);
  Arg x = f32({3}, {1, 2, 3}), total = out(WEFT_F32, {3}), steps = out(WEFT_I64, {}, 8);
  EXPECT_WEFT_OK(run(inst.m, "accumulate", {&x}, {&total, &steps}));
  EXPECT_EQ(std::vector<float>(acc, acc + 3), (std::vector<float>{2, 3, 4}));  // written where the caller holds it
  EXPECT_EQ(count, 101);
  w[9] = 1;  // a row of ones: the instance sees the caller's change
  Arg xa = f32({1, 4}, {1, 2, 3, 4}), y = out(WEFT_F32, {1, 3});
  EXPECT_WEFT_OK(run(inst.m, "affine", {&xa}, {&y}));
  EXPECT_EQ(y.values<float>(), (std::vector<float>{5, 2, 3}));
}

TEST_F(CapiWeights, RefusesAnOutputThatSharesMemoryWithACallersParameter) {
  // y = x·w + b would be computed into b itself (2 × (result − b) before this check): refused, and
  // neither the parameter nor anything else is written.
  float w[12] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}, b[3] = {0.5f, -1, 2}, acc[3] = {}, p[2] = {}, q[2] = {},
        c[2] = {}, emb[10] = {};
  int64_t count = 0;
  void* ptrs[8] = {w, b, acc, &count, p, q, c, emb};
  weft_options options{};
  options.param_data = ptrs;
  Instance inst(&options);
  Arg x = f32({1, 4}, {1, 2, 3, 4});
  weft_tensor in = x.view();
  int64_t shape[2] = {1, 3};
  weft_tensor y{WEFT_F32, 2, shape, b};
  EXPECT_WEFT_ERROR(weft_run(inst.m, entry("affine"), &in, 1, &y, 1), WEFT_ERR_INVALID_VALUE,
                    "weft_run(affine): output 'y' shares memory with parameter 'b'");
  EXPECT_EQ(std::vector<float>(b, b + 3), (std::vector<float>{0.5f, -1, 2}));
  float apart[3] = {};
  y.data = apart;
  EXPECT_WEFT_OK(weft_run(inst.m, entry("affine"), &in, 1, &y, 1));
  EXPECT_EQ(std::vector<float>(apart, apart + 3), (std::vector<float>{1.5f, 1, 5}));
}

TEST_F(CapiWeights, RejectsANullParameterPointer) {
  float buffer[12] = {};
  void* ptrs[8] = {buffer, nullptr, buffer, buffer, buffer, buffer, buffer, buffer};
  weft_options options{};
  options.param_data = ptrs;
  weft_model* m = nullptr;
  EXPECT_WEFT_ERROR(weft_create(&options, &m), WEFT_ERR_NULL_ARGUMENT,
                    "param_data[1] (parameter 'b', 12 bytes) is NULL");
  EXPECT_EQ(m, nullptr);
}

TEST_F(CapiWeights, ReadsTheFileIntoTheCallersMemoryWhenGivenBoth) {
  std::string path = write("w.safetensors", serialize_safetensors(testnet_weights()));
  float w[12], b[3], acc[3], p[2], q[2], c[2], emb[10];
  int64_t count = 0;
  void* ptrs[8] = {w, b, acc, &count, p, q, c, emb};
  weft_options options{};
  options.param_data = ptrs;
  options.weights_path = path.c_str();
  Instance inst(&options);
  EXPECT_EQ(std::vector<float>(acc, acc + 3), (std::vector<float>{10, 20, 30}));
  EXPECT_EQ(count, 5);
}

// ---- a model without embedded weights, loaded beside this one

struct ExternalModel {
  void* lib = dlopen(WEFT_CAPI_EXTERNAL_LIB, RTLD_NOW | RTLD_LOCAL);
  template <typename F>
  F* get(const char* name) {
    return reinterpret_cast<F*>(dlsym(lib, name));
  }
  ~ExternalModel() {
    if (lib) dlclose(lib);
  }
};

TEST_F(CapiWeights, AModelWithoutEmbeddedWeightsNeedsAFileOrPointers) {
  ExternalModel ext;
  ASSERT_NE(ext.lib, nullptr) << dlerror();
  auto* name = ext.get<decltype(weft_model_name)>("weft_model_name");
  auto* create = ext.get<decltype(weft_create)>("weft_create");
  auto* destroy = ext.get<decltype(weft_destroy)>("weft_destroy");
  auto* run_ext = ext.get<decltype(weft_run)>("weft_run");
  auto* last_error = ext.get<decltype(weft_last_error)>("weft_last_error");
  ASSERT_TRUE(name && create && destroy && run_ext && last_error);
  EXPECT_STREQ(name(), "external");
  EXPECT_STREQ(weft_model_name(), "testnet");  // each shared object keeps its own tables

  weft_find_entry("none", nullptr);  // leaves a message in testnet's runtime
  weft_model* m = nullptr;
  EXPECT_EQ(create(nullptr, &m), WEFT_ERR_WEIGHTS);
  EXPECT_TRUE(contains(last_error(), "model 'external' has no embedded weights (parameter 'w' is external"))
      << last_error();
  EXPECT_TRUE(contains(weft_last_error(), "weft_find_entry")) << weft_last_error();

  float w[2] = {3, 4};
  int64_t n = 41;
  void* ptrs[2] = {w, &n};
  weft_options options{};
  options.param_data = ptrs;
  ASSERT_EQ(create(&options, &m), WEFT_OK) << last_error();
  Arg y = out(WEFT_F32, {2});
  weft_tensor yt = y.view();
  EXPECT_EQ(run_ext(m, 0, nullptr, 0, &yt, 1), WEFT_OK) << last_error();
  EXPECT_EQ(y.values<float>(), (std::vector<float>{3, 4}));
  Arg n_out = out(WEFT_I64, {}, 8);
  weft_tensor nt = n_out.view();
  EXPECT_EQ(run_ext(m, 1, nullptr, 0, &nt, 1), WEFT_OK) << last_error();
  EXPECT_EQ(n_out.values<int64_t>()[0], 42);
  EXPECT_EQ(n, 42);
  destroy(m);

  SafetensorsFile file;
  file.tensors.push_back({"w", DType::f32, {2}, bytes_of<float>({5, 6})});
  file.tensors.push_back({"n", DType::i64, {}, bytes_of<int64_t>({7})});
  std::string path = write("ext.safetensors", serialize_safetensors(file));
  weft_options from_file{};
  from_file.weights_path = path.c_str();
  ASSERT_EQ(create(&from_file, &m), WEFT_OK) << last_error();
  EXPECT_EQ(run_ext(m, 0, nullptr, 0, &yt, 1), WEFT_OK) << last_error();
  EXPECT_EQ(y.values<float>(), (std::vector<float>{5, 6}));
  destroy(m);
}

}  // namespace
}  // namespace weft::capi_test
