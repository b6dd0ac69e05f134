/** \file
 * The kernel of all_reduce: the communicator registered for the node's group does the exchange
 * (runtime/communicator.h); without one, or on a group of one process, the result is the operand.
 */
#include "backends/interp/kernels.h"
#include "runtime/communicator.h"

namespace weft::interp {

namespace {

std::vector<Tensor> all_reduce_kernel(const KernelContext& ctx, std::span<const Tensor> ops) {
  Tensor out = ops[0].clone();
  std::shared_ptr<Communicator> comm = find_communicator(ctx.node.attrs.get_string("group"));
  if (!comm || comm->size() == 1) return {out};
  ReduceOp op = reduce_op_from_name(ctx.node.attrs.get_string("reduce"));
  // The shape rule admits f32 and f64 only.
  if (out.dtype() == DType::f32)
    comm->all_reduce(std::span<float>(out.data<float>(), static_cast<size_t>(out.numel())), op);
  else
    comm->all_reduce(std::span<double>(out.data<double>(), static_cast<size_t>(out.numel())), op);
  return {out};
}

}  // namespace

void register_collective_kernels(KernelTable& t) { t[static_cast<size_t>(OpKind::all_reduce)] = all_reduce_kernel; }

}  // namespace weft::interp
