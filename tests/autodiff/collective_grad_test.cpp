/** \file
 * all_reduce's gradient against central finite differences in float64: on one process (the op is
 * the identity), and on a rank of two whose peer mirrors it, so that every rank holds the same
 * values and a rank's own loss is a function of its operand alone (sum: y = 2x, mean: y = x).
 */
#include <gtest/gtest.h>

#include "tests/autodiff/grad_check.h"
#include "tests/distributed/distributed_testing.h"

namespace weft::grad_check {
namespace {

BuildFn all_reduce_fn(const std::string& reduce) {
  return unary_fn([reduce](GraphBuilder& b, ValueId x) {
    return b.emit1(OpKind::all_reduce, {x}, Attrs{{"reduce", reduce}, {"group", std::string("grad_group")}});
  });
}

TEST(CollectiveGradient, AllReduceMatchesFiniteDifferencesOnOneProcess) {
  expect_gradients_match(all_reduce_fn("sum"), {{"x", random_f64({2, 3}, 1)}});
  expect_gradients_match(all_reduce_fn("mean"), {{"x", random_f64({2, 3}, 2)}});
}

TEST(CollectiveGradient, AllReduceMatchesFiniteDifferencesOnMirroredRanks) {
  CommunicatorScope scope("grad_group", std::make_shared<ddp_testing::MirrorCommunicator>(0));
  expect_gradients_match(all_reduce_fn("sum"), {{"x", random_f64({2, 3}, 3)}});
  expect_gradients_match(all_reduce_fn("mean"), {{"x", random_f64({4}, 4)}});
}

}  // namespace
}  // namespace weft::grad_check
