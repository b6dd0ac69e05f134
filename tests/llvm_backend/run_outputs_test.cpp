/** \file
 * How `CompiledExecutable::run` hands its results back (backends/llvm/llvm_backend.cpp): an output held
 * in an arena slot is computed straight into the tensor returned (the slot's buffer is that tensor
 * for the run), so nothing is copied out of the arena; outputs held elsewhere are copied. Checked
 * here: every kind of output (a fused region's, one written in place over a temporary, the same
 * value twice, an input passed through, a parameter and its update) equals the interpreter's, and
 * the tensors of one run are not touched by the next — each run's outputs are its own memory.
 */
#include <gtest/gtest.h>

#include <cstring>

#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

using dsl::Builder;

Graph every_kind_of_output() {
  Builder b("outputs");
  auto x = b.input("x", "f32[B<=64, 16]");
  auto w = b.param("w", "f32[16, 16]", Initializer{"uniform", {{"low", -0.5}, {"high", 0.5}}, 3});
  auto count = b.param("count", "f32[16]");
  auto scores = dsl::matmul(x, w);             // a matmul region
  auto probs = dsl::softmax(scores);           // a reduction region
  auto scaled = dsl::relu(probs * 2.0f - 0.1f);  // a loop region, in place over probs
  b.output("scaled", scaled);
  b.output("scaled_again", scaled);
  b.output("x", x);
  b.output("count", count);
  b.output("row_sums", dsl::sum(probs, {1}));
  b.update("count", count + 1.0f);
  return b.finish();
}

TEST(LlvmRunOutputs, EveryKindOfOutputEqualsTheInterpreter) {
  Graph g = every_kind_of_output();
  auto interp = InterpBackend().compile(g);
  auto llvm = LlvmBackend().compile_llvm(g);
  EXPECT_EQ(llvm->stats().fallback, 0) << llvm->stats().report();
  for (int64_t batch : {1, 5, 64, 0}) {
    std::vector<Tensor> inputs = random_inputs(g, {{"B", batch}}, 7 + batch);
    std::vector<Tensor> want = interp->run(inputs);
    std::vector<Tensor> got = llvm->run(inputs);
    ASSERT_EQ(want.size(), got.size());
    for (size_t k = 0; k < want.size(); ++k)
      expect_close(want[k], got[k], kMatmul, fmt::format("B={} output {}", batch, g.outputs()[k].name));
    // The two outputs of one value are two tensors, not one storage handed out twice.
    EXPECT_NE(got[0].raw(), got[1].raw());
    EXPECT_NE(got[2].raw(), inputs[0].raw());
  }
}

TEST(LlvmRunOutputs, ARunLeavesTheTensorsOfEarlierRunsAlone) {
  Graph g = every_kind_of_output();
  auto llvm = LlvmBackend().compile_llvm(g);
  std::vector<Tensor> first_inputs = random_inputs(g, {{"B", 33}}, 1);
  std::vector<Tensor> first = llvm->run(first_inputs);
  std::vector<Tensor> kept;
  for (const Tensor& t : first) kept.push_back(t.clone());
  std::vector<Tensor> second = llvm->run(random_inputs(g, {{"B", 33}}, 2));
  std::vector<Tensor> third = llvm->run(random_inputs(g, {{"B", 64}}, 3));
  for (size_t k = 0; k < first.size(); ++k) {
    ASSERT_EQ(first[k].nbytes(), kept[k].nbytes());
    EXPECT_EQ(std::memcmp(first[k].raw(), kept[k].raw(), kept[k].nbytes()), 0) << g.outputs()[k].name;
    EXPECT_NE(first[k].raw(), second[k].raw()) << g.outputs()[k].name;
  }
  // The parameter's update took effect between runs: count went 0 -> 1 -> 2.
  EXPECT_EQ(first[3].data<float>()[0], 0.0f);
  EXPECT_EQ(second[3].data<float>()[0], 1.0f);
  EXPECT_EQ(third[3].data<float>()[0], 2.0f);
}

}  // namespace
}  // namespace weft::llvm_tests
