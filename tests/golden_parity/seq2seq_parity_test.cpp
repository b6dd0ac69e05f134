// PyTorch parity of the Bahdanau-form attention decoder (PyTorch's seq2seq tutorial with an LSTM):
// the whole teacher-forced model, the same with symbolic shapes, and its decode step run token by
// token, all against one golden file.
#include <gtest/gtest.h>

#include "frontend/nn/nn.h"
#include "tests/golden_parity/golden.h"
#include "tests/golden_parity/golden_models.h"

namespace weft::golden {
namespace {

TEST(BahdanauParity, TeacherForcedLogitsAndWeightsMatchTorch) {
  SafetensorsFile f = read_golden("seq2seq_bahdanau");
  for (bool symbolic : {false, true}) {
    auto out = run_with_torch_weights(seq2seq_bahdanau_graph(f, symbolic), f,
                                      inputs_of(f, {"src", "src_lengths", "tgt_in"}), kModelNames);
    expect_close(out.at("logits"), tensor_of(f, "out.logits"), "logits");
    expect_close(out.at("weights"), tensor_of(f, "out.weights"), "weights");
  }
}

TEST(BahdanauParity, DecodeStepTokenByTokenMatchesTorch) {
  SafetensorsFile f = read_golden("seq2seq_bahdanau");
  dsl::Builder b("step");
  auto src = b.input("src", "i64[B, S]");
  auto lengths = b.input("src_lengths", "i64[B]");
  auto prev = b.input("prev", "i64[B]");
  auto h = b.input("h", "f32[2, B, 5]");
  auto c = b.input("c", "f32[2, B, 5]");
  auto first = b.input("first", "bool[]");  // the first step starts from the encoder's state
  nn::Seq2SeqAttention model(b, "model", kBahdanau);
  nn::Encoded e = model.encode(src, lengths);
  nn::LstmState state{dsl::select(first, e.state.h, h), dsl::select(first, e.state.c, c)};
  nn::DecodeStep step = model.decode_step(prev, state, e);
  b.output("logits", step.logits);
  b.output("weights", step.weights);
  b.output("h_next", step.state.h);
  b.output("c_next", step.state.c);
  auto exe = make_backend("interp")->compile(b.finish());
  nn::load_torch_state_dict(*exe, f, kModelNames);

  Tensor tgt = tensor_of(f, "in.tgt_in"), logits = tensor_of(f, "out.logits"), weights = tensor_of(f, "out.weights");
  const int64_t batch = tgt.shape()[0], steps = tgt.shape()[1];
  Tensor h_t = Tensor::zeros(DType::f32, {2, batch, 5}), c_t = Tensor::zeros(DType::f32, {2, batch, 5});
  for (int64_t t = 0; t < steps; ++t) {
    auto out = exe->run_named({{"src", tensor_of(f, "in.src")},
                               {"src_lengths", tensor_of(f, "in.src_lengths")},
                               {"prev", take(tgt, 1, {t}).reshaped({batch})},
                               {"h", h_t},
                               {"c", c_t},
                               {"first", Tensor::from<bool>({}, {t == 0})}});
    expect_close(out.at("logits"), take(logits, 1, {t}).reshaped({batch, 9}), "logits at step " + std::to_string(t));
    expect_close(out.at("weights"), take(weights, 1, {t}).reshaped({batch, 5}), "weights at step " + std::to_string(t));
    h_t = out.at("h_next");
    c_t = out.at("c_next");
  }
}

}  // namespace
}  // namespace weft::golden
