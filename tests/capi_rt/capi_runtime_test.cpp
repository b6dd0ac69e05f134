/** \file
 * The C runtime of compiled models (runtime/capi), through its C API, on the hand-written model
 * "testnet" (model_desc.c): the description functions, argument checking with its messages,
 * symbols bound from shapes (products included) or by weft_bind_dim, parameter updates, scans
 * (carries, lengths, reverse, zero steps, nesting), index checks, the thread pool, and that the
 * shared object exports nothing but the API. Expected values are computed by hand in comments.
 */
#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/capi_rt/capi_test_util.h"

namespace weft::capi_test {
namespace {

// ---- the description

TEST(CapiDescription, ListsEntriesInputsSymbolsAndParams) {
  EXPECT_STREQ(weft_model_name(), "testnet");
  EXPECT_EQ(weft_num_entries(), 12);
  EXPECT_STREQ(weft_entry_name(0), "affine");
  int32_t e = -1;
  EXPECT_WEFT_OK(weft_find_entry("rnn", &e));
  EXPECT_EQ(e, 3);
  EXPECT_EQ(weft_num_inputs(0), 1);
  EXPECT_EQ(weft_num_outputs(1), 2);

  weft_value_info info{};
  EXPECT_WEFT_OK(weft_input_info(0, 0, &info));
  EXPECT_STREQ(info.name, "x");
  EXPECT_EQ(info.dtype, WEFT_F32);
  ASSERT_EQ(info.rank, 2);
  EXPECT_EQ(info.dims[0], -1);
  EXPECT_EQ(info.dims[1], 4);
  EXPECT_STREQ(info.dim_names[0], "B");
  EXPECT_EQ(info.dim_names[1], nullptr);
  EXPECT_WEFT_OK(weft_output_info(8, 0, &info));
  EXPECT_STREQ(info.name, "r");

  EXPECT_EQ(weft_num_symbols(8), 2);
  const char* name = nullptr;
  int64_t bound = 0;
  EXPECT_WEFT_OK(weft_symbol_info(8, 1, &name, &bound));
  EXPECT_STREQ(name, "B");
  EXPECT_EQ(bound, 3);

  EXPECT_EQ(weft_num_params(), 8);
  EXPECT_WEFT_OK(weft_param_info(7, &info));
  EXPECT_STREQ(info.name, "emb");
  ASSERT_EQ(info.rank, 2);
  EXPECT_EQ(info.dims[0], 5);
  EXPECT_EQ(info.dims[1], 2);
}

TEST(CapiDescription, RejectsOutOfRangeIndicesUnknownNamesAndNulls) {
  EXPECT_EQ(weft_entry_name(12), nullptr);
  EXPECT_TRUE(contains(weft_last_error(), "entry 12 is out of range (model 'testnet' has 12 entries)"));
  EXPECT_EQ(weft_num_inputs(-1), -1);
  EXPECT_EQ(weft_num_outputs(99), -1);
  EXPECT_EQ(weft_num_symbols(12), -1);
  weft_value_info info{};
  EXPECT_WEFT_ERROR(weft_input_info(0, 1, &info), WEFT_ERR_NOT_FOUND,
                    "weft_input_info(affine): input 1 is out of range");
  EXPECT_WEFT_ERROR(weft_output_info(0, -1, &info), WEFT_ERR_NOT_FOUND, "output -1 is out of range");
  EXPECT_WEFT_ERROR(weft_input_info(0, 0, nullptr), WEFT_ERR_NULL_ARGUMENT, "`info` is NULL");
  EXPECT_WEFT_ERROR(weft_param_info(8, &info), WEFT_ERR_NOT_FOUND, "parameter 8 is out of range");
  int32_t e = 0;
  EXPECT_WEFT_ERROR(weft_find_entry("forward", &e), WEFT_ERR_NOT_FOUND,
                    "no entry named 'forward' (its entries: affine, accumulate, swap, rnn");
  EXPECT_WEFT_ERROR(weft_find_entry(nullptr, &e), WEFT_ERR_NULL_ARGUMENT, "`name` is NULL");
  EXPECT_WEFT_ERROR(weft_find_entry("rnn", nullptr), WEFT_ERR_NULL_ARGUMENT, "`entry`");
  const char* name = nullptr;
  int64_t bound = 0;
  EXPECT_WEFT_ERROR(weft_symbol_info(0, 1, &name, &bound), WEFT_ERR_NOT_FOUND, "symbol 1 is out of range");
  EXPECT_WEFT_ERROR(weft_symbol_info(0, 0, nullptr, &bound), WEFT_ERR_NULL_ARGUMENT, "`name` is NULL");
  EXPECT_STREQ(weft_status_name(WEFT_ERR_DIM_RANGE), "WEFT_ERR_DIM_RANGE");
  EXPECT_STREQ(weft_status_name(WEFT_OK), "WEFT_OK");
  EXPECT_STREQ(weft_status_name(42), "WEFT_ERR_UNKNOWN");
}

TEST(CapiInstance, CreateRejectsNullResultAndBadThreadCounts) {
  EXPECT_WEFT_ERROR(weft_create(nullptr, nullptr), WEFT_ERR_NULL_ARGUMENT, "weft_create: `model`");
  weft_options options{};
  options.num_threads = -1;
  weft_model* m = reinterpret_cast<weft_model*>(0x1);
  EXPECT_WEFT_ERROR(weft_create(&options, &m), WEFT_ERR_INVALID_VALUE, "num_threads is -1");
  EXPECT_EQ(m, nullptr);
  weft_destroy(nullptr);  // allowed
}

TEST(CapiInstance, ADestroyedInstanceIsAnErrorNotAUseAfterFree) {
  weft_model* m = nullptr;
  ASSERT_EQ(weft_create(nullptr, &m), WEFT_OK) << weft_last_error();
  weft_destroy(m);
  // Every call that takes an instance refuses it without reading the freed memory (ASan-clean).
  Arg x = f32({1, 4}, {1, 2, 3, 4}), y = out(WEFT_F32, {1, 3});
  EXPECT_WEFT_ERROR(run(m, "affine", {&x}, {&y}), WEFT_ERR_INVALID_HANDLE,
                    "weft_run: `model` is not a live instance (destroyed already, or not made by weft_create)");
  EXPECT_WEFT_ERROR(weft_bind_dim(m, 0, "B", 1), WEFT_ERR_INVALID_HANDLE, "weft_bind_dim: `model` is not a live");
  int64_t shape[2];
  EXPECT_WEFT_ERROR(weft_output_shape(m, 0, 0, shape), WEFT_ERR_INVALID_HANDLE, "weft_output_shape: `model`");
  EXPECT_WEFT_ERROR(weft_input_shape(m, 0, 0, shape), WEFT_ERR_INVALID_HANDLE, "weft_input_shape: `model`");
  float b[3];
  EXPECT_WEFT_ERROR(weft_get_param(m, "b", b, sizeof b), WEFT_ERR_INVALID_HANDLE, "weft_get_param: `model`");
  EXPECT_WEFT_ERROR(weft_set_param(m, "b", b, sizeof b), WEFT_ERR_INVALID_HANDLE, "weft_set_param: `model`");
  weft_destroy(m);  // a second destroy frees nothing and says so
  EXPECT_TRUE(contains(weft_last_error(), "weft_destroy: `model` is not a live instance")) << weft_last_error();
  int not_an_instance = 0;
  EXPECT_WEFT_ERROR(weft_bind_dim(reinterpret_cast<weft_model*>(&not_an_instance), 0, "B", 1),
                    WEFT_ERR_INVALID_HANDLE, "not a live instance");
  EXPECT_STREQ(weft_status_name(WEFT_ERR_INVALID_HANDLE), "WEFT_ERR_INVALID_HANDLE");
  // Other instances are untouched by all of this.
  Instance live;
  EXPECT_WEFT_OK(run(live.m, "affine", {&x}, {&y}));
}

// ---- affine: values and every argument check

TEST(CapiRun, AffineComputesXTimesWPlusB) {
  Instance inst;
  // y[j] = b[j] + x[j] + x[3] (w is the identity on top of a row of ones); b = [0.5, -1, 2].
  Arg x = f32({2, 4}, {1, 2, 3, 4, 0, 0, 0, 0});
  Arg y = out(WEFT_F32, {2, 3});
  EXPECT_WEFT_OK(run(inst.m, "affine", {&x}, {&y}));
  EXPECT_EQ(y.values<float>(), (std::vector<float>{5.5f, 5, 9, 0.5f, -1, 2}));
  int64_t shape[2] = {0, 0};
  EXPECT_WEFT_OK(weft_output_shape(inst.m, entry("affine"), 0, shape));
  EXPECT_EQ(shape[0], 2);
  EXPECT_EQ(shape[1], 3);
  EXPECT_WEFT_OK(weft_input_shape(inst.m, entry("affine"), 0, shape));
  EXPECT_EQ(shape[0], 2);
  EXPECT_EQ(shape[1], 4);
}

TEST(CapiSymbols, InputShapesFollowTheBoundDims) {
  Instance inst;
  int32_t rnn = entry("rnn");
  int64_t shape[3] = {0, 0, 0};
  EXPECT_WEFT_ERROR(weft_input_shape(inst.m, rnn, 2, shape), WEFT_ERR_UNBOUND_DIM,
                    "weft_input_shape(rnn): input 'xs' is f32[B, T, 2] (B <= 4, T <= 5), and B has no value yet");
  EXPECT_WEFT_OK(weft_bind_dim(inst.m, rnn, "B", 3));
  EXPECT_WEFT_OK(weft_bind_dim(inst.m, rnn, "T", 5));
  EXPECT_WEFT_OK(weft_input_shape(inst.m, rnn, 2, shape));
  EXPECT_EQ(std::vector<int64_t>(shape, shape + 3), (std::vector<int64_t>{3, 5, 2}));
  EXPECT_WEFT_OK(weft_output_shape(inst.m, rnn, 2, shape));
  EXPECT_EQ(std::vector<int64_t>(shape, shape + 3), (std::vector<int64_t>{3, 5, 2}));
  EXPECT_WEFT_ERROR(weft_input_shape(nullptr, rnn, 0, shape), WEFT_ERR_NULL_ARGUMENT, "`model` is NULL");
  EXPECT_WEFT_ERROR(weft_input_shape(inst.m, rnn, 0, nullptr), WEFT_ERR_NULL_ARGUMENT, "`shape` is NULL");
}

TEST(CapiRun, AffineRunsAtTheBoundAndWithZeroRows) {
  Instance inst;
  std::vector<float> xs(32, 1.0f);  // every row [1, 1, 1, 1] -> [0.5 + 2, -1 + 2, 2 + 2]
  Arg x = f32({8, 4}, xs);
  Arg y = out(WEFT_F32, {8, 3});
  EXPECT_WEFT_OK(run(inst.m, "affine", {&x}, {&y}));
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(y.values<float>()[i * 3 + 0], 2.5f);
    EXPECT_EQ(y.values<float>()[i * 3 + 2], 4.0f);
  }
  Arg x0 = f32({0, 4}, {});
  Arg y0 = out(WEFT_F32, {0, 3});
  EXPECT_WEFT_OK(run(inst.m, "affine", {&x0}, {&y0}));  // NULL data is fine for no elements
}

TEST(CapiRun, RejectsWrongDtypeRankStaticDimAndDimBeyondBound) {
  Instance inst;
  Arg y = out(WEFT_F32, {3, 3});
  Arg xi = i32({3, 4}, std::vector<int32_t>(12, 0));
  EXPECT_WEFT_ERROR(run(inst.m, "affine", {&xi}, {&y}), WEFT_ERR_DTYPE,
                    "weft_run(affine): input 'x' has dtype i32, but the model declares f32[B, 4] (B <= 8)");
  Arg x1 = f32({12}, std::vector<float>(12, 0));
  EXPECT_WEFT_ERROR(run(inst.m, "affine", {&x1}, {&y}), WEFT_ERR_SHAPE,
                    "weft_run(affine): input 'x' has rank 1 (shape [12]), but the model declares f32[B, 4] (B <= 8)");
  Arg x35 = f32({3, 5}, std::vector<float>(15, 0));
  EXPECT_WEFT_ERROR(run(inst.m, "affine", {&x35}, {&y}), WEFT_ERR_SHAPE,
                    "weft_run(affine): input 'x' has shape [3, 5], but the model declares f32[B, 4] (B <= 8): dim 1 "
                    "is 5, not 4");
  Arg xneg = f32({-1, 4}, {});
  EXPECT_WEFT_ERROR(run(inst.m, "affine", {&xneg}, {&y}), WEFT_ERR_DIM_RANGE,
                    "input 'x' has shape [-1, 4], but the model declares f32[B, 4] (B <= 8): dim 0 (B) is negative");
  Arg xneg5 = f32({-1, 5}, {});
  EXPECT_WEFT_ERROR(run(inst.m, "affine", {&xneg5}, {&y}), WEFT_ERR_SHAPE, "dim 1 is 5, not 4");  // static dims first
  Arg x9 = f32({9, 4}, std::vector<float>(36, 0));
  Arg y9 = out(WEFT_F32, {9, 3});
  EXPECT_WEFT_ERROR(run(inst.m, "affine", {&x9}, {&y9}), WEFT_ERR_DIM_RANGE,
                    "weft_run(affine): input 'x' has shape [9, 4], but the model declares f32[B, 4] (B <= 8): B = 9 "
                    "is beyond its bound 8");
}

TEST(CapiRun, RejectsWrongOutputsShapeDtypeAndCount) {
  Instance inst;
  Arg x = f32({3, 4}, std::vector<float>(12, 0));
  Arg y34 = out(WEFT_F32, {3, 4});
  EXPECT_WEFT_ERROR(run(inst.m, "affine", {&x}, {&y34}), WEFT_ERR_SHAPE,
                    "weft_run(affine): output 'y' is f32[3, 4], but the run computes f32[3, 3] (f32[B, 3] (B <= 8))");
  Arg y2 = out(WEFT_F32, {2, 3});
  EXPECT_WEFT_ERROR(run(inst.m, "affine", {&x}, {&y2}), WEFT_ERR_SHAPE, "output 'y' is f32[2, 3]");
  Arg yi = out(WEFT_I64, {3, 3}, 8);
  EXPECT_WEFT_ERROR(run(inst.m, "affine", {&x}, {&yi}), WEFT_ERR_DTYPE, "output 'y' is i64[3, 3]");
  Arg y = out(WEFT_F32, {3, 3});
  EXPECT_WEFT_ERROR(run(inst.m, "affine", {&x}, {}), WEFT_ERR_NOT_FOUND, "0 outputs given, but the entry declares 1");
  EXPECT_WEFT_ERROR(run(inst.m, "affine", {&x}, {&y, &y}), WEFT_ERR_NOT_FOUND, "2 outputs given");
  EXPECT_WEFT_ERROR(run(inst.m, "affine", {}, {&y}), WEFT_ERR_NOT_FOUND, "0 inputs given, but the entry declares 1");
}

TEST(CapiRun, RejectsNullPointersAndUnknownEntries) {
  Instance inst;
  Arg x = f32({3, 4}, std::vector<float>(12, 0));
  Arg y = out(WEFT_F32, {3, 3});
  weft_tensor in = x.view(), o = y.view();
  int32_t e = entry("affine");
  EXPECT_WEFT_ERROR(weft_run(nullptr, e, &in, 1, &o, 1), WEFT_ERR_NULL_ARGUMENT, "`model` is NULL");
  EXPECT_WEFT_ERROR(weft_run(inst.m, e, nullptr, 1, &o, 1), WEFT_ERR_NULL_ARGUMENT, "`inputs` is NULL");
  EXPECT_WEFT_ERROR(weft_run(inst.m, e, &in, 1, nullptr, 1), WEFT_ERR_NULL_ARGUMENT, "`outputs` is NULL");
  EXPECT_WEFT_ERROR(weft_run(inst.m, 12, &in, 1, &o, 1), WEFT_ERR_NOT_FOUND, "entry 12 is out of range");
  EXPECT_WEFT_ERROR(weft_run(inst.m, -1, &in, 1, &o, 1), WEFT_ERR_NOT_FOUND, "entry -1 is out of range");
  weft_tensor no_shape = in;
  no_shape.shape = nullptr;
  EXPECT_WEFT_ERROR(weft_run(inst.m, e, &no_shape, 1, &o, 1), WEFT_ERR_NULL_ARGUMENT,
                    "input 'x' has rank 2 but its `shape` is NULL");
  weft_tensor no_data = in;
  no_data.data = nullptr;
  EXPECT_WEFT_ERROR(weft_run(inst.m, e, &no_data, 1, &o, 1), WEFT_ERR_NULL_ARGUMENT,
                    "input 'x' holds 48 bytes but its `data` is NULL");
  weft_tensor no_out = o;
  no_out.data = nullptr;
  EXPECT_WEFT_ERROR(weft_run(inst.m, e, &in, 1, &no_out, 1), WEFT_ERR_NULL_ARGUMENT,
                    "output 'y' holds 36 bytes but its `data` is NULL");
  EXPECT_WEFT_OK(weft_run(inst.m, e, &in, 1, &o, 1));  // and the instance still works
}

// ---- symbols

TEST(CapiSymbols, ProductDimsBindFromSingleSymbolDimsFirst) {
  Instance inst;
  // u f32[2*T] gives T = 3; then v f32[B*T] gives B = 2. r[t] = u[2t] + u[2t+1]; vv is v as [B, T].
  Arg u = f32({6}, {1, 2, 3, 4, 5, 6});
  Arg v = f32({6}, {10, 20, 30, 40, 50, 60});
  Arg r = out(WEFT_F32, {3});
  Arg vv = out(WEFT_F32, {2, 3});
  EXPECT_WEFT_OK(run(inst.m, "pairs", {&u, &v}, {&r, &vv}));
  EXPECT_EQ(r.values<float>(), (std::vector<float>{3, 7, 11}));
  EXPECT_EQ(vv.values<float>(), (std::vector<float>{10, 20, 30, 40, 50, 60}));
}

TEST(CapiSymbols, ProductDimsMustDivideAndStayWithinBounds) {
  Instance inst;
  Arg r = out(WEFT_F32, {3});
  Arg vv = out(WEFT_F32, {2, 3});
  Arg v = f32({6}, std::vector<float>(6, 0));
  Arg u5 = f32({5}, std::vector<float>(5, 0));
  EXPECT_WEFT_ERROR(run(inst.m, "pairs", {&u5, &v}, {&r, &vv}), WEFT_ERR_SHAPE,
                    "input 'u' has shape [5], but the model declares f32[2*T] (T <= 4): dim 0 (5) is not a multiple "
                    "of 2");
  Arg u10 = f32({10}, std::vector<float>(10, 0));
  EXPECT_WEFT_ERROR(run(inst.m, "pairs", {&u10, &v}, {&r, &vv}), WEFT_ERR_DIM_RANGE, "T = 5 is beyond its bound 4");
  Arg u6 = f32({6}, std::vector<float>(6, 0));
  Arg v7 = f32({7}, std::vector<float>(7, 0));
  EXPECT_WEFT_ERROR(run(inst.m, "pairs", {&u6, &v7}, {&r, &vv}), WEFT_ERR_SHAPE,
                    "input 'v' has shape [7], but the model declares f32[B*T] (B <= 3, T <= 4): dim 0 (7) is not a "
                    "multiple of 3 (B*T without B)");
  Arg v12 = f32({12}, std::vector<float>(12, 0));
  EXPECT_WEFT_ERROR(run(inst.m, "pairs", {&u6, &v12}, {&r, &vv}), WEFT_ERR_DIM_RANGE, "B = 4 is beyond its bound 3");
}

TEST(CapiSymbols, ASymbolNoShapeDeterminesMustBeBound) {
  Instance inst;
  // T = 0 leaves B*T = 0 silent about B.
  Arg u = f32({0}, {});
  Arg v = f32({0}, {});
  Arg r = out(WEFT_F32, {0});
  Arg vv = out(WEFT_F32, {2, 0});
  EXPECT_WEFT_ERROR(run(inst.m, "pairs", {&u, &v}, {&r, &vv}), WEFT_ERR_UNBOUND_DIM,
                    "weft_run(pairs): symbol B has no value: no input's shape determines it, and it was not bound "
                    "with weft_bind_dim");
  EXPECT_WEFT_OK(weft_bind_dim(inst.m, entry("pairs"), "B", 2));
  EXPECT_WEFT_OK(run(inst.m, "pairs", {&u, &v}, {&r, &vv}));
  // Inputs win over weft_bind_dim: with T = 3, B comes from v again.
  Arg u6 = f32({6}, std::vector<float>(6, 1));
  Arg v3 = f32({3}, {7, 8, 9});
  Arg r3 = out(WEFT_F32, {3});
  Arg vv13 = out(WEFT_F32, {1, 3});
  EXPECT_WEFT_OK(run(inst.m, "pairs", {&u6, &v3}, {&r3, &vv13}));
  EXPECT_EQ(vv13.values<float>(), (std::vector<float>{7, 8, 9}));
}

TEST(CapiSymbols, BindDimSetsOutputShapesAndIsChecked) {
  Instance inst;
  int32_t fill = entry("fill");
  int64_t shape[1] = {-7};
  EXPECT_WEFT_ERROR(weft_output_shape(inst.m, fill, 0, shape), WEFT_ERR_UNBOUND_DIM,
                    "output 'z' is f32[S] (S <= 5), and S has no value yet");
  Arg z = out(WEFT_F32, {3});
  EXPECT_WEFT_ERROR(run(inst.m, "fill", {}, {&z}), WEFT_ERR_UNBOUND_DIM, "symbol S has no value");
  EXPECT_WEFT_ERROR(weft_bind_dim(inst.m, fill, "S", 6), WEFT_ERR_DIM_RANGE,
                    "weft_bind_dim(fill): S = 6 is outside [0, 5]");
  EXPECT_WEFT_ERROR(weft_bind_dim(inst.m, fill, "S", -1), WEFT_ERR_DIM_RANGE, "S = -1 is outside [0, 5]");
  EXPECT_WEFT_ERROR(weft_bind_dim(inst.m, fill, "Q", 1), WEFT_ERR_NOT_FOUND,
                    "the entry has no symbol named 'Q' (its symbols: S, U)");
  EXPECT_WEFT_ERROR(weft_bind_dim(inst.m, fill, nullptr, 1), WEFT_ERR_NULL_ARGUMENT, "`symbol` is NULL");
  EXPECT_WEFT_ERROR(weft_bind_dim(nullptr, fill, "S", 1), WEFT_ERR_NULL_ARGUMENT, "`model` is NULL");
  EXPECT_WEFT_ERROR(weft_bind_dim(inst.m, 99, "S", 1), WEFT_ERR_NOT_FOUND, "entry 99 is out of range");
  EXPECT_WEFT_OK(weft_bind_dim(inst.m, fill, "S", 3));
  EXPECT_WEFT_OK(weft_output_shape(inst.m, fill, 0, shape));
  EXPECT_EQ(shape[0], 3);
  EXPECT_WEFT_ERROR(weft_input_shape(inst.m, fill, 0, shape), WEFT_ERR_NOT_FOUND,
                    "weft_input_shape(fill): input 0 is out of range (the entry has 0)");
  EXPECT_WEFT_ERROR(weft_output_shape(inst.m, fill, 1, shape), WEFT_ERR_NOT_FOUND, "output 1 is out of range");
  EXPECT_WEFT_ERROR(weft_output_shape(inst.m, fill, 0, nullptr), WEFT_ERR_NULL_ARGUMENT, "`shape` is NULL");
  EXPECT_WEFT_OK(weft_output_shape(inst.m, entry("accumulate"), 1, nullptr));  // a scalar has no sizes to write
  // U is declared but used nowhere: it need not be bound.
  EXPECT_WEFT_OK(run(inst.m, "fill", {}, {&z}));
  EXPECT_EQ(z.values<float>(), (std::vector<float>{0, 1, 2}));
}

TEST(CapiSymbols, InputsMustAgreeOnASymbol) {
  Instance inst;
  Arg h0 = f32({2, 2}, std::vector<float>(4, 0));
  Arg m0 = f32({3}, std::vector<float>(3, 0));
  Arg xs = f32({2, 1, 2}, std::vector<float>(4, 0));
  Arg len = i32({2}, {1, 1});
  Arg h = out(WEFT_F32, {2, 2}), m = out(WEFT_F32, {2}), ys = out(WEFT_F32, {2, 1, 2});
  EXPECT_WEFT_ERROR(run(inst.m, "rnn", {&h0, &m0, &xs, &len}, {&h, &m, &ys}), WEFT_ERR_SHAPE,
                    "weft_run(rnn): input 'm0' has shape [3], but the model declares f32[B] (B <= 4): dim 0 is 3, but "
                    "B = 2 (from input 'h0' dim 0)");
}

// ---- parameters and updates

TEST(CapiParams, AccumulateUpdatesItsParametersAfterEachRun) {
  Instance inst;
  Arg x = f32({3}, {1, 1, 1});
  Arg total = out(WEFT_F32, {3});
  Arg steps = out(WEFT_I64, {}, 8);
  EXPECT_WEFT_OK(run(inst.m, "accumulate", {&x}, {&total, &steps}));
  EXPECT_EQ(total.values<float>(), (std::vector<float>{2, 3, 4}));  // acc starts at [1, 2, 3]
  EXPECT_EQ(steps.values<int64_t>(), (std::vector<int64_t>{1}));
  float acc[3];
  EXPECT_WEFT_OK(weft_get_param(inst.m, "acc", acc, sizeof acc));
  EXPECT_EQ(std::vector<float>(acc, acc + 3), (std::vector<float>{2, 3, 4}));
  Arg x2 = f32({3}, {0.5f, 0, 0});
  EXPECT_WEFT_OK(run(inst.m, "accumulate", {&x2}, {&total, &steps}));
  EXPECT_EQ(total.values<float>(), (std::vector<float>{2.5f, 3, 4}));
  EXPECT_EQ(steps.values<int64_t>(), (std::vector<int64_t>{2}));

  // Another instance has its own copy of the updated parameters.
  Instance other;
  EXPECT_WEFT_OK(weft_get_param(other.m, "acc", acc, sizeof acc));
  EXPECT_EQ(std::vector<float>(acc, acc + 3), (std::vector<float>{1, 2, 3}));
  int64_t count = -1;
  EXPECT_WEFT_OK(weft_get_param(other.m, "count", &count, sizeof count));
  EXPECT_EQ(count, 0);
}

TEST(CapiParams, UpdatesApplyAllAtOnce) {
  Instance inst;
  Arg p_before = out(WEFT_F32, {2});
  EXPECT_WEFT_OK(run(inst.m, "swap", {}, {&p_before}));
  EXPECT_EQ(p_before.values<float>(), (std::vector<float>{1, 2}));
  float p[2], q[2];
  EXPECT_WEFT_OK(weft_get_param(inst.m, "p", p, sizeof p));
  EXPECT_WEFT_OK(weft_get_param(inst.m, "q", q, sizeof q));
  EXPECT_EQ(std::vector<float>(p, p + 2), (std::vector<float>{3, 4}));
  EXPECT_EQ(std::vector<float>(q, q + 2), (std::vector<float>{1, 2}));
  EXPECT_WEFT_OK(run(inst.m, "swap", {}, {&p_before}));
  EXPECT_EQ(p_before.values<float>(), (std::vector<float>{3, 4}));
  EXPECT_WEFT_OK(weft_get_param(inst.m, "p", p, sizeof p));
  EXPECT_EQ(std::vector<float>(p, p + 2), (std::vector<float>{1, 2}));
}

TEST(CapiParams, SetParamCopiesSharedWeightsBeforeWriting) {
  Instance a, b;
  float w[12] = {2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0};  // 2 * identity, no row of ones
  EXPECT_WEFT_OK(weft_set_param(a.m, "w", w, sizeof w));
  Arg x = f32({1, 4}, {1, 2, 3, 4});
  Arg ya = out(WEFT_F32, {1, 3}), yb = out(WEFT_F32, {1, 3});
  EXPECT_WEFT_OK(run(a.m, "affine", {&x}, {&ya}));
  EXPECT_WEFT_OK(run(b.m, "affine", {&x}, {&yb}));
  EXPECT_EQ(ya.values<float>(), (std::vector<float>{2.5f, 3, 8}));  // 2x + b
  EXPECT_EQ(yb.values<float>(), (std::vector<float>{5.5f, 5, 9}));  // the embedded weights, untouched
  float back[12];
  EXPECT_WEFT_OK(weft_get_param(a.m, "w", back, sizeof back));
  EXPECT_EQ(back[4], 2.0f);
}

TEST(CapiParams, GetAndSetParamCheckNameSizeAndPointers) {
  Instance inst;
  float acc[3];
  EXPECT_WEFT_ERROR(weft_get_param(inst.m, "acc", acc, 8), WEFT_ERR_SHAPE,
                    "weft_get_param: parameter 'acc' is f32[3] (12 bytes), but nbytes is 8");
  EXPECT_WEFT_ERROR(weft_get_param(inst.m, "nope", acc, 12), WEFT_ERR_NOT_FOUND, "no parameter named 'nope'");
  EXPECT_WEFT_ERROR(weft_get_param(inst.m, nullptr, acc, 12), WEFT_ERR_NULL_ARGUMENT, "`name` is NULL");
  EXPECT_WEFT_ERROR(weft_get_param(nullptr, "acc", acc, 12), WEFT_ERR_NULL_ARGUMENT, "`model` is NULL");
  EXPECT_WEFT_ERROR(weft_set_param(inst.m, "acc", nullptr, 12), WEFT_ERR_NULL_ARGUMENT, "`data` is NULL");
  EXPECT_WEFT_ERROR(weft_set_param(inst.m, "count", acc, 12), WEFT_ERR_SHAPE, "parameter 'count' is i64[] (8 bytes)");
}

// ---- scans

TEST(CapiScan, FreezesEndedRowsAndEmitsZeros) {
  Instance inst;
  // B = 2, T = 3, time axis 1, lengths [3, 2]; body h' = h + x, m' = m + 1, y = h' * c, c = [1, -1].
  // Row 0: h = [1,1], [3,3], [6,6]; row 1: h = [11,10], [11,11], then frozen (y = 0).
  Arg h0 = f32({2, 2}, {0, 0, 10, 10});
  Arg m0 = f32({2}, {0, 0});
  Arg xs = f32({2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 0, 0, 1, 5, 5});
  Arg len = i32({2}, {3, 2});
  Arg h = out(WEFT_F32, {2, 2}), m = out(WEFT_F32, {2}), ys = out(WEFT_F32, {2, 3, 2});
  EXPECT_WEFT_OK(run(inst.m, "rnn", {&h0, &m0, &xs, &len}, {&h, &m, &ys}));
  EXPECT_EQ(h.values<float>(), (std::vector<float>{6, 6, 11, 11}));
  EXPECT_EQ(m.values<float>(), (std::vector<float>{3, 2}));
  EXPECT_EQ(ys.values<float>(), (std::vector<float>{1, -1, 3, -3, 6, -6, 11, -10, 11, -11, 0, 0}));
}

TEST(CapiScan, ReverseRunsFromTheLastStepAndSkipsEndedRowsFirst) {
  Instance inst;
  // The same data, time_axis -2, reverse: row 0 takes t = 2, 1, 0 (h = [3,3], [5,5], [6,6]); row 1
  // (length 2) is frozen at t = 2 (y = 0), then h = [10, 11] at t = 1 and [11, 11] at t = 0.
  Arg h0 = f32({2, 2}, {0, 0, 10, 10});
  Arg m0 = f32({2}, {0, 0});
  Arg xs = f32({2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 0, 0, 1, 5, 5});
  Arg len = i32({2}, {3, 2});
  Arg h = out(WEFT_F32, {2, 2}), m = out(WEFT_F32, {2}), ys = out(WEFT_F32, {2, 3, 2});
  EXPECT_WEFT_OK(run(inst.m, "rnn_reverse", {&h0, &m0, &xs, &len}, {&h, &m, &ys}));
  EXPECT_EQ(h.values<float>(), (std::vector<float>{6, 6, 11, 11}));
  EXPECT_EQ(m.values<float>(), (std::vector<float>{3, 2}));
  EXPECT_EQ(ys.values<float>(), (std::vector<float>{6, -6, 5, -5, 3, -3, 11, -11, 10, -11, 0, 0}));
}

TEST(CapiScan, ZeroStepsKeepTheInitialCarries) {
  Instance inst;
  Arg h0 = f32({2, 2}, {1, 2, 3, 4});
  Arg m0 = f32({2}, {5, 6});
  Arg xs = f32({2, 0, 2}, {});
  Arg len = i32({2}, {0, 0});
  Arg h = out(WEFT_F32, {2, 2}), m = out(WEFT_F32, {2}), ys = out(WEFT_F32, {2, 0, 2});
  EXPECT_WEFT_OK(run(inst.m, "rnn", {&h0, &m0, &xs, &len}, {&h, &m, &ys}));
  EXPECT_EQ(h.values<float>(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(m.values<float>(), (std::vector<float>{5, 6}));
}

TEST(CapiScan, RejectsLengthsOutsideTheSequence) {
  Instance inst;
  Arg h0 = f32({2, 2}, std::vector<float>(4, 0));
  Arg m0 = f32({2}, {0, 0});
  Arg xs = f32({2, 3, 2}, std::vector<float>(12, 0));
  Arg h = out(WEFT_F32, {2, 2}), m = out(WEFT_F32, {2}), ys = out(WEFT_F32, {2, 3, 2});
  Arg long_len = i32({2}, {3, 4});
  EXPECT_WEFT_ERROR(run(inst.m, "rnn", {&h0, &m0, &xs, &long_len}, {&h, &m, &ys}), WEFT_ERR_INVALID_VALUE,
                    "weft_run(rnn): scan (scope 'rnn', model.cpp:20): lengths[1] = 4 is outside [0, 3] (the sequence "
                    "length)");
  Arg negative = i32({2}, {-1, 0});
  EXPECT_WEFT_ERROR(run(inst.m, "rnn", {&h0, &m0, &xs, &negative}, {&h, &m, &ys}), WEFT_ERR_INVALID_VALUE,
                    "lengths[0] = -1 is outside [0, 3]");
}

TEST(CapiScan, CarriesSwappedByTheBodyReadTheirOldValues) {
  Instance inst;
  // a' = b (the body's input passed through), b' = a + x; xs = [1, 2, 3]:
  // (a, b) = ([1,2], [10,20]) -> ([10,20], [2,3]) -> ([2,3], [12,22]) -> ([12,22], [5,6]).
  Arg a0 = f32({2}, {1, 2}), b0 = f32({2}, {10, 20}), xs = f32({3}, {1, 2, 3});
  Arg a = out(WEFT_F32, {2}), b = out(WEFT_F32, {2});
  EXPECT_WEFT_OK(run(inst.m, "scan_swap", {&a0, &b0, &xs}, {&a, &b}));
  EXPECT_EQ(a.values<float>(), (std::vector<float>{12, 22}));
  EXPECT_EQ(b.values<float>(), (std::vector<float>{5, 6}));
}

TEST(CapiScan, NestedScansRunTheInnerBodyPerOuterStep) {
  Instance inst;
  // Running sums over the rows of [[1, 2], [3, 4], [5, 6]]: 3, 10, 21.
  Arg s0 = f32({}, {0}), xs = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  Arg s = out(WEFT_F32, {}), ys = out(WEFT_F32, {3});
  EXPECT_WEFT_OK(run(inst.m, "nested", {&s0, &xs}, {&s, &ys}));
  EXPECT_EQ(s.values<float>(), (std::vector<float>{21}));
  EXPECT_EQ(ys.values<float>(), (std::vector<float>{3, 10, 21}));
  // Rows of length 0: the inner scan takes no step.
  Arg s7 = f32({}, {7}), empty_rows = f32({3, 0}, {});
  EXPECT_WEFT_OK(run(inst.m, "nested", {&s7, &empty_rows}, {&s, &ys}));
  EXPECT_EQ(ys.values<float>(), (std::vector<float>{7, 7, 7}));
}

// ---- index checks

TEST(CapiIndices, GatherTakesRowsAndCountsNegativeIndicesFromTheEnd) {
  Instance inst;
  Arg idx = i64({3}, {4, 0, -1});
  Arg o = out(WEFT_F32, {3, 2});
  EXPECT_WEFT_OK(run(inst.m, "gather", {&idx}, {&o}));
  EXPECT_EQ(o.values<float>(), (std::vector<float>{40, 41, 0, 1, 40, 41}));
  Arg idx32 = i32({2}, {2, -5});
  Arg o2 = out(WEFT_F32, {2, 2});
  EXPECT_WEFT_OK(run(inst.m, "gather32", {&idx32}, {&o2}));
  EXPECT_EQ(o2.values<float>(), (std::vector<float>{20, 21, 0, 1}));
}

TEST(CapiIndices, RejectsIndicesOutOfRange) {
  Instance inst;
  Arg idx = i64({2}, {1, 5});
  Arg o = out(WEFT_F32, {2, 2});
  EXPECT_WEFT_ERROR(run(inst.m, "gather", {&idx}, {&o}), WEFT_ERR_INVALID_VALUE,
                    "weft_run(gather): gather (scope 'embed', model.cpp:30): index 5 at position [1] of the indices is "
                    "out of range for axis 0 of size 5 (valid: -5 to 4)");
  Arg idx32 = i32({3}, {0, -6, 1});
  Arg o3 = out(WEFT_F32, {3, 2});
  EXPECT_WEFT_ERROR(run(inst.m, "gather32", {&idx32}, {&o3}), WEFT_ERR_INVALID_VALUE,
                    "index -6 at position [1] of the indices");
}

// ---- threads

TEST(CapiThreads, KernelsSeeTheirInstancesPool) {
  for (int32_t threads : {1, 3}) {
    weft_options options{};
    options.num_threads = threads;
    Instance inst(&options);
    Arg n = out(WEFT_I64, {}, 8), check = out(WEFT_I64, {}, 8);
    EXPECT_WEFT_OK(run(inst.m, "threads", {}, {&n, &check}));
    EXPECT_EQ(n.values<int64_t>()[0], threads);
    EXPECT_EQ(check.values<int64_t>()[0], 32640);  // 0 + 1 + ... + 255, from nested loops; scratch aligned
  }
}

TEST(CapiThreads, EightThreadsWithTheirOwnInstancesAgree) {
  std::vector<float> xs(32);
  for (int i = 0; i < 32; ++i) xs[i] = static_cast<float>(i) * 0.25f - 3;
  Arg x = f32({8, 4}, xs);
  Arg y_ref = out(WEFT_F32, {8, 3});
  {
    Instance ref;
    EXPECT_WEFT_OK(run(ref.m, "affine", {&x}, {&y_ref}));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 8; ++t) {
    pool.emplace_back([&] {
      weft_options options{};
      options.num_threads = 2;
      weft_model* m = nullptr;
      if (weft_create(&options, &m) != WEFT_OK) {
        ++failures;
        return;
      }
      Arg xt = x;
      Arg one = f32({3}, {1, 1, 1});
      for (int iter = 0; iter < 25; ++iter) {
        Arg y = out(WEFT_F32, {8, 3});
        Arg total = out(WEFT_F32, {3}), steps = out(WEFT_I64, {}, 8);
        Arg n = out(WEFT_I64, {}, 8), check = out(WEFT_I64, {}, 8);
        if (run(m, "affine", {&xt}, {&y}) != WEFT_OK || y.bytes != y_ref.bytes) ++failures;
        if (run(m, "accumulate", {&one}, {&total, &steps}) != WEFT_OK) ++failures;
        if (run(m, "threads", {}, {&n, &check}) != WEFT_OK || check.values<int64_t>()[0] != 32640) ++failures;
      }
      float acc[3];
      int64_t count = 0;
      weft_get_param(m, "acc", acc, sizeof acc);
      weft_get_param(m, "count", &count, sizeof count);
      if (acc[0] != 26 || acc[2] != 28 || count != 25) ++failures;  // [1, 2, 3] + 25
      weft_destroy(m);
    });
  }
  for (std::thread& t : pool) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(CapiThreads, AFailedCallLeavesItsMessageOnItsOwnThread) {
  EXPECT_WEFT_ERROR(weft_param_info(-3, nullptr), WEFT_ERR_NULL_ARGUMENT, "`info` is NULL");
  std::string other;
  std::thread([&] {
    weft_value_info info{};
    weft_param_info(-3, &info);
    other = weft_last_error();
  }).join();
  EXPECT_TRUE(contains(other, "parameter -3 is out of range")) << other;
  EXPECT_TRUE(contains(weft_last_error(), "`info` is NULL")) << weft_last_error();
}

// ---- what the shared object exports

TEST(CapiExports, OnlyTheApiIsExported) {
  const std::set<std::string> api = {"weft_last_error", "weft_status_name",  "weft_model_name",  "weft_num_entries",
                                     "weft_entry_name", "weft_find_entry",   "weft_num_inputs",  "weft_num_outputs",
                                     "weft_input_info", "weft_output_info",  "weft_num_symbols", "weft_symbol_info",
                                     "weft_num_params", "weft_param_info",   "weft_create",      "weft_destroy",
                                     "weft_bind_dim",   "weft_output_shape", "weft_input_shape", "weft_run",
                                     "weft_get_param",  "weft_set_param",    "weft_generate"};
  void* lib = dlopen(WEFT_CAPI_MODEL_LIB, RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(lib, nullptr) << dlerror();
  for (const std::string& name : api) EXPECT_NE(dlsym(lib, name.c_str()), nullptr) << name;
  for (const char* hidden : {"weft_parallel_for", "weft_num_threads", "weft_thread_scratch", "weft_rt_the_model",
                             "rt_fail", "rt_run_program", "rt_load_weights"})
    EXPECT_EQ(dlsym(lib, hidden), nullptr) << hidden;
  dlclose(lib);

  std::string command = std::string("nm -D --defined-only '") + WEFT_CAPI_MODEL_LIB + "' 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::set<std::string> exported;
  char line[512];
  while (fgets(line, sizeof line, pipe)) {
    std::string s(line);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    size_t space = s.rfind(' ');
    std::string kind = space != std::string::npos && space >= 2 ? s.substr(space - 1, 1) : "";
    if (kind == "T" || kind == "D" || kind == "B" || kind == "R" || kind == "W" || kind == "V")
      exported.insert(s.substr(space + 1));
  }
  int status = pclose(pipe);
  if (status != 0 || exported.empty()) GTEST_SKIP() << "nm is not available";
  EXPECT_EQ(exported, api);
}

}  // namespace
}  // namespace weft::capi_test
