/** \file
 * The data-movement ops over symbolic dims: one graph, built once with inputs of shape [B, T], runs
 * for several bindings of T; result types keep their symbols (B*T, 2*T); slices of a symbolic dim
 * are either the whole dim or a static window checked at run time.
 */
#include <limits>

#include "ir/ops.h"
#include "tests/interp_movement/movement_test_util.h"

namespace weft::movement_test {
namespace {

using Ints = std::vector<int64_t>;

/// x: f32[B, T], z: f32[B, T, 4]; outputs are the movement ops applied once each.
struct SymbolicGraph {
  Graph g{"symbolic"};
  ValueId reshaped, transposed, window, whole, joined, last, spread;

  SymbolicGraph() {
    GraphBuilder b(g);
    ValueId x = g.add_input("x", f32({B, T}));
    ValueId z = g.add_input("z", f32({B, T, 4}));
    reshaped = b.emit1(OpKind::reshape, {z}, Attrs{{"shape", Shape{B * T, 4}}});
    transposed = b.emit1(OpKind::transpose, {x}, Attrs{{"perm", Ints{1, 0}}});
    window = b.emit1(OpKind::slice, {x}, Attrs{{"axis", int64_t{1}}, {"start", int64_t{1}}, {"end", int64_t{3}}});
    whole = b.emit1(OpKind::slice, {x}, Attrs{{"axis", int64_t{-1}}});
    joined = b.emit1(OpKind::concat, {x, x}, Attrs{{"axis", int64_t{1}}});
    ValueId minus_one = g.add_input("minus_one", i64({}));
    last = b.emit1(OpKind::gather, {x, minus_one}, Attrs{{"axis", int64_t{1}}});
    ValueId column = b.reshape(x, Shape{B, 1, T});
    spread = b.emit1(OpKind::broadcast, {column}, Attrs{{"shape", Shape{B, 2, T}}});
    for (ValueId v : {reshaped, transposed, window, whole, joined, last, spread}) g.add_output("o", v);
  }

