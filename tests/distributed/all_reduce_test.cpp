// The all_reduce op: shape rule, kernel (through a registered communicator, and the identity
// without one), gradient and text IR, on the interpreter and the LLVM backend's fallback.

#include <gtest/gtest.h>

#include "backends/backend.h"
#include "backends/llvm/llvm_backend.h"
#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "ir/graph_builder.h"
#include "ir/text.h"
#include "passes/autodiff.h"
#include "tests/distributed/distributed_testing.h"

namespace weft {
namespace {

using ddp_testing::MirrorCommunicator;

Graph reduce_graph(const std::string& reduce) {
  Builder b("reduce");
  auto x = b.input("x", "f32[3]");
  b.output("y", dsl::all_reduce(x, reduce, "test_group"));
  return b.finish();
}

std::vector<float> run_y(const std::string& backend, const Graph& g, std::vector<float> x) {
  auto exe = make_backend(backend)->compile(g);
  return exe->run_named({{"x", Tensor::from<float>({3}, x)}}).at("y").to_vector<float>();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

class AllReduceOnBackend : public ::testing::TestWithParam<std::string> {};

TEST_P(AllReduceOnBackend, IsTheIdentityWithoutACommunicator) {
  EXPECT_EQ(run_y(GetParam(), reduce_graph("sum"), {1, -2, 3.5}), (std::vector<float>{1, -2, 3.5}));
}

TEST_P(AllReduceOnBackend, SumsAndAveragesThroughTheGroupsCommunicator) {
  auto comm = std::make_shared<MirrorCommunicator>(0, std::vector<double>{10, 20, 30});
  CommunicatorScope scope("test_group", comm);
  EXPECT_EQ(run_y(GetParam(), reduce_graph("sum"), {1, -2, 3.5}), (std::vector<float>{11, 18, 33.5}));
  EXPECT_EQ(run_y(GetParam(), reduce_graph("mean"), {1, -2, 3.5}), (std::vector<float>{5.5, 9, 16.75}));
  EXPECT_EQ(comm->calls, (std::vector<size_t>{3, 3}));
  // Another group's communicator is not this one's.
  CommunicatorScope other("other_group", std::make_shared<MirrorCommunicator>(0, std::vector<double>{100}));
  EXPECT_EQ(run_y(GetParam(), reduce_graph("sum"), {1, 2, 3}), (std::vector<float>{11, 22, 33}));
}

INSTANTIATE_TEST_SUITE_P(Backends, AllReduceOnBackend, ::testing::Values("interp", "llvm"));

TEST(AllReduceOp, TheLlvmBackendRunsItOnTheInterpreter) {
  auto exe = LlvmBackend().compile_llvm(reduce_graph("mean"), {});
  std::string report = exe->stats().report();
  EXPECT_NE(report.find("all_reduce"), std::string::npos) << report;
  EXPECT_NE(report.find("interpreter: the interpreter's kernel calls the group's communicator"), std::string::npos) << report;
}

TEST(AllReduceOp, RejectsIntegerOperandsUnknownReductionsAndEmptyGroups) {
  Builder b("bad");
  auto ints = b.input("i", "i64[2]");
  auto x = b.input("x", "f32[2]");
  EXPECT_NE(error_of([&] { dsl::all_reduce(ints); }).find("all_reduce: the operand must be f32 or f64, but got i64[2]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              dsl::all_reduce(x, "max");
            }).find("all_reduce: 'reduce' must be \"sum\" or \"mean\", but got \"max\""),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              dsl::all_reduce(x, "sum", "");
            }).find("all_reduce: 'group' must name a communicator group (e.g. \"world\"), but it is empty"),
            std::string::npos);
  EXPECT_NE(error_of([&] { dsl::all_reduce(x, "max"); }).find("all_reduce_test.cpp:"), std::string::npos)
      << "the error names the user's line";
}

TEST(AllReduceOp, RoundTripsThroughTheTextIr) {
  const std::string text = print_graph(reduce_graph("mean"));
  EXPECT_NE(text.find("all_reduce(x, reduce=\"mean\", group=\"test_group\")"), std::string::npos) << text;
  EXPECT_EQ(print_graph(parse_graph(text)), text);
}

TEST(AllReduceOp, ItsGradientIsTheAllReduceOfTheGradient) {
  Builder b("grad");
  auto x = b.input("x", "f32[3]");
  auto w = b.param("w", "f32[3]", Initializer{});
  b.output("loss", dsl::sum(dsl::all_reduce(x * w, "mean", "test_group")));
  Graph g = differentiate(b.finish(), "loss", {"w"});
  int reduces = 0;
  for (const Node& n : g.nodes())
    if (n.op == OpKind::all_reduce) {
      ++reduces;
      EXPECT_EQ(n.attrs.get_string("reduce"), "mean");
      EXPECT_EQ(n.attrs.get_string("group"), "test_group");
    }
  EXPECT_EQ(reduces, 2) << print_graph(g);

  // d/dw sum(mean_r(x_r * w)) on rank 0 is mean_r(d loss_r / d y_r) * x = mean(1, 1) * x = x with a
  // mirrored peer, and the same with none.
  auto comm = std::make_shared<MirrorCommunicator>(0);
  CommunicatorScope scope("test_group", comm);
  auto exe = make_backend("interp")->compile(g);
  exe->set_state("w", Tensor::from<float>({3}, {0.5f, 2, -1}));
  auto out = exe->run_named({{"x", Tensor::from<float>({3}, {1, 2, 3})}});
  EXPECT_EQ(out.at("grad.w").to_vector<float>(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(comm->calls.size(), 2u);
}

}  // namespace
}  // namespace weft
