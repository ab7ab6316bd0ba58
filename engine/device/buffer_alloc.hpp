// A VkBuffer with its own VkDeviceMemory, owned with RAII: device tensors, staging buffers and
// the small host-written parameter buffers of plans.
#pragma once

#include <vulkan/vulkan_core.h>

#include <span>

#include "vkattn/status.hpp"

namespace vkattn {

struct Device;

struct BufferAlloc {
  VkDevice device = VK_NULL_HANDLE;
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkDeviceSize size = 0;

  BufferAlloc() = default;
  BufferAlloc(const BufferAlloc&) = delete;
  BufferAlloc& operator=(const BufferAlloc&) = delete;
  ~BufferAlloc();
};

// Creates a buffer of `bytes` with `usage` in memory that has `required` (and, if some type has
// them, `preferred`) properties.
Status allocate(const Device& s, VkDeviceSize bytes, VkBufferUsageFlags usage, VkMemoryPropertyFlags required,
                VkMemoryPropertyFlags preferred, BufferAlloc& out);

// A storage buffer holding `data`, written through a host mapping (no queue submission), in
// device-local memory where the device has host-visible device-local memory. `extra_usage`: more
// usage flags (e.g. TRANSFER_DST for a buffer that recordings also update).
Status create_host_written_buffer(const Device& s, std::span<const std::byte> data, BufferAlloc& out,
                                  VkBufferUsageFlags extra_usage = 0);

}  // namespace vkattn
