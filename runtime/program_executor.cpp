/** \file
 * The program executor. See program_executor.h.
 */
#include "runtime/program_executor.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstring>

#include "runtime/call_checks.h"

namespace weft {

namespace {

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t value_bytes(const TensorType& type, const SymbolBindings& sizes) {
  return numel(evaluate_shape(type.shape, sizes)) * static_cast<int64_t>(dtype_size(type.dtype));
}

bool has_non_finite(const void* data, DType dtype, int64_t n) {
  if (dtype == DType::f32) {
    const auto* p = static_cast<const float*>(data);
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(p[i])) return true;
  } else if (dtype == DType::f64) {
    const auto* p = static_cast<const double*>(data);
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(p[i])) return true;
  }
  return false;
}

std::vector<int64_t> static_sizes(const TensorType& type) {
  std::vector<int64_t> shape;
  for (const Dim& d : type.shape) shape.push_back(d.is_static() ? d.value() : 0);
  return shape;
}

/// Copies that share nothing with the caller's tensors: the executor takes the values as they are
/// now, whatever the caller does with its tensors before the first run.
std::vector<Tensor> copies_of(std::span<const Tensor> tensors) {
  std::vector<Tensor> out;
  for (const Tensor& t : tensors) out.push_back(t.clone());
  return out;
}

}  // namespace

ProgramExecutor::ProgramExecutor(Signature signature, std::optional<Program> program, ProgramPlanner planner,
                                 std::vector<CallKernel> kernels, StateInitializer initial_state,
                                 ExecutorOptions options)
    : sig_(std::move(signature)),
      program_(std::move(program)),
      planner_(std::move(planner)),
      kernels_(std::move(kernels)),
      options_(options),
      memory_(options.memory ? options.memory : &host_memory()),
      initial_state_(std::move(initial_state)),
      state_(sig_.state.size()),
      state_ready_(sig_.state.size(), 0) {
  WEFT_CHECK(program_ || planner_, "ProgramExecutor: neither a program nor a planner");
  WEFT_CHECK(initial_state_ || sig_.state.empty(), "ProgramExecutor: state without initial values");
  if (options_.profile) profile_.resize(kernels_.size());
}

ProgramExecutor::ProgramExecutor(Signature signature, std::optional<Program> program, ProgramPlanner planner,
                                 std::vector<CallKernel> kernels, std::span<const Tensor> initial_state,
                                 ExecutorOptions options)
    : ProgramExecutor(
          std::move(signature), std::move(program), std::move(planner), std::move(kernels),
          [values = copies_of(initial_state)](size_t i) { return values[i]; }, options) {
  WEFT_CHECK(initial_state.size() == sig_.state.size(), "ProgramExecutor: one initial value per state tensor");
}

ProgramExecutor::~ProgramExecutor() = default;

size_t ProgramExecutor::state_index(const std::string& name) const {
  for (size_t i = 0; i < sig_.state.size(); ++i)
    if (sig_.state[i].name == name) return i;
  throw Error(fmt::format("no state named '{}' in graph '{}'", name, sig_.graph));
}

void* ProgramExecutor::state_data(size_t i) const {
  if (state_ready_[i]) return state_[i].data();
  const TensorType& type = sig_.state[i].type;
  Tensor value = initial_state_(i);
  WEFT_CHECK(value.dtype() == type.dtype && value.shape() == static_sizes(type),
             fmt::format("ProgramExecutor: the initial value of state '{}' is {}, not {}", sig_.state[i].name,
                         value.type_str(), type.str()));
  state_[i] = DeviceBuffer(*memory_, static_cast<int64_t>(value.nbytes()));
  memory_->copy_from_host(state_[i].data(), value.raw(), static_cast<int64_t>(value.nbytes()));
  state_ready_[i] = 1;
  return state_[i].data();
}

Tensor ProgramExecutor::state(const std::string& name) const {
  size_t i = state_index(name);
  const TensorType& type = sig_.state[i].type;
  Tensor t = Tensor::uninitialized(type.dtype, static_sizes(type));
  memory_->copy_to_host(t.raw(), state_data(i), static_cast<int64_t>(t.nbytes()));
  return t;
}

void ProgramExecutor::set_state(const std::string& name, const Tensor& value) {
  size_t i = state_index(name);
  const TensorType& want = sig_.state[i].type;
  bool ok = value.dtype() == want.dtype && value.rank() == want.rank();
  for (int d = 0; ok && d < value.rank(); ++d)
    ok = want.shape[d].is_static() && want.shape[d].value() == value.shape()[d];
  if (!ok) throw Error(fmt::format("state '{}' must be {}, but got {}", name, want.str(), value.type_str()));
  if (!state_ready_[i]) {  // replaced before its initial value was needed: it never is
    state_[i] = DeviceBuffer(*memory_, static_cast<int64_t>(value.nbytes()));
    state_ready_[i] = 1;
  }
  memory_->copy_from_host(state_[i].data(), value.raw(), static_cast<int64_t>(value.nbytes()));
}

