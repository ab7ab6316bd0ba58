// Submit-and-wait of one recording with full barriers around it: what the plans' run() does.
#pragma once

#include <vulkan/vulkan_core.h>

#include <functional>

#include "vkattn/context.hpp"
#include "vkattn/status.hpp"

namespace vkattn {

// Records: every earlier write -> compute reads/writes; `record(cmd)`; compute writes -> every
// later access. Submits, waits, and returns the first failure (submission or recording).
inline Status run_isolated(Context& ctx, const std::function<Status(VkCommandBuffer)>& record) {
  Status recorded;
  Status submitted = ctx.submit_and_wait([&](VkCommandBuffer cmd) {
    VkMemoryBarrier before{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_MEMORY_WRITE_BIT,
                           VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &before,
                         0, nullptr, 0, nullptr);
    recorded = record(cmd);
    VkMemoryBarrier after{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_SHADER_WRITE_BIT,
                          VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1, &after, 0,
                         nullptr, 0, nullptr);
  });
  if (!submitted) return submitted;
  return recorded;
}

}  // namespace vkattn
