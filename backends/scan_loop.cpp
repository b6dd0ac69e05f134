/** \file
 * The loop of a scan call. See scan_loop.h.
 */
#include "backends/scan_loop.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "runtime/executable.h"

namespace weft {

namespace {

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

/// A stacked tensor seen as [outer, steps, inner bytes]: step t of row o starts at
/// (o * steps + t) * inner.
struct StackedView {
  int64_t outer = 1, steps = 0, inner = 0;

  StackedView(const std::vector<int64_t>& shape, int axis, size_t element_size) : steps(shape[axis]) {
    int64_t in = 1;
    for (int i = 0; i < axis; ++i) outer *= shape[i];
    for (size_t i = static_cast<size_t>(axis) + 1; i < shape.size(); ++i) in *= shape[i];
    inner = in * static_cast<int64_t>(element_size);
  }
  /// One step is one contiguous block when there is a single outer row.
  bool contiguous() const { return outer == 1; }
  size_t step_offset(int64_t t) const { return static_cast<size_t>(t * inner); }
  void gather(std::byte* dst, const std::byte* stacked, int64_t t) const {
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + o * inner, stacked + (o * steps + t) * inner, static_cast<size_t>(inner));
  }
  void scatter(std::byte* stacked, const std::byte* src, int64_t t) const {
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(stacked + (o * steps + t) * inner, src + o * inner, static_cast<size_t>(inner));
  }
};

int64_t length_at(const void* lengths, DType dtype, int64_t b) {
  switch (dtype) {
    case DType::i32:
      return static_cast<const int32_t*>(lengths)[b];
    case DType::i64:
      return static_cast<const int64_t*>(lengths)[b];
    default:
      throw Error(fmt::format("scan: lengths must be i32 or i64, but are {}", dtype_name(dtype)));
  }
}

int normalized_axis(int64_t axis, size_t rank) {
  return static_cast<int>(axis < 0 ? axis + static_cast<int64_t>(rank) : axis);
}

/// The loop's step buffers, kept from call to call: a fresh buffer of megabytes (a weight's
/// gradient carried through a backward scan) costs its page faults again at every call.
class ScratchBuffers {
 public:
  void restart() { used_ = 0; }
  /// The next buffer of this call, of at least `bytes` bytes (64-byte aligned, as the arena's slots are).
  std::byte* next(int64_t bytes) {
    if (used_ == buffers_.size()) buffers_.emplace_back();
    Tensor& t = buffers_[used_++];
    // (A default tensor is a scalar without storage: its size says nothing.)
    if (t.raw() == nullptr || static_cast<int64_t>(t.nbytes()) < bytes)
      t = Tensor::uninitialized(DType::boolean, {std::max<int64_t>(bytes, 1)});
    return static_cast<std::byte*>(t.raw());
  }

 private:
  std::vector<Tensor> buffers_;
  size_t used_ = 0;
};

class ScanLoop {
 public:
  ScanLoop(const KernelCall& call, std::shared_ptr<CompiledExecutable> body)
      : call_(call), body_(std::move(body)), executor_(body_->executor()) {
    n_carry_ = call.attrs.get_int("num_carry");
    n_seq_ = call.attrs.get_int("num_seq");
    has_lengths_ = call.attrs.get_bool("has_lengths");
    reverse_ = call.attrs.get_bool("reverse");
    axis_ = call.attrs.get_int("time_axis");
    n_const_ = call.num_inputs - n_carry_ - n_seq_ - (has_lengths_ ? 1 : 0);
    n_ys_ = static_cast<int64_t>(call.operands.size()) - call.num_inputs - n_carry_;
  }

  void run(std::span<void* const> buffers, const SymbolBindings& sizes) {
    try {
      loop(buffers, sizes);
    } catch (const Error& e) {
      throw Error(with_location(e.what(), call_.loc));
    }
  }

 private:
  std::vector<int64_t> shape_of(size_t operand, const SymbolBindings& sizes) const {
    return evaluate_shape(call_.operands[operand].type.shape, sizes);
  }
  size_t element_size(size_t operand) const { return dtype_size(call_.operands[operand].type.dtype); }

