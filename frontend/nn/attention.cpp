#include "frontend/nn/attention.h"

#include <fmt/format.h>

#include <cmath>

#include "ir/init.h"

namespace weft::nn {

namespace {

Initializer packed_qkv_init(int64_t embed_dim) {
  double bound = std::sqrt(6.0 / static_cast<double>(4 * embed_dim));
  return Initializer{"uniform", {{"low", -bound}, {"high", bound}}, 0};
}

LinearOptions qkv_options(const MultiHeadAttentionOptions& o, int64_t embed_dim) {
  return LinearOptions{
      .bias = o.bias, .weight_init = packed_qkv_init(embed_dim), .bias_init = Initializer{"zeros", {}, 0}};
}

LinearOptions out_options(const MultiHeadAttentionOptions& o) {
  return LinearOptions{.bias = o.bias, .weight_init = o.out_proj_init, .bias_init = Initializer{"zeros", {}, 0}};
}

int64_t checked_head_dim(const Builder& b, int64_t embed_dim, int64_t num_heads, const Loc& loc) {
  if (embed_dim <= 0 || num_heads <= 0 || embed_dim % num_heads != 0)
    config_error(b,
                 fmt::format("MultiHeadAttention: embed_dim must be a positive multiple of num_heads, "
                             "but got embed_dim {} and num_heads {}",
                             embed_dim, num_heads),
                 loc);
  return embed_dim / num_heads;
}

Tensor neg_inf_where(const Tensor& cond, const Tensor& scores, const Loc& loc) {
  return dsl::select(cond, dsl::Operand(-INFINITY, loc), dsl::Operand(scores, loc));
}

}  // namespace

// --- MultiHeadAttention ---

MultiHeadAttention::MultiHeadAttention(Builder& b, const std::string& name, int64_t embed_dim_, int64_t num_heads_,
                                       MultiHeadAttentionOptions options, Loc loc)
    : id("MultiHeadAttention", b, name),
      embed_dim(embed_dim_),
      num_heads(num_heads_),
      head_dim(checked_head_dim(b, embed_dim_, num_heads_, loc)),
      q_proj(b, join_name(name, "q_proj"), embed_dim_, embed_dim_, qkv_options(options, embed_dim_), loc),
      k_proj(b, join_name(name, "k_proj"), embed_dim_, embed_dim_, qkv_options(options, embed_dim_), loc),
      v_proj(b, join_name(name, "v_proj"), embed_dim_, embed_dim_, qkv_options(options, embed_dim_), loc),
      out_proj(b, join_name(name, "out_proj"), embed_dim_, embed_dim_, out_options(options), loc) {}

Tensor MultiHeadAttention::operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                                      const AttentionMasks& masks, Loc loc) const {
  return run(query, key, value, masks, false, false, loc).output;
}

MultiHeadAttention::Result MultiHeadAttention::with_weights(const Tensor& query, const Tensor& key, const Tensor& value,
                                                            const AttentionMasks& masks, bool average_heads,
                                                            Loc loc) const {
  return run(query, key, value, masks, true, average_heads, loc);
}

