/** \file
 * The backend users get when they name none: what the tools' --backend defaults to.
 */
#pragma once

#include <string>

namespace weft {

/// "auto" when this build has oneDNN and LLVM (per call the faster of the two, measured at compile
/// time: docs/onednn-backend.md), else "llvm" when it has LLVM, else "interp". A name given to
/// make_backend (backends/backend.h) always forces that backend.
std::string default_backend_name();

}  // namespace weft
