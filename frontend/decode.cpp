#include "frontend/decode.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>

#include "ir/error.h"

namespace weft::decode {

namespace {

constexpr size_t kNone = static_cast<size_t>(-1);
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

[[noreturn]] void fail(const std::string& message) { throw Error("decode: " + message); }

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

size_t find_output(const Signature& sig, const std::string& name) {
  for (size_t i = 0; i < sig.outputs.size(); ++i)
    if (sig.outputs[i].name == name) return i;
  return kNone;
}

enum class Kind { fixed, cache, state };

/// One step input other than `tokens` and `position`, and where its value comes from.
struct Entry {
  Kind kind = Kind::fixed;
  size_t input = 0;
  size_t output = kNone;  // `.new` of a cache, `.next` of a state
  int row_axis = 0;       // in the input's shape (a cache's includes P at axis 0)
  Tensor value;           // fixed and state: [.., R, ..]; cache: the capacity buffer [C, .., R, ..]
  Tensor scratch;         // cache: the buffer beam reordering gathers into
};

/// The step graph's signature read by the naming of decode.h.
struct StepGraph {
  size_t tokens = kNone, position = kNone, logits = kNone, attention = kNone;
  std::string rows_symbol;
  int64_t capacity = 0;  // the caches' P bound
  std::vector<Entry> entries;
};

std::string lone_symbol(const Dim& d) {
  return d.symbols().size() == 1 && d.coefficient() == 1 ? d.symbols()[0] : std::string();
}

StepGraph read_step(const Signature& sig, const SearchOptions& options) {
  StepGraph g;
  for (size_t i = 0; i < sig.inputs.size(); ++i) {
    if (sig.inputs[i].name == "tokens") g.tokens = i;
    if (sig.inputs[i].name == "position") g.position = i;
  }
  if (g.tokens == kNone) fail("the step graph has no input `tokens` (i64[R]: each row's previous token)");
  const TensorType& tokens = sig.inputs[g.tokens].type;
  if (tokens.dtype != DType::i64 || tokens.rank() != 1 || lone_symbol(tokens.shape[0]).empty())
    fail(fmt::format("the step graph's `tokens` must be i64[R] with R a symbol, but is {}", tokens.str()));
  g.rows_symbol = lone_symbol(tokens.shape[0]);
  if (g.position != kNone && (sig.inputs[g.position].type.dtype != DType::i64 || sig.inputs[g.position].type.rank()))
    fail(
        fmt::format("the step graph's `position` must be an i64 scalar, but is {}", sig.inputs[g.position].type.str()));
  g.logits = find_output(sig, "logits");
  if (g.logits == kNone || sig.outputs[g.logits].type.dtype != DType::f32 || sig.outputs[g.logits].type.rank() != 2)
    fail("the step graph needs an output `logits` f32[R, V]");
  g.attention = find_output(sig, "attention");
  if (options.attention && g.attention == kNone)
    fail("attention weights were asked for, but the step graph has no output `attention`");

  std::string past_symbol;
  const Dim rows = Dim::symbol(g.rows_symbol);
  for (size_t i = 0; i < sig.inputs.size(); ++i) {
    if (i == g.tokens || i == g.position) continue;
    const TensorSpec& in = sig.inputs[i];
    Entry e;
    e.input = i;
    e.kind = starts_with(in.name, "cache.") ? Kind::cache : starts_with(in.name, "state.") ? Kind::state : Kind::fixed;
    std::vector<int> axes;
    for (int a = e.kind == Kind::cache ? 1 : 0; a < in.type.rank(); ++a)
      if (in.type.shape[static_cast<size_t>(a)] == rows) axes.push_back(a);
    if (axes.size() != 1)
      fail(fmt::format("step input `{}` {} must have the rows symbol {} in exactly one axis", in.name, in.type.str(),
                       g.rows_symbol));
    e.row_axis = axes[0];
    if (e.kind == Kind::cache) {
      std::string p = in.type.rank() ? lone_symbol(in.type.shape[0]) : "";
      if (p.empty() || (!past_symbol.empty() && p != past_symbol))
        fail(fmt::format("cache input `{}` {} must start with the cache-length symbol shared by every cache", in.name,
                         in.type.str()));
      past_symbol = p;
      e.output = find_output(sig, in.name + ".new");
      if (e.output == kNone) fail(fmt::format("cache input `{}` has no output `{}.new`", in.name, in.name));
      Shape row_shape(in.type.shape.begin() + 1, in.type.shape.end());
      if (sig.outputs[e.output].type != TensorType{in.type.dtype, row_shape})
        fail(fmt::format("output `{}.new` must be {}[{}] (the cache without its first dim), but is {}", in.name,
                         dtype_name(in.type.dtype), shape_str(row_shape), sig.outputs[e.output].type.str()));
    } else if (e.kind == Kind::state) {
      e.output = find_output(sig, in.name + ".next");
      if (e.output == kNone || sig.outputs[e.output].type != in.type)
        fail(fmt::format("state input `{}` needs an output `{}.next` of type {}", in.name, in.name, in.type.str()));
    }
    g.entries.push_back(std::move(e));
  }
  if (!past_symbol.empty()) {
    if (g.position == kNone) fail("a step graph with caches needs the i64 scalar input `position`");
    std::optional<int64_t> bound;
    for (const SymbolSpec& s : sig.symbols)
      if (s.name == past_symbol) bound = s.bound;
    if (!bound) fail(fmt::format("the cache-length symbol {} needs a bound (the cache's capacity)", past_symbol));
    g.capacity = *bound;
    if (options.max_length > g.capacity)
      fail(fmt::format("max_length {} exceeds the caches' capacity {} (the bound of {})", options.max_length,
                       g.capacity, past_symbol));
  }
  return g;
}

/// out[o, r, i] = in[o, index[r], i] over the first `outer` blocks of `in` viewed as [outer, rows, inner].
void gather_rows(const Tensor& in, Tensor& out, int64_t outer, int64_t rows_in, int64_t inner_bytes,
                 const std::vector<int64_t>& index) {
  const auto* src = static_cast<const std::byte*>(in.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  const auto rows_out = static_cast<int64_t>(index.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t r = 0; r < rows_out; ++r)
      std::memcpy(dst + (o * rows_out + r) * inner_bytes,
                  src + (o * rows_in + index[static_cast<size_t>(r)]) * inner_bytes, static_cast<size_t>(inner_bytes));
}

struct Layout {
  int64_t outer = 1, rows = 1, inner_bytes = 0;
};

Layout layout_of(const Tensor& t, int axis) {
  Layout l;
  l.inner_bytes = static_cast<int64_t>(dtype_size(t.dtype()));
  for (int a = 0; a < t.rank(); ++a) {
    int64_t n = t.shape()[static_cast<size_t>(a)];
    if (a < axis) l.outer *= n;
    if (a == axis) l.rows = n;
    if (a > axis) l.inner_bytes *= n;
  }
  return l;
}

/// `t` with its rows (along `axis`) taken by `index`.
Tensor take_rows(const Tensor& t, int axis, const std::vector<int64_t>& index) {
  Layout l = layout_of(t, axis);
  std::vector<int64_t> shape = t.shape();
  shape[static_cast<size_t>(axis)] = static_cast<int64_t>(index.size());
  Tensor out = Tensor::uninitialized(t.dtype(), shape);
  gather_rows(t, out, l.outer, l.rows, l.inner_bytes, index);
  return out;
}

/// log Σ exp(row[v]) in double, as the decoders' log_softmax takes it.
double log_sum_exp(const float* row, int64_t vocab) {
  const double m = *std::max_element(row, row + vocab);
  double total = 0.0;
  for (int64_t v = 0; v < vocab; ++v) total += std::exp(static_cast<double>(row[v]) - m);
  return m + std::log(total);
}

/// The running search: rows = sources × beams, the step's inputs, and each row's history.
class Search {
 public:
  Search(Executable& encode, Executable& step, const std::map<std::string, Tensor>& inputs, const SearchOptions& o,
         int64_t beams)
      : step_(step), options_(o), beams_(beams), graph_(read_step(step.signature(), o)) {
    std::map<std::string, Tensor> encoded = encode.run_named(inputs);
    const Signature& sig = step.signature();
    for (Entry& e : graph_.entries) {
      if (e.kind == Kind::cache) continue;
      const TensorSpec& in = sig.inputs[e.input];
      auto it = encoded.find(in.name);
      if (it == encoded.end()) fail(fmt::format("the encode graph has no output `{}` for the step's input", in.name));
      const Tensor& v = it->second;
      if (v.rank() != in.type.rank())
        fail(fmt::format("encode output `{}` is {}, but the step's input is {}", in.name, v.type_str(), in.type.str()));
      int64_t b = v.shape()[static_cast<size_t>(e.row_axis)];
      if (sources_ >= 0 && b != sources_)
        fail(fmt::format("encode output `{}` has {} rows, but another has {}", in.name, b, sources_));
      sources_ = b;
      e.value = v;
    }
    if (sources_ < 0) fail("the step graph has no input fed by the encode graph");
    rows_ = sources_ * beams_;
    std::vector<int64_t> expand(static_cast<size_t>(rows_));
    for (int64_t r = 0; r < rows_; ++r) expand[static_cast<size_t>(r)] = r / beams_;
    SymbolBindings rows_only{{graph_.rows_symbol, rows_}};
    for (Entry& e : graph_.entries) {
      if (e.kind != Kind::cache) {
        e.value = take_rows(e.value, e.row_axis, expand);
        continue;
      }
      const TensorType& t = sig.inputs[e.input].type;
      std::vector<int64_t> shape{graph_.capacity};
      for (size_t a = 1; a < t.shape.size(); ++a) {
        if (!t.shape[a].is_bound_by(rows_only))
          fail(fmt::format("cache input `{}` {} may have no symbol but the cache length and the rows",
                           sig.inputs[e.input].name, t.str()));
        shape.push_back(t.shape[a].evaluate(rows_only));
      }
      e.value = Tensor::zeros(t.dtype, shape);  // zeros: an unwritten slot must be finite
      e.scratch = Tensor::zeros(t.dtype, shape);
    }
    tokens_.assign(static_cast<size_t>(rows_), o.bos);
    histories_.resize(static_cast<size_t>(rows_));
  }

  int64_t sources() const { return sources_; }
  int64_t rows() const { return rows_; }
  const std::vector<int64_t>& tokens() const { return tokens_; }

  /// Runs step `t` (position t) on the current tokens; returns its logits [rows, V] (f32), valid
  /// until the next step.
  const Tensor& run(int64_t t) {
    const Signature& sig = step_.signature();
    in_.resize(sig.inputs.size());
    in_[graph_.tokens] = Tensor::from<int64_t>({rows_}, tokens_);
    if (graph_.position != kNone) in_[graph_.position] = Tensor::from<int64_t>({}, {t});
    for (const Entry& e : graph_.entries) in_[e.input] = e.kind == Kind::cache ? e.value.leading(t + 1) : e.value;
    out_ = step_.run(in_);
    for (Entry& e : graph_.entries) {
      if (e.kind == Kind::state) e.value = out_[e.output];
      if (e.kind != Kind::cache) continue;
      const Tensor& row = out_[e.output];  // written into slot t, in place
      std::memcpy(static_cast<std::byte*>(e.value.raw()) + static_cast<size_t>(t) * row.nbytes(), row.raw(),
                  row.nbytes());
    }
    if (options_.attention) record_attention(out_[graph_.attention]);
    const Tensor& logits = out_[graph_.logits];
    vocab_ = logits.shape()[1];
    if (logits.shape()[0] != rows_) fail(fmt::format("`logits` has {} rows, expected {}", logits.shape()[0], rows_));
    return logits;
  }

  /// Log-probabilities [rows, V] (double) of the logits `run` returned: log_softmax in double.
  std::vector<double> log_probs(const Tensor& logits) const {
    std::vector<double> lp(static_cast<size_t>(rows_ * vocab_));
    const float* x = logits.data<float>();
    for (int64_t r = 0; r < rows_; ++r) {
      const float* row = x + r * vocab_;
      const double lse = log_sum_exp(row, vocab_);
      for (int64_t v = 0; v < vocab_; ++v) lp[static_cast<size_t>(r * vocab_ + v)] = row[v] - lse;
    }
    return lp;
  }

  int64_t vocab() const { return vocab_; }

  /// Row r continues row parent[r] with token next[r]: reorders caches (filled slots 0..t), states
  /// and histories by a gather of rows.
  void advance(int64_t t, const std::vector<int64_t>& parent, const std::vector<int64_t>& next) {
    bool identity = true;
    for (int64_t r = 0; r < rows_; ++r) identity = identity && parent[static_cast<size_t>(r)] == r;
    if (!identity) {
      for (Entry& e : graph_.entries) {
        if (e.kind == Kind::fixed) continue;  // the beams of a source share its fixed inputs
        if (e.kind == Kind::state) {
          e.value = take_rows(e.value, e.row_axis, parent);
          continue;
        }
        Layout l = layout_of(e.value, e.row_axis);
        l.outer = l.outer / graph_.capacity * (t + 1);
        gather_rows(e.value, e.scratch, l.outer, l.rows, l.inner_bytes, parent);
        std::swap(e.value, e.scratch);
      }
      std::vector<std::vector<std::vector<float>>> h(static_cast<size_t>(rows_));
      for (int64_t r = 0; r < rows_; ++r)
        h[static_cast<size_t>(r)] = histories_[static_cast<size_t>(parent[static_cast<size_t>(r)])];
      histories_ = std::move(h);
    }
    tokens_ = next;
  }

  const std::vector<std::vector<float>>& history(int64_t row) const { return histories_[static_cast<size_t>(row)]; }

  /// The attention tensors of `history` (steps of [H·S] or [S]).
  void attention_of(const std::vector<std::vector<float>>& history, size_t steps, SourceResult& out) const {
    if (!options_.attention) return;
    const int64_t heads = heads_, len = src_len_, t = static_cast<int64_t>(std::min(steps, history.size()));
    std::vector<float> avg(static_cast<size_t>(t * len), 0.0f), per(static_cast<size_t>(heads * t * len));
    for (int64_t i = 0; i < t; ++i)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t s = 0; s < len; ++s) {
          float w = history[static_cast<size_t>(i)][static_cast<size_t>(h * len + s)];
          per[static_cast<size_t>((h * t + i) * len + s)] = w;
          avg[static_cast<size_t>(i * len + s)] += w / static_cast<float>(heads);
        }
    out.attention = Tensor::from<float>({t, len}, avg);
    if (per_head_) out.attention_heads = Tensor::from<float>({heads, t, len}, per);
  }

 private:
  void record_attention(const Tensor& a) {
    if (a.dtype() != DType::f32 || (a.rank() != 2 && a.rank() != 3) || a.shape()[0] != rows_)
      fail(fmt::format("the step's `attention` must be f32[R, S] or f32[R, H, S], but is {}", a.type_str()));
    per_head_ = a.rank() == 3;
    heads_ = per_head_ ? a.shape()[1] : 1;
    src_len_ = a.shape().back();
    const float* p = a.data<float>();
    const int64_t n = heads_ * src_len_;
    for (int64_t r = 0; r < rows_; ++r) histories_[static_cast<size_t>(r)].emplace_back(p + r * n, p + (r + 1) * n);
  }

  Executable& step_;
  std::vector<Tensor> in_, out_;  // the last step's, kept so that a step allocates no vectors
  SearchOptions options_;
  int64_t beams_;
  StepGraph graph_;
  int64_t sources_ = -1, rows_ = 0, vocab_ = 0;
  std::vector<int64_t> tokens_;
  std::vector<std::vector<std::vector<float>>> histories_;  // per row: per step, the attention [H·S]
  bool per_head_ = false;
  int64_t heads_ = 1, src_len_ = 0;
};

void check_options(const SearchOptions& o, int64_t beams) {
  if (o.max_length < 1) fail(fmt::format("max_length must be at least 1, but is {}", o.max_length));
  if (beams < 1) fail(fmt::format("beam must be at least 1, but is {}", beams));
  if (!(o.alpha >= 0.0)) fail(fmt::format("alpha must be >= 0, but is {}", o.alpha));
}

double normalized(double log_prob, size_t length, double alpha) {
  return alpha == 0.0 ? log_prob : log_prob / std::pow(static_cast<double>(length), alpha);
}

}  // namespace

void check_decode_signatures(const Signature& encode, const Signature& step) {
  StepGraph g = read_step(step, SearchOptions{.max_length = 1});
  for (const Entry& e : g.entries) {
    if (e.kind == Kind::cache) continue;
    const TensorSpec& in = step.inputs[e.input];
    auto out = std::find_if(encode.outputs.begin(), encode.outputs.end(),
                            [&](const TensorSpec& o) { return o.name == in.name; });
    if (out == encode.outputs.end())
      fail(fmt::format("the encode graph has no output `{}` for the step's input", in.name));
    if (out->type.dtype != in.type.dtype || out->type.rank() != in.type.rank())
      fail(
          fmt::format("encode output `{}` is {}, but the step's input is {}", in.name, out->type.str(), in.type.str()));
  }
}

std::vector<SourceResult> greedy_decode(Executable& encode, Executable& step,
                                        const std::map<std::string, Tensor>& inputs, const SearchOptions& options) {
  check_options(options, 1);
  Search search(encode, step, inputs, options, 1);
  const int64_t rows = search.rows();
  std::vector<Hypothesis> hyps(static_cast<size_t>(rows));
  std::vector<int64_t> same(static_cast<size_t>(rows));
  std::iota(same.begin(), same.end(), 0);
  std::vector<int64_t> next(static_cast<size_t>(rows));
  for (int64_t t = 0; t < options.max_length; ++t) {
    const Tensor& logits = search.run(t);
    const int64_t vocab = search.vocab();
    std::fill(next.begin(), next.end(), options.eos);
    bool running = false;
    for (int64_t r = 0; r < rows; ++r) {
      Hypothesis& h = hyps[static_cast<size_t>(r)];
      if (h.finished) continue;
      // The first maximum of the row's log-probabilities (row[v] - lse in double, as beam search
      // takes them), without writing them out: only the best one is kept.
      const float* row = logits.data<float>() + r * vocab;
      const double lse = log_sum_exp(row, vocab);
      int64_t best = 0;
      double best_lp = row[0] - lse;
      for (int64_t v = 1; v < vocab; ++v) {
        const double lp = row[v] - lse;
        if (lp > best_lp) {
          best = v;
          best_lp = lp;
        }
      }
      h.tokens.push_back(best);
      h.log_prob += best_lp;
      h.finished = best == options.eos;
      next[static_cast<size_t>(r)] = best;
      running = running || !h.finished;
    }
    search.advance(t, same, next);
    if (!running) break;
  }
  std::vector<SourceResult> results(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    Hypothesis& h = hyps[static_cast<size_t>(r)];
    h.score = normalized(h.log_prob, h.tokens.size(), options.alpha);
    search.attention_of(search.history(r), h.tokens.size(), results[static_cast<size_t>(r)]);
    results[static_cast<size_t>(r)].best.push_back(std::move(h));
  }
  return results;
}

std::vector<SourceResult> beam_search(Executable& encode, Executable& step, const std::map<std::string, Tensor>& inputs,
                                      const SearchOptions& options) {
  const int64_t k = options.beam;
  check_options(options, k);
  Search search(encode, step, inputs, options, k);
  const int64_t sources = search.sources(), rows = search.rows();
  struct Beam {
    Hypothesis hyp;
    std::vector<std::vector<float>> attention;
  };
  std::vector<Beam> alive(static_cast<size_t>(rows));
  std::vector<double> log_prob(static_cast<size_t>(rows), kNegInf);
  for (int64_t b = 0; b < sources; ++b) log_prob[static_cast<size_t>(b * k)] = 0.0;  // one live beam to start
  std::vector<std::vector<Beam>> finished(static_cast<size_t>(sources));
  std::vector<bool> done(static_cast<size_t>(sources), false);
  const double length_bound = std::pow(static_cast<double>(options.max_length), options.alpha);

  for (int64_t t = 0; t < options.max_length; ++t) {
    std::vector<double> lp = search.log_probs(search.run(t));
    const int64_t vocab = search.vocab();
    std::vector<int64_t> parent(static_cast<size_t>(rows)), next(static_cast<size_t>(rows), options.eos);
    std::iota(parent.begin(), parent.end(), 0);
    std::vector<Beam> next_alive(static_cast<size_t>(rows));
    std::vector<double> next_log_prob(static_cast<size_t>(rows), kNegInf);
    for (int64_t b = 0; b < sources; ++b) {
      if (done[static_cast<size_t>(b)]) continue;
      // Each live beam's 2k best tokens hold the source's 2k best candidates (k may end with EOS).
      struct Candidate {
        double log_prob;
        int64_t row, token;
      };
      std::vector<Candidate> cands;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t r = b * k + j;
        if (log_prob[static_cast<size_t>(r)] == kNegInf) continue;
        const double* row = lp.data() + r * vocab;
        std::vector<int64_t> ids(static_cast<size_t>(vocab));
        std::iota(ids.begin(), ids.end(), 0);
        const auto top = static_cast<std::ptrdiff_t>(std::min<int64_t>(2 * k, vocab));
        std::partial_sort(ids.begin(), ids.begin() + top, ids.end(),
                          [&](int64_t x, int64_t y) { return row[x] > row[y] || (row[x] == row[y] && x < y); });
        for (std::ptrdiff_t i = 0; i < top; ++i)
          cands.push_back(
              {log_prob[static_cast<size_t>(r)] + row[ids[static_cast<size_t>(i)]], r, ids[static_cast<size_t>(i)]});
      }
      std::stable_sort(cands.begin(), cands.end(),
                       [](const Candidate& x, const Candidate& y) { return x.log_prob > y.log_prob; });
      int64_t filled = 0;
      for (size_t rank = 0; rank < cands.size() && filled < k; ++rank) {
        const Candidate& c = cands[rank];
        Beam extended = alive[static_cast<size_t>(c.row)];
        extended.hyp.tokens.push_back(c.token);
        extended.hyp.log_prob = c.log_prob;
        if (options.attention) extended.attention = search.history(c.row);
        if (c.token == options.eos) {
          if (static_cast<int64_t>(rank) >= k) continue;  // as fairseq: EOS ends a hypothesis only among the k best
          extended.hyp.finished = true;
          extended.hyp.score = normalized(c.log_prob, extended.hyp.tokens.size(), options.alpha);
          finished[static_cast<size_t>(b)].push_back(std::move(extended));
          continue;
        }
        const int64_t r = b * k + filled++;
        parent[static_cast<size_t>(r)] = c.row;
        next[static_cast<size_t>(r)] = c.token;
        next_log_prob[static_cast<size_t>(r)] = c.log_prob;
        extended.attention.clear();
        next_alive[static_cast<size_t>(r)] = std::move(extended);
      }
      // Done when k hypotheses have ended and no live beam can beat the k-th: a live beam's log P only
      // falls, and its length is at most max_length.
      std::vector<Beam>& ended = finished[static_cast<size_t>(b)];
      std::stable_sort(ended.begin(), ended.end(),
                       [](const Beam& x, const Beam& y) { return x.hyp.score > y.hyp.score; });
      if (static_cast<int64_t>(ended.size()) > k) ended.resize(static_cast<size_t>(k));
      if (static_cast<int64_t>(ended.size()) >= k) {
        double best_alive = kNegInf;
        for (int64_t j = 0; j < k; ++j)
          best_alive = std::max(best_alive, next_log_prob[static_cast<size_t>(b * k + j)]);
        if (best_alive / length_bound <= ended[static_cast<size_t>(k - 1)].hyp.score)
          done[static_cast<size_t>(b)] = true;
      }
    }
    alive = std::move(next_alive);
    log_prob = std::move(next_log_prob);
    search.advance(t, parent, next);
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
  }

