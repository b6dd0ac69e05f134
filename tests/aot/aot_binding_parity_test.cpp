/** \file
 * The three ways to run a graph — the interpreter, the JIT (both on the program executor) and a
 * compiled shared object (the C runtime, through runtime/shared_object.h) — give the same answers on
 * symbol binding (B, 2*T, B*T, bounds), on bad inputs, and the two executors the same NaN report.
 */
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>

#include "backends/interp/interpreter.h"
#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "runtime/shared_object.h"
#include "tests/aot/aot_testing.h"

namespace weft::aot_tests {
namespace {

using dsl::Builder;

/// x: B rows of 2*T; y: B*T values; out = sum over x's rows + y reshaped. B and T come from x.
Graph binding_graph() {
  Builder b("binding");
  auto x = b.input("x", "f32[B<=4, 2*T]");
  auto y = b.input("y", "f32[B*T]");
  auto rows = dsl::sum(x, {1});  // [B]
  b.output("rows", rows * 2.0f);
  b.output("y2", y + 1.0f);
  Graph g = b.finish();
  g.declare_symbol("T", 8);
  return g;
}

Tensor iota(std::vector<int64_t> shape) {
  Tensor t = Tensor::zeros(DType::f32, shape);
  auto* p = static_cast<float*>(t.raw());
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(i % 7) - 3.0f;
  return t;
}

/// "ok" and the outputs, or "error".
struct Answer {
  bool ok = false;
  std::vector<Tensor> outputs;
  std::string error;
};

Answer answer(Executable& exe, const std::vector<Tensor>& inputs) {
  Answer a;
  try {
    a.outputs = exe.run(inputs);
    a.ok = true;
  } catch (const Error& e) {
    a.error = e.what();
  }
  return a;
}

TEST(BindingParity, TheInterpreterTheJitAndTheSharedObjectAcceptAndRejectTheSameInputs) {
  Graph g = binding_graph();
  fs::path dir = test_dir();
  auto library = std::make_shared<const SharedObject>(compile({g}, dir, "binding").string());
  SharedObjectExecutable so(library);
  auto interp = make_backend("interp")->compile(g);
  auto jit = make_backend("llvm")->compile(g);
  struct Case {
    std::vector<int64_t> x, y;
    bool valid;
    const char* what;
  };
  const Case cases[] = {
      {{3, 10}, {15}, true, "B = 3, T = 5"},
      {{4, 16}, {32}, true, "both at their bounds"},
      {{1, 0}, {0}, true, "T = 0"},
      {{3, 9}, {15}, false, "2*T odd"},
      {{3, 10}, {14}, false, "B*T disagrees"},
      {{5, 10}, {25}, false, "B beyond its bound"},
      {{2, 18}, {18}, false, "T beyond its bound"},
  };
  for (const Case& c : cases) {
    std::vector<Tensor> inputs{iota(c.x), iota(c.y)};
    Answer a = answer(*interp, inputs), b = answer(*jit, inputs), s = answer(so, inputs);
    EXPECT_EQ(a.ok, c.valid) << c.what << ": " << a.error << " | " << s.error;
    EXPECT_EQ(b.ok, c.valid) << c.what << ": " << b.error;
    EXPECT_EQ(s.ok, c.valid) << c.what << ": " << s.error;
    if (!c.valid) {
      // Each names the offending input.
      const std::string input = c.x[1] % 2 != 0 || c.x[0] > 4 || c.x[1] > 16 ? "'x'" : "'y'";
      EXPECT_NE(a.error.find(input), std::string::npos) << c.what << ": " << a.error;
      EXPECT_EQ(a.error, b.error) << c.what;  // one executor, one message
      EXPECT_NE(s.error.find(input), std::string::npos) << c.what << ": " << s.error;
      continue;
    }
    ASSERT_EQ(a.outputs.size(), 2u);
    ASSERT_EQ(s.outputs.size(), 2u);
    for (size_t k = 0; k < 2; ++k) {
      EXPECT_EQ(a.outputs[k].shape(), s.outputs[k].shape()) << c.what;
      EXPECT_EQ(b.outputs[k].shape(), s.outputs[k].shape()) << c.what;
      ASSERT_EQ(b.outputs[k].nbytes(), s.outputs[k].nbytes());
      EXPECT_EQ(std::memcmp(b.outputs[k].raw(), s.outputs[k].raw(), b.outputs[k].nbytes()), 0)
          << c.what << ": the JIT and the shared object run the same code";
      for (int64_t i = 0; i < a.outputs[k].numel(); ++i)
        EXPECT_NEAR(a.outputs[k].at(i), s.outputs[k].at(i), 1e-5) << c.what << " output " << k << " at " << i;
    }
  }
}

TEST(BindingParity, TheNanTrapNamesTheSameOpOnTheInterpreterAndTheJit) {
  Builder b("nan");
  auto x = b.input("x", "f32[B<=8, 4]");
  b.output("y", dsl::exp(dsl::log(x) * 2.0f));
  Graph g = b.finish();
  CompileOptions trap{.nan_trap = true};
  auto interp = make_backend("interp")->compile(g, trap);
  auto jit = make_backend("llvm")->compile(g, trap);
  std::vector<Tensor> inputs{iota({2, 4})};  // log of a negative: NaN
  Answer a = answer(*interp, inputs), j = answer(*jit, inputs);
  ASSERT_FALSE(a.ok);
  EXPECT_NE(a.error.find("NaN/Inf trap: log produced a non-finite value"), std::string::npos) << a.error;
  EXPECT_EQ(j.error, a.error);
}

}  // namespace
}  // namespace weft::aot_tests