const Program& ProgramExecutor::program_for(const SymbolBindings& sizes) {
  if (program_) return *program_;
  std::vector<int64_t> key;
  for (const SymbolSpec& s : sig_.symbols) {
    if (s.bound) continue;
    auto it = sizes.find(s.name);
    key.push_back(it == sizes.end() ? 0 : it->second);
  }
  auto it = programs_.find(key);
  if (it == programs_.end()) {
    it = programs_.emplace(key, planner_(sizes)).first;
    WEFT_CHECK(it->second.calls.size() == kernels_.size(), "ProgramExecutor: a plan with another number of calls");
  }
  return it->second;
}

std::byte* ProgramExecutor::arena_of(int64_t bytes) {
  if (bytes > arena_.bytes()) {
    arena_ = DeviceBuffer();  // the old arena goes first: the peak is one arena, not two
    arena_ = DeviceBuffer(*memory_, bytes);
  }
  return static_cast<std::byte*>(arena_.data());
}

std::vector<Tensor> ProgramExecutor::run(std::span<const Tensor> inputs, const SymbolBindings* outer) {
  SymbolBindings sizes = bind_inputs(sig_, inputs);
  if (outer)
    for (const auto& [name, size] : *outer) sizes.emplace(name, size);  // the program's own inputs win
  const Program& p = program_for(sizes);
  WEFT_CHECK(p.calls.size() == kernels_.size(), "ProgramExecutor: one kernel per call");
  const bool on_host = memory_->space() == MemorySpace::host;
  std::byte* base = arena_of(p.arena_bytes);

  // A device program reads the caller's inputs from copies in its own memory.
  if (!on_host && staged_inputs_.size() < inputs.size()) staged_inputs_.resize(inputs.size());
  ptrs_.clear();
  for (const Buffer& b : p.buffers) {
    switch (b.storage) {
      case BufferStorage::input: {
        const Tensor& t = inputs[b.index];
        if (on_host) {
          ptrs_.push_back(const_cast<void*>(t.raw()));
          break;
        }
        DeviceBuffer& staged = staged_inputs_[b.index];
        if (staged.bytes() < static_cast<int64_t>(t.nbytes()))
          staged = DeviceBuffer(*memory_, static_cast<int64_t>(t.nbytes()));
        memory_->copy_from_host(staged.data(), t.raw(), static_cast<int64_t>(t.nbytes()));
        ptrs_.push_back(staged.data());
        break;
      }
      case BufferStorage::param:
        ptrs_.push_back(state_data(static_cast<size_t>(b.index)));
        break;
      case BufferStorage::arena:
        ptrs_.push_back(base + b.offset);
        break;
    }
  }

  // On the host, each output held in an arena slot is computed straight into the tensor returned:
  // for this run the slot's buffer is a fresh tensor instead. Every value of a buffer has the
  // output's size (a buffer is one value and the values written over it in place, of equal size),
  // so they all fit. Outputs held elsewhere (an input, a parameter), repeated, or on a device are
  // copied at the end.
  std::vector<Tensor> outs(p.outputs.size());
  written_.assign(p.outputs.size(), 0);
  redirected_.assign(p.buffers.size(), 0);
  for (size_t k = 0; on_host && k < p.outputs.size(); ++k) {
    const ProgramValue& o = p.outputs[k];
    if (p.buffers[o.buffer].storage != BufferStorage::arena || redirected_[o.buffer]) continue;
    Tensor t = Tensor::uninitialized(o.type.dtype, evaluate_shape(o.type.shape, sizes));
    WEFT_CHECK(p.buffers[o.buffer].bytes.evaluate(sizes) == static_cast<int64_t>(t.nbytes()),
               fmt::format("output {}: its buffer holds values of another size", o.name));
    ptrs_[o.buffer] = t.raw();
    redirected_[o.buffer] = 1;
    written_[k] = 1;
    outs[k] = std::move(t);
  }

  run_calls(p, sizes, on_host);

  for (size_t k = 0; k < p.outputs.size(); ++k) {
    if (written_[k]) continue;
    const ProgramValue& o = p.outputs[k];
    Tensor t = Tensor::uninitialized(o.type.dtype, evaluate_shape(o.type.shape, sizes));
    memory_->copy_to_host(t.raw(), ptrs_[o.buffer], static_cast<int64_t>(t.nbytes()));
    outs[k] = std::move(t);
  }
  // Every update reads the values before any is written (a swap of two parameters stays a swap).
  std::vector<std::pair<size_t, DeviceBuffer>> updated;  // allocates only for a program with copied updates
  for (const ProgramUpdate& u : p.updates) {
    if (u.value == u.param_buffer) continue;  // written in place
    size_t i = static_cast<size_t>(p.buffers[u.param_buffer].index);
    DeviceBuffer b(*memory_, state_[i].bytes());
    memory_->copy_within(b.data(), ptrs_[u.value], state_[i].bytes());
    updated.emplace_back(i, std::move(b));
  }
  for (auto& [i, b] : updated) state_[i] = std::move(b);
  return outs;
}

