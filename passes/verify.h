/** \file
 * The graph verifier: checks the invariants every pass may assume and must preserve.
 *
 * The invariants are numbered at the top of verify.cpp, and every message names the number, so a
 * failure reads "invariant 7 (...)" followed by the facts and the node's location. Tests run the
 * verifier after every pass (PassManagerOptions::verify_each); weft-opt runs it on every input file.
 *
 * A graph read from a file is user input, so a violation is a `weft::Error`. The pass manager turns
 * a violation in a graph produced by a pass from a valid one into an internal error (the pass's bug).
 */
#pragma once

#include <string>
#include <string_view>

#include "ir/graph.h"
#include "ir/ops.h"

namespace weft {

/// Throws weft::Error on the first violated invariant; returns normally on a well-formed graph.
void verify(const Graph& graph);

/// The number of invariants and a one-line statement of each (1-based), for messages and docs.
int num_invariants();
std::string_view invariant_statement(int number);

/// How many operands `def` takes, for messages: "2", "1 to 3", "at least 1".
std::string operand_count_str(const OpDef& def);

}  // namespace weft
