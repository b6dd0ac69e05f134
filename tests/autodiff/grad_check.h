/** \file
 * Gradient checking for the autodiff tests: analytic gradients (differentiate, then run on the
 * interpreter) against central finite differences, all in float64.
 *
 * A check builds a graph from a function of its leaves (inputs or parameters with given values),
 * reduces each of the function's results y_i to the scalar loss sum_i sum(y_i * w_i) with fixed
 * random weights w_i (so every element's gradient differs), and compares d loss / d leaf with
 * (loss(leaf + h) - loss(leaf - h)) / 2h, h = 1e-6, element by element.
 */
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/graph_builder.h"
#include "runtime/tensor.h"

namespace weft::grad_check {

struct Leaf {
  Leaf(std::string name, Tensor value, bool differentiate = true, bool param = false,
       std::optional<Shape> declared = std::nullopt)
      : name(std::move(name)), value(std::move(value)), differentiate(differentiate), param(param),
        declared(std::move(declared)) {}

  std::string name;
  Tensor value;
  bool differentiate = true;  // false for indices, masks, lengths
  bool param = false;         // declared as a parameter rather than an input
  std::optional<Shape> declared;  // a symbolic shape to declare instead of the value's
};

/// The function under test: emits nodes reading `leaves` (in Leaf order) and returns the values to check.
using BuildFn = std::function<std::vector<ValueId>(GraphBuilder& b, const std::vector<ValueId>& leaves)>;

/// f64 values uniform in [lo, hi), reproducible from `seed`.
Tensor random_f64(std::vector<int64_t> shape, uint64_t seed, double lo = -1.0, double hi = 1.0);
/// f64 values uniform in [lo, hi) with random sign, so none is near 0 (for ops with a kink there).
Tensor away_from_zero(std::vector<int64_t> shape, uint64_t seed, double lo = 0.2, double hi = 1.0);
Tensor f64(std::vector<int64_t> shape, std::vector<double> values);
Tensor i64(std::vector<int64_t> shape, std::vector<int64_t> values);

/// The graph `f` builds, with loss = sum_i sum(y_i * w_i); `weights` are appended as inputs w0, w1, ...
Graph loss_graph(const BuildFn& f, const std::vector<Leaf>& leaves, const std::vector<TensorType>& result_types);

/// Analytic gradients of the loss with respect to each leaf flagged `differentiate`, in leaf order.
std::vector<Tensor> analytic_gradients(const BuildFn& f, const std::vector<Leaf>& leaves, uint64_t weight_seed = 7);

/// Central finite differences of the same loss, in the same order.
std::vector<Tensor> numeric_gradients(const BuildFn& f, const std::vector<Leaf>& leaves, uint64_t weight_seed = 7,
                                      double h = 1e-6);

/// Expects analytic and numeric gradients to agree: |a - n| <= tol * max(1, |n|) for every element.
void expect_gradients_match(const BuildFn& f, const std::vector<Leaf>& leaves, double tol = 1e-6);

/// Expects two tensor lists to agree element by element within `tol` (relative, floor 1).
void expect_all_near(const std::vector<Tensor>& a, const std::vector<Tensor>& b, double tol, const std::string& what);

/// A single-result function of the builder, for brevity.
BuildFn unary_fn(std::function<ValueId(GraphBuilder&, ValueId)> f);

}  // namespace weft::grad_check
