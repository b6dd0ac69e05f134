#include "backends/cuda/cuda_provider.h"

#include <fmt/format.h>

#include <atomic>
#include <mutex>

#include "backends/cuda/cuda_movement.h"
#include "backends/cuda/cuda_random.h"
#include "backends/cuda/cuda_runner.h"
#include "backends/llvm/node_region.h"
#include "backends/llvm/region_terms.h"
#include "ir/error.h"
#include "runtime/call_checks.h"

namespace weft::cuda_backend {

namespace {

using llvm_backend::LoweredRegion;
using llvm_backend::NodeRegion;

/// A region kept alive for its kernel: the lowered description points at the body's nodes.
struct Kept {
  NodeRegion region;
  std::vector<LoweredRegion> parts;  // one per kernel (a concat: one per piece)
  std::vector<int> handles;
};

std::vector<int64_t> symbol_values(const LoweredRegion& r, const SymbolBindings& sizes) {
  std::vector<int64_t> dims;
  for (const std::string& s : r.symbols) {
    auto it = sizes.find(s);
    if (it == sizes.end()) throw InternalError(fmt::format("the CUDA provider: no size for symbol '{}'", s));
    dims.push_back(it->second);
  }
  return dims;
}

/// Launches `r`'s kernel over `buffers` (then `extra` pointers) at `sizes`.
void launch_region(GpuDevice& device, int handle, const LoweredRegion& r, std::span<void* const> buffers,
                   std::vector<void*> extra, const SymbolBindings& sizes) {
  LaunchShape shape = launch_shape(r, sizes, device.multiprocessors(), device.reduction_block());
  if (shape.grid == 0) return;
  std::vector<void*> pointers(buffers.begin(), buffers.end());
  pointers.insert(pointers.end(), extra.begin(), extra.end());
  std::vector<int64_t> dims = symbol_values(r, sizes);
  std::vector<void*> args;
  for (void*& p : pointers) args.push_back(&p);
  for (int64_t& d : dims) args.push_back(&d);
  device.launch(handle, shape.grid, shape.block, args.data());
}

std::string next_name(const std::string& kind) {
  static std::atomic<int> counter{0};
  return fmt::format("weft_{}_{}", kind, counter++);
}

class CudaProvider final : public KernelProvider {
 public:
  explicit CudaProvider(std::function<std::shared_ptr<GpuDevice>()> make) : make_(std::move(make)) {}

  std::string name() const override { return "cuda"; }
  LoweringOptions lowering_policy() const override { return LoweringOptions{}; }  // the LLVM provider's
  MemoryResource* memory() const override { return device().get(); }
  std::optional<std::string> unavailable() const override {
    try {
      device();
      return std::nullopt;
    } catch (const Error& e) {
      return e.what();
    }
  }

  std::optional<ProvidedKernel> kernel_for(const KernelCall& call, const ProviderContext&,
                                           std::string* why) const override {
    std::string region_why;
    std::optional<NodeRegion> region = llvm_backend::call_region(call, &region_why);
    if (!region) {  // the op table's generated-code column: what no region generator takes
      *why = fmt::format("the CUDA backend has no {} kernel yet", op_name(call.op));
      return std::nullopt;
    }
    const std::string kind = region->kind;
    if (kind == "gather" || kind == "scatter_add") return movement_kernel(call, kind, why);
    if (kind == "rng_uniform") return random_kernel(call);
    if (kind != "loop" && kind != "reduction" && kind != "matmul" && kind != "concat") {
      *why = fmt::format("the CUDA backend has no {} kernel yet", kind);
      return std::nullopt;
    }
    auto kept = std::make_shared<Kept>();
    kept->region = std::move(*region);
    const Graph& body = kept->region.body;
    const size_t pieces = kind == "concat" ? body.nodes().at(0).operands.size() : 1;
    for (size_t p = 0; p < pieces; ++p) {
      llvm_backend::LowerResult lowered = kind == "concat" ? llvm_backend::lower_concat_piece(body, static_cast<int>(p))
                                                           : llvm_backend::lower_region(body, kind);
      if (!lowered.region) {
        *why = lowered.unsupported;
        return std::nullopt;
      }
      kept->parts.push_back(std::move(*lowered.region));
    }
    std::shared_ptr<GpuDevice> dev = device();
    for (const LoweredRegion& part : kept->parts) {
      if (part.kind == "matmul" && plain_product(part)) {
        kept->handles.push_back(-1);  // cuBLAS alone
        continue;
      }
      kept->handles.push_back(dev->add_kernel(cuda_source(part, next_name(part.kind), dev->reduction_block())));
    }
    ProvidedKernel out;
    out.generated = true;
    out.kernel.provider = "cuda";
    if (kind == "matmul")
      out.kernel.run = matmul_kernel(dev, kept);
    else
      out.kernel.run = [dev, kept](std::span<void* const> buffers, const SymbolBindings& sizes) {
        for (size_t p = 0; p < kept->parts.size(); ++p)
          launch_region(*dev, kept->handles[p], kept->parts[p], buffers, {}, sizes);
      };
    return out;
  }

