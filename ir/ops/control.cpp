// Placeholder: the control ops are defined by the helper that owns this file.
#include "ir/ops.h"
namespace weft::ops_detail {
void register_control_ops(std::vector<OpDef>&) {}
}  // namespace weft::ops_detail
