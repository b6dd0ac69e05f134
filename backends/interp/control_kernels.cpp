/** \file
 * Interpreter kernels for ops that own a sub-graph: scan (loops the body over time) and fusion
 * (evaluates the region's body).
 */
#include <cstring>
#include <fmt/format.h>

#include "backends/interp/kernels.h"
#include "ir/ops.h"

namespace weft::interp {

namespace {

/// Copies step t of `seq` along `axis` into a tensor without that axis.
Tensor take_step(const Tensor& seq, int axis, int64_t t) {
  std::vector<int64_t> shape = seq.shape();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= shape[i];
  for (int i = axis + 1; i < seq.rank(); ++i) inner *= shape[i];
  int64_t steps = shape[axis];
  shape.erase(shape.begin() + axis);
  Tensor out = Tensor::zeros(seq.dtype(), shape);
  size_t es = dtype_size(seq.dtype());
  auto* dst = static_cast<std::byte*>(out.raw());
  const auto* src = static_cast<const std::byte*>(seq.raw());
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(dst + o * inner * es, src + ((o * steps + t) * inner) * es, inner * es);
  return out;
}

/// Writes `y` (no time axis) into step t of `stacked` along `axis`.
void put_step(Tensor& stacked, int axis, int64_t t, const Tensor& y) {
  const auto& shape = stacked.shape();
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= shape[i];
  for (int i = axis + 1; i < stacked.rank(); ++i) inner *= shape[i];
  int64_t steps = shape[axis];
  size_t es = dtype_size(stacked.dtype());
  auto* dst = static_cast<std::byte*>(stacked.raw());
  const auto* src = static_cast<const std::byte*>(y.raw());
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(dst + ((o * steps + t) * inner) * es, src + o * inner * es, inner * es);
}

/// Row b of a batch-major tensor: [b * row, (b + 1) * row) bytes.
void copy_row(Tensor& dst, const Tensor& src, int64_t b) {
  size_t row = dst.nbytes() / static_cast<size_t>(dst.shape()[0]);
  std::memcpy(static_cast<std::byte*>(dst.raw()) + b * row, static_cast<const std::byte*>(src.raw()) + b * row, row);
}

void zero_row(Tensor& dst, int64_t b) {
  size_t row = dst.nbytes() / static_cast<size_t>(dst.shape()[0]);
  std::memset(static_cast<std::byte*>(dst.raw()) + b * row, 0, row);
}

std::vector<Tensor> run_scan(const KernelContext& ctx, std::span<const Tensor> ops) {
  const Node& node = ctx.node;
  const Graph& body = *node.body;
  int64_t n_carry = node.attrs.get_int("num_carry");
  int64_t n_seq = node.attrs.get_int("num_seq");
  bool has_lengths = node.attrs.get_bool("has_lengths");
  bool reverse = node.attrs.get_bool("reverse");
  int64_t n_const = static_cast<int64_t>(ops.size()) - n_carry - n_seq - (has_lengths ? 1 : 0);
  int64_t axis_attr = node.attrs.get_int("time_axis");
  const Tensor& first = ops[n_carry];
  int time_axis = static_cast<int>(axis_attr < 0 ? axis_attr + first.rank() : axis_attr);
  int64_t steps = first.shape()[time_axis];

  std::vector<int64_t> lengths;
  if (has_lengths) {
    const Tensor& len = ops.back();
    for (int64_t b = 0; b < len.numel(); ++b) {
      auto l = static_cast<int64_t>(len.at(b));
      if (l < 0 || l > steps)
        throw Error(fmt::format("scan: lengths[{}] = {} is outside [0, {}] (the sequence length)", b, l, steps));
      lengths.push_back(l);
    }
  }

  std::vector<Tensor> carries(ops.begin(), ops.begin() + n_carry);
  size_t n_ys = body.outputs().size() - n_carry;
  std::vector<Tensor> ys(n_ys);
  for (int64_t s = 0; s < steps; ++s) {
    int64_t t = reverse ? steps - 1 - s : s;
    std::vector<Tensor> in = carries;
    for (int64_t i = 0; i < n_seq; ++i) {
      const Tensor& seq = ops[n_carry + i];
      int axis = static_cast<int>(axis_attr < 0 ? axis_attr + seq.rank() : axis_attr);
      in.push_back(take_step(seq, axis, t));
    }
    for (int64_t i = 0; i < n_const; ++i) in.push_back(ops[n_carry + n_seq + i]);
    std::vector<Tensor> out = ctx.run_subgraph(body, in);
    if (has_lengths) {
      // Rows whose sequence has ended keep their carry and emit zeros.
      for (int64_t b = 0; b < static_cast<int64_t>(lengths.size()); ++b) {
        if (t < lengths[b]) continue;
        for (int64_t i = 0; i < n_carry; ++i) {
          out[i] = out[i].clone();
          copy_row(out[i], carries[i], b);
        }
        for (size_t j = 0; j < n_ys; ++j) {
          out[n_carry + j] = out[n_carry + j].clone();
          zero_row(out[n_carry + j], b);
        }
      }
    }
    for (int64_t i = 0; i < n_carry; ++i) carries[i] = out[i];
    for (size_t j = 0; j < n_ys; ++j) {
      const Tensor& y = out[n_carry + j];
      int axis = static_cast<int>(axis_attr < 0 ? axis_attr + y.rank() + 1 : axis_attr);
      if (s == 0) {
        std::vector<int64_t> shape = y.shape();
        shape.insert(shape.begin() + axis, steps);
        ys[j] = Tensor::zeros(y.dtype(), shape);
      }
      put_step(ys[j], axis, t, y);
    }
  }
  if (steps == 0) {
    // No step ran: stacked outputs are empty along time, with the body's per-step shapes.
    for (size_t j = 0; j < n_ys; ++j) {
      const TensorType& yt = body.type(body.outputs()[n_carry + j].value);
      std::vector<int64_t> shape = evaluate_shape(yt.shape, ctx.bindings);
      int axis = static_cast<int>(axis_attr < 0 ? axis_attr + static_cast<int64_t>(shape.size()) + 1 : axis_attr);
      shape.insert(shape.begin() + axis, 0);
      ys[j] = Tensor::zeros(yt.dtype, shape);
    }
  }
  std::vector<Tensor> results = carries;
  results.insert(results.end(), ys.begin(), ys.end());
  return results;
}

}  // namespace

void register_control_kernels(KernelTable& t) {
  t[static_cast<size_t>(OpKind::scan)] = run_scan;
  t[static_cast<size_t>(OpKind::fusion)] = [](const KernelContext& ctx, std::span<const Tensor> ops) {
    return ctx.run_subgraph(*ctx.node.body, ops);
  };
  // A composite carrying its decomposition as its body (ir/ops/composite_recurrent.cpp).
  for (OpKind k : {OpKind::lstm_backward, OpKind::rnn_backward, OpKind::gru_backward})
    t[static_cast<size_t>(k)] = t[static_cast<size_t>(OpKind::fusion)];
}

}  // namespace weft::interp
