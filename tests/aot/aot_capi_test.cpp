// The C API of a compiled model: every bad argument is an error code with a message (never a
// crash), weights come embedded, from a file or from the caller's pointers, instances run in
// parallel without locks, and the shared object exports only the API and needs only libc, libm and
// libpthread.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "frontend/builder.h"
#include "frontend/nn/nn.h"
#include "frontend/tensor_ops.h"
#include "ir/safetensors.h"
#include "tests/aot/aot_testing.h"

namespace weft::aot_tests {
namespace {

using dsl::Tensor;
using Host = weft::Tensor;

/// y = fc(x) over a [B<=8, T<=5, 6] input, plus a per-row i64 count (B-long) for a second output.
Graph seq_model() {
  Builder b("forward");
  Tensor x = b.input("x", "f32[B<=8, T<=5, 6]");
  nn::Linear fc(b, "fc", 6, 4);
  b.output("y", tanh(fc(x)));
  return b.finish();
}

struct CApi : ::testing::Test {
  static void SetUpTestSuite() {
    // One directory per process: ctest runs each test of the suite as a process of its own, in
    // parallel, and two of them compiling into one directory race (a failed SetUpTestSuite then
    // shows as a skipped test, not a failure).
    dir = new fs::path(fs::path(WEFT_BINARY_DIR) / "aot_tests" / fmt::format("CApi.{}", getpid()));
    fs::remove_all(*dir);
    fs::create_directories(*dir);
    compile({seq_model()}, *dir, "seq");
    model = new Model(*dir / "seq.so");
  }
  static void TearDownTestSuite() {
    delete model;
    std::error_code ec;
    fs::remove_all(*dir, ec);
    delete dir;
  }
  static fs::path* dir;
  static Model* model;
};
fs::path* CApi::dir = nullptr;
Model* CApi::model = nullptr;

TEST_F(CApi, DescribesEntriesInputsOutputsSymbolsAndParameters) {
  const Model& m = *model;
  ASSERT_EQ(m.weft_num_entries(), 1);
  EXPECT_EQ(m.weft_num_inputs(0), 1);
  EXPECT_EQ(m.weft_num_outputs(0), 1);
  weft_value_info info{};
  ASSERT_EQ(m.weft_input_info(0, 0, &info), WEFT_OK);
  EXPECT_STREQ(info.name, "x");
  EXPECT_EQ(info.dtype, WEFT_F32);
  ASSERT_EQ(info.rank, 3);
  EXPECT_EQ(info.dims[0], -1);
  EXPECT_STREQ(info.dim_names[0], "B");
  EXPECT_STREQ(info.dim_names[1], "T");
  EXPECT_EQ(info.dims[2], 6);
  EXPECT_EQ(info.dim_names[2], nullptr);
  ASSERT_EQ(m.weft_num_symbols(0), 2);
  std::map<std::string, int64_t> bounds;
  for (int32_t s = 0; s < 2; ++s) {
    const char* name = nullptr;
    int64_t bound = 0;
    ASSERT_EQ(m.weft_symbol_info(0, s, &name, &bound), WEFT_OK);
    bounds[name] = bound;
  }
  EXPECT_EQ(bounds, (std::map<std::string, int64_t>{{"B", 8}, {"T", 5}}));
  ASSERT_EQ(m.weft_num_params(), 2);
  std::set<std::string> params;
  for (int32_t p = 0; p < 2; ++p) {
    ASSERT_EQ(m.weft_param_info(p, &info), WEFT_OK);
    params.insert(info.name);
  }
  EXPECT_EQ(params, (std::set<std::string>{"fc.weight", "fc.bias"}));
}

TEST_F(CApi, EveryBadArgumentIsAnErrorCodeWithAMessage) {
  const Model& m = *model;
  Instance inst(m);
  weft_model* instance = inst.instance;
  Host x = random_f32({2, 3, 6}, 1);
  int64_t y_shape[3] = {2, 3, 4};
  Host y = Host::zeros(DType::f32, {2, 3, 4});
  weft_tensor in{WEFT_F32, 3, x.shape().data(), x.raw()};
  weft_tensor out{WEFT_F32, 3, y_shape, y.raw()};
  ASSERT_EQ(m.weft_run(instance, 0, &in, 1, &out, 1), WEFT_OK) << m.weft_last_error();

  auto expect = [&](int32_t status, int32_t want, const std::string& words, const std::string& what) {
    EXPECT_EQ(status, want) << what << ": got " << m.weft_status_name(status) << ": " << m.weft_last_error();
    std::string message = m.weft_last_error();
    EXPECT_FALSE(message.empty()) << what;
    if (!words.empty()) EXPECT_NE(message.find(words), std::string::npos) << what << ": " << message;
  };
  // Null pointers.
  expect(m.weft_run(nullptr, 0, &in, 1, &out, 1), WEFT_ERR_NULL_ARGUMENT, "", "null instance");
  expect(m.weft_run(instance, 0, nullptr, 1, &out, 1), WEFT_ERR_NULL_ARGUMENT, "", "null inputs");
  expect(m.weft_run(instance, 0, &in, 1, nullptr, 1), WEFT_ERR_NULL_ARGUMENT, "", "null outputs");
  weft_tensor no_data = in;
  no_data.data = nullptr;
  expect(m.weft_run(instance, 0, &no_data, 1, &out, 1), WEFT_ERR_NULL_ARGUMENT, "x", "null input data");
  weft_tensor no_shape = in;
  no_shape.shape = nullptr;
  expect(m.weft_run(instance, 0, &no_shape, 1, &out, 1), WEFT_ERR_NULL_ARGUMENT, "x", "null input shape");
  expect(m.weft_create(nullptr, nullptr), WEFT_ERR_NULL_ARGUMENT, "", "null create result");
  expect(m.weft_find_entry(nullptr, nullptr), WEFT_ERR_NULL_ARGUMENT, "", "null entry name");
  expect(m.weft_input_info(0, 0, nullptr), WEFT_ERR_NULL_ARGUMENT, "", "null info");
  // Unknown names and indices.
  int32_t e = 0;
  expect(m.weft_find_entry("backward", &e), WEFT_ERR_NOT_FOUND, "backward", "unknown entry");
  expect(m.weft_run(instance, 7, &in, 1, &out, 1), WEFT_ERR_NOT_FOUND, "", "entry out of range");
  expect(m.weft_run(instance, -1, &in, 1, &out, 1), WEFT_ERR_NOT_FOUND, "", "negative entry");
  weft_value_info info{};
  expect(m.weft_input_info(0, 3, &info), WEFT_ERR_NOT_FOUND, "", "input out of range");
  expect(m.weft_bind_dim(instance, 0, "Q", 2), WEFT_ERR_NOT_FOUND, "Q", "unknown symbol");
  float buffer[24];
  expect(m.weft_get_param(instance, "fc.nothing", buffer, sizeof buffer), WEFT_ERR_NOT_FOUND, "fc.nothing",
         "unknown parameter");
  // Counts, dtypes, ranks, shapes.
  expect(m.weft_run(instance, 0, &in, 2, &out, 1), WEFT_ERR_NOT_FOUND, "", "two inputs for one");
  expect(m.weft_run(instance, 0, &in, 1, &out, 0), WEFT_ERR_NOT_FOUND, "", "no outputs");
  weft_tensor wrong_dtype = in;
  wrong_dtype.dtype = WEFT_I32;
  expect(m.weft_run(instance, 0, &wrong_dtype, 1, &out, 1), WEFT_ERR_DTYPE, "x", "i32 input");
  weft_tensor bad_dtype = in;
  bad_dtype.dtype = 99;
  expect(m.weft_run(instance, 0, &bad_dtype, 1, &out, 1), WEFT_ERR_DTYPE, "x", "dtype 99");
  weft_tensor wrong_rank = in;
  wrong_rank.rank = 2;
  expect(m.weft_run(instance, 0, &wrong_rank, 1, &out, 1), WEFT_ERR_SHAPE, "x", "rank 2");
  int64_t wrong_static[3] = {2, 3, 7};
  weft_tensor wrong_shape = in;
  wrong_shape.shape = wrong_static;
  expect(m.weft_run(instance, 0, &wrong_shape, 1, &out, 1), WEFT_ERR_SHAPE, "x", "last dim 7 for 6");
  int64_t negative[3] = {-2, 3, 6};
  weft_tensor negative_shape = in;
  negative_shape.shape = negative;
  expect(m.weft_run(instance, 0, &negative_shape, 1, &out, 1), WEFT_ERR_DIM_RANGE, "", "negative dim");
  int64_t too_long[3] = {2, 6, 6};
  weft_tensor beyond = in;
  beyond.shape = too_long;
  expect(m.weft_run(instance, 0, &beyond, 1, &out, 1), WEFT_ERR_DIM_RANGE, "T", "T = 6 beyond its bound 5");
  expect(m.weft_bind_dim(instance, 0, "B", 9), WEFT_ERR_DIM_RANGE, "B", "binding B beyond its bound");
  expect(m.weft_bind_dim(instance, 0, "B", -1), WEFT_ERR_DIM_RANGE, "B", "binding B negative");
  int64_t wrong_out[3] = {2, 3, 5};
  weft_tensor bad_out = out;
  bad_out.shape = wrong_out;
  expect(m.weft_run(instance, 0, &in, 1, &bad_out, 1), WEFT_ERR_SHAPE, "y", "output [2, 3, 5] for [2, 3, 4]");
  weft_tensor bad_out_dtype = out;
  bad_out_dtype.dtype = WEFT_F64;
  expect(m.weft_run(instance, 0, &in, 1, &bad_out_dtype, 1), WEFT_ERR_DTYPE, "y", "f64 output");
  expect(m.weft_get_param(instance, "fc.bias", buffer, 3), WEFT_ERR_SHAPE, "fc.bias", "wrong byte count");
  expect(m.weft_set_param(instance, "fc.bias", nullptr, 16), WEFT_ERR_NULL_ARGUMENT, "", "null param data");
  weft_options bad_options{};
  bad_options.weights_path = "/nonexistent/weights.safetensors";
  weft_model* none = nullptr;
  expect(m.weft_create(&bad_options, &none), WEFT_ERR_WEIGHTS, "/nonexistent/weights.safetensors", "missing file");
  EXPECT_EQ(none, nullptr);
  bad_options = {};
  bad_options.num_threads = -3;
  expect(m.weft_create(&bad_options, &none), WEFT_ERR_INVALID_VALUE, "num_threads", "negative threads");
  EXPECT_EQ(m.weft_num_inputs(5), -1);
  EXPECT_EQ(m.weft_entry_name(5), nullptr);
  EXPECT_STREQ(m.weft_status_name(WEFT_ERR_SHAPE), "WEFT_ERR_SHAPE");
  EXPECT_NE(m.weft_status_name(1234), nullptr);
  m.weft_destroy(nullptr);

  // After all that, the instance still runs, with the same result.
  Host again = Host::zeros(DType::f32, {2, 3, 4});
  out.data = again.raw();
  ASSERT_EQ(m.weft_run(instance, 0, &in, 1, &out, 1), WEFT_OK) << m.weft_last_error();
  EXPECT_EQ(std::memcmp(again.raw(), y.raw(), y.nbytes()), 0);
}

TEST_F(CApi, OutputShapeFollowsTheBoundDims) {
  Instance inst(*model);
  ASSERT_EQ(model->weft_bind_dim(inst.instance, 0, "B", 3), WEFT_OK);
  ASSERT_EQ(model->weft_bind_dim(inst.instance, 0, "T", 5), WEFT_OK);
  int64_t shape[3] = {0, 0, 0};
  ASSERT_EQ(model->weft_output_shape(inst.instance, 0, 0, shape), WEFT_OK);
  EXPECT_EQ(std::vector<int64_t>(shape, shape + 3), (std::vector<int64_t>{3, 5, 4}));
  ASSERT_EQ(model->weft_input_shape(inst.instance, 0, 0, shape), WEFT_OK);
  EXPECT_EQ(std::vector<int64_t>(shape, shape + 3), (std::vector<int64_t>{3, 5, 6}));
}

TEST_F(CApi, EightThreadsWithAnInstanceEachGetTheSingleThreadResults) {
  std::vector<Host> inputs;
  std::vector<Host> want;
  {
    Instance one(*model);
    for (int k = 0; k < 8; ++k) {
      inputs.push_back(random_f32({8, 5, 6}, 1000 + static_cast<uint64_t>(k)));
      want.push_back(one.run("forward", {inputs.back()})[0]);
    }
  }
  std::vector<int> mismatches(8, 0), errors(8, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 8; ++k) {
    threads.emplace_back([&, k] {
      try {
        weft_options options{};
        options.num_threads = 1 + k % 2;
        Instance mine(*model, &options);
        for (int rep = 0; rep < 25; ++rep) {
          Host got = mine.run("forward", {inputs[k]})[0];
          if (std::memcmp(got.raw(), want[k].raw(), got.nbytes()) != 0) ++mismatches[k];
        }
      } catch (const std::exception&) {
        ++errors[k];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int k = 0; k < 8; ++k) {
    EXPECT_EQ(errors[k], 0) << "thread " << k;
    EXPECT_EQ(mismatches[k], 0) << "thread " << k;
  }
}

TEST_F(CApi, ExportsOnlyTheApiAndNeedsOnlyLibcLibmAndPthread) {
  std::string symbols;
  ASSERT_EQ(shell(fmt::format("nm -D --defined-only '{}'", (*dir / "seq.so").string()), &symbols), 0) << symbols;
  std::istringstream lines(symbols);
  std::string line;
  int api = 0;
  while (std::getline(lines, line)) {
    std::string name = line.substr(line.rfind(' ') + 1);
    if (line.find(" T ") == std::string::npos && line.find(" D ") == std::string::npos &&
        line.find(" B ") == std::string::npos && line.find(" R ") == std::string::npos)
      continue;
    EXPECT_TRUE(name.starts_with("weft_")) << "exported: " << line;
    EXPECT_NE(name, "weft_parallel_for");
    EXPECT_NE(name, "weft_rt_the_model");
    ++api;
  }
  EXPECT_GE(api, 20) << symbols;

  std::string libs;
  ASSERT_EQ(shell(fmt::format("ldd '{}'", (*dir / "seq.so").string()), &libs), 0) << libs;
  std::istringstream deps(libs);
  while (std::getline(deps, line)) {
    std::string name = line.substr(line.find_first_not_of(" \t"));
    name = name.substr(0, name.find(' '));
    bool allowed = name.starts_with("linux-vdso") || name.starts_with("libc.so") || name.starts_with("libm.so") ||
                   name.starts_with("libpthread.so") || name.find("ld-linux") != std::string::npos;
    EXPECT_TRUE(allowed) << "the shared object needs " << line;
  }
}

TEST(SharedObjectOutputs, AnOutputInAnInputsMemoryGetsTheSameResults) {
  // weft_run computes an output straight into the caller's tensor unless that tensor shares memory
  // with an input or another output (runtime/capi/weft_rt_run.c): then through the arena, copied
  // at the end. Here y = fc(x) is computed before z = 3x reads x again, so y written into x's
  // memory as it is computed would change z.
  fs::path dir = fs::path(WEFT_BINARY_DIR) / "aot_tests" / "SharedObjectOutputs";
  fs::remove_all(dir);
  fs::create_directories(dir);
  Builder b("two_outputs");
  Tensor x = b.input("x", "f32[B<=4, 16]");
  nn::Linear fc(b, "fc", 16, 16);
  b.output("y", fc(x));
  b.output("z", x * 3.0f);
  Model m(compile({b.finish()}, dir, "two_outputs"));
  Instance instance(m);
  Host x_value = random_f32({4, 16}, 5);
  std::vector<int64_t> shape{4, 16};
  Host y_apart = Host::zeros(DType::f32, shape), z_apart = Host::zeros(DType::f32, shape);
  weft_tensor in{static_cast<int32_t>(DType::f32), 2, shape.data(), x_value.raw()};
  weft_tensor outs[2] = {{static_cast<int32_t>(DType::f32), 2, shape.data(), y_apart.raw()},
                         {static_cast<int32_t>(DType::f32), 2, shape.data(), z_apart.raw()}};
  ASSERT_EQ(m.weft_run(instance.instance, 0, &in, 1, outs, 2), WEFT_OK) << m.weft_last_error();
  for (int64_t shift : {0, 8, 40}) {  // y over the start of x, inside it, and reaching past its end
    Host buffer = Host::zeros(DType::f32, {64 + 40});
    std::memcpy(buffer.raw(), x_value.raw(), x_value.nbytes());
    Host z = Host::zeros(DType::f32, shape);
    weft_tensor shared_in{static_cast<int32_t>(DType::f32), 2, shape.data(), buffer.raw()};
    weft_tensor shared_outs[2] = {{static_cast<int32_t>(DType::f32), 2, shape.data(), buffer.data<float>() + shift},
                                  {static_cast<int32_t>(DType::f32), 2, shape.data(), z.raw()}};
    ASSERT_EQ(m.weft_run(instance.instance, 0, &shared_in, 1, shared_outs, 2), WEFT_OK) << m.weft_last_error();
    EXPECT_EQ(std::memcmp(buffer.data<float>() + shift, y_apart.raw(), y_apart.nbytes()), 0) << "y at x + " << shift;
    EXPECT_EQ(std::memcmp(z.raw(), z_apart.raw(), z.nbytes()), 0) << "z with y at x + " << shift;
  }
}

TEST(SharedObjectWeights, ExternalWeightsComeFromAFileOrTheCallersPointers) {
  fs::path dir = test_dir();
  Graph g = seq_model();
  Model embedded(compile({g}, dir, "embedded"));
  Model external(compile({g}, dir, "external", {.external_weights = true}));
  Host x = random_f32({2, 4, 6}, 9);
  Instance reference(embedded);
  Host want = reference.run("forward", {x})[0];
  Host w = reference.param("fc.weight", DType::f32, {4, 6}), bias = reference.param("fc.bias", DType::f32, {4});

  // No weights at all: an error, not zeros.
  weft_model* none = nullptr;
  EXPECT_EQ(external.weft_create(nullptr, &none), WEFT_ERR_WEIGHTS) << external.weft_last_error();

  // From a safetensors file.
  SafetensorsFile file;
  file.tensors.push_back(TensorBlob{"fc.weight", DType::f32, {4, 6}, {w.bytes().begin(), w.bytes().end()}});
  file.tensors.push_back(TensorBlob{"fc.bias", DType::f32, {4}, {bias.bytes().begin(), bias.bytes().end()}});
  std::string path = (dir / "weights.safetensors").string();
  write_safetensors_atomic(path, file);
  weft_options options{};
  options.weights_path = path.c_str();
  {
    Instance from_file(external, &options);
    Host got = from_file.run("forward", {x})[0];
    EXPECT_EQ(std::memcmp(got.raw(), want.raw(), got.nbytes()), 0);
  }
  // From the caller's memory, in weft_param_info order.
  std::vector<void*> pointers(2);
  for (int32_t p = 0; p < 2; ++p) {
    weft_value_info info{};
    ASSERT_EQ(external.weft_param_info(p, &info), WEFT_OK);
    pointers[p] = std::string(info.name) == "fc.weight" ? w.raw() : bias.raw();
  }
  weft_options pointer_options{};
  pointer_options.param_data = pointers.data();
  {
    Instance from_pointers(external, &pointer_options);
    Host got = from_pointers.run("forward", {x})[0];
    EXPECT_EQ(std::memcmp(got.raw(), want.raw(), got.nbytes()), 0);
  }
  // A file that lacks a tensor, or has it with the wrong shape, or is not a safetensors file.
  SafetensorsFile missing = file;
  missing.tensors.pop_back();
  write_safetensors_atomic(path, missing);
  EXPECT_EQ(external.weft_create(&options, &none), WEFT_ERR_WEIGHTS);
  EXPECT_NE(std::string(external.weft_last_error()).find("fc.bias"), std::string::npos) << external.weft_last_error();
  SafetensorsFile reshaped = file;
  reshaped.tensors[1].shape = {2, 2};
  write_safetensors_atomic(path, reshaped);
  EXPECT_EQ(external.weft_create(&options, &none), WEFT_ERR_WEIGHTS);
  std::vector<std::byte> bytes = serialize_safetensors(file);
  for (size_t cut : {size_t{0}, size_t{5}, size_t{12}, bytes.size() / 2, bytes.size() - 1}) {
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(cut));
    }
    EXPECT_EQ(external.weft_create(&options, &none), WEFT_ERR_WEIGHTS) << "file cut at " << cut << " bytes";
    EXPECT_EQ(none, nullptr);
  }
}

}  // namespace
}  // namespace weft::aot_tests
