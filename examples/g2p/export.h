/** \file
 * What `weft-compile --decode` and weft_g2p.c need from a trained model: the parameters of the
 * `encode` and `decode_step` graphs under their Weft names, and the vocabularies as a C header.
 */
#pragma once

#include <string>

#include "examples/g2p/cmudict.h"
#include "runtime/executable.h"

namespace g2p {

/// Every state tensor of `encode` and `step` (shared ones once), as safetensors, atomically.
void save_inference_weights(const std::string& path, const weft::Executable& encode, const weft::Executable& step);

/// `g2p_letters[]`, `g2p_phonemes[]` (ids are indices) and their counts, for weft_g2p.c.
void write_vocab_header(const std::string& path, const Vocab& letters, const Vocab& phones);

}  // namespace g2p
