// Dropout's per-call values (vkattn/dropout.hpp): each recording of a plan with dropout writes the
// call's seed and offset into the plan's parameter buffer (AttnParamsHeader::dropout_seed_lo ..
// dropout_offset) with vkCmdUpdateBuffer, fenced on both sides, so calls recorded one after
// another each run with their own values.
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "planning/attn_params.hpp"
#include "vkattn/dropout.hpp"

namespace vkattn {

inline void record_dropout_rng(VkCommandBuffer cmd, VkBuffer params, const DropoutRng& rng) {
  const std::array<std::uint32_t, 3> words{static_cast<std::uint32_t>(rng.seed),
                                           static_cast<std::uint32_t>(rng.seed >> 32), rng.offset};
  // Earlier dispatches (this plan's, in submission order) read the old values: done before the
  // update; the update is visible to the dispatches after it. Both sides count shader writes too:
  // the parameter buffer also fills bindings a variant does not use, some declared writable.
  const VkAccessFlags shader = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  const VkMemoryBarrier before{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, shader, VK_ACCESS_TRANSFER_WRITE_BIT};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0,
                       nullptr, 0, nullptr);
  vkCmdUpdateBuffer(cmd, params, offsetof(AttnParamsHeader, dropout_seed_lo), sizeof(words), words.data());
  const VkMemoryBarrier after{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_TRANSFER_WRITE_BIT, shader};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &after, 0,
                       nullptr, 0, nullptr);
}

}  // namespace vkattn