  void loop(std::span<void* const> buffers, const SymbolBindings& sizes) {
    const auto n_in = static_cast<size_t>(call_.num_inputs);
    scratch_.restart();  // this call's step buffers (and operand copies, when needed)

    // The call's results must not overlap its operands (they would be overwritten while read);
    // memory planning never places them so, but if it did, the operands are read from copies.
    std::vector<const std::byte*> in(n_in);
    std::vector<int64_t> in_bytes(n_in);
    for (size_t i = 0; i < n_in; ++i) {
      in[i] = static_cast<const std::byte*>(buffers[i]);
      in_bytes[i] = numel(shape_of(i, sizes)) * static_cast<int64_t>(element_size(i));
    }
    for (size_t i = 0; i < n_in; ++i)
      for (size_t k = n_in; k < call_.operands.size(); ++k) {
        const auto* r = static_cast<const std::byte*>(buffers[k]);
        const int64_t r_bytes = numel(shape_of(k, sizes)) * static_cast<int64_t>(element_size(k));
        if (in[i] < r + r_bytes && r < in[i] + in_bytes[i]) {
          std::byte* copy = scratch_.next(in_bytes[i]);
          std::memcpy(copy, in[i], static_cast<size_t>(in_bytes[i]));
          in[i] = copy;
          break;
        }
      }

    const std::vector<int64_t> first_shape = shape_of(static_cast<size_t>(n_carry_), sizes);
    const int64_t steps = first_shape[static_cast<size_t>(normalized_axis(axis_, first_shape.size()))];

    std::vector<int64_t> lengths;
    if (has_lengths_) {
      const size_t k = n_in - 1;
      const int64_t batch = numel(shape_of(k, sizes));
      for (int64_t b = 0; b < batch; ++b) {
        int64_t l = length_at(in[k], call_.operands[k].type.dtype, b);
        if (l < 0 || l > steps)
          throw Error(fmt::format("scan: lengths[{}] = {} is outside [0, {}] (the sequence length)", b, l, steps));
        lengths.push_back(l);
      }
    }

    // The body's inputs for one step: carries, step slices, consts (the lengths are not passed).
    const size_t n_body_in = static_cast<size_t>(n_carry_ + n_seq_ + n_const_);
    std::vector<const void*> step_in(n_body_in);
    std::vector<std::vector<int64_t>> step_shapes(n_body_in);
    std::vector<StackedView> seq_views;
    std::vector<std::byte*> seq_buffers;  // null: read in place
    for (size_t i = 0; i < n_body_in; ++i) {
      std::vector<int64_t> shape = shape_of(i, sizes);
      const auto s = static_cast<int64_t>(i) - n_carry_;
      if (s >= 0 && s < n_seq_) {
        const int axis = normalized_axis(axis_, shape.size());
        seq_views.emplace_back(shape, axis, element_size(i));
        if (shape[static_cast<size_t>(axis)] != steps)
          throw Error(fmt::format("scan: every sequence has {} steps (the first's), but sequence {} has {}", steps, s,
                                  shape[static_cast<size_t>(axis)]));
        shape.erase(shape.begin() + axis);
        seq_buffers.push_back(seq_views.back().contiguous()
                                  ? nullptr
                                  : scratch_.next(numel(shape) * static_cast<int64_t>(element_size(i))));
      } else {
        step_in[i] = in[i];
      }
      step_shapes[i] = std::move(shape);
    }

    // The symbols the body's inputs bind (the same at every step), over the caller's; its plan.
    const Signature& sig = body_->signature();
    std::vector<Tensor> shapes_only;  // never touched: only their shapes are read
    for (size_t i = 0; i < n_body_in; ++i)
      shapes_only.push_back(Tensor::uninitialized(sig.inputs[i].type.dtype, step_shapes[i]));
    SymbolBindings body_sizes = bind_inputs(sig, shapes_only);
    shapes_only.clear();
    for (const auto& [name, size] : sizes) body_sizes.emplace(name, size);  // the body's own inputs win
    const Program& plan = executor_.program_for(body_sizes);

    // The body's outputs: carries (double-buffered with the results), then the steps of the ys.
    const size_t n_out = sig.outputs.size();
    WEFT_CHECK(n_out == static_cast<size_t>(n_carry_ + n_ys_), "scan loop: the body's outputs disagree with the call");
    std::vector<int64_t> out_bytes(n_out);
    for (size_t k = 0; k < n_out; ++k)
      out_bytes[k] = numel(evaluate_shape(sig.outputs[k].type.shape, body_sizes)) *
                     static_cast<int64_t>(dtype_size(sig.outputs[k].type.dtype));
    std::vector<int64_t> out_rows(n_out, 1);  // dim 0 of each output: what a finished row is a slice of
    for (size_t k = 0; k < n_out; ++k)
      if (sig.outputs[k].type.rank() > 0) out_rows[k] = sig.outputs[k].type.shape[0].evaluate(body_sizes);
    std::vector<std::byte*> carry_result(static_cast<size_t>(n_carry_)), carry_spare(static_cast<size_t>(n_carry_));
    for (int64_t c = 0; c < n_carry_; ++c) {
      carry_result[c] = static_cast<std::byte*>(buffers[n_in + static_cast<size_t>(c)]);
      carry_spare[c] = steps > 1 ? scratch_.next(out_bytes[c]) : nullptr;
    }
    std::vector<StackedView> y_views;
    std::vector<std::byte*> y_stacked, y_buffers;  // y_buffers: null when written in place
    for (int64_t j = 0; j < n_ys_; ++j) {
      const size_t k = n_in + static_cast<size_t>(n_carry_ + j);
      std::vector<int64_t> shape = shape_of(k, sizes);
      y_views.emplace_back(shape, normalized_axis(axis_, shape.size()), element_size(k));
      y_stacked.push_back(static_cast<std::byte*>(buffers[k]));
      y_buffers.push_back(y_views.back().contiguous() ? nullptr : scratch_.next(out_bytes[n_carry_ + j]));
    }

    std::vector<void*> step_out(n_out);
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t t = reverse_ ? steps - 1 - s : s;
      // Carries: read where the last step wrote; written so that the last step lands in the result.
      const bool to_result = (steps - 1 - s) % 2 == 0;
      for (int64_t c = 0; c < n_carry_; ++c) {
        step_in[c] = s == 0 ? static_cast<const void*>(in[c]) : step_out[c];
        step_out[c] = to_result ? carry_result[c] : carry_spare[c];
      }
      for (int64_t i = 0; i < n_seq_; ++i) {
        const size_t k = static_cast<size_t>(n_carry_ + i);
        if (seq_buffers[i] == nullptr) {
          step_in[k] = in[k] + seq_views[i].step_offset(t);
        } else {
          seq_views[i].gather(seq_buffers[i], in[k], t);
          step_in[k] = seq_buffers[i];
        }
      }
      for (int64_t j = 0; j < n_ys_; ++j)
        step_out[n_carry_ + j] = y_buffers[j] ? y_buffers[j] : y_stacked[j] + y_views[j].step_offset(t);

      executor_.run_step(plan, step_in, step_out, out_bytes, body_sizes);

      if (has_lengths_) mask_finished_rows(lengths, t, step_in, step_out, out_bytes, out_rows);
      for (int64_t j = 0; j < n_ys_; ++j)
        if (y_buffers[j]) y_views[j].scatter(y_stacked[j], y_buffers[j], t);
    }
    if (steps == 0)
      for (int64_t c = 0; c < n_carry_; ++c) std::memcpy(carry_result[c], in[c], static_cast<size_t>(in_bytes[c]));
  }

