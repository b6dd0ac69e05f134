/** \file
 * The G2P training data for the Trainer: the dictionary's words as length-bucketed, padded
 * batches (frontend/data_loader.h), with the throughput counted in target tokens (phonemes +
 * <eos>), as the PyTorch reference counts them.
 */
#pragma once

#include "examples/g2p/cmudict.h"
#include "frontend/data_loader.h"

namespace g2p {

/// src = letters + <eos> (0-padded), tgt_in = <bos> + phonemes, tgt_out = phonemes + <eos>
/// (padded with -100, which the loss skips); no `src_lengths` input (the graphs mask `src == 0`).
weft::train::SequenceLoader make_loader(const std::vector<Word>& words, const Vocab& letters, const Vocab& phones,
                                        int64_t batch_size, uint64_t seed);

/// The loader's batch `step` with `tokens` = the real target tokens.
weft::train::Batch target_token_batch(const weft::train::SequenceLoader& loader, int64_t step);

}  // namespace g2p
