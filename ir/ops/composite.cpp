// Placeholder: the composite ops are defined by the helper that owns this file.
#include "ir/ops.h"
namespace weft::ops_detail {
void register_composite_ops(std::vector<OpDef>&) {}
}  // namespace weft::ops_detail
