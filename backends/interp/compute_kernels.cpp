// Placeholder: the compute kernels are written by the helper that owns this file.
#include "backends/interp/kernels.h"
namespace weft::interp {
void register_compute_kernels(KernelTable&) {}
}  // namespace weft::interp
