// The bottom layer of the engine: one Vulkan device and what every layer above needs of it —
// handles, the queue, memory properties, extension entry points, logging and debug-utils names.
// Nothing here knows about contexts, pipelines or plans; those layers take a Device.
#pragma once

#include <vulkan/vulkan_core.h>

#include <cstdint>
#include <string>

#include "vkattn/device.hpp"
#include "vkattn/log.hpp"

namespace vkattn {

struct Device {
  LogCallback log;           // stderr when empty
  bool owns_device = false;  // false when adopted: instance and device are the host's

  VkInstance instance = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;  // owned devices with validation only
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

  Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  // An owned device is destroyed with its messenger and instance (its owner waits it idle first,
  // and destroys what uses it); an adopted one is left alone.
  ~Device();

  void log_message(LogLevel level, const std::string& message) const;
  // Gives `handle` a VK_EXT_debug_utils name when the extension is enabled.
  void name_object(VkObjectType type, std::uint64_t handle, const std::string& name) const;
  // The index of a memory type with `required` flags (and `preferred` if possible), or -1.
  int find_memory_type(std::uint32_t type_bits, VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred) const;
};

}  // namespace vkattn
