#include "frontend/data_loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <random>

namespace weft::train {

namespace {

/// A shuffle that is the same on every standard library (std::shuffle's is not specified).
void shuffle_with(std::vector<size_t>& v, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

uint64_t mix(uint64_t seed, uint64_t epoch, uint64_t salt) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ (epoch + 1) * 0xBF58476D1CE4E5B9ull ^ salt * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x * 0xD6E8FEB86659FD39ull;
}

}  // namespace

SequenceLoader::SequenceLoader(std::vector<TokenExample> examples, SequenceLoaderOptions options)
    : examples_(std::move(examples)), options_(std::move(options)) {
  if (examples_.empty()) throw Error("SequenceLoader: needs at least one example, but got none");
  if (options_.batch_size < 1 || options_.bucket_pool < 1)
    throw Error(fmt::format("SequenceLoader: batch_size and bucket_pool must be at least 1, but they are {} and {}",
                            options_.batch_size, options_.bucket_pool));
  with_targets_ = !examples_[0].tgt.empty();
  for (size_t i = 0; i < examples_.size(); ++i) {
    if (examples_[i].src.empty())
      throw Error(fmt::format("SequenceLoader: every source must hold at least one token, but example {} is empty", i));
    if (examples_[i].tgt.empty() == with_targets_)
      throw Error(
          fmt::format("SequenceLoader: either every example has a target or none has, but example 0 {} and "
                      "example {} {}",
                      with_targets_ ? "has one" : "has none", i, with_targets_ ? "has none" : "has one"));
  }
  const auto n = static_cast<int64_t>(examples_.size());
  batches_per_epoch_ = (n + options_.batch_size - 1) / options_.batch_size;
}

std::vector<std::vector<size_t>> SequenceLoader::epoch_batches(int64_t epoch) const {
  std::vector<size_t> order(examples_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  const auto batch = static_cast<size_t>(options_.batch_size);
  if (options_.shuffle) {
    shuffle_with(order, mix(options_.seed, static_cast<uint64_t>(epoch), 1));
    const size_t pool = batch * static_cast<size_t>(options_.bucket_pool);
    if (options_.bucket_pool > 1) {
      auto length = [&](size_t i) { return std::max(examples_[i].src.size(), examples_[i].tgt.size()); };
      for (size_t from = 0; from < order.size(); from += pool)
        std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(from),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), from + pool)),
                         [&](size_t a, size_t b) { return length(a) < length(b); });
    }
  }
  std::vector<std::vector<size_t>> batches;
  for (size_t from = 0; from < order.size(); from += batch)
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(from),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), from + batch)));
  if (options_.shuffle) {
    std::vector<size_t> which(batches.size());
    std::iota(which.begin(), which.end(), size_t{0});
    shuffle_with(which, mix(options_.seed, static_cast<uint64_t>(epoch), 2));
    std::vector<std::vector<size_t>> shuffled;
    for (size_t w : which) shuffled.push_back(std::move(batches[w]));
    batches = std::move(shuffled);
  }
  return batches;
}

std::vector<size_t> SequenceLoader::batch_indices(int64_t step) const {
  if (step < 1) throw Error(fmt::format("SequenceLoader: steps count from 1, but got {}", step));
  const int64_t epoch = (step - 1) / batches_per_epoch_;
  if (epoch != cached_epoch_) {
    cached_batches_ = epoch_batches(epoch);
    cached_epoch_ = epoch;
  }
  return cached_batches_[static_cast<size_t>((step - 1) % batches_per_epoch_)];
}

Batch SequenceLoader::operator()(int64_t step) const {
  const std::vector<size_t> rows = batch_indices(step);
  const auto b = static_cast<int64_t>(rows.size());
  size_t s = 0, t = 0;
  for (size_t i : rows) {
    s = std::max(s, examples_[i].src.size());
    t = std::max(t, examples_[i].tgt.size() + 1);
  }
  std::vector<int64_t> src(rows.size() * s, options_.pad_id), lengths;
  std::vector<int64_t> tgt_in, tgt_out;
  if (with_targets_) {
    tgt_in.assign(rows.size() * t, options_.pad_id);
    tgt_out.assign(rows.size() * t, options_.ignore_index);
  }
  Batch batch;
  for (size_t r = 0; r < rows.size(); ++r) {
    const TokenExample& e = examples_[rows[r]];
    std::copy(e.src.begin(), e.src.end(), src.begin() + static_cast<std::ptrdiff_t>(r * s));
    lengths.push_back(static_cast<int64_t>(e.src.size()));
    batch.tokens += static_cast<int64_t>(e.src.size() + e.tgt.size());
    if (!with_targets_) continue;
    tgt_in[r * t] = options_.bos_id;
    std::copy(e.tgt.begin(), e.tgt.end(), tgt_in.begin() + static_cast<std::ptrdiff_t>(r * t + 1));
    std::copy(e.tgt.begin(), e.tgt.end(), tgt_out.begin() + static_cast<std::ptrdiff_t>(r * t));
    tgt_out[r * t + e.tgt.size()] = options_.eos_id;
  }
  auto put = [&](const std::string& name, std::vector<int64_t> shape, const std::vector<int64_t>& values) {
    if (!name.empty()) batch.inputs.emplace(name, Tensor::from<int64_t>(std::move(shape), values));
  };
  put(options_.src_input, {b, static_cast<int64_t>(s)}, src);
  put(options_.src_lengths_input, {b}, lengths);
  if (with_targets_) {
    put(options_.tgt_in_input, {b, static_cast<int64_t>(t)}, tgt_in);
    put(options_.tgt_out_input, {b, static_cast<int64_t>(t)}, tgt_out);
  }
  return batch;
}

}  // namespace weft::train
