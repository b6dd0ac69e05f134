#include "examples/g2p/training.h"

namespace g2p {

weft::train::SequenceLoader make_loader(const std::vector<Word>& words, const Vocab& letters, const Vocab& phones,
                                        int64_t batch_size, uint64_t seed) {
  std::vector<weft::train::TokenExample> examples;
  examples.reserve(words.size());
  for (const Word& w : words)
    examples.push_back({encode_spelling(w.spelling, letters), encode_phonemes(w.phonemes, phones)});
  return weft::train::SequenceLoader(std::move(examples), {.batch_size = batch_size,
                                                           .seed = seed,
                                                           .pad_id = kPad,
                                                           .bos_id = kBos,
                                                           .eos_id = kEos,
                                                           .src_lengths_input = ""});
}

weft::train::Batch target_token_batch(const weft::train::SequenceLoader& loader, int64_t step) {
  weft::train::Batch batch = loader(step);
  int64_t tokens = 0;
  for (int64_t id : batch.inputs.at("tgt_out").to_vector<int64_t>()) tokens += id != -100;
  batch.tokens = tokens;
  return batch;
}

}  // namespace g2p
