#include "device/device_selection.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace vkattn {
namespace {

int type_rank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return 3;
    default:
      return 4;
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

Result<VkPhysicalDevice> select_physical_device(VkInstance instance, const std::string& selector) {
  std::uint32_t count = 0;
  VkResult r = vkEnumeratePhysicalDevices(instance, &count, nullptr);
  if (r != VK_SUCCESS) return Status::from_vk(r, "vkEnumeratePhysicalDevices");
  std::vector<VkPhysicalDevice> devices(count);
  r = vkEnumeratePhysicalDevices(instance, &count, devices.data());
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) return Status::from_vk(r, "vkEnumeratePhysicalDevices");
  if (devices.empty())
    return Status(ErrorCode::kNotFound, "no Vulkan physical device (is mesa-vulkan-drivers installed?)");

  std::vector<VkPhysicalDeviceProperties> props(devices.size());
  std::string listing;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    vkGetPhysicalDeviceProperties(devices[i], &props[i]);
    listing += (i ? ", " : "") + std::to_string(i) + ": " + props[i].deviceName;
  }
  if (selector.empty()) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < devices.size(); ++i) {
      if (type_rank(props[i].deviceType) < type_rank(props[best].deviceType)) best = i;
    }
    return devices[best];
  }
  const bool numeric = std::all_of(selector.begin(), selector.end(), [](unsigned char c) { return std::isdigit(c); });
  if (numeric) {
    // Digits only; more than 9 of them is past any device count (and past what stoul takes).
    const unsigned long index = selector.size() <= 9 ? std::stoul(selector) : ~0ul;
    if (index >= devices.size()) {
      return Status(ErrorCode::kNotFound, "device index " + selector + " out of range (devices: " + listing + ")");
    }
    return devices[index];
  }
  const std::string needle = lower(selector);
  for (std::size_t i = 0; i < devices.size(); ++i) {
    if (lower(props[i].deviceName).find(needle) != std::string::npos) return devices[i];
  }
  return Status(ErrorCode::kNotFound, "no device name contains \"" + selector + "\" (devices: " + listing + ")");
}

Result<std::uint32_t> select_compute_queue_family(VkPhysicalDevice device) {
  std::uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(device, &count, families.data());
  int any = -1;
  for (std::uint32_t i = 0; i < count; ++i) {
    if ((families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) == 0) continue;
    if ((families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) == 0) return i;  // a dedicated compute family
    if (any < 0) any = static_cast<int>(i);
  }
  if (any < 0) return Status(ErrorCode::kUnsupported, "device has no compute queue family");
  return static_cast<std::uint32_t>(any);
}

}  // namespace vkattn
