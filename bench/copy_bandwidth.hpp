// The device's measured copy bandwidth, the ceiling a memory-bound kernel (decode) is compared
// with, two ways: vkCmdCopyBuffer between two device-local buffers, and a compute shader that
// copies 16-byte words (stream_copy.comp). They can differ by a factor: on the H100 the command
// moved about 850 GB/s and PyTorch's copy 3,020 GB/s (bench/RESULTS_H100.md, twenty-fourth session).
#pragma once

#include <vulkan/vulkan_core.h>

#include <algorithm>
#include <string>

#include "vkattn/vkattn.hpp"

namespace vkattn::bench {

struct CopyBandwidth {
  double command_gbps = 0;         // vkCmdCopyBuffer
  double shader_gbps = 0;          // stream_copy.comp; 0 where it failed
  VkDeviceSize shader_bytes = 0;   // what the shader copied: `bytes`, or less where one binding cannot hold it
  std::string shader_failure;      // why the shader probe gave no number (empty where it did)
  // The fixed cost of work recorded the way vkattn-bench records a plan (4 per sample, each
  // followed by a compute barrier): microseconds per call of one dispatch of one 256-invocation
  // workgroup copying 16 bytes, and of two such dispatches with a compute barrier between them
  // (a split-K decode's kernel and merge). 0 where the shader probe failed.
  double one_dispatch_us = 0;
  double two_dispatches_us = 0;
  double best() const { return std::max(command_gbps, shader_gbps); }
};

// GB/s of a `bytes` copy each way, counting the bytes read and the bytes written (2 x bytes per
// copy): the median of 9 timed copies after copying for `warm_up_seconds` of GPU time untimed (an
// idle GPU starts at low clocks: on the H200, 11 copies of 1 GiB straight after start-up measured
// 851 GB/s, a quarter of what the card moves). The shader copies at most maxStorageBufferRange
// bytes (a multiple of 16), after a check copy of distinct words that must come back exact; a
// shader failure leaves shader_gbps 0 and says why, a vkCmdCopyBuffer failure is the error.
Result<CopyBandwidth> measure_copy_bandwidth(Context& ctx, VkDeviceSize bytes, double warm_up_seconds = 0.5);

}  // namespace vkattn::bench