void ProgramExecutor::run_calls(const Program& p, const SymbolBindings& sizes, bool on_host) {
  // Each call's FLOPs and bytes at these sizes, worked out once per plan and sizes rather than at
  // every call: a scan's body runs thousands of times at the same sizes, and evaluating shapes
  // would cost more than its small calls.
  if (options_.profile && (profiled_plan_ != &p || profiled_sizes_ != sizes)) {
    call_costs_.assign(p.calls.size(), {0.0, 0.0});
    for (size_t i = 0; i < p.calls.size(); ++i) {
      if (kernels_[i].flops) call_costs_[i].first = kernels_[i].flops(sizes);
      for (const BufferRef& ref : p.calls[i].operands)
        call_costs_[i].second += static_cast<double>(value_bytes(ref.type, sizes));
    }
    profiled_plan_ = &p;
    profiled_sizes_ = sizes;
  }
  for (size_t i = 0; i < p.calls.size(); ++i) {
    const KernelCall& call = p.calls[i];
    args_.clear();
    for (const BufferRef& ref : call.operands) args_.push_back(ptrs_[ref.buffer]);
    const auto start = options_.profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    if ((call.index_check || !call.empty_axis_checks.empty()) && on_host)
      if (std::optional<std::string> why = check_call(call, args_, sizes)) throw Error(*why);
    kernels_[i].run(args_, sizes);
    if (options_.profile) {
      CallProfile& prof = profile_[i];
      prof.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      ++prof.calls;
      prof.flops += call_costs_[i].first;
      prof.bytes += call_costs_[i].second;
    }
    if (options_.nan_trap) trap_non_finite(call, kernels_[i], args_, sizes);
  }
}

void ProgramExecutor::run_step(const Program& p, std::span<const void* const> inputs, std::span<void* const> outputs,
                               std::span<const int64_t> output_bytes, const SymbolBindings& sizes) {
  WEFT_CHECK(memory_->space() == MemorySpace::host && p.updates.empty() && p.calls.size() == kernels_.size() &&
                 inputs.size() == sig_.inputs.size() && outputs.size() == p.outputs.size() &&
                 output_bytes.size() == outputs.size(),
             "ProgramExecutor::run_step: a host program without updates, one pointer per input and output");
  std::byte* base = arena_of(p.arena_bytes);
  ptrs_.resize(p.buffers.size());
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    const Buffer& b = p.buffers[i];
    switch (b.storage) {
      case BufferStorage::input:
        ptrs_[i] = const_cast<void*>(inputs[b.index]);  // kernels only read their inputs
        break;
      case BufferStorage::param:
        ptrs_[i] = state_data(static_cast<size_t>(b.index));
        break;
      case BufferStorage::arena:
        ptrs_[i] = base + b.offset;
        break;
    }
  }
  // As in `run`: an output in an arena slot is computed in the caller's memory (the slot's values
  // all have the output's size); the others, and repeats, are copied after the calls.
  redirected_.assign(p.buffers.size(), 0);
  for (size_t k = 0; k < p.outputs.size(); ++k) {
    const int32_t buffer = p.outputs[k].buffer;
    if (p.buffers[buffer].storage != BufferStorage::arena || redirected_[buffer]) continue;
    ptrs_[buffer] = outputs[k];
    redirected_[buffer] = 1;
  }
  run_calls(p, sizes, true);
  for (size_t k = 0; k < p.outputs.size(); ++k) {
    void* from = ptrs_[p.outputs[k].buffer];
    if (from != outputs[k] && output_bytes[k] > 0) std::memcpy(outputs[k], from, static_cast<size_t>(output_bytes[k]));
  }
}

void ProgramExecutor::trap_non_finite(const KernelCall& call, const CallKernel& kernel, std::span<void* const> buffers,
                                      const SymbolBindings& sizes) {
  for (size_t k = call.num_inputs; k < call.operands.size(); ++k) {
    const BufferRef& ref = call.operands[k];
    if (ref.type.dtype != DType::f32 && ref.type.dtype != DType::f64) continue;
    int64_t bytes = value_bytes(ref.type, sizes);
    std::vector<std::byte> host;
    const void* data = buffers[k];
    if (memory_->space() != MemorySpace::host) {
      host.resize(static_cast<size_t>(bytes));
      memory_->copy_to_host(host.data(), data, bytes);
      data = host.data();
    }
    if (!has_non_finite(data, ref.type.dtype, bytes / static_cast<int64_t>(dtype_size(ref.type.dtype)))) continue;
    if (kernel.explain_non_finite) kernel.explain_non_finite(buffers, sizes);
    throw Error(
        with_location(fmt::format("NaN/Inf trap: {} produced a non-finite value in result {} ({}) of scope '{}'",
                                  !kernel.what.empty()        ? kernel.what
                                  : call.op == OpKind::fusion ? std::string("a fused region")
                                                              : std::string(op_name(call.op)),
                                  k - call.num_inputs, ref.type.str(), call.scope),
                      call.loc));
  }
}

}  // namespace weft
