#include "tests/autodiff/grad_check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "backends/interp/interpreter.h"
#include "passes/autodiff.h"
#include "passes/verify.h"

namespace weft::grad_check {

Tensor random_f64(std::vector<int64_t> shape, uint64_t seed, double lo, double hi) {
  Tensor t = Tensor::zeros(DType::f64, std::move(shape));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = u(rng);
  return t;
}

Tensor away_from_zero(std::vector<int64_t> shape, uint64_t seed, double lo, double hi) {
  Tensor t = random_f64(std::move(shape), seed, lo, hi);
  std::mt19937_64 rng(seed + 1000);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (rng() % 2) p[i] = -p[i];
  return t;
}

Tensor f64(std::vector<int64_t> shape, std::vector<double> values) { return Tensor::from(std::move(shape), values); }
Tensor i64(std::vector<int64_t> shape, std::vector<int64_t> values) { return Tensor::from(std::move(shape), values); }

namespace {

TensorType declared_type(const Leaf& leaf) {
  return TensorType{leaf.value.dtype(), leaf.declared ? *leaf.declared : static_shape(leaf.value.shape())};
}

std::vector<ValueId> declare_leaves(Graph& g, const std::vector<Leaf>& leaves) {
  std::vector<ValueId> out;
  for (const Leaf& leaf : leaves)
    out.push_back(leaf.param ? g.add_param(leaf.name, declared_type(leaf)) : g.add_input(leaf.name, declared_type(leaf)));
  return out;
}

std::vector<Tensor> input_values(const std::vector<Leaf>& leaves, const std::vector<Tensor>& weights) {
  std::vector<Tensor> out;
  for (const Leaf& leaf : leaves)
    if (!leaf.param) out.push_back(leaf.value);
  out.insert(out.end(), weights.begin(), weights.end());
  return out;
}

std::vector<Tensor> param_values(const std::vector<Leaf>& leaves) {
  std::vector<Tensor> out;
  for (const Leaf& leaf : leaves)
    if (leaf.param) out.push_back(leaf.value);
  return out;
}

/// The results' declared types and, from one run, their weights.
struct Probe {
  std::vector<TensorType> types;
  std::vector<Tensor> weights;
};

Probe probe(const BuildFn& f, const std::vector<Leaf>& leaves, uint64_t weight_seed) {
  Graph g("probe");
  std::vector<ValueId> vs = declare_leaves(g, leaves);
  GraphBuilder b(g);
  std::vector<ValueId> ys = f(b, vs);
  Probe p;
  for (size_t i = 0; i < ys.size(); ++i) {
    g.add_output("y" + std::to_string(i), ys[i]);
    p.types.push_back(g.type(ys[i]));
  }
  std::vector<Tensor> results = interpret(g, input_values(leaves, {}), param_values(leaves));
  for (size_t i = 0; i < ys.size(); ++i) p.weights.push_back(random_f64(results[i].shape(), weight_seed + i));
  return p;
}

double loss_of(const Graph& g, const std::vector<Leaf>& leaves, const std::vector<Tensor>& weights) {
  return interpret(g, input_values(leaves, weights), param_values(leaves))[0].at(0);
}

}  // namespace

Graph loss_graph(const BuildFn& f, const std::vector<Leaf>& leaves, const std::vector<TensorType>& result_types) {
  Graph g("grad_check");
  std::vector<ValueId> vs = declare_leaves(g, leaves);
  std::vector<ValueId> ws;
  for (size_t i = 0; i < result_types.size(); ++i) ws.push_back(g.add_input("w" + std::to_string(i), result_types[i]));
  GraphBuilder b(g);
  std::vector<ValueId> ys = f(b, vs);
  ValueId loss = kNoValue;
  for (size_t i = 0; i < ys.size(); ++i) {
    ValueId term = b.reduce(OpKind::reduce_sum, b.binary(OpKind::mul, ys[i], ws[i]), {}, false);
    loss = loss == kNoValue ? term : b.binary(OpKind::add, loss, term);
  }
  g.add_output("loss", loss);
  return g;
}

std::vector<Tensor> analytic_gradients(const BuildFn& f, const std::vector<Leaf>& leaves, uint64_t weight_seed) {
  Probe p = probe(f, leaves, weight_seed);
  Graph g = loss_graph(f, leaves, p.types);
  std::vector<std::string> wrt;
  for (const Leaf& leaf : leaves)
    if (leaf.differentiate) wrt.push_back(leaf.name);
  Graph d = differentiate(g, "loss", wrt);
  verify(d);
  std::vector<Tensor> outs = interpret(d, input_values(leaves, p.weights), param_values(leaves));
  EXPECT_EQ(outs.size(), 1 + wrt.size());
  return std::vector<Tensor>(outs.begin() + 1, outs.begin() + 1 + static_cast<std::ptrdiff_t>(wrt.size()));
}

std::vector<Tensor> numeric_gradients(const BuildFn& f, const std::vector<Leaf>& leaves, uint64_t weight_seed,
                                      double h) {
  Probe p = probe(f, leaves, weight_seed);
  Graph g = loss_graph(f, leaves, p.types);
  std::vector<Tensor> grads;
  for (size_t l = 0; l < leaves.size(); ++l) {
    if (!leaves[l].differentiate) continue;
    Tensor grad = Tensor::zeros(DType::f64, leaves[l].value.shape());
    for (int64_t i = 0; i < grad.numel(); ++i) {
      std::vector<Leaf> moved = leaves;
      moved[l].value = leaves[l].value.clone();
      double* x = moved[l].value.data<double>();
      double x0 = x[i];
      x[i] = x0 + h;
      double plus = loss_of(g, moved, p.weights);
      x[i] = x0 - h;
      double minus = loss_of(g, moved, p.weights);
      grad.data<double>()[i] = (plus - minus) / (2 * h);
    }
    grads.push_back(grad);
  }
  return grads;
}

void expect_all_near(const std::vector<Tensor>& a, const std::vector<Tensor>& b, double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t k = 0; k < a.size(); ++k) {
    ASSERT_EQ(a[k].shape(), b[k].shape()) << what << ": gradient " << k;
    int failures = 0;
    for (int64_t i = 0; i < a[k].numel() && failures < 5; ++i) {
      double x = a[k].at(i), y = b[k].at(i);
      bool ok = std::abs(x - y) <= tol * std::max(1.0, std::abs(y));
      if (!ok) ++failures;
      EXPECT_TRUE(ok) << what << ": gradient " << k << " element " << i << ": " << x << " vs " << y;
    }
  }
}

void expect_gradients_match(const BuildFn& f, const std::vector<Leaf>& leaves, double tol) {
  expect_all_near(analytic_gradients(f, leaves), numeric_gradients(f, leaves), tol, "analytic vs finite differences");
}

BuildFn unary_fn(std::function<ValueId(GraphBuilder&, ValueId)> f) {
  return [f](GraphBuilder& b, const std::vector<ValueId>& x) { return std::vector<ValueId>{f(b, x[0])}; };
}

}  // namespace weft::grad_check
