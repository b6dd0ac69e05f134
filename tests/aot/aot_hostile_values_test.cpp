// A compiled model refuses what the JIT refuses: a cross_entropy target outside [0, classes) is
// WEFT_ERR_INVALID_VALUE naming the index (the same label check the JIT runs), and weft-compile
// refuses a graph whose shapes could not be planned (more than 2^48 elements at the bounds, more than
// 64 dims) instead of writing a shared object that weft_create then calls a bug.
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "ir/text.h"
#include "runtime/npy.h"
#include "tests/aot/aot_testing.h"

namespace weft::aot_tests {
namespace {

using Host = weft::Tensor;

TEST(SharedObjectValues, ACrossEntropyTargetOutsideTheClassesIsInvalidValue) {
  fs::path dir = test_dir();
  Builder b("loss");
  auto logits = b.input("logits", "f32[N<=16, 5]");
  auto targets = b.input("targets", "i64[N]");
  b.output("loss", dsl::cross_entropy(logits, targets));
  Graph g = b.finish();
  Model model(compile({g}, dir, "loss"));
  Instance instance(model);
  Host x = random_f32({3, 5}, 4);
  for (int64_t bad : {int64_t{7}, int64_t{-3}}) {
    try {
      instance.run("loss", {x, Host::from<int64_t>({3}, {1, bad, 0})});
      ADD_FAILURE() << "target " << bad << " ran";
    } catch (const std::runtime_error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("WEFT_ERR_INVALID_VALUE"), std::string::npos) << m;
      EXPECT_NE(m.find(fmt::format("index {} at position [1] of the indices is out of range for axis 0 of size 5 "
                                   "(valid: 0 to 4)",
                                   bad)),
                std::string::npos)
          << m;
    }
  }
  std::vector<Host> ok{x, Host::from<int64_t>({3}, {1, -100, 4})};
  expect_bitwise_equal(instance.run("loss", ok), LlvmBackend().compile(g)->run(ok), "valid targets");
}

TEST(SharedObjectValues, WeftCompileRefusesShapesBeyondTheLimits) {
  fs::path dir = test_dir();
  Graph wide("wide");
  wide.declare_symbol("A", int64_t{1} << 40);
  wide.declare_symbol("C", int64_t{1} << 40);
  ValueId x = wide.add_input("x", TensorType{DType::f32, {Dim::symbol("A"), Dim::symbol("C")}});
  wide.add_output("y", x);
  Graph deep("deep");
  ValueId d = deep.add_input("x", TensorType{DType::f32, Shape(65, Dim(1))});
  deep.add_output("y", d);
  for (const Graph* g : {&wide, &deep}) {
    try {
      compile({*g}, dir, g->name());
      ADD_FAILURE() << g->name() << " compiled";
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find(g == &wide ? "a tensor holds at most 2^48" : "a tensor has at most 64 dims"), std::string::npos)
          << m;
      EXPECT_EQ(m.find("internal error"), std::string::npos) << m;
    }
  }
}

TEST(SharedObjectValues, WeftRunGivesAScalarOutputOfACompiledEntry) {
  // weft-run asks weft_output_shape for a scalar's (no) sizes with a NULL `shape`: allowed.
  fs::path dir = test_dir();
  Builder b("total");
  auto x = b.input("x", "f32[N<=8]");
  b.output("sum", dsl::sum(x, {0}));
  Graph g = b.finish();
  write_graph_file((dir / "total.weft").string(), g);
  const std::string bin = std::string(WEFT_BINARY_DIR) + "/tools/";
  std::string log;
  std::string sanitize = sanitizer_flags().empty() ? "" : " --cflag=-fsanitize=address,undefined";
  ASSERT_EQ(shell(fmt::format("'{}weft-compile' '{}' -o '{}' --cc '{}'{}", bin, (dir / "total.weft").string(),
                              (dir / "total.so").string(), test_cc(), sanitize),
                  &log),
            0)
      << log;
  write_npy((dir / "x.npy").string(), Host::from<float>({3}, {1, 2, 4.5f}));
  ASSERT_EQ(shell(fmt::format("'{}weft-run' '{}' --input x='{}' --output-dir '{}'", bin, (dir / "total.so").string(),
                              (dir / "x.npy").string(), (dir / "out").string()),
                  &log),
            0)
      << log;
  Host got = read_npy((dir / "out" / "sum.npy").string());
  ASSERT_EQ(got.rank(), 0);
  EXPECT_EQ(got.data<float>()[0], 7.5f);
}

TEST(SharedObjectValues, ValidGraphsCompileOrSayWhyNamingTheNode) {
  fs::path dir = test_dir();
  // A hand-written fusion with a nested fusion (the JIT ran it; weft-compile called it a bug):
  // its fusions are inlined and fused anew.
  Graph nested = read_graph_file(std::string(WEFT_SOURCE_DIR) + "/tests/fixtures/fusion.weft");
  Model fused(compile({nested}, dir, "fused"));
  Instance fi(fused);
  std::vector<Host> in{random_f32({5, 16}, 1), random_f32({16}, 2)};
  expect_bitwise_equal(fi.run("fused", in), LlvmBackend().compile(nested)->run(in), "nested fusion");

  // Statically empty axes: a slice to nothing, a sum over it, a maximum with no rows.
  Graph empty = parse_graph(
      "weft 1\ngraph s(x: f32[4, 3]) -> (y: f32[0, 3], z: f32[3], m: f32[0]) {\n"
      "  %0 = slice(x, axis=0, start=2, end=2) : f32[0, 3]\n"
      "  %1 = reduce_sum(%0, axes=[0]) : f32[3]\n"
      "  %2 = transpose(%0, perm=[1, 0]) : f32[3, 0]\n"
      "  %3 = reduce_max(%0, axes=[1]) : f32[0]\n"
      "  return %0, %1, %3\n}\n",
      "empty.weft");
  Model em(compile({empty}, dir, "empty"));
  Instance ei(em);
  std::vector<Host> x{random_f32({4, 3}, 3)};
  expect_bitwise_equal(ei.run("s", x), make_backend("interp")->compile(empty)->run(x), "empty slices");

  // A maximum over a static empty axis with rows to fill: the run's error, as on the JIT.
  Graph no_max = parse_graph(
      "weft 1\ngraph m(x: f32[3, 0]) -> (y: f32[3]) {\n  %0 = reduce_max(x, axes=[1]) : f32[3]\n  return %0\n}\n",
      "max.weft");
  Model mm(compile({no_max}, dir, "max"));
  Instance mi(mm);
  try {
    mi.run("m", {Host::zeros(DType::f32, {3, 0})});
    ADD_FAILURE() << "a maximum of nothing ran";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("the maximum of no elements is undefined"), std::string::npos) << e.what();
  }

  // f16 has no generated code: the user's error, naming the node and the line.
  Builder hb("h");
  hb.output("y", dsl::cast(hb.input("x", "f32[4]"), DType::f16));
  Graph half = hb.finish();
  try {
    compile({half}, dir, "half");
    ADD_FAILURE() << "an f16 cast compiled";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("weft-compile: graph 'h': cast (fused into a loop region) cannot be compiled into a shared "
                     "object: generated code has no f16[4] values"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("aot_hostile_values_test.cpp:"), std::string::npos) << "the user's line: " << m;
    EXPECT_EQ(m.find("internal error"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace weft::aot_tests
