#include "kernels/kernel.hpp"

#include "base/vk_util.hpp"

namespace vkattn {

Result<Kernel> Kernel::create(const Device& device, PipelineRegistry& registry, const KernelBuild& build) {
  PipelineKey key;
  key.shader = build.shader;
  key.spec_words = build.spec_words;
  const PipelineRecipe recipe{build.name, build.spec_map, build.storage_buffers, build.push_constant_bytes};
  Result<std::shared_ptr<const Pipeline>> pipeline = registry.get(key, recipe);
  if (!pipeline) return pipeline.status();
  Kernel k;
  k.pipeline_ = pipeline.value();
  k.binder_ = std::make_unique<DescriptorBinder>(device, k.pipeline_);
  return k;
}

Status Kernel::record_bytes(VkCommandBuffer cmd, std::span<const VkDescriptorBufferInfo> buffers, const void* push,
                            std::uint32_t push_bytes, WorkgroupCount groups) const {
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_->handle);
  VKATTN_TRY(binder_->bind(cmd, buffers));
  vkCmdPushConstants(cmd, pipeline_->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
  vkCmdDispatch(cmd, groups[0], groups[1], groups[2]);
  return Status::ok();
}

void compute_barrier(VkCommandBuffer cmd) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
                     VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0,
                       nullptr, 0, nullptr);
}

}  // namespace vkattn
