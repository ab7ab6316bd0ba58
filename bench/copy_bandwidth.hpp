// The device's measured memory bandwidth: vkCmdCopyBuffer between two device-local buffers,
// the ceiling a memory-bound kernel (decode) is compared with.
#pragma once

#include <vulkan/vulkan_core.h>

#include "vkattn/vkattn.hpp"

namespace vkattn::bench {

// GB/s of a `bytes` copy, counting the bytes read and the bytes written (2 x bytes per copy):
// the median of 9 timed copies after 2 untimed ones.
Result<double> measure_copy_bandwidth(Context& ctx, VkDeviceSize bytes);

}  // namespace vkattn::bench
