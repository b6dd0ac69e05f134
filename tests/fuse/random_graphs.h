/** \file
 * A generator of small random graphs for the fusion and memory-planning tests: DAGs of elementwise
 * ops (with broadcasting and scalar constants), reductions, reshapes, broadcasts, transposes,
 * matmuls and the odd softmax, over shapes mixing static dims with the bounded symbols B and T.
 * A seed gives one graph, always the same.
 */
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ir/graph_builder.h"

namespace weft::fuse_tests {

class RandomGraph {
 public:
  static constexpr int64_t kMaxB = 5;
  static constexpr int64_t kMaxT = 4;

  explicit RandomGraph(uint64_t seed) : rng_(seed), g_(fmt::format("random{}", seed)), b_(g_) {
    g_.declare_symbol("B", kMaxB);
    g_.declare_symbol("T", kMaxT);
  }

  /// The graph: `n_ops` random nodes over one to three inputs, with one to three outputs.
  Graph build(int n_ops) {
    int n_inputs = 1 + pick(3);
    for (int i = 0; i < n_inputs; ++i) pool_.push_back(new_input(random_shape()));
    for (int i = 0; i < n_ops; ++i) step();
    std::set<ValueId> outs{pool_.back()};
    for (int i = pick(3); i > 0; --i) outs.insert(pool_[pick(static_cast<int>(pool_.size()))]);
    int k = 0;
    for (ValueId v : outs) g_.add_output(fmt::format("y{}", k++), v);
    return g_;
  }

  /// Random sizes for the symbols, within their bounds.
  SymbolBindings random_dims() {
    return {{"B", 1 + pick(static_cast<int>(kMaxB))}, {"T", 1 + pick(static_cast<int>(kMaxT))}};
  }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  Dim random_dim() {
    switch (pick(6)) {
      case 0:
        return sym("B");
      case 1:
        return sym("T");
      case 2:
        return Dim(1);
      default:
        return Dim(2 + pick(3));
    }
  }
  static Dim sym(const char* s) { return Dim::symbol(s); }

  Shape random_shape() {
    Shape s;
    for (int i = 1 + pick(3); i > 0; --i) s.push_back(random_dim());
    return s;
  }

  ValueId new_input(const Shape& shape) {
    return g_.add_input(fmt::format("x{}", g_.inputs().size()), TensorType{DType::f32, shape});
  }

  /// A value from the pool, favouring recent ones so chains grow deep.
  ValueId recent() {
    int n = static_cast<int>(pool_.size());
    int back = std::min(n - 1, static_cast<int>(std::geometric_distribution<int>(0.4)(rng_)));
    return pool_[n - 1 - back];
  }

  /// A second operand for a binary op on `x`: same shape, broadcastable, or a scalar constant.
  ValueId partner(ValueId x) {
    const Shape s = g_.type(x).shape;
    std::vector<ValueId> same;
    for (ValueId v : pool_)
      if (g_.type(v).shape == s) same.push_back(v);
    switch (pick(4)) {
      case 0:
        if (!same.empty()) return same[pick(static_cast<int>(same.size()))];
        [[fallthrough]];
      case 1: {
        // A fresh input of a shape that broadcasts: a suffix of s, with some dims set to 1.
        Shape t(s.begin() + pick(static_cast<int>(s.size()) + 1), s.end());
        for (Dim& d : t)
          if (chance(0.3)) d = Dim(1);
        return new_input(t);
      }
      case 2:
        return b_.constant(std::uniform_real_distribution<double>(-1.5, 1.5)(rng_), DType::f32);
      default:
        return recent_matching(x);
    }
  }

  ValueId recent_matching(ValueId x) {
    for (int tries = 0; tries < 4; ++tries) {
      ValueId y = recent();
      try {
        broadcast_shapes("probe", g_.type(x), g_.type(y));
        return y;
      } catch (const Error&) {
      }
    }
    return b_.constant(0.5, DType::f32);
  }

  void step() {
    static const OpKind unary[] = {OpKind::neg,  OpKind::abs,     OpKind::exp,  OpKind::tanh,
                                   OpKind::relu, OpKind::sigmoid, OpKind::gelu, OpKind::sqrt};
    static const OpKind binary[] = {OpKind::add, OpKind::sub,     OpKind::mul,
                                    OpKind::div, OpKind::maximum, OpKind::minimum};
    static const OpKind reductions[] = {OpKind::reduce_sum, OpKind::reduce_max, OpKind::reduce_mean,
                                        OpKind::reduce_min};
    ValueId x = recent();
    const TensorType t = g_.type(x);
    int r = pick(100);
    ValueId y;
    if (r < 28) {
      y = b_.unary(unary[pick(8)], x);
    } else if (r < 60) {
      ValueId other = partner(x);
      y = chance(0.5) ? b_.binary(binary[pick(6)], x, other) : b_.binary(binary[pick(6)], other, x);
    } else if (r < 75 && t.rank() >= 1) {
      std::vector<int64_t> axes;
      for (int i = 0; i < t.rank(); ++i)
        if (chance(0.5)) axes.push_back(chance(0.5) ? i : i - t.rank());
      if (axes.empty()) axes.push_back(t.rank() - 1);
      y = b_.reduce(reductions[pick(4)], x, axes, chance(0.5));
    } else if (r < 80 && t.rank() >= 2) {
      Shape s = t.shape;  // merge two neighbouring dims
      int i = pick(t.rank() - 1);
      s[i] = s[i] * s[i + 1];
      s.erase(s.begin() + i + 1);
      y = b_.reshape(x, s);
    } else if (r < 84) {
      Shape s = t.shape;
      s.push_back(1);
      y = b_.reshape(x, s);
    } else if (r < 88) {
      Shape s = t.shape;  // bound symbols only: every symbol is bound by some input
      s.insert(s.begin(), chance(0.5) ? Dim(3) : existing_symbol());
      y = b_.broadcast_to(x, s);
    } else if (r < 92 && t.rank() >= 2) {
      std::vector<int64_t> perm;
      for (int i = 0; i < t.rank(); ++i) perm.push_back(i);
      int a = pick(t.rank()), c = pick(t.rank());
      std::swap(perm[a], perm[c]);
      y = b_.transpose(x, perm);
    } else if (r < 97 && t.rank() >= 2) {
      const Dim& k = t.shape.back();
      Shape w{k, Dim(2 + pick(3))};
      ValueId wv = k.is_static() ? g_.add_param(fmt::format("w{}", g_.params().size()), TensorType{DType::f32, w})
                                 : new_input(w);
      y = b_.binary(OpKind::matmul, x, wv);
    } else if (t.rank() >= 1) {
      y = b_.emit1(OpKind::softmax, {x}, Attrs{{"axis", int64_t{-1}}});
    } else {
      y = b_.unary(OpKind::tanh, x);
    }
    pool_.push_back(y);
  }

  Dim existing_symbol() {
    for (const InputDecl& in : g_.inputs())
      for (const Dim& d : g_.type(in.value).shape)
        if (!d.is_static() && d.symbols().size() == 1 && d.coefficient() == 1) return d;
    return Dim(2);
  }

  std::mt19937_64 rng_;
  Graph g_;
  GraphBuilder b_;
  std::vector<ValueId> pool_;
};

}  // namespace weft::fuse_tests
