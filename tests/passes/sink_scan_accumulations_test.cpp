// sink_scan_accumulations: the same gradients with a backward scan's weight-gradient accumulators
// summed after the loop as one GEMM, and accumulators of other forms left in the loop.
#include "passes/sink_scan_accumulations.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "backends/backend.h"
#include "ir/text.h"
#include "passes/autodiff.h"
#include "passes/verify.h"
#include "test_graphs.h"

namespace weft::pass_tests {
namespace {

// A tanh RNN with symbolic batch and time, time-major or batch-major; v is read twice per step.
std::string rnn(bool time_major, bool reverse) {
  const std::string xs = time_major ? "f32[T<=8, B, 8]" : "f32[B, T<=8, 8]";
  const std::string ys = time_major ? "f32[T, B, 8]" : "f32[B, T, 8]";
  return fmt::format(R"(weft 1
graph rnn(h0: f32[B<=4, 8], xs: {0}) -> (loss: f32[], ys: {1}) {{
  param wx: f32[8, 8] init=normal(mean=0.0, std=0.5, seed=1)
  param wh: f32[8, 8] init=normal(mean=0.0, std=0.5, seed=2)
  param v: f32[8, 8] init=normal(mean=0.0, std=0.5, seed=3)
  %0, %1 = scan(h0, xs, wx, wh, v, num_carry=1, num_seq=1, time_axis={2}, reverse={3}) : f32[B, 8], {1}
    graph step(h: f32[B, 8], x: f32[B, 8], wx: f32[8, 8], wh: f32[8, 8], v: f32[8, 8]) -> (h_next: f32[B, 8], y: f32[B, 8]) {{
      %0 = matmul(x, wx) : f32[B, 8]
      %1 = matmul(h, wh) : f32[B, 8]
      %2 = add(%0, %1) : f32[B, 8]
      %3 = matmul(%2, v, transpose_b=true) : f32[B, 8]
      %4 = matmul(%3, v) : f32[B, 8]
      %5 = add(%2, %4) : f32[B, 8]
      %6 = tanh(%5) : f32[B, 8]
      return %6, %6
    }}
  %2 = mul(%1, %1) : {1}
  %3 = reduce_sum(%2) : f32[]
  return %3, %1
}}
)",
                     xs, ys, time_major ? 0 : 1, reverse ? "true" : "false");
}

std::map<std::string, Tensor> run(const Graph& g, bool time_major, int64_t steps) {
  auto exe = make_backend("interp")->compile(g);
  std::vector<int64_t> xs = time_major ? std::vector<int64_t>{steps, 3, 8} : std::vector<int64_t>{3, steps, 8};
  return exe->run_named({{"h0", random_tensor({3, 8}, 1)}, {"xs", random_tensor(xs, 2)}});
}

void expect_same(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, value] : a) {
    std::vector<float> x = value.to_vector<float>(), y = b.at(name).to_vector<float>();
    ASSERT_EQ(x.size(), y.size()) << name;
    for (size_t i = 0; i < x.size(); ++i)
      EXPECT_NEAR(x[i], y[i], 1e-4 * (1 + std::abs(y[i]))) << name << "[" << i << "]";
  }
}

/// Scans (bodies included) and the carries of each.
std::vector<int64_t> scan_carries(const Graph& g) {
  std::vector<int64_t> out;
  for (const Node& node : g.nodes())
    if (node.op == OpKind::scan) out.push_back(node.attrs.get_int("num_carry"));
  return out;
}

TEST(SinkScanAccumulations, TheBackwardScanSumsItsWeightGradientsAfterTheLoop) {
  for (bool time_major : {false, true})
    for (bool reverse : {false, true}) {
      SCOPED_TRACE(testing::Message() << (time_major ? "time-major" : "batch-major") << (reverse ? ", reverse" : ""));
      Graph grads = differentiate(parse_graph(rnn(time_major, reverse)), "loss");
      Graph sunk = sink_scan_accumulations(grads);
      verify(sunk);
      // The backward scan carried dh and the accumulators of wx, wh and v; now only dh. v is read
      // twice in the step, so its gradient is a sum of two outer products.
      EXPECT_EQ(scan_carries(grads), (std::vector<int64_t>{1, 4}));
      EXPECT_EQ(scan_carries(sunk), (std::vector<int64_t>{1, 1}));
      for (int64_t steps : {1, 2, 5}) {
        SCOPED_TRACE(testing::Message() << steps << " steps");
        expect_same(run(grads, time_major, steps), run(sunk, time_major, steps));
      }
    }
}

