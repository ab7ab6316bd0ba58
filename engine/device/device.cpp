#include "device/device.hpp"

#include <iostream>

namespace vkattn {

Device::~Device() {
  if (!owns_device) return;
  if (device != VK_NULL_HANDLE) vkDestroyDevice(device, nullptr);  // idle: ~ContextState waited
  if (messenger != VK_NULL_HANDLE) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy != nullptr) destroy(instance, messenger, nullptr);
  }
  if (instance != VK_NULL_HANDLE) vkDestroyInstance(instance, nullptr);
}

void Device::log_message(LogLevel level, const std::string& message) const {
  if (log) {
    log(level, message);
    return;
  }
  const char* tag = level == LogLevel::kError ? "error" : level == LogLevel::kWarning ? "warning" : "info";
  std::cerr << "vkattn " << tag << ": " << message << "\n";
}

void Device::name_object(VkObjectType type, std::uint64_t handle, const std::string& name) const {
  if (set_object_name == nullptr) return;
  VkDebugUtilsObjectNameInfoEXT name_info{VK_STRUCTURE_TYPE_DEBUG_UTILS_OBJECT_NAME_INFO_EXT};
  name_info.objectType = type;
  name_info.objectHandle = handle;
  name_info.pObjectName = name.c_str();
  set_object_name(device, &name_info);
}

int Device::find_memory_type(std::uint32_t type_bits, VkMemoryPropertyFlags required,
                             VkMemoryPropertyFlags preferred) const {
  int fallback = -1;
  for (std::uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
    if ((type_bits & (1u << i)) == 0) continue;
    const VkMemoryPropertyFlags f = memory.memoryTypes[i].propertyFlags;
    if ((f & required) != required) continue;
    if ((f & preferred) == preferred) return static_cast<int>(i);
    if (fallback < 0) fallback = static_cast<int>(i);
  }
  return fallback;
}

}  // namespace vkattn
