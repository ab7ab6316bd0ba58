// The device's measured memory bandwidth: vkCmdCopyBuffer between two device-local buffers,
// the ceiling a memory-bound kernel (decode) is compared with.
#pragma once

#include <vulkan/vulkan_core.h>

#include "vkattn/vkattn.hpp"

namespace vkattn::bench {

// GB/s of a `bytes` copy, counting the bytes read and the bytes written (2 x bytes per copy):
// the median of 9 timed copies after copying for `warm_up_seconds` of GPU time untimed (an idle
// GPU starts at low clocks: on the H200, 11 copies of 1 GiB straight after start-up measured
// 851 GB/s, a quarter of what the card moves).
Result<double> measure_copy_bandwidth(Context& ctx, VkDeviceSize bytes, double warm_up_seconds = 0.5);

}  // namespace vkattn::bench