  /// Rows whose sequence has ended (t >= lengths[b]) keep their carry and emit zeros; a row is a
  /// slice along dim 0, as in the interpreter's kernel.
  void mask_finished_rows(const std::vector<int64_t>& lengths, int64_t t, std::span<const void* const> step_in,
                          std::span<void* const> step_out, std::span<const int64_t> out_bytes,
                          std::span<const int64_t> out_rows) const {
    for (size_t b = 0; b < lengths.size(); ++b) {
      if (t < lengths[b]) continue;
      for (size_t k = 0; k < step_out.size(); ++k) {
        if (static_cast<int64_t>(b) >= out_rows[k]) continue;
        const int64_t row = out_bytes[k] / out_rows[k];
        const auto offset = static_cast<int64_t>(b) * row;
        auto* dst = static_cast<std::byte*>(step_out[k]) + offset;
        if (static_cast<int64_t>(k) < n_carry_)
          std::memcpy(dst, static_cast<const std::byte*>(step_in[k]) + offset, static_cast<size_t>(row));
        else
          std::memset(dst, 0, static_cast<size_t>(row));
      }
    }
  }

  KernelCall call_;
  std::shared_ptr<CompiledExecutable> body_;
  ProgramExecutor& executor_;
  ScratchBuffers scratch_;
  int64_t n_carry_ = 0, n_seq_ = 0, n_const_ = 0, n_ys_ = 0, axis_ = 0;
  bool has_lengths_ = false, reverse_ = false;
};

}  // namespace

CallKernel scan_loop_kernel(const KernelCall& call, std::shared_ptr<CompiledExecutable> body) {
  auto loop = std::make_shared<ScanLoop>(call, std::move(body));
  CallKernel kernel;
  kernel.provider = "interp";
  kernel.run = [loop](std::span<void* const> buffers, const SymbolBindings& sizes) { loop->run(buffers, sizes); };
  return kernel;
}

}  // namespace weft