 private:
  /// rng_uniform: Philox on the device, the interpreter's numbers (cuda_random.h).
  std::optional<ProvidedKernel> random_kernel(const KernelCall& call) const {
    std::shared_ptr<GpuDevice> dev = device();
    const TensorType out_type = call.operands[1].type;
    const int handle = dev->add_kernel(rng_uniform_source(next_name("rng_uniform"), out_type.dtype,
                                                          static_cast<uint64_t>(call.attrs.get_int("seed"))));
    ProvidedKernel out;
    out.generated = true;
    out.kernel.provider = "cuda";
    out.kernel.run = [dev, handle, out_type](std::span<void* const> buffers, const SymbolBindings& sizes) {
      int64_t total = num_elements(out_type.shape).evaluate(sizes);
      if (total == 0) return;
      void* offset = buffers[0];
      void* o = buffers[1];
      std::vector<void*> args = {&offset, &o, &total};
      const unsigned block = 256;
      dev->launch(handle,
                  static_cast<unsigned>(std::min<int64_t>((total + block - 1) / block, dev->multiprocessors() * 32)),
                  block, args.data());
    };
    return out;
  }

  /// gather and scatter_add: hand-written kernels (cuda_movement.h) over [outer, n, inner] views.
  std::optional<ProvidedKernel> movement_kernel(const KernelCall& call, const std::string& kind,
                                                std::string* why) const {
    const bool gather = kind == "gather";
    const TensorType data = call.operands[gather ? 0 : 2].type;  // x, or the output
    const TensorType indices = call.operands[1].type;
    if (!llvm_backend::codegen_supports(data.dtype)) {
      *why = fmt::format("the CUDA backend has no {} of {} values", kind, dtype_name(data.dtype));
      return std::nullopt;
    }
    std::shared_ptr<GpuDevice> dev = device();
    const int axis = static_cast<int>(call.attrs.get_int("axis") < 0 ? call.attrs.get_int("axis") + data.rank()
                                                                     : call.attrs.get_int("axis"));
    const bool wrap = gather ? call.attrs.get_bool("wrap") : true;
    const int main = dev->add_kernel(gather ? gather_source(next_name("gather"), data.dtype, indices.dtype, wrap)
                                            : scatter_add_source(next_name("scatter_add"), data.dtype, indices.dtype));
    const int zero = gather ? -1 : dev->add_kernel(zero_source(next_name("zero"), data.dtype));
    auto flag = std::make_shared<DeviceBuffer>(*dev, int64_t{sizeof(int32_t)});
    const int32_t cleared = 0;
    dev->copy_from_host(flag->data(), &cleared, sizeof cleared);
    ProvidedKernel out;
    out.generated = true;
    out.kernel.provider = "cuda";
    const SourceLoc loc = call.loc;
    out.kernel.run = [dev, main, zero, flag, data, indices, axis, wrap, gather, kind, loc](
                         std::span<void* const> buffers, const SymbolBindings& sizes) {
      const std::vector<int64_t> shape = evaluate_shape(data.shape, sizes);
      int64_t outer = 1, inner = 1;
      for (int d = 0; d < axis; ++d) outer *= shape[static_cast<size_t>(d)];
      for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
      int64_t n = shape[static_cast<size_t>(axis)], count = num_elements(indices.shape).evaluate(sizes);
      const unsigned block = 256;
      auto grid_for = [&](int64_t total) {
        return static_cast<unsigned>(std::min<int64_t>((total + block - 1) / block, dev->multiprocessors() * 32));
      };
      if (!gather) {
        void* o = buffers[2];
        int64_t total = outer * n * inner;
        std::vector<void*> args = {&o, &total};
        if (total > 0) dev->launch(zero, grid_for(total), block, args.data());
      }
      void* a = buffers[0];
      void* b = buffers[1];
      void* c = buffers[2];
      void* f = flag->data();
      std::vector<void*> args = {&a, &b, &c, &f, &outer, &n, &count, &inner};
      const int64_t total = outer * count * inner;
      if (total > 0) dev->launch(main, grid_for(total), block, args.data());
      if (total > 0 && dev->take_flag(flag->data())) {
        // The interpreter's message, from the indices read back.
        weft::Tensor host = weft::Tensor::zeros(indices.dtype, evaluate_shape(indices.shape, sizes));
        dev->copy_to_host(host.raw(), buffers[1], static_cast<int64_t>(host.nbytes()));
        std::optional<std::string> why = check_indices(kind, host.raw(), indices.dtype, count, axis, n, wrap);
        throw Error(with_location(why ? *why : kind + ": an index is out of range", loc));
      }
    };
    return out;
  }