MultiHeadAttention::Result MultiHeadAttention::run(const Tensor& query, const Tensor& key, const Tensor& value,
                                                   const AttentionMasks& masks, bool want_weights, bool average_heads,
                                                   const Loc& loc) const {
  expect_shape(id, "query", query, DType::f32, {"batch", "length", embed_dim}, loc);
  const Dim batch = query.dim(0), tq = query.dim(1);
  expect_shape(id, "key", key, DType::f32, {batch, "length", embed_dim}, loc);
  const Dim tk = key.dim(1);
  expect_shape(id, "value", value, DType::f32, {batch, tk, embed_dim}, loc);
  const Dim heads(num_heads);
  Tensor attn_mask = masks.attn_mask;
  if (attn_mask.defined()) {
    DType t = attn_mask.dtype();
    if (t != DType::boolean && t != DType::f32)
      id.fail(fmt::format("attn_mask must be bool (true = masked out) or f32 (added to the scores), but got {}",
                          attn_mask.type().str()),
              loc);
    if (attn_mask.rank() == 2) {
      expect_shape(id, "attn_mask", attn_mask, t, {tq, tk}, loc);
    } else if (attn_mask.rank() == 3) {
      expect_shape(id, "attn_mask", attn_mask, t, {batch * heads, tq, tk}, loc);
    } else if (attn_mask.rank() != 4) {
      id.fail(fmt::format("attn_mask must be [Tq, Tk], [batch*heads, Tq, Tk] or broadcast to [batch, heads, Tq, Tk] "
                          "= {}, but got {}",
                          shape_str({batch, heads, tq, tk}), attn_mask.type().str()),
              loc);
    }
  }
  if (masks.key_padding_mask.defined())
    expect_shape(id, "key_padding_mask", masks.key_padding_mask, DType::boolean, {batch, tk}, loc);

  auto scope = id.enter(query.builder(), loc);
  auto split_heads = [&](const Tensor& x, const Dim& length) {  // [B, T, E] -> [B, H, T, d]
    return dsl::transpose(dsl::reshape(x, {batch, length, heads, head_dim}, loc), {0, 2, 1, 3}, loc);
  };
  Tensor q = split_heads(q_proj(query, loc), tq);
  Tensor k = split_heads(k_proj(key, loc), tk);
  Tensor v = split_heads(v_proj(value, loc), tk);

  Tensor mask;
  if (attn_mask.defined())
    mask = attn_mask.rank() == 3 ? dsl::reshape(attn_mask, {batch, heads, tq, tk}, loc) : attn_mask;
  if (masks.key_padding_mask.defined()) {
    Tensor padded = dsl::reshape(masks.key_padding_mask, {batch, 1, 1, tk}, loc);
    if (!mask.defined()) {
      mask = padded;
    } else if (mask.dtype() == DType::boolean) {
      mask = dsl::logical_or(dsl::Operand(mask, loc), dsl::Operand(padded, loc));
    } else {
      mask = neg_inf_where(padded, mask, loc);  // PyTorch adds -inf for padded keys to a float mask
    }
  }

  dsl::AttentionOptions options{.causal = masks.causal, .scale = 0.0};  // scale 0: 1/sqrt(head_dim)
  Tensor heads_out, weights;
  if (want_weights) {
    std::tie(heads_out, weights) = dsl::attention_with_weights(q, k, v, mask, options, loc);
    if (average_heads) weights = dsl::mean(weights, {1}, false, loc);
  } else {
    heads_out = dsl::attention(q, k, v, mask, options, loc);
  }
  Tensor merged = dsl::reshape(dsl::transpose(heads_out, {0, 2, 1, 3}, loc), {batch, tq, embed_dim}, loc);
  return Result{out_proj(merged, loc), weights};
}

// --- shared by the RNN-style attentions ---

namespace {

struct Checked {
  bool single;     // a single query [batch, Dq]
  Tensor query3;   // [batch, Tq, Dq]
  Tensor padding;  // bool [batch, 1, Tk], or empty
};

Checked check_rnn_attention(const LayerId& id, const Tensor& query, int64_t query_dim, const Tensor& keys,
                            int64_t key_dim, const Tensor& values, const Tensor& key_padding_mask, const Loc& loc) {
  if (!query.defined() || query.rank() != 2)
    expect_shape(id, "query", query, DType::f32, {"batch", "length", query_dim}, loc);
  else
    expect_shape(id, "query", query, DType::f32, {"batch", query_dim}, loc);
  const Dim batch = query.dim(0);
  expect_shape(id, "keys", keys, DType::f32, {batch, "length", key_dim}, loc);
  expect_shape(id, "values", values, DType::f32, {batch, keys.dim(1), "value_dim"}, loc);
  Checked c{query.rank() == 2, query, {}};
  if (key_padding_mask.defined())
    expect_shape(id, "key_padding_mask", key_padding_mask, DType::boolean, {batch, keys.dim(1)}, loc);
  auto scope = id.enter(query.builder(), loc);
  if (c.single) c.query3 = dsl::reshape(query, {batch, 1, query_dim}, loc);
  if (key_padding_mask.defined()) c.padding = dsl::reshape(key_padding_mask, {batch, 1, keys.dim(1)}, loc);
  return c;
}

AttentionResult finish_rnn_attention(const Checked& c, Tensor context, Tensor weights, const Loc& loc) {
  if (c.single) {
    context = dsl::reshape(context, {context.dim(0), context.dim(2)}, loc);
    weights = dsl::reshape(weights, {weights.dim(0), weights.dim(2)}, loc);
  }
  return AttentionResult{context, weights};
}

}  // namespace

// --- AdditiveAttention ---

AdditiveAttention::AdditiveAttention(Builder& b, const std::string& name, int64_t query_dim_, int64_t key_dim_,
                                     int64_t attention_dim_, Loc loc)
    : id("AdditiveAttention", b, name),
      query_dim(query_dim_),
      key_dim(key_dim_),
      attention_dim(attention_dim_),
      query_proj(b, join_name(name, "query_proj"), query_dim_, attention_dim_, false, loc),
      key_proj(b, join_name(name, "key_proj"), key_dim_, attention_dim_, false, loc),
      v(b, join_name(name, "v"), attention_dim_, 1, false, loc) {}

