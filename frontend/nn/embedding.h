/** \file
 * Token embeddings and the Transformer's sinusoidal positional encoding.
 *
 * The positional encoding is computed in the graph from the input's (possibly symbolic) length,
 * so one graph serves every sequence length — "any length, as in the paper":
 *   PE[pos, 2i] = sin(pos / base^(2i/d)),  PE[pos, 2i+1] = cos(pos / base^(2i/d)),  base = 10000.
 */
#pragma once

#include "frontend/nn/basic.h"

namespace weft::nn {

struct EmbeddingOptions {
  /// Multiply the looked-up vectors by sqrt(dim), as the Transformer paper does (section 3.4).
  bool scale_by_sqrt_dim = false;
  /// Replaces PyTorch's default N(0, 1); a seed of 0 takes the builder's next seed. With
  /// `scale_by_sqrt_dim`, use normal(0, dim^-0.5) (`weft::normal_init(0, 1 / sqrt(dim))`, as fairseq
  /// does): scaled N(0, 1) vectors would be sqrt(dim) times larger than the positional encoding,
  /// which then barely reaches attention and the model does not learn positions.
  std::optional<Initializer> init{};
};

/// A lookup table of `num_embeddings` vectors of size `dim` (nn.Embedding). Param: `weight [V, D]`,
/// initialized N(0, 1) as in PyTorch unless `options.init` says otherwise.
struct Embedding {
  Embedding(Builder& b, const std::string& name, int64_t num_embeddings, int64_t dim, EmbeddingOptions options = {},
            Loc loc = Loc::current());

  /// Integer ids [...] -> [..., dim]. An id outside [0, V) wraps from the end (numpy.take), so
  /// callers keep ids in range.
  Tensor operator()(const Tensor& ids, Loc loc = Loc::current()) const;

  LayerId id;
  int64_t num_embeddings, dim;
  EmbeddingOptions options;
  Tensor weight;
};

/// Adds the sinusoidal positional encoding, then dropout (no parameters).
struct PositionalEncoding {
  PositionalEncoding(Builder& b, const std::string& name, int64_t d_model, double dropout = 0.0, double base = 10000.0,
                     Loc loc = Loc::current());

  /// x [batch, length, d_model] -> x + PE[0:length], then dropout.
  Tensor operator()(const Tensor& x, const DropoutStep& step = {}, Loc loc = Loc::current()) const;
  /// The encodings of integer `positions` [...]: [..., d_model] (for step-by-step decoding).
  Tensor encode(const Tensor& positions, Loc loc = Loc::current()) const;
  /// The [length, d_model] table for a possibly symbolic length.
  Tensor table(Builder& b, const Dim& length, Loc loc = Loc::current()) const;

  LayerId id;
  int64_t d_model;
  double base;
  Dropout dropout;
};

}  // namespace weft::nn
