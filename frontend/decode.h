/** \file
 * Greedy decoding and beam search over two compiled graphs, `encode` and `step`, for any seq2seq
 * model that follows the naming below (the Transformer's and the LSTM encoder-decoders' helpers
 * produce it; docs/decoding.md has examples).
 *
 * The step graph has an i64 input `tokens` [R] (each row's previous token; R a symbol, the rows),
 * optionally an i64 scalar `position` (the step number 0, 1, ...: the new token's position), and an
 * f32 output `logits` [R, V]. Its other inputs are of three kinds, by name:
 *
 *  - `cache.<name>` [P, ..., R, ...]: a growing cache whose first dim is a bounded symbol P shared by
 *    every cache input. The decoder owns one buffer per cache of the declared capacity (P's bound),
 *    passes the prefix of P = position + 1 slots without copying, and after the step writes the
 *    step's output `cache.<name>.new` (the input's shape without P) into slot P - 1, in place.
 *  - `state.<name>`: a state replaced by the step's output `state.<name>.next` (an LSTM's h and c).
 *  - anything else: fixed for the whole decode, taken from the encode graph's output of that name.
 *
 * Every input except `tokens`, `position` and the caches' P names R in exactly one axis: the row axis
 * along which the decoder repeats sources into beams and reorders beams (a gather of rows by beam
 * index; the caches' prefixes only). The encode graph returns the fixed inputs and the initial
 * `state.*` for B sources (R = B there). An optional step output `attention` [R, S] or [R, H, S]
 * (per head) gives the best hypothesis' attention weights.
 */
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/executable.h"

namespace weft::decode {

struct SearchOptions {
  int64_t bos = 1;  // the first `tokens` of every row
  int64_t eos = 2;  // ends a hypothesis
  /// Tokens generated at most per hypothesis, EOS included; at most the caches' capacity.
  int64_t max_length = 32;
  /// Beams per source (beam_search only).
  int64_t beam = 4;
  /// Length normalisation: a finished hypothesis scores log P / length^alpha (0: the plain sum).
  double alpha = 0.0;
  /// Collect the best hypothesis' attention weights from the step's `attention` output.
  bool attention = false;
};

struct Hypothesis {
  std::vector<int64_t> tokens;  // without BOS, with EOS when it ended with one
  double log_prob = 0.0;        // sum of the tokens' log-probabilities
  double score = 0.0;           // log_prob / length^alpha
  bool finished = false;        // ended with EOS (rather than at max_length)
};

struct SourceResult {
  std::vector<Hypothesis> best;  // best first: one for greedy, `beam` for beam search
  /// The best hypothesis' attention weights, [T, S] averaged over heads, and [H, T, S] per head when
  /// the step gives them; empty unless SearchOptions::attention.
  Tensor attention, attention_heads;
};

/// Checks that an encode and a step graph with these signatures follow the naming above (what
/// `weft-compile --decode` checks before compiling); throws the weft::Error a search would.
void check_decode_signatures(const Signature& encode, const Signature& step);

/// Runs `encode` once on `inputs` (B sources) and `step` until every row ends; picks the most
/// probable token at each step. Throws weft::Error for graphs that do not follow the naming above.
std::vector<SourceResult> greedy_decode(Executable& encode, Executable& step,
                                        const std::map<std::string, Tensor>& inputs, const SearchOptions& options = {});

/// Beam search of width `options.beam` for each of the B sources at once (B × beam rows). Returns
/// the `beam` best hypotheses of each source by score, finished ones before unfinished ones.
std::vector<SourceResult> beam_search(Executable& encode, Executable& step, const std::map<std::string, Tensor>& inputs,
                                      const SearchOptions& options = {});

}  // namespace weft::decode
