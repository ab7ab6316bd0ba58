// Everything a Context holds; shared by the engine's files (not part of the public API).
#pragma once

#include <vulkan/vulkan_core.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "vkattn/context.hpp"

namespace vkattn {

class PipelineRegistry;

struct ContextState {
  ContextOptions options;
  LogCallback log;
  bool owns_device = false;  // false in adopt mode: instance/device are the host's

  VkInstance instance = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;  // owned mode with validation only
  VkPhysicalDevice physical_device = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  std::uint32_t queue_family = 0;
  DeviceInfo info;
  VkPhysicalDeviceMemoryProperties memory{};

  PFN_vkCmdPushDescriptorSetKHR cmd_push_descriptor_set = nullptr;  // set iff info.push_descriptors
  PFN_vkSetDebugUtilsObjectNameEXT set_object_name = nullptr;       // null without debug utils
  // Set iff info.pipeline_statistics.
  PFN_vkGetPipelineExecutablePropertiesKHR get_executable_properties = nullptr;
  PFN_vkGetPipelineExecutableStatisticsKHR get_executable_statistics = nullptr;

  std::mutex submit_mutex;  // guards command_pool and queue submissions
  VkCommandPool command_pool = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  // Set when a submission or wait returned VK_ERROR_DEVICE_LOST; every later submission then
  // fails at once with kDeviceLost (the Vulkan device cannot recover; the host recreates it).
  std::atomic<bool> device_lost{false};

  std::unique_ptr<PipelineRegistry> pipelines;
  std::atomic<int> live_children{0};  // Tensors and plans not yet destroyed

  void log_message(LogLevel level, const std::string& message) const;
  // Gives `handle` a VK_EXT_debug_utils name when the extension is enabled.
  void name_object(VkObjectType type, std::uint64_t handle, const std::string& name) const;
  // The index of a memory type with `required` flags (and `preferred` if possible), or -1.
  int find_memory_type(std::uint32_t type_bits, VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred) const;
};

}  // namespace vkattn
