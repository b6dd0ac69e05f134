/** \file
 * Tensors written as text, for inputs given on a command line (`weft-run --input x=[[1,2],[3,4]]`):
 * a number, `true` or `false` is a scalar; a list in brackets is one dim, nested lists are more
 * dims (`[[1, 2, 3], [4, 5, 6]]` is [2, 3]); `[]` is a [0] tensor. Whitespace is free. The dtype is
 * given (the model's declaration of the input): an integer dtype takes only exact integers in its
 * range, `bool` takes true/false or 0/1, a float dtype any number (`inf`, `-inf`, `nan` too).
 */
#pragma once

#include <string>
#include <string_view>

#include "runtime/tensor.h"

namespace weft {

/// Parses `text` as a tensor of `dtype`. Throws weft::Error naming `what` (e.g. "--input x"),
/// the problem and its column: ragged rows, a value the dtype cannot hold, stray characters.
Tensor parse_tensor_literal(std::string_view text, DType dtype, const std::string& what);

/// Whether `text` is written as a literal rather than a file name: it starts with `[`, or is a
/// number, `true` or `false` (write `./3` for a file named 3).
bool looks_like_tensor_literal(std::string_view text);

}  // namespace weft
