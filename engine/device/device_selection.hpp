// Which physical device an owned context uses.
#pragma once

#include <vulkan/vulkan_core.h>

#include <string>

#include "vkattn/status.hpp"

namespace vkattn {

// `selector`: "" (discrete > integrated > virtual > cpu > other), a decimal index, or a
// case-insensitive substring of the device name. kNotFound lists the devices that exist.
Result<VkPhysicalDevice> select_physical_device(VkInstance instance, const std::string& selector);

// The first queue family with compute, preferring one without graphics; kUnsupported if none.
Result<std::uint32_t> select_compute_queue_family(VkPhysicalDevice device);

}  // namespace vkattn
