/** \file
 * Memory spaces and the buffers that live in them.
 *
 * A `MemoryResource` hands out and copies memory of one space (ir/program.h MemorySpace): the host's
 * (aligned malloc), or a device's — a device provider (CUDA) supplies its own, and the program
 * executor (runtime/program_executor.h) keeps the arena and the parameters there between runs,
 * copying only the caller's inputs in and the outputs out. Host memory is what every provider
 * today uses; tests exercise the device path with a resource that stands in for a device.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "ir/program.h"

namespace weft {

class MemoryResource {
 public:
  virtual ~MemoryResource() = default;
  virtual MemorySpace space() const = 0;
  virtual std::string name() const = 0;
  /// `bytes` aligned to Program::alignment; throws weft::Error when out of memory. Zero bytes may
  /// return null.
  virtual void* allocate(int64_t bytes) = 0;
  virtual void deallocate(void* p) = 0;
  /// Copies `bytes` between this space and the host (either way) or within this space.
  virtual void copy_from_host(void* dst, const void* src, int64_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, int64_t bytes) = 0;
  virtual void copy_within(void* dst, const void* src, int64_t bytes) = 0;
};

/// The host's memory (process-wide).
MemoryResource& host_memory();

/// Memory of one resource, owned: freed when destroyed; moves, never copies.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(MemoryResource& resource, int64_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  int64_t bytes() const { return bytes_; }
  MemoryResource* resource() const { return resource_; }

 private:
  MemoryResource* resource_ = nullptr;
  void* data_ = nullptr;
  int64_t bytes_ = 0;
};

}  // namespace weft