  std::vector<Tensor> run_with(int64_t batch, int64_t steps) const {
    return run(g, {iota_f32({batch, steps}), iota_f32({batch, steps, 4}), Tensor::from<int64_t>({}, {-1})});
  }
};

TEST(SymbolicDims, ResultTypesKeepTheirSymbols) {
  SymbolicGraph s;
  EXPECT_EQ(s.g.type(s.reshaped), f32({B * T, 4}));
  EXPECT_EQ(s.g.type(s.reshaped).str(), "f32[B*T, 4]");
  EXPECT_EQ(s.g.type(s.transposed), f32({T, B}));
  EXPECT_EQ(s.g.type(s.window), f32({B, 2}));
  EXPECT_EQ(s.g.type(s.whole), f32({B, T}));
  EXPECT_EQ(s.g.type(s.joined).str(), "f32[B, 2*T]");
  EXPECT_EQ(s.g.type(s.last), f32({B}));
  EXPECT_EQ(s.g.type(s.spread), f32({B, 2, T}));
}

TEST(SymbolicDims, OneGraphRunsWithTEqualToThree) {
  SymbolicGraph s;
  std::vector<Tensor> o = s.run_with(2, 3);  // x = [[0, 1, 2], [3, 4, 5]]
  EXPECT_EQ(o[0].shape(), (Shape64{6, 4}));
  EXPECT_EQ(o[0].to_vector<float>(), iota_f32({24}).to_vector<float>());
  EXPECT_EQ(o[1].shape(), (Shape64{3, 2}));
  EXPECT_EQ(o[1].to_vector<float>(), (Floats{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(o[2].to_vector<float>(), (Floats{1, 2, 4, 5}));
  EXPECT_EQ(o[3].to_vector<float>(), (Floats{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(o[4].shape(), (Shape64{2, 6}));
  EXPECT_EQ(o[4].to_vector<float>(), (Floats{0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5}));
  EXPECT_EQ(o[5].to_vector<float>(), (Floats{2, 5}));
  EXPECT_EQ(o[6].shape(), (Shape64{2, 2, 3}));
  EXPECT_EQ(o[6].to_vector<float>(), (Floats{0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5}));
}

TEST(SymbolicDims, TheSameGraphRunsWithTEqualToSeven) {
  SymbolicGraph s;
  std::vector<Tensor> o = s.run_with(2, 7);  // x = [[0..6], [7..13]]
  EXPECT_EQ(o[0].shape(), (Shape64{14, 4}));
  EXPECT_EQ(o[0].to_vector<float>(), iota_f32({56}).to_vector<float>());
  EXPECT_EQ(o[1].shape(), (Shape64{7, 2}));
  EXPECT_EQ(o[1].to_vector<float>(), (Floats{0, 7, 1, 8, 2, 9, 3, 10, 4, 11, 5, 12, 6, 13}));
  EXPECT_EQ(o[2].to_vector<float>(), (Floats{1, 2, 8, 9}));
  EXPECT_EQ(o[3].shape(), (Shape64{2, 7}));
  EXPECT_EQ(o[4].shape(), (Shape64{2, 14}));
  EXPECT_EQ(o[4].to_vector<float>(), (Floats{0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6,  //
                                             7, 8, 9, 10, 11, 12, 13, 7, 8, 9, 10, 11, 12, 13}));
  EXPECT_EQ(o[5].to_vector<float>(), (Floats{6, 13}));
  EXPECT_EQ(o[6].shape(), (Shape64{2, 2, 7}));
}

TEST(SymbolicDims, ReshapeComparesElementCountsAsMonomials) {
  // [B, T, 2] and [2, B*T] both have 2*B*T elements.
  OneOp op(OpKind::reshape, {f32({B, T, 2})}, Attrs{{"shape", Shape{2, B * T}}});
  EXPECT_EQ(op.type().str(), "f32[2, B*T]");
  Tensor y = op.run({iota_f32({1, 3, 2})});
  EXPECT_EQ(y.shape(), (Shape64{2, 3}));
  EXPECT_EQ(y.to_vector<float>(), (Floats{0, 1, 2, 3, 4, 5}));
}

TEST(SymbolicDims, SliceWindowIsCheckedAgainstTheDimAtRunTime) {
  OneOp op(OpKind::slice, {f32({B, T})}, Attrs{{"axis", int64_t{1}}, {"start", int64_t{1}}, {"end", int64_t{5}}});
  EXPECT_EQ(op.type(), f32({B, 4}));
  EXPECT_EQ(op.run({iota_f32({1, 7})}).to_vector<float>(), (Floats{1, 2, 3, 4}));
  EXPECT_EQ(op.run({iota_f32({1, 5})}).to_vector<float>(), (Floats{1, 2, 3, 4}));
  expect_error([&] { op.run({iota_f32({1, 3})}); }, {"slice", "[1, 5)", "symbolic dim T", "at least 5", "is 3"});
}

TEST(SymbolicDims, SliceWindowWithStepHasStaticSize) {
  OneOp op(OpKind::slice, {f32({T})},
           Attrs{{"axis", int64_t{0}}, {"start", int64_t{0}}, {"end", int64_t{5}}, {"step", int64_t{2}}});
  EXPECT_EQ(op.type(), f32({3}));
  EXPECT_EQ(op.run({iota_f32({6})}).to_vector<float>(), (Floats{0, 2, 4}));
}

TEST(SymbolicDims, SliceFromAnOffsetToTheEndIsRejected) {
  expect_error([] { OneOp(OpKind::slice, {f32({B, T})}, Attrs{{"axis", int64_t{1}}, {"start", int64_t{1}}}); },
               {"slice: cannot slice symbolic dim T from 1 to the end", "not expressible", "f32[B, T]"});
}

TEST(SymbolicDims, SliceWithANegativeBoundIsRejected) {
  expect_error([] { OneOp(OpKind::slice, {f32({T})}, Attrs{{"axis", int64_t{0}}, {"end", int64_t{-1}}}); },
               {"cannot slice symbolic dim T from 0 to -1"});
  expect_error([] { OneOp(OpKind::slice, {f32({T})}, Attrs{{"axis", int64_t{0}}, {"start", int64_t{-2}}, {"end", int64_t{4}}}); },
               {"cannot slice symbolic dim T from -2 to 4"});
}

TEST(SymbolicDims, SliceOfTheWholeDimWithAStepIsRejected) {
  expect_error([] { OneOp(OpKind::slice, {f32({T})}, Attrs{{"axis", int64_t{0}}, {"step", int64_t{2}}}); },
               {"cannot slice symbolic dim T from 0 to the end with step 2"});
}

TEST(SymbolicDims, ConcatOfThreeCopiesOfTheSameDimGivesThreeTimesIt) {
  OneOp op(OpKind::concat, {f32({T}), f32({T}), f32({T})}, Attrs{{"axis", int64_t{0}}});
  EXPECT_EQ(op.type().str(), "f32[3*T]");
  Tensor one = Tensor::from<float>({2}, {1, 2});
  EXPECT_EQ(op.run({one, one, one}).to_vector<float>(), (Floats{1, 2, 1, 2, 1, 2}));
}

TEST(SymbolicDims, ConcatRejectsDifferentSymbolicDims) {
  expect_error([] { OneOp(OpKind::concat, {f32({B, T}), f32({B, S})}, Attrs{{"axis", int64_t{1}}}); },
               {"concat", "all static or all the same symbolic dim", "f32[B, T], f32[B, S]"});
}

TEST(SymbolicDims, ConcatRejectsASymbolicDimBesideAStaticOne) {
  expect_error([] { OneOp(OpKind::concat, {f32({T}), f32({2})}, Attrs{{"axis", int64_t{0}}}); },
               {"all static or all the same symbolic dim", "f32[T], f32[2]"});
}

TEST(SymbolicDims, ConcatRejectsMismatchedSymbolicDimsOffTheAxis) {
  expect_error([] { OneOp(OpKind::concat, {f32({B, 2}), f32({T, 2})}, Attrs{{"axis", int64_t{1}}}); },
               {"dim 0 differs (B vs T)"});
}

TEST(SymbolicDims, BroadcastAcceptsEqualSymbolsAndRejectsOthers) {
  OneOp ok(OpKind::broadcast, {f32({1, T})}, Attrs{{"shape", Shape{3, T}}});
  EXPECT_EQ(ok.run({Tensor::from<float>({1, 2}, {1, 2})}).to_vector<float>(), (Floats{1, 2, 1, 2, 1, 2}));
  expect_error([] { OneOp(OpKind::broadcast, {f32({T})}, Attrs{{"shape", Shape{B, S}}}); }, {"dim T vs S"});
}

TEST(SymbolicDims, GatherAndScatterAddWorkOverASymbolicAxis) {
  Graph g("gather_scatter");
  GraphBuilder b(g);
  ValueId x = g.add_input("x", f32({T, 2}));
  ValueId idx = g.add_input("idx", i32({3}));
  ValueId taken = b.emit1(OpKind::gather, {x, idx}, Attrs{{"axis", int64_t{0}}});
  ValueId back = b.emit1(OpKind::scatter_add, {taken, idx}, Attrs{{"axis", int64_t{0}}, {"shape", Shape{T, 2}}});
  EXPECT_EQ(g.type(back), f32({T, 2}));
  g.add_output("taken", taken);
  g.add_output("back", back);
  std::vector<Tensor> o = run(g, {iota_f32({4, 2}), Tensor::from<int32_t>({3}, {-1, 0, 3})});
  EXPECT_EQ(o[0].to_vector<float>(), (Floats{6, 7, 0, 1, 6, 7}));
  EXPECT_EQ(o[1].to_vector<float>(), (Floats{0, 1, 0, 0, 0, 0, 12, 14}));
}

TEST(MovementOps, AreInjectiveExceptScatterAddWhichIsOpaque) {
  for (OpKind k : {OpKind::reshape, OpKind::transpose, OpKind::broadcast, OpKind::slice, OpKind::concat, OpKind::gather})
    EXPECT_EQ(op_def(k).fusion, FusionKind::injective) << op_name(k);
  EXPECT_EQ(op_def(OpKind::scatter_add).fusion, FusionKind::opaque);
  for (OpKind k : {OpKind::reshape, OpKind::transpose, OpKind::broadcast, OpKind::slice, OpKind::concat,
                   OpKind::gather, OpKind::scatter_add}) {
    EXPECT_TRUE(op_def(k).differentiable) << op_name(k);
    EXPECT_FALSE(op_def(k).summary.empty()) << op_name(k);
  }
}

}  // namespace
}  // namespace weft::movement_test
