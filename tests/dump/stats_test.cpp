// Graph statistics: hand-computed op counts, parameter sizes, FLOPs and value bytes.
#include "ir/stats.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/dump/fixtures.h"

namespace weft {
namespace {

TEST(Stats, MlpCountsAtTheBatchBound) {
  GraphStats s = compute_stats(dump_test::mlp(/*bound=*/4));
  EXPECT_EQ(s.num_nodes, 5);
  EXPECT_EQ(s.op_counts.at("matmul"), 2);
  EXPECT_EQ(s.op_counts.at("add"), 2);
  EXPECT_EQ(s.op_counts.at("relu"), 1);
  // 256*784 + 256 + 10*256 + 10 = 203530 elements of 4 bytes.
  EXPECT_EQ(s.num_params, 4);
  EXPECT_EQ(s.param_elements, 203530);
  EXPECT_EQ(s.param_bytes, 814120);
  // matmul 2*B*784*256 = 401408*B, add and relu 256*B each, matmul 2*B*256*10 = 5120*B, add 10*B.
  EXPECT_EQ(s.flops.str(), "407050*B");
  EXPECT_EQ(s.flops.evaluate(s.bounds), 407050.0 * 4);
}

TEST(Stats, MlpValueBytes) {
  GraphStats s = compute_stats(dump_test::mlp(4));
  ASSERT_EQ(s.values.size(), 10u);  // x, 4 params, 5 results
  EXPECT_EQ(s.values[0].name, "x");
  EXPECT_EQ(s.values[0].bytes.str(), "3136*B");  // 784 floats per row
  EXPECT_EQ(s.values[0].bytes.evaluate(s.bounds), 12544.0);
  EXPECT_EQ(s.values[1].name, "fc1.weight");
  EXPECT_EQ(s.values[1].bytes.evaluate(s.bounds), 802816.0);
  EXPECT_EQ(s.values[5].name, "%0");  // results are named as the text IR names them
  EXPECT_EQ(s.values[5].type.str(), "f32[B, 256]");
  EXPECT_EQ(s.values[9].name, "%4");
  // Rows: x 3136 + three f32[B, 256] results 3072 + two f32[B, 10] results 80; params 814120.
  EXPECT_EQ(s.value_bytes.str(), "6288*B + 814120");
  EXPECT_EQ(s.value_bytes.evaluate(s.bounds), 6288.0 * 4 + 814120);
}

TEST(Stats, UnboundedSymbolsStaySymbolic) {
  Graph g = dump_test::mlp(/*bound=*/0);
  GraphStats s = compute_stats(g);
  EXPECT_FALSE(s.flops.evaluate(s.bounds).has_value());
  EXPECT_EQ(s.flops.unbound_symbols(s.bounds), std::vector<std::string>{"B"});
  std::string report = format_stats(g, s);
  EXPECT_NE(report.find("flops: 407050*B (unbounded: B)"), std::string::npos) << report;
}

TEST(Stats, ReportShowsBoundsTotalsAndOps) {
  Graph g = dump_test::mlp(4);
  std::string report = format_stats(g, compute_stats(g));
  EXPECT_NE(report.find("symbols: B<=4"), std::string::npos) << report;
  EXPECT_NE(report.find("flops: 407050*B = 1628200 (1.63 MFLOP)"), std::string::npos) << report;
  EXPECT_NE(report.find("parameters: 203530 elements, 814120 bytes"), std::string::npos) << report;
  EXPECT_NE(report.find("matmul  2"), std::string::npos) << report;
  EXPECT_NE(report.find("6288*B + 814120 = 839272"), std::string::npos) << report;
}

TEST(Stats, MatMulFlopsUseTheContractedDimAndBatch) {
  using dsl::Tensor;
  Builder b("g");
  Tensor a = b.input("a", DType::f32, {3, 5, 4});  // transposed: [3, 4, 5], K = 5
  Tensor c = b.input("c", DType::f32, {3, 5, 6});
  b.output("y", matmul(a, c, {.transpose_a = true}));  // [3, 4, 6]
  Graph g = b.finish();
  EXPECT_EQ(compute_stats(g).flops.str(), "720");  // 2 * 3 * 4 * 6 * 5
}

TEST(Stats, ReductionsCountInputElements) {
  using dsl::Tensor;
  Builder b("g");
  Tensor x = b.input("x", "f32[B, 7]");
  b.output("y", sum(x, {1}));
  EXPECT_EQ(compute_stats(b.finish()).flops.str(), "7*B");
}

TEST(Stats, ScanMultipliesItsBodyByTheSteps) {
  using dsl::Tensor;
  Builder body("cell");
  Tensor h = body.input("h", "f32[B, 8]");
  Tensor xt = body.input("x_t", "f32[B, 8]");
  Tensor next = tanh(xt + h);  // 8*B + 8*B per step
  body.output("h", next);
  body.output("y", next);
  Builder b("rnn");
  Tensor x = b.input("x", "f32[B<=2, T<=5, 8]");
  Tensor h0 = b.input("h0", "f32[B, 8]");
  auto r = dsl::scan(body.finish(), {.carries = {h0}, .sequences = {x}});
  b.output("y", r[1]);
  GraphStats s = compute_stats(b.finish());
  EXPECT_EQ(s.flops.str(), "16*B*T");
  EXPECT_EQ(s.flops.evaluate(s.bounds), 160.0);
  EXPECT_EQ(s.op_counts.at("scan"), 1);
  EXPECT_EQ(s.op_counts.at("tanh"), 1);  // body nodes are counted too
  EXPECT_EQ(s.num_nodes, 3);
}

TEST(Stats, SymbolicCountCollectsLikeTerms) {
  SymbolicCount c;
  c.add(Dim::symbol("B") * Dim::symbol("T"), 2);
  c.add(Dim(7));
  c.add(Dim::symbol("B") * 3);
  c.add(Dim::symbol("T") * Dim::symbol("B"));
  EXPECT_EQ(c.str(), "3*B + 3*B*T + 7");
  EXPECT_EQ(c.evaluate({{"B", 2}, {"T", 10}}), 3.0 * 2 + 3.0 * 2 * 10 + 7);
  EXPECT_FALSE(c.evaluate({{"B", 2}}).has_value());
  EXPECT_EQ(SymbolicCount().str(), "0");
}

}  // namespace
}  // namespace weft