TEST(SinkScanAccumulations, BatchedOuterProductsAndUnreadConstsLeaveTheLoopToo) {
  // Attention over a per-row memory: mem's gradient is a sum of two batched outer products per
  // step; `unused` is a const the step never reads, whose gradient the backward scan passes along.
  Graph g = parse_graph(R"(weft 1
graph att(h0: f32[3, 5], xs: f32[3, T<=8, 5]) -> (loss: f32[], ys: f32[3, T, 5]) {
  param mem: f32[3, 4, 5] init=normal(mean=0.0, std=0.5, seed=4)
  param unused: f32[2, 2] init=normal(mean=0.0, std=0.5, seed=5)
  %0, %1 = scan(h0, xs, mem, unused, num_carry=1, num_seq=1) : f32[3, 5], f32[3, T, 5]
    graph step(h: f32[3, 5], x: f32[3, 5], mem: f32[3, 4, 5], unused: f32[2, 2]) -> (h_next: f32[3, 5], y: f32[3, 5]) {
      %0 = reshape(h, shape=[3, 1, 5]) : f32[3, 1, 5]
      %1 = matmul(%0, mem, transpose_b=true) : f32[3, 1, 4]
      %2 = tanh(%1) : f32[3, 1, 4]
      %3 = matmul(%2, mem) : f32[3, 1, 5]
      %4 = reshape(%3, shape=[3, 5]) : f32[3, 5]
      %5 = add(%4, x) : f32[3, 5]
      %6 = tanh(%5) : f32[3, 5]
      return %6, %6
    }
  %2 = mul(%1, %1) : f32[3, T, 5]
  %3 = reduce_sum(%2) : f32[]
  return %3, %1
}
)");
  Graph grads = differentiate(g, "loss");
  Graph sunk = sink_scan_accumulations(grads);
  verify(sunk);
  EXPECT_EQ(scan_carries(grads), (std::vector<int64_t>{1, 3}));  // dh, dmem, dunused
  EXPECT_EQ(scan_carries(sunk), (std::vector<int64_t>{1, 1}));
  for (int64_t steps : {1, 4}) {
    auto exe_inputs = [&] {
      return std::map<std::string, Tensor>{{"h0", random_tensor({3, 5}, 5)}, {"xs", random_tensor({3, steps, 5}, 6)}};
    };
    expect_same(make_backend("interp")->compile(grads)->run_named(exe_inputs()),
                make_backend("interp")->compile(sunk)->run_named(exe_inputs()));
  }
}

TEST(SinkScanAccumulations, KeepsAnAccumulationThatMovesLessMemoryInTheLoop) {
  // v: [1, 8] (an attention score's weight) under 16 rows a step: K·(M + N) = 16·9 > M·N = 8.
  Graph g = parse_graph(R"(weft 1
graph score(h0: f32[16, 8], xs: f32[16, T<=8, 8]) -> (loss: f32[]) {
  param v: f32[1, 8] init=normal(mean=0.0, std=0.5, seed=6)
  %0, %1 = scan(h0, xs, v, num_carry=1, num_seq=1) : f32[16, 8], f32[16, T, 1]
    graph step(h: f32[16, 8], x: f32[16, 8], v: f32[1, 8]) -> (h_next: f32[16, 8], y: f32[16, 1]) {
      %0 = add(h, x) : f32[16, 8]
      %1 = tanh(%0) : f32[16, 8]
      %2 = matmul(%1, v, transpose_b=true) : f32[16, 1]
      return %1, %2
    }
  %2 = mul(%1, %1) : f32[16, T, 1]
  %3 = reduce_sum(%2) : f32[]
  return %3
}
)");
  Graph grads = differentiate(g, "loss");
  EXPECT_EQ(print_graph(sink_scan_accumulations(grads)), print_graph(grads));
}

TEST(SinkScanAccumulations, NoStepsLeaveTheInitialValue) {
  Graph grads = differentiate(parse_graph(rnn(false, false)), "loss");
  expect_same(run(grads, false, 0), run(sink_scan_accumulations(grads), false, 0));
}

TEST(SinkScanAccumulations, LeavesOtherAccumulationsInTheLoop) {
  // A running sum of the inputs (not an outer product), an outer product with its second operand
  // transposed, and an accumulator the step also reads: each stays a carry.
  Graph g = parse_graph(R"(weft 1
graph acc(s0: f32[4, 4], p0: f32[4, 4], q0: f32[4, 4], xs: f32[T<=8, 4, 4]) -> (s: f32[4, 4], p: f32[4, 4], q: f32[4, 4]) {
  %0, %1, %2 = scan(s0, p0, q0, xs, num_carry=3, num_seq=1, time_axis=0) : f32[4, 4], f32[4, 4], f32[4, 4]
    graph step(s: f32[4, 4], p: f32[4, 4], q: f32[4, 4], x: f32[4, 4]) -> (s_next: f32[4, 4], p_next: f32[4, 4], q_next: f32[4, 4]) {
      %0 = add(s, x) : f32[4, 4]
      %1 = matmul(x, x, transpose_a=true, transpose_b=true) : f32[4, 4]
      %2 = add(p, %1) : f32[4, 4]
      %3 = matmul(q, x, transpose_a=true) : f32[4, 4]
      %4 = add(q, %3) : f32[4, 4]
      return %0, %2, %4
    }
  return %0, %1, %2
}
)");
  EXPECT_EQ(print_graph(sink_scan_accumulations(g)), print_graph(g));
}

TEST(SinkScanAccumulations, LeavesAScanWithLengthsAlone) {
  // A finished row keeps its carry, so the accumulation of a scan with lengths is not a plain sum.
  Graph g = parse_graph(R"(weft 1
graph acc(a0: f32[4, 4], xs: f32[4, T<=8, 4], lengths: i64[4]) -> (a: f32[4, 4]) {
  %0 = scan(a0, xs, lengths, num_carry=1, num_seq=1, has_lengths=true) : f32[4, 4]
    graph step(a: f32[4, 4], x: f32[4, 4]) -> (a_next: f32[4, 4]) {
      %0 = matmul(x, x, transpose_a=true) : f32[4, 4]
      %1 = add(a, %0) : f32[4, 4]
      return %1
    }
  return %0
}
)");
  EXPECT_EQ(print_graph(sink_scan_accumulations(g)), print_graph(g));
}

}  // namespace
}  // namespace weft::pass_tests