  std::shared_ptr<GpuDevice> device() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!device_) device_ = make_();
    return device_;
  }

  /// The region is the product alone: its one store writes the accumulator where cuBLAS did.
  static bool plain_product(const LoweredRegion& r) {
    return r.stores.size() == 1 &&
           r.terms[static_cast<size_t>(r.stores[0].term)].kind == llvm_backend::TermKind::gemm &&
           r.stores[0].output == r.gemm_output;
  }

  /// cuBLAS into the accumulator output, then the epilogue kernel reading it (its `gemm` parameter).
  static std::function<void(std::span<void* const>, const SymbolBindings&)> matmul_kernel(
      std::shared_ptr<GpuDevice> dev, std::shared_ptr<Kept> kept) {
    return [dev, kept](std::span<void* const> buffers, const SymbolBindings& sizes) {
      const LoweredRegion& r = kept->parts[0];
      const Graph& body = kept->region.body;
      const Node& mm = *r.matmul;
      const bool ta = mm.attrs.get_bool("transpose_a"), tb = mm.attrs.get_bool("transpose_b");
      auto shape = [&](ValueId v) {
        std::vector<int64_t> s;
        for (const Dim& d : body.type(v).shape) s.push_back(d.evaluate(sizes));
        return s;
      };
      const std::vector<int64_t> a = shape(mm.operands[0]), out = shape(mm.results[0]);
      const int64_t m = out[out.size() - 2], n = out.back(), k = ta ? a[a.size() - 2] : a.back();
      int64_t batch = 1;
      for (size_t d = 0; d + 2 < out.size(); ++d) batch *= out[d];
      auto batched = [&](ValueId v) {
        std::vector<int64_t> s = shape(v);
        return s.size() == out.size() && std::equal(s.begin(), s.end() - 2, out.begin());
      };
      GemmShape g;
      g.transpose_a = ta;
      g.transpose_b = tb;
      g.n = n;
      g.k = k;
      if (r.fold_batch) {  // A's batch folds into its rows; B is shared
        g.m = batch * m;
      } else {
        g.m = m;
        g.batch = batch;
        g.stride_a = batched(mm.operands[0]) ? m * k : 0;
        g.stride_b = batched(mm.operands[1]) ? k * n : 0;
        g.stride_c = m * n;
      }
      auto slot = [&](ValueId v) { return static_cast<size_t>(body.value(v).owner); };
      float* acc = static_cast<float*>(buffers[static_cast<size_t>(r.num_inputs + r.gemm_output)]);
      if (g.m > 0 && g.n > 0)
        dev->gemm(g, static_cast<const float*>(buffers[slot(mm.operands[0])]),
                  static_cast<const float*>(buffers[slot(mm.operands[1])]), acc);
      if (kept->handles[0] >= 0) launch_region(*dev, kept->handles[0], r, buffers, {acc}, sizes);
    };
  }

  std::function<std::shared_ptr<GpuDevice>()> make_;
  mutable std::mutex mutex_;
  mutable std::shared_ptr<GpuDevice> device_;
};

}  // namespace

std::shared_ptr<const KernelProvider> cuda_provider(std::function<std::shared_ptr<GpuDevice>()> device) {
  return std::make_shared<CudaProvider>(std::move(device));
}

}  // namespace weft::cuda_backend

namespace weft {
std::unique_ptr<Backend> make_cuda_backend() {
  return std::make_unique<ProviderChain>("cuda", std::vector{cuda_backend::cuda_provider()});
}
}  // namespace weft