  std::vector<SourceResult> results(static_cast<size_t>(sources));
  for (int64_t b = 0; b < sources; ++b) {
    std::vector<Beam>& ended = finished[static_cast<size_t>(b)];
    std::vector<Beam> open;
    if (!done[static_cast<size_t>(b)])
      for (int64_t j = 0; j < k; ++j) {
        const int64_t r = b * k + j;
        if (log_prob[static_cast<size_t>(r)] == kNegInf) continue;
        Beam beam = alive[static_cast<size_t>(r)];
        beam.hyp.score = normalized(beam.hyp.log_prob, beam.hyp.tokens.size(), options.alpha);
        if (options.attention) beam.attention = search.history(r);
        open.push_back(std::move(beam));
      }
    std::stable_sort(open.begin(), open.end(), [](const Beam& x, const Beam& y) { return x.hyp.score > y.hyp.score; });
    ended.insert(ended.end(), open.begin(), open.end());
    SourceResult& out = results[static_cast<size_t>(b)];
    for (size_t i = 0; i < ended.size() && static_cast<int64_t>(i) < k; ++i) out.best.push_back(ended[i].hyp);
    if (!ended.empty()) search.attention_of(ended[0].attention, ended[0].hyp.tokens.size(), out);
  }
  return results;
}

}  // namespace weft::decode
