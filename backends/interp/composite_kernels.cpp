// Placeholder: the composite kernels are written by the helper that owns this file.
#include "backends/interp/kernels.h"
namespace weft::interp {
void register_composite_kernels(KernelTable&) {}
}  // namespace weft::interp
