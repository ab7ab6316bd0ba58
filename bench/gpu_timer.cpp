#include "gpu_timer.hpp"

#include <utility>

namespace vkattn::bench {

Result<GpuTimer> GpuTimer::create(Context& ctx) {
  if (!ctx.info().timestamps) return Status(ErrorCode::kUnsupported, "the queue has no timestamps");
  VkQueryPoolCreateInfo qpi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
  qpi.queryType = VK_QUERY_TYPE_TIMESTAMP;
  qpi.queryCount = 2;
  VkQueryPool pool = VK_NULL_HANDLE;
  const VkResult r = vkCreateQueryPool(ctx.device(), &qpi, nullptr, &pool);
  if (r != VK_SUCCESS) return Status::from_vk(r, "vkCreateQueryPool");
  return GpuTimer(ctx, pool);
}

GpuTimer::GpuTimer(GpuTimer&& other) noexcept : ctx_(other.ctx_), pool_(std::exchange(other.pool_, VK_NULL_HANDLE)) {}

GpuTimer::~GpuTimer() {
  if (pool_ != VK_NULL_HANDLE) vkDestroyQueryPool(ctx_->device(), pool_, nullptr);
}

Result<double> GpuTimer::time(const std::function<Status(VkCommandBuffer)>& record) {
  Status recorded;
  Status s = ctx_->submit_and_wait([&](VkCommandBuffer cmd) {
    vkCmdResetQueryPool(cmd, pool_, 0, 2);
    // Everything before, to the compute shaders and copies (the copy-bandwidth probe) recorded next.
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_MEMORY_WRITE_BIT,
                       VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                           VK_ACCESS_TRANSFER_WRITE_BIT};
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, nullptr,
                         0, nullptr);
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, pool_, 0);
    recorded = record(cmd);
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pool_, 1);
  });
  if (!s) return s;
  if (!recorded) return recorded;
  std::uint64_t ts[2] = {};
  const VkResult r = vkGetQueryPoolResults(ctx_->device(), pool_, 0, 2, sizeof(ts), ts, sizeof(std::uint64_t),
                                           VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
  if (r != VK_SUCCESS) return Status::from_vk(r, "vkGetQueryPoolResults");
  return static_cast<double>(ts[1] - ts[0]) * static_cast<double>(ctx_->info().timestamp_period_ns) * 1e-9;
}

void compute_barrier(VkCommandBuffer cmd) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER, nullptr, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
                     VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0,
                       nullptr, 0, nullptr);
}

}  // namespace vkattn::bench
