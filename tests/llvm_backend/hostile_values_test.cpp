/** \file
 * Values that used to give a silent wrong answer or a crash, on the interpreter and the LLVM
 * backend alike: a cross_entropy target outside [0, classes) is an error naming it (PyTorch raises;
 * one_hot alone gave such a row a loss of 0), except ignore_index; and sizes whose element count
 * would pass 2^48 (or overflow 64 bits) are refused with one clear error wherever they are met —
 * declared, parsed, inferred, bound or allocated — never a SIGSEGV, a SIGFPE or std::bad_alloc.
 */
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "frontend/builder.h"
#include "frontend/tensor_ops.h"
#include "ir/graph_builder.h"
#include "ir/text.h"
#include "passes/verify.h"
#include "tests/llvm_backend/testing.h"

namespace weft::llvm_tests {
namespace {

template <typename F>
std::string error_text(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

Graph loss_graph(int64_t ignore_index) {
  Builder b("loss");
  auto logits = b.input("logits", "f32[N<=16, 5]");
  auto targets = b.input("targets", "i64[N]");
  b.output("loss", dsl::cross_entropy(logits, targets, {.label_smoothing = 0.1, .ignore_index = ignore_index}));
  return b.finish();
}

Tensor targets_of(std::vector<int64_t> v) { return Tensor::from<int64_t>({static_cast<int64_t>(v.size())}, v); }

TEST(HostileValues, ACrossEntropyTargetOutsideTheClassesIsAnErrorOnEveryBackend) {
  Graph g = loss_graph(-100);
  Tensor logits = random_inputs(g, {{"N", 3}}, 1)[0];
  for (const char* backend : {"interp", "llvm"}) {
    SCOPED_TRACE(backend);
    auto exe = make_backend(backend)->compile(g);
    for (int64_t bad : {int64_t{7}, int64_t{5}, int64_t{-3}, int64_t{-1}}) {
      std::string m = error_text([&] { exe->run(std::vector<Tensor>{logits, targets_of({0, bad, 2})}); });
      EXPECT_NE(m.find(fmt::format("index {} (at flat position 1 of the indices) is out of range for axis 0 of size 5 "
                                   "(valid: 0 to 4)",
                                   bad)),
                std::string::npos)
          << m;
    }
    // ignore_index (-100 here) is no error, and valid targets give the interpreter's loss.
    std::vector<Tensor> ok{logits, targets_of({0, -100, 4})};
    expect_close(make_backend("interp")->compile(g)->run(ok)[0], exe->run(ok)[0], kReduction, backend);
  }
}

TEST(HostileValues, AnIgnoreIndexInsideTheClassesStillIgnoresAndOthersAreChecked) {
  Graph g = loss_graph(2);
  Tensor logits = random_inputs(g, {{"N", 2}}, 2)[0];
  for (const char* backend : {"interp", "llvm"}) {
    auto exe = make_backend(backend)->compile(g);
    EXPECT_NO_THROW(exe->run(std::vector<Tensor>{logits, targets_of({2, 1})})) << backend;
    EXPECT_NE(error_text([&] {
                exe->run(std::vector<Tensor>{logits, targets_of({2, 9})});
              }).find("index 9"),
              std::string::npos)
        << backend;
  }
}

TEST(HostileValues, ADeclaredShapeBeyondTwoToThe48IsRefusedNamingTheBounds) {
  Builder b("big");
  std::string m = error_text([&] { b.input("x", "f32[A<=281474976710656, C<=281474976710656]"); });
  EXPECT_NE(m.find("input 'x': a tensor holds at most 2^48 = 281474976710656 elements, but f32[A, C] can hold more "
                   "with A <= 281474976710656, C <= 281474976710656"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("hostile_values_test.cpp"), std::string::npos) << "the user's file: " << m;
}

TEST(HostileValues, AnInferredResultBeyondTwoToThe48IsRefusedAtItsNode) {
  // [A, 1] x [1, C] -> [A, C]: each input fits, the product does not (2^64 + 1 elements at run time
  // crashed the interpreter's matmul before).
  Builder b("outer");
  auto x = b.input("x", "f32[A<=4294967297, 1]");
  auto y = b.input("y", "f32[1, C<=4294967297]");
  std::string m = error_text([&] { dsl::matmul(x, y); });
  EXPECT_NE(m.find("matmul: its result: a tensor holds at most 2^48"), std::string::npos) << m;
  EXPECT_NE(m.find("A <= 4294967297, C <= 4294967297"), std::string::npos) << m;
}

TEST(HostileValues, TheParserAndTheVerifierRefuseTheSameShapes) {
  std::string m = error_text([] {
    parse_graph(
        "weft 1\ngraph g(x: f32[A<=4294967297, 1], y: f32[1, C<=4294967297]) -> (z: f32[A, C]) {\n"
        "  %0 = matmul(x, y) : f32[A, C]\n  return %0\n}\n",
        "outer.weft");
  });
  EXPECT_NE(m.find("outer.weft:3"), std::string::npos) << m;
  EXPECT_NE(m.find("a tensor holds at most 2^48"), std::string::npos) << m;
  // A graph built through the Graph API alone reaches the verifier's invariant 12.
  Graph g("api");
  g.declare_symbol("A", int64_t{1} << 30);
  g.declare_symbol("C", int64_t{1} << 30);
  g.add_input("x", TensorType{DType::f32, {Dim::symbol("A"), Dim::symbol("C")}});
  m = error_text([&] { verify(g); });
  EXPECT_NE(m.find("invariant 12"), std::string::npos) << m;
  EXPECT_NE(m.find("f32[A, C] can hold more with A <= 1073741824, C <= 1073741824"), std::string::npos) << m;
}

TEST(HostileValues, RankBeyondSixtyFourIsRefused) {
  std::vector<int64_t> dims(65, 1);
  EXPECT_NE(error_text([&] { Tensor::zeros(DType::f32, dims); }).find("at most 64 dims, but got 65"),
            std::string::npos);
  Builder b("deep");
  EXPECT_NE(error_text([&] { b.input("x", DType::f32, Shape(65, Dim(1))); }).find("at most 64 dims"),
            std::string::npos);
}

TEST(HostileValues, UnboundedSymbolsAreCheckedWhenBound) {
  // No bounds: the interpreter takes any size, so the sizes are checked when the inputs bind them.
  Builder b("outer");
  auto x = b.input("x", DType::f32, {Dim::symbol("A"), 1});
  auto y = b.input("y", DType::f32, {1, Dim::symbol("C")});
  b.output("z", dsl::matmul(x, y));
  Graph g = b.finish();
  auto exe = make_backend("interp")->compile(g);
  // 2^25 x 2^25 = 2^50 elements: refused before any allocation (the inputs are 128 MiB each).
  Tensor a = Tensor::zeros(DType::f32, {int64_t{1} << 25, 1}), c = Tensor::zeros(DType::f32, {1, int64_t{1} << 25});
  std::string m = error_text([&] { exe->run(std::vector<Tensor>{a, c}); });
  EXPECT_NE(m.find("a tensor holds at most 2^48"), std::string::npos) << m;
  EXPECT_EQ(error_text([] { Dim::symbol("A").evaluate({{"A", int64_t{1} << 62}}); }), "(no error)");
  EXPECT_NE(error_text([] {
              (Dim(4) * Dim::symbol("A")).evaluate({{"A", int64_t{1} << 62}});
            }).find("overflows 64 bits"),
            std::string::npos);
}

}  // namespace
}  // namespace weft::llvm_tests
