#include "device/buffer_alloc.hpp"

#include <cstring>
#include <string>

#include "base/vk_util.hpp"
#include "device/device.hpp"

namespace vkattn {

BufferAlloc::~BufferAlloc() {
  if (buffer != VK_NULL_HANDLE) vkDestroyBuffer(device, buffer, nullptr);
  if (memory != VK_NULL_HANDLE) vkFreeMemory(device, memory, nullptr);
}

Status allocate(const Device& s, VkDeviceSize bytes, VkBufferUsageFlags usage, VkMemoryPropertyFlags required,
                VkMemoryPropertyFlags preferred, BufferAlloc& out) {
  out.device = s.device;
  out.size = bytes;
  // Requests past the device's limits fail here, before Vulkan sees them (the validation layer
  // would flag them, and some drivers abort on them).
  if (s.info.max_buffer_size != 0 && bytes > s.info.max_buffer_size) {
    return Status(ErrorCode::kOutOfMemory, "a buffer of " + std::to_string(bytes) + " bytes exceeds maxBufferSize = " +
                                               std::to_string(s.info.max_buffer_size));
  }
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = bytes;
  bi.usage = usage;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VKATTN_VK(vkCreateBuffer(s.device, &bi, nullptr, &out.buffer), "vkCreateBuffer(" + std::to_string(bytes) + " bytes)");
  VkMemoryRequirements req{};
  vkGetBufferMemoryRequirements(s.device, out.buffer, &req);
  const int type = s.find_memory_type(req.memoryTypeBits, required, preferred);
  if (type < 0) return Status(ErrorCode::kUnsupported, "no memory type with the required properties");
  const VkDeviceSize heap = s.memory.memoryHeaps[s.memory.memoryTypes[type].heapIndex].size;
  if (req.size > heap || (s.info.max_memory_allocation_size != 0 && req.size > s.info.max_memory_allocation_size)) {
    return Status(ErrorCode::kOutOfMemory,
                  "an allocation of " + std::to_string(req.size) + " bytes exceeds the memory heap (" +
                      std::to_string(heap) +
                      " bytes) or maxMemoryAllocationSize = " + std::to_string(s.info.max_memory_allocation_size));
  }
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = static_cast<std::uint32_t>(type);
  VKATTN_VK(vkAllocateMemory(s.device, &ai, nullptr, &out.memory),
            "vkAllocateMemory(" + std::to_string(req.size) + " bytes)");
  VKATTN_VK(vkBindBufferMemory(s.device, out.buffer, out.memory, 0), "vkBindBufferMemory");
  return Status::ok();
}

Status create_host_written_buffer(const Device& s, std::span<const std::byte> data, BufferAlloc& out,
                                  VkBufferUsageFlags extra_usage) {
  const VkDeviceSize bytes = (data.size() + 3) / 4 * 4;
  VKATTN_TRY(allocate(s, bytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | extra_usage,
                      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                      VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, out));
  void* mapped = nullptr;
  VKATTN_VK(vkMapMemory(s.device, out.memory, 0, bytes, 0, &mapped), "vkMapMemory");
  std::memset(mapped, 0, bytes);
  std::memcpy(mapped, data.data(), data.size());
  vkUnmapMemory(s.device, out.memory);
  return Status::ok();
}

}  // namespace vkattn
