#include "examples/g2p/evaluate.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "examples/g2p/model.h"

namespace g2p {

std::vector<Pronunciation> pronounce(weft::Executable& encode, weft::Executable& step, const Vocab& letters,
                                     const Vocab& phones, const std::vector<std::string>& spellings,
                                     const DecodeOptions& options) {
  // Batches of similar lengths pad little: visit the words by length, write results in place.
  std::vector<size_t> order(spellings.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return spellings[a].size() < spellings[b].size(); });
  std::vector<Pronunciation> out(spellings.size());
  const auto batch = static_cast<size_t>(std::max<int64_t>(1, std::min(options.batch, kMaxRows / options.beam)));
  for (size_t begin = 0; begin < order.size(); begin += batch) {
    size_t end = std::min(order.size(), begin + batch);
    size_t longest = 0;
    for (size_t i = begin; i < end; ++i) longest = std::max(longest, spellings[order[i]].size() + 1);
    std::vector<int64_t> ids((end - begin) * longest, kPad);
    for (size_t i = begin; i < end; ++i) {
      std::vector<int64_t> word = encode_spelling(spellings[order[i]], letters);
      std::copy(word.begin(), word.end(), ids.begin() + static_cast<std::ptrdiff_t>((i - begin) * longest));
    }
    weft::Tensor src =
        weft::Tensor::from<int64_t>({static_cast<int64_t>(end - begin), static_cast<int64_t>(longest)}, ids);
    // Room for the longest pronunciation in the dictionary's proportion (20 phonemes for 22
    // letters), plus <eos>, within the cache's capacity.
    weft::decode::SearchOptions search{.bos = kBos,
                                       .eos = kEos,
                                       .max_length = std::min<int64_t>(kMaxTarget, static_cast<int64_t>(longest) + 10),
                                       .beam = options.beam,
                                       .alpha = options.alpha,
                                       .attention = options.attention};
    std::vector<weft::decode::SourceResult> results =
        options.beam > 1 ? weft::decode::beam_search(encode, step, {{"src", src}}, search)
                         : weft::decode::greedy_decode(encode, step, {{"src", src}}, search);
    for (size_t i = begin; i < end; ++i) {
      Pronunciation& p = out[order[i]];
      p.phonemes = phones.decode(results[i - begin].best.at(0).tokens);
      p.attention = results[i - begin].attention;
      p.attention_heads = results[i - begin].attention_heads;
    }
  }
  return out;
}

Evaluation evaluate(weft::Executable& encode, weft::Executable& step, const Vocab& letters, const Vocab& phones,
                    const std::vector<Word>& words, const DecodeOptions& options) {
  auto start = std::chrono::steady_clock::now();
  std::vector<std::string> spellings;
  for (const Word& w : words) spellings.push_back(w.spelling);
  Evaluation e;
  e.decoded = pronounce(encode, step, letters, phones, spellings, options);
  for (size_t i = 0; i < words.size(); ++i) e.rates.add(e.decoded[i].phonemes, words[i].phonemes);
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return e;
}

}  // namespace g2p
