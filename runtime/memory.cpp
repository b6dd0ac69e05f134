/** \file
 * Host memory and owned buffers. See memory.h.
 */
#include "runtime/memory.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "ir/error.h"

namespace weft {

namespace {

class HostMemory : public MemoryResource {
 public:
  MemorySpace space() const override { return MemorySpace::host; }
  std::string name() const override { return "host"; }
  void* allocate(int64_t bytes) override {
    if (bytes <= 0) return nullptr;
    int64_t size = (bytes + Program::alignment - 1) / Program::alignment * Program::alignment;
    void* p = std::aligned_alloc(Program::alignment, static_cast<size_t>(size));
    if (!p) throw Error(fmt::format("out of memory: could not allocate {} bytes of host memory", size));
    return p;
  }
  void deallocate(void* p) override { std::free(p); }
  void copy_from_host(void* dst, const void* src, int64_t bytes) override { copy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, int64_t bytes) override { copy(dst, src, bytes); }
  void copy_within(void* dst, const void* src, int64_t bytes) override { copy(dst, src, bytes); }

 private:
  static void copy(void* dst, const void* src, int64_t bytes) {
    if (bytes > 0 && dst != src) std::memmove(dst, src, static_cast<size_t>(bytes));
  }
};

}  // namespace

MemoryResource& host_memory() {
  static HostMemory host;
  return host;
}

DeviceBuffer::DeviceBuffer(MemoryResource& resource, int64_t bytes)
    : resource_(&resource), data_(resource.allocate(bytes)), bytes_(bytes) {}

DeviceBuffer::~DeviceBuffer() {
  if (resource_ && data_) resource_->deallocate(data_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : resource_(std::exchange(other.resource_, nullptr)),
      data_(std::exchange(other.data_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (resource_ && data_) resource_->deallocate(data_);
    resource_ = std::exchange(other.resource_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

}  // namespace weft
