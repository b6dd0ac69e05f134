// PyTorch parity of the attention and Transformer layers: nn.MultiheadAttention, the encoder and
// decoder layers (post-norm and pre-norm), and nn.Transformer, each loaded with PyTorch's weights.
#include <gtest/gtest.h>

#include "frontend/nn/nn.h"
#include "tests/golden_parity/golden.h"
#include "tests/golden_parity/golden_models.h"

namespace weft::golden {
namespace {

using dsl::Builder;

TEST(MultiHeadAttentionParity, MatchesTorchOutputAndHeadAveragedWeights) {
  SafetensorsFile f = read_golden("mha");
  Builder b("mha");
  auto q = b.input("query", DType::f32, shape_of(f, "in.query"));
  auto k = b.input("key", DType::f32, shape_of(f, "in.key"));
  auto v = b.input("value", DType::f32, shape_of(f, "in.value"));
  nn::MultiHeadAttention mha(b, "mha", 8, 2);
  auto r = mha.with_weights(q, k, v);
  b.output("attn_output", r.output);
  b.output("attn_weights", r.weights);
  auto out = run_with_torch_weights(
      b.finish(), f,
      {{"query", tensor_of(f, "in.query")}, {"key", tensor_of(f, "in.key")}, {"value", tensor_of(f, "in.value")}},
      {.weft_prefix = "mha."});
  expect_close(out.at("attn_output"), tensor_of(f, "out.attn_output"), "attn_output");
  expect_close(out.at("attn_weights"), tensor_of(f, "out.attn_weights"), "attn_weights");
}

TEST(MultiHeadAttentionParity, MatchesTorchWithCausalAndKeyPaddingMasks) {
  SafetensorsFile f = read_golden("mha_masked");
  auto out = run_with_torch_weights(mha_graph(f, true), f,
                                    inputs_of(f, {"query", "key", "value", "attn_mask", "key_padding_mask"}));
  expect_close(out.at("attn_output"), tensor_of(f, "out.attn_output"), "attn_output");
  expect_close(out.at("attn_weights"), tensor_of(f, "out.attn_weights"), "attn_weights");
}

TEST(MultiHeadAttentionParity, CausalFlagEqualsTheCausalMaskTensor) {
  SafetensorsFile f = read_golden("mha_masked");
  Builder b("mha_causal");
  auto q = b.input("query", DType::f32, shape_of(f, "in.query"));
  auto k = b.input("key", DType::f32, shape_of(f, "in.key"));
  auto v = b.input("value", DType::f32, shape_of(f, "in.value"));
  auto padding = b.input("key_padding_mask", DType::boolean, shape_of(f, "in.key_padding_mask"));
  nn::MultiHeadAttention mha(b, "", 8, 2);
  b.output("attn_output", mha(q, k, v, {.key_padding_mask = padding, .causal = true}));
  std::map<std::string, Tensor> inputs;
  for (const char* name : {"query", "key", "value", "key_padding_mask"})
    inputs[name] = tensor_of(f, std::string("in.") + name);
  auto out = run_with_torch_weights(b.finish(), f, inputs);
  expect_close(out.at("attn_output"), tensor_of(f, "out.attn_output"), "attn_output");
}

void check_encoder_layer(const char* file, bool norm_first, nn::Activation activation) {
  SafetensorsFile f = read_golden(file);
  auto out = run_with_torch_weights(encoder_layer_graph(f, norm_first, activation), f, inputs_of(f, {"src"}));
  expect_close(out.at("output"), tensor_of(f, "out.output"), std::string(file) + " output");
}

TEST(TransformerEncoderLayerParity, PostNormReluMatchesTorch) {
  check_encoder_layer("encoder_layer", false, nn::Activation::relu);
}

TEST(TransformerEncoderLayerParity, PreNormGeluMatchesTorch) {
  check_encoder_layer("encoder_layer_prenorm", true, nn::Activation::gelu);
}

TEST(TransformerDecoderLayerParity, MatchesTorchWithCausalTargetMask) {
  SafetensorsFile f = read_golden("decoder_layer");
  // Under the scope "layer": PyTorch's names are found after the prefix.
  auto out = run_with_torch_weights(decoder_layer_graph(f, "layer"), f, inputs_of(f, {"tgt", "memory", "tgt_mask"}),
                                    {.weft_prefix = "layer."});
  expect_close(out.at("output"), tensor_of(f, "out.output"), "decoder_layer output");
}

TEST(TransformerParity, MatchesTorchWithPaddingAndCausalMasks) {
  SafetensorsFile f = read_golden("transformer");
  auto out = run_with_torch_weights(transformer_graph(f), f, transformer_inputs(f));
  expect_close(out.at("output"), tensor_of(f, "out.output"), "transformer output");
}

/// One graph with symbolic batch and lengths, built once and run on several shapes (issue item 5).
class SymbolicTransformer : public ::testing::Test {
 protected:
  void SetUp() override {
    Builder b("transformer_symbolic");
    auto src = b.input("src", "f32[B, S, 8]");
    auto tgt = b.input("tgt", "f32[B, T, 8]");
    auto src_pad = b.input("src_key_padding_mask", "bool[B, S]");
    nn::Transformer model(b, "", small_transformer());
    b.output(
        "output",
        model(src, tgt, {.src_key_padding_mask = src_pad, .memory_key_padding_mask = src_pad, .causal_tgt = true}));
    exe = make_backend("interp")->compile(b.finish());
    nn::load_torch_state_dict(*exe, f, {});
  }

  Tensor run(const Tensor& src, const Tensor& tgt, const Tensor& src_pad) {
    return exe->run_named({{"src", src}, {"tgt", tgt}, {"src_key_padding_mask", src_pad}}).at("output");
  }

  SafetensorsFile f = read_golden("transformer");
  std::unique_ptr<Executable> exe;
};

TEST_F(SymbolicTransformer, MatchesTorchAtTheGoldenShapes) {
  Tensor out = run(tensor_of(f, "in.src"), tensor_of(f, "in.tgt"), tensor_of(f, "in.src_key_padding_mask"));
  expect_close(out, tensor_of(f, "out.output"), "output [B=2, S=5, T=4]");
}

TEST_F(SymbolicTransformer, RunsUnchangedOnOtherBatchesAndLengths) {
  Tensor src = tensor_of(f, "in.src"), tgt = tensor_of(f, "in.tgt"), pad = tensor_of(f, "in.src_key_padding_mask");
  Tensor expected = tensor_of(f, "out.output");
  // B = 1, T = 3: sequence 0 alone and the first three target steps. With a causal decoder, step t
  // sees only steps <= t, so the result is PyTorch's output[0, :3].
  Tensor one = run(take(src, 0, {0}), take(take(tgt, 0, {0}), 1, first(3)), take(pad, 0, {0}));
  expect_close(one, take(take(expected, 0, {0}), 1, first(3)), "output [B=1, S=5, T=3]");
  // B = 3 (the batch reordered and repeated), T = 4: each row is computed independently.
  Tensor three = run(take(src, 0, {1, 0, 1}), take(tgt, 0, {1, 0, 1}), take(pad, 0, {1, 0, 1}));
  expect_close(three, take(expected, 0, {1, 0, 1}), "output [B=3, S=5, T=4]");
  // S = 3: sequence 1 has only three valid source positions; dropping its padding changes nothing.
  Tensor shorter = run(take(take(src, 0, {1}), 1, first(3)), take(tgt, 0, {1}), take(take(pad, 0, {1}), 1, first(3)));
  expect_close(shorter, take(expected, 0, {1}), "output [B=1, S=3, T=4]");
}

}  // namespace
}  // namespace weft::golden