AttentionResult AdditiveAttention::operator()(const Tensor& query, const Tensor& keys, const Tensor& values,
                                              const Tensor& key_padding_mask, Loc loc) const {
  Checked c = check_rnn_attention(id, query, query_dim, keys, key_dim, values, key_padding_mask, loc);
  auto scope = id.enter(query.builder(), loc);
  const Dim batch = c.query3.dim(0), tq = c.query3.dim(1), tk = keys.dim(1);
  // [B, Tq, 1, A] + [B, 1, Tk, A] -> tanh -> v -> [B, Tq, Tk]
  Tensor qp = dsl::reshape(query_proj(c.query3, loc), {batch, tq, 1, attention_dim}, loc);
  Tensor kp = dsl::reshape(key_proj(keys, loc), {batch, 1, tk, attention_dim}, loc);
  Tensor scores = dsl::reshape(v(dsl::tanh(ops::add(qp, kp, loc), loc), loc), {batch, tq, tk}, loc);
  if (c.padding.defined()) scores = neg_inf_where(c.padding, scores, loc);
  Tensor weights = dsl::softmax(scores, -1, loc);
  return finish_rnn_attention(c, dsl::matmul(weights, values, {}, loc), weights, loc);
}

// --- MultiplicativeAttention ---

std::string_view score_kind_name(ScoreKind kind) {
  switch (kind) {
    case ScoreKind::dot:
      return "dot";
    case ScoreKind::general:
      return "general";
    case ScoreKind::scaled_dot:
      return "scaled_dot";
  }
  return "?";
}

MultiplicativeAttention::MultiplicativeAttention(Builder& b, const std::string& name, ScoreKind kind_,
                                                 int64_t query_dim_, int64_t key_dim_, Loc loc)
    : id("MultiplicativeAttention", b, name), kind(kind_), query_dim(query_dim_), key_dim(key_dim_) {
  if (query_dim <= 0 || key_dim <= 0)
    config_error(b,
                 fmt::format("MultiplicativeAttention: query_dim and key_dim must be positive, but got "
                             "{} and {}",
                             query_dim, key_dim),
                 loc);
  if (kind != ScoreKind::general && query_dim != key_dim)
    config_error(b,
                 fmt::format("MultiplicativeAttention: the {} score needs query_dim == key_dim, but got "
                             "{} and {} (use ScoreKind::general to compare different sizes)",
                             score_kind_name(kind), query_dim, key_dim),
                 loc);
  if (kind == ScoreKind::general) {
    auto s = open_scope(b, name, loc);
    Initializer init = linear_weight_init(b.next_seed());  // as nn.Linear(key_dim, query_dim, bias=False)
    weight = b.param("weight", DType::f32, {query_dim, key_dim}, init, loc);
  }
}

AttentionResult MultiplicativeAttention::operator()(const Tensor& query, const Tensor& keys, const Tensor& values,
                                                    const Tensor& key_padding_mask, Loc loc) const {
  Checked c = check_rnn_attention(id, query, query_dim, keys, key_dim, values, key_padding_mask, loc);
  auto scope = id.enter(query.builder(), loc);
  // general: qᵀ W k = q · (k Wᵀ), so the keys are projected once for every query.
  Tensor k = kind == ScoreKind::general ? dsl::matmul(keys, weight, {.transpose_b = true}, loc) : keys;
  double scale = kind == ScoreKind::scaled_dot ? 1.0 / std::sqrt(static_cast<double>(key_dim)) : 1.0;
  auto [context, weights] = dsl::attention_with_weights(c.query3, k, values, c.padding, {.scale = scale}, loc);
  return finish_rnn_attention(c, context, weights, loc);
}

// --- masks ---

Tensor padding_mask(const Tensor& lengths, const Dim& length, Loc loc) {
  SourceLoc at = SourceLoc::from(loc);
  if (!lengths.defined() || !is_int(lengths.dtype()) || lengths.rank() != 1)
    throw Error(with_location(fmt::format("padding_mask: lengths must be an integer [batch] vector, but got {}",
                                          lengths.defined() ? lengths.type().str() : "an empty handle"),
                              at));
  const Dim batch = lengths.dim(0);
  Tensor position = dsl::iota(lengths.builder(), {batch, length}, 1, lengths.dtype(), loc);
  return dsl::ge(dsl::Operand(position, loc), dsl::Operand(dsl::reshape(lengths, {batch, 1}, loc), loc));
}

Tensor causal_mask(Builder& b, const Dim& length, Loc loc) {
  Tensor row = dsl::iota(b, {length, length}, 0, DType::i64, loc);
  Tensor col = dsl::iota(b, {length, length}, 1, DType::i64, loc);
  return dsl::gt(dsl::Operand(col, loc), dsl::Operand(row, loc));
}

}  // namespace weft::nn
