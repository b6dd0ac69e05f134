/** \file
 * The basic layers: Linear, LayerNorm, Dropout and the position-wise FeedForward block.
 *
 * Parameters are laid out and initialized as PyTorch's modules do (nn.Linear's weight is
 * [out_features, in_features], kaiming_uniform(a = sqrt(5)); its bias U(±1/sqrt(in_features));
 * nn.LayerNorm's weight ones and bias zeros), so a PyTorch `state_dict` loads without reshaping.
 */
#pragma once

#include <optional>

#include "frontend/nn/common.h"

namespace weft::nn {

struct LinearOptions {
  bool bias = true;
  /// Replace PyTorch's default initializers; a seed of 0 takes the builder's next seed.
  std::optional<Initializer> weight_init{};
  std::optional<Initializer> bias_init{};
};

/// y = x · weightᵀ + bias over the last axis (nn.Linear). Params: `weight [out, in]`, `bias [out]`.
struct Linear {
  Linear(Builder& b, const std::string& name, int64_t in_features, int64_t out_features, bool bias = true,
         Loc loc = Loc::current());
  Linear(Builder& b, const std::string& name, int64_t in_features, int64_t out_features, LinearOptions options,
         Loc loc = Loc::current());

  /// x [..., in_features] -> [..., out_features].
  Tensor operator()(const Tensor& x, Loc loc = Loc::current()) const;

  LayerId id;
  int64_t in_features, out_features;
  Tensor weight;
  Tensor bias;  // empty without bias
};

/// Normalizes over the last axis: (x - mean) / sqrt(var + eps) · weight + bias (nn.LayerNorm(dim)).
/// Params: `weight [dim]` (ones), `bias [dim]` (zeros), unless `affine` is false.
struct LayerNorm {
  LayerNorm(Builder& b, const std::string& name, int64_t dim, double eps = 1e-5, bool affine = true,
            Loc loc = Loc::current());

  Tensor operator()(const Tensor& x, Loc loc = Loc::current()) const;

  LayerId id;
  int64_t dim;
  double eps;
  Tensor weight, bias;
};

/// Zeroes each element with probability p and scales the rest by 1/(1-p) (nn.Dropout). The mask
/// is a function of the layer's seed and the run's `step`, so runs are reproducible.
struct Dropout {
  Dropout(Builder& b, double p, Loc loc = Loc::current());

  /// The identity when `step` is empty (inference) or p is 0.
  Tensor operator()(const Tensor& x, const DropoutStep& step, Loc loc = Loc::current()) const;

  double p;
  int64_t seed;
};

struct FeedForwardOptions {
  Activation activation = Activation::relu;
  double dropout = 0.0;                      // between the activation and linear2, as in nn.TransformerEncoderLayer
  std::optional<Initializer> weight_init{};  // see LinearOptions
};

/// The Transformer's position-wise block: linear2(dropout(activation(linear1(x)))).
/// Params: `linear1.{weight [d_ff, d_model], bias}`, `linear2.{weight [d_model, d_ff], bias}` under
/// `name` (an empty name puts them directly in the enclosing scope, as in nn.TransformerEncoderLayer).
struct FeedForward {
  FeedForward(Builder& b, const std::string& name, int64_t d_model, int64_t d_ff, FeedForwardOptions options = {},
              Loc loc = Loc::current());

  /// x [..., d_model] -> [..., d_model].
  Tensor operator()(const Tensor& x, const DropoutStep& step = {}, Loc loc = Loc::current()) const;

  LayerId id;
  Linear linear1, linear2;
  Dropout dropout;
  Activation activation;
};

}  // namespace weft::nn
