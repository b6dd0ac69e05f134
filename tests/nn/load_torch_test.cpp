// The PyTorch state_dict loader: name mapping (prefix, renames, packed q/k/v projections), and one
// error that names every unmatched PyTorch tensor, unset Weft parameter and disagreeing shape.
#include <gtest/gtest.h>

#include <cstring>

#include "tests/nn/nn_testing.h"

namespace weft::nn {
namespace {

using testing::error_of;
using testing::values;

TensorBlob blob(const std::string& name, std::vector<int64_t> shape, std::vector<float> v) {
  TensorBlob t{name, DType::f32, std::move(shape), std::vector<std::byte>(v.size() * sizeof(float))};
  std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

std::vector<float> counting(int n, float from = 0) {
  std::vector<float> v;
  for (int i = 0; i < n; ++i) v.push_back(from + static_cast<float>(i));
  return v;
}

/// nn.MultiheadAttention(2, 1) as PyTorch saves it, plus a tensor of another module.
SafetensorsFile torch_mha_file() {
  SafetensorsFile f;
  f.tensors.push_back(blob("param.attn.in_proj_weight", {6, 2}, counting(12)));
  f.tensors.push_back(blob("param.attn.in_proj_bias", {6}, counting(6, 100)));
  f.tensors.push_back(blob("param.attn.out_proj.weight", {2, 2}, {1, 0, 0, 1}));
  f.tensors.push_back(blob("param.attn.out_proj.bias", {2}, {0.5, -0.5}));
  f.tensors.push_back(blob("in.query", {1, 1, 2}, {0, 0}));  // not a parameter: no "param." prefix
  return f;
}

TEST(LoadTorch, SplitsPackedProjectionsIntoQueryKeyAndValueRowBlocks) {
  std::vector<MappedTensor> m = map_torch_state_dict(torch_mha_file());
  std::map<std::string, std::vector<float>> by_name;
  for (const MappedTensor& t : m) by_name[t.weft_name] = values(t.value);
  ASSERT_EQ(by_name.size(), 8u);
  EXPECT_EQ(by_name.at("attn.q_proj.weight"), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(by_name.at("attn.k_proj.weight"), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_EQ(by_name.at("attn.v_proj.weight"), (std::vector<float>{8, 9, 10, 11}));
  EXPECT_EQ(by_name.at("attn.q_proj.bias"), (std::vector<float>{100, 101}));
  EXPECT_EQ(by_name.at("attn.v_proj.bias"), (std::vector<float>{104, 105}));
  EXPECT_EQ(by_name.at("attn.out_proj.bias"), (std::vector<float>{0.5, -0.5}));
  EXPECT_EQ(m[0].torch_name, "attn.in_proj_weight");
}

TEST(LoadTorch, RenamesThenPrefixesNames) {
  SafetensorsFile f;
  f.tensors.push_back(blob("param.rnn.weight_ih_l0", {1}, {1}));
  f.tensors.push_back(blob("param.head.weight", {1}, {2}));
  f.tensors.push_back(blob("param.num_batches_tracked", {1}, {3}));
  std::vector<MappedTensor> m = map_torch_state_dict(
      f, {.weft_prefix = "model.", .renames = {{"rnn.", "encoder."}}, .ignore = {"num_batches_tracked"}});
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].weft_name, "model.encoder.weight_ih_l0");
  EXPECT_EQ(m[1].weft_name, "model.head.weight");
}

TEST(LoadTorch, SetsEveryParameterOfACompiledModel) {
  Builder b("g");
  auto x = b.input("x", "f32[1, 1, 2]");
  MultiHeadAttention attn(b, "attn", 2, 1);
  b.output("y", attn(x, x, x));
  auto exe = make_backend("interp")->compile(b.finish());
  std::vector<MappedTensor> loaded = load_torch_state_dict(*exe, torch_mha_file());
  EXPECT_EQ(loaded.size(), 8u);
  EXPECT_EQ(values(exe->state("attn.k_proj.weight")), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_EQ(values(exe->state("attn.out_proj.bias")), (std::vector<float>{0.5, -0.5}));
}

TEST(LoadTorch, OneErrorNamesUnmatchedTensorsUnsetParametersAndWrongShapes) {
  Builder b("g");
  auto x = b.input("x", "f32[1, 1, 2]");
  MultiHeadAttention attn(b, "attn", 2, 1);
  b.output("y", attn(x, x, x));
  auto exe = make_backend("interp")->compile(b.finish());
  SafetensorsFile f = torch_mha_file();
  f.tensors.erase(f.tensors.begin() + 3);                             // out_proj.bias
  f.tensors[2] = blob("param.attn.out_proj.weight", {1, 2}, {1, 2});  // wrong shape
  f.tensors.push_back(blob("param.attn.extra", {1}, {0}));
  std::string msg = error_of([&] { load_torch_state_dict(*exe, f); });
  EXPECT_NE(msg.find("PyTorch tensor 'attn.extra' matches no Weft parameter"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Weft parameter 'attn.out_proj.bias' (f32[2]) is left unset"), std::string::npos) << msg;
  EXPECT_NE(msg.find("PyTorch tensor 'attn.out_proj.weight' is f32[1, 2], but the Weft parameter is f32[2, 2]"),
            std::string::npos)
      << msg;
  // Nothing was set: the check comes first.
  EXPECT_NE(values(exe->state("attn.k_proj.weight")), (std::vector<float>{4, 5, 6, 7}));
}

TEST(LoadTorch, PackedProjectionNeedsThreeRowBlocks) {
  SafetensorsFile f;
  f.tensors.push_back(blob("param.in_proj_weight", {4, 2}, counting(8)));
  std::string msg = error_of([&] { map_torch_state_dict(f); });
  EXPECT_NE(msg.find("the packed projection 'in_proj_weight' must have 3E rows (q, k, v), but it is f32[4, 2]"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace weft::nn
