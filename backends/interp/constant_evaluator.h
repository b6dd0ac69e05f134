/** \file
 * The reference interpreter as the evaluator for constant folding.
 *
 * passes/fold_constants.h cannot depend on a backend, so it asks for a `ConstantEvaluator`; this one
 * runs the small graph it is given through `weft::interpret`, so a folded value is by construction
 * what the oracle would have computed at run time. It declines (nullopt) when an integer result is
 * too large to be held exactly in a double (|x| > 2^53), since constants store doubles.
 */
#pragma once

#include "passes/fold_constants.h"

namespace weft {

ConstantEvaluator interpreter_constant_evaluator();

}  // namespace weft
