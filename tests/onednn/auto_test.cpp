/** \file
 * The "auto" backend (backends/onednn/auto_provider.cpp): per call, the faster of oneDNN's and the
 * LLVM provider's kernels, measured at compile time; the report names the one kept and both times.
 */
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <regex>

#include "frontend/nn/nn.h"
#include "passes/autodiff.h"
#include "passes/pipeline.h"
#include "tests/onednn/testing.h"

#ifdef WEFT_HAVE_ONEDNN
#include "backends/onednn/onednn_backend.h"
#include "backends/onednn/rnn_layer.h"
#endif

namespace weft::onednn_tests {
namespace {

std::unique_ptr<CompiledExecutable> compile_auto(const Graph& g) {
  auto backend = make_backend("auto");
  return dynamic_cast<const ProviderChain&>(*backend).compile_chain(g);
}

TEST(AutoBackend, TimesBothProvidersWhereBothRunACallAndKeepsTheFaster) {
  SKIP_WITHOUT_ONEDNN();
  std::vector<std::string> names = backend_names();
  if (std::find(names.begin(), names.end(), "llvm") == names.end()) GTEST_SKIP() << "needs the LLVM backend";
  Graph g = parse_graph(
      "weft 1\ngraph two(x: f32[B<=64, 65], w: f32[31, 65], b: f32[31], v: f32[B, 7]) -> (y: f32[B, 31], "
      "z: f32[B, 7]) {\n"
      "  %0 = matmul(x, w, transpose_b=true) : f32[B, 31]\n  %1 = add(%0, b) : f32[B, 31]\n"
      "  %2 = relu(%1) : f32[B, 31]\n  %3 = sin(v) : f32[B, 7]\n  return %2, %3\n}\n");
  auto exe = compile_auto(g);
  auto want = make_backend("interp")->compile(g);
  ASSERT_EQ(exe->stats().nodes.size(), 2u) << exe->stats().report();
  // The product: both providers take it; the note gives both times and the provider column the choice.
  const NodeStats& product = exe->stats().nodes[0];
  std::smatch m;
  ASSERT_TRUE(std::regex_search(product.reason, m,
                                std::regex("^measured(?: before)?: onednn ([0-9.]+) ms \\(matmul \\+ bias \\+ relu\\), "
                                           "llvm ([0-9.]+) ms( \\(oneDNN less than 10% faster: llvm kept\\))?$")))
      << product.reason;
  // oneDNN is kept only when more than 10% faster (a near-tie goes to generated code).
  const double onednn_ms = std::stod(m[1].str()), llvm_ms = std::stod(m[2].str());
  if (onednn_ms > 0 && std::fabs(llvm_ms / onednn_ms - 1.1) > 0.01) {  // (printed to 4 digits: not at the margin)
    EXPECT_EQ(product.provider, llvm_ms > 1.1 * onednn_ms ? "onednn" : "llvm") << product.reason;
    if (onednn_ms != llvm_ms)  // (equal when printed: either)
      EXPECT_EQ(m[3].matched, onednn_ms < llvm_ms && llvm_ms < 1.1 * onednn_ms) << product.reason;
  }
  // The sin: oneDNN has no primitive, so the LLVM provider runs it, and the note says why.
  EXPECT_EQ(exe->stats().nodes[1].provider, "llvm");
  EXPECT_NE(exe->stats().nodes[1].reason.find("oneDNN: sin has no oneDNN eltwise"), std::string::npos)
      << exe->stats().report();
  // The times are kept with the compile cache: compiling again reads them instead of timing again.
  if (std::getenv("WEFT_JIT_CACHE") == nullptr || std::string(std::getenv("WEFT_JIT_CACHE")) != "off") {
    auto again = compile_auto(g);
    EXPECT_EQ(again->stats().nodes[0].reason.rfind("measured before: ", 0), 0u) << again->stats().report();
    EXPECT_EQ(again->stats().nodes[0].reason.substr(again->stats().nodes[0].reason.find(':')),
              product.reason.substr(product.reason.find(':')));
    EXPECT_EQ(again->stats().nodes[0].provider, product.provider);
  }
  for (int64_t batch : {1, 3, 64}) {
    std::vector<Tensor> inputs = random_inputs(g, {{"B", batch}}, static_cast<uint64_t>(batch));
    std::vector<Tensor> a = want->run(inputs), b = exe->run(inputs);
    for (size_t k = 0; k < a.size(); ++k) expect_close(a[k], b[k], {1e-5, 1e-4}, "auto output " + std::to_string(k));
  }
}

TEST(AutoBackend, ACallNeitherProviderTakesRunsOnTheInterpreterWithBothReasons) {
  SKIP_WITHOUT_ONEDNN();
  Graph g = parse_graph(
      "weft 1\ngraph f64(a: f64[3, 5], b: f64[5, 2]) -> (y: f64[3, 2]) {\n  %0 = matmul(a, b) : f64[3, 2]\n"
      "  return %0\n}\n");
  auto exe = compile_auto(g);
  ASSERT_EQ(exe->stats().nodes.size(), 1u);
  const NodeStats& n = exe->stats().nodes[0];
  EXPECT_EQ(n.provider, "interp");
  EXPECT_NE(n.reason.find("oneDNN: f64[3, 5] operand (oneDNN runs f32 only here); llvm: "), std::string::npos)
      << n.reason;
  std::vector<Tensor> out = exe->run(std::vector<Tensor>{Tensor::from<double>({3, 5}, std::vector<double>(15, 1.0)),
                                                         Tensor::from<double>({5, 2}, std::vector<double>(10, 2.0))});
  EXPECT_EQ(out[0].data<double>()[5], 10.0);
}

#ifdef WEFT_HAVE_ONEDNN
// auto times a recurrent layer with lengths as rows that run the whole sequence: the case oneDNN's
// primitive runs (with a shorter row it runs the decomposition, so lengths of 0 would have timed
// generated code twice). Forward and backward, i64 lengths.
TEST(AutoBackend, TimesARecurrentLayerWithLengthsAsFullRows) {
  dsl::Builder b("lstm_lengths");
  auto x = b.input("x", "f32[B<=8, T<=16, 3]");
  auto len = b.input("lengths", "i64[B]");
  nn::LSTM lstm(b, "lstm", 3, 5);
  b.output("loss", dsl::sum(lstm(x, {}, len).output));
  Graph g = differentiate(b.finish(), "loss");
  LoweringOptions options;
  options.keep_composites = onednn::keeps_recurrent_layer;
  Lowered lowered = lower(g, options);
  ASSERT_TRUE(lowered.program.has_value());
  int layers = 0;
  for (const KernelCall& call : lowered.program->calls) {
    std::optional<int> k = onednn::lengths_operand(call);
    if (!onednn::is_recurrent_layer(call.op)) {
      EXPECT_FALSE(k.has_value());
      continue;
    }
    ++layers;
    ASSERT_TRUE(k.has_value()) << op_name(call.op);
    ASSERT_EQ(call.operands[static_cast<size_t>(*k)].type.dtype, DType::i64);
    AutoTimingOperands operands(call, {{"B", 8}, {"T", 16}});
    const int64_t* lengths = static_cast<const int64_t*>(operands.pointers()[static_cast<size_t>(*k)]);
    for (int b = 0; b < 8; ++b) EXPECT_EQ(lengths[b], 16) << op_name(call.op) << " row " << b;
    const float* xs = static_cast<const float*>(operands.pointers()[0]);
    EXPECT_TRUE(std::all_of(xs, xs + 8 * 16 * 3, [](float v) { return v >= -1 && v < 1; }));
    EXPECT_TRUE(std::any_of(xs, xs + 8 * 16 * 3, [](float v) { return v != 0; }));
  }
  EXPECT_EQ(layers, 2) << "the lstm and its lstm_backward";
}

// The training pair auto times before lowering (onednn::training_pair): from either node, the same
// graph of two nodes, the pair's outside operands as inputs, the backward's results then the
// forward's as outputs; nothing for a node that is not a recurrent layer or has no partner.
TEST(AutoBackend, ATrainingLayersPairIsTheForwardAndItsBackward) {
  dsl::Builder b("lstm_pair");
  auto x = b.input("x", "f32[B<=8, T<=16, 3]");
  nn::LSTM lstm(b, "lstm", 3, 5);
  b.output("loss", dsl::sum(lstm(x).output));
  Graph g = differentiate(b.finish(), "loss");
  const Node *forward = nullptr, *backward = nullptr;
  for (const Node& n : g.nodes()) {
    if (n.op == OpKind::lstm) forward = &n;
    if (n.op == OpKind::lstm_backward) backward = &n;
  }
  ASSERT_TRUE(forward && backward) << print_graph(g);
  std::optional<Graph> from_forward = onednn::training_pair(g, *forward);
  std::optional<Graph> from_backward = onednn::training_pair(g, *backward);
  ASSERT_TRUE(from_forward && from_backward);
  EXPECT_EQ(print_graph(*from_forward), print_graph(*from_backward));
  ASSERT_EQ(from_forward->nodes().size(), 2u) << print_graph(*from_forward);
  EXPECT_EQ(from_forward->nodes()[0].op, OpKind::lstm);
  EXPECT_EQ(from_forward->nodes()[1].op, OpKind::lstm_backward);
  EXPECT_EQ(from_forward->outputs().size(), backward->results.size() + forward->results.size());
  size_t outside = forward->operands.size();  // the backward's operands not written by the forward
  for (ValueId v : backward->operands)
    outside += std::find(forward->results.begin(), forward->results.end(), v) == forward->results.end() &&
               std::find(forward->operands.begin(), forward->operands.end(), v) == forward->operands.end();
  EXPECT_EQ(from_forward->inputs().size(), outside) << print_graph(*from_forward);
  // Inference (no backward) and other ops have no pair.
  dsl::Builder i("lstm_inference");
  auto xi = i.input("x", "f32[B<=8, T<=16, 3]");
  i.output("y", nn::LSTM(i, "lstm", 3, 5)(xi).output);
  Graph inference = i.finish();
  for (const Node& n : inference.nodes()) EXPECT_FALSE(onednn::training_pair(inference, n).has_value()) << op_name(n.op);
}
#endif

}  // namespace
}  // namespace weft::onednn_tests
