#include "backends/cuda/cuda_runner.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "backends/cuda/cuda_driver.h"
#include "backends/cuda/cuda_source.h"
#include "backends/cuda/nvrtc.h"
#include "ir/error.h"

namespace weft::cuda_backend {

namespace {

constexpr unsigned kLoopBlock = 256;

int64_t product(const Shape& dims, const std::vector<llvm_backend::AxisClass>* classes, llvm_backend::AxisClass want,
                const SymbolBindings& sizes) {
  int64_t n = 1;
  for (size_t d = 0; d < dims.size(); ++d)
    if (!classes || (*classes)[d] == want) n *= dims[d].evaluate(sizes);
  return n;
}

/// A loaded kernel per source: modules stay loaded for the process.
CUfunction function_for(const KernelSource& k) {
  static std::mutex mutex;
  static std::map<std::string, CUfunction> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = loaded.find(k.source);
  if (it != loaded.end()) return it->second;
  const DriverApi& api = driver();
  Ptx ptx = compile_to_ptx(k.source, k.name, device_info().compute_capability);
  CUmodule module = nullptr;
  check(api.cuModuleLoadData(&module, ptx.text.c_str()), "cuModuleLoadData");
  CUfunction f = nullptr;
  check(api.cuModuleGetFunction(&f, module, k.name.c_str()), "cuModuleGetFunction");
  loaded.emplace(k.source, f);
  return f;
}

/// Device memory freed on every path out.
struct DeviceMemory {
  const DriverApi& api;
  std::vector<CUdeviceptr> ptrs;
  explicit DeviceMemory(const DriverApi& a) : api(a) {}
  ~DeviceMemory() {
    for (CUdeviceptr p : ptrs) api.cuMemFree(p);
  }
  CUdeviceptr alloc(size_t bytes) {
    CUdeviceptr p = 0;
    check(api.cuMemAlloc(&p, std::max<size_t>(bytes, 1)), "cuMemAlloc");
    ptrs.push_back(p);
    return p;
  }
};

}  // namespace

LaunchShape launch_shape(const llvm_backend::LoweredRegion& r, const SymbolBindings& sizes, int multiprocessors,
                         int reduction_block) {
  const unsigned most = static_cast<unsigned>(std::max(1, multiprocessors) * 32);
  if (r.kind == "reduction") {
    const int64_t rows = product(r.space, &r.axis_class, llvm_backend::AxisClass::outer, sizes);
    return {static_cast<unsigned>(std::min<int64_t>(rows, most)), static_cast<unsigned>(reduction_block)};
  }
  const int64_t total = product(r.space, nullptr, llvm_backend::AxisClass::outer, sizes);
  const int64_t blocks = (total + kLoopBlock - 1) / kLoopBlock;
  return {static_cast<unsigned>(std::min<int64_t>(blocks, most)), kLoopBlock};
}

void run_region_on_device(const llvm_backend::LoweredRegion& r, std::vector<Tensor*> buffers,
                          const SymbolBindings& sizes) {
  if (r.kind == "matmul") throw Error("run_region_on_device: a matmul region's product needs cuBLAS");
  const DriverApi& api = driver();
  KernelSource k = cuda_source(r, "weft_region");
  CUfunction f = function_for(k);
  DeviceMemory memory(api);
  std::vector<CUdeviceptr> ptrs;
  for (Tensor* t : buffers) {
    CUdeviceptr p = memory.alloc(t->nbytes());
    if (t->nbytes() > 0) check(api.cuMemcpyHtoD(p, t->raw(), t->nbytes()), "cuMemcpyHtoD");
    ptrs.push_back(p);
  }
  std::vector<int64_t> dims;
  for (const std::string& s : r.symbols) {
    auto it = sizes.find(s);
    if (it == sizes.end()) throw Error(fmt::format("run_region_on_device: no value for the symbol '{}'", s));
    dims.push_back(it->second);
  }
  std::vector<void*> args;
  for (CUdeviceptr& p : ptrs) args.push_back(&p);
  for (int64_t& d : dims) args.push_back(&d);
  LaunchShape shape = launch_shape(r, sizes, device_info().multiprocessors);
  if (shape.grid > 0) {
    check(api.cuLaunchKernel(f, shape.grid, 1, 1, shape.block, 1, 1, 0, nullptr, args.data(), nullptr),
          "cuLaunchKernel");
    check(api.cuCtxSynchronize(), "the region's kernel");
  }
  for (size_t b = static_cast<size_t>(r.num_inputs); b < buffers.size(); ++b)
    if (buffers[b]->nbytes() > 0)
      check(api.cuMemcpyDtoH(buffers[b]->raw(), ptrs[b], buffers[b]->nbytes()), "cuMemcpyDtoH");
}

}  // namespace weft::cuda_backend
