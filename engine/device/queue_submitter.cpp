#include "device/queue_submitter.hpp"

#include <string>
#include <utility>

#include "base/vk_util.hpp"

namespace vkattn {

Result<std::unique_ptr<QueueSubmitter>> QueueSubmitter::create(const Device& device) {
  std::unique_ptr<QueueSubmitter> q(new QueueSubmitter(device));
  VkCommandPoolCreateInfo pool{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pool.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT | VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
  pool.queueFamilyIndex = device.queue_family;
  VKATTN_VK(vkCreateCommandPool(device.device, &pool, nullptr, &q->pool_), "vkCreateCommandPool");
  VkFenceCreateInfo fence{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VKATTN_VK(vkCreateFence(device.device, &fence, nullptr, &q->fence_), "vkCreateFence");
  return q;
}

QueueSubmitter::~QueueSubmitter() {
  if (fence_ != VK_NULL_HANDLE) vkDestroyFence(device_.device, fence_, nullptr);
  if (pool_ != VK_NULL_HANDLE) vkDestroyCommandPool(device_.device, pool_, nullptr);
}

Status QueueSubmitter::submit_and_wait(const std::function<void(VkCommandBuffer)>& record) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (device_lost_.load()) {
    return Status(ErrorCode::kDeviceLost, "the device was lost by an earlier submission; recreate the context",
                  VK_ERROR_DEVICE_LOST);
  }
  const VkDevice dev = device_.device;
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VKATTN_VK(vkAllocateCommandBuffers(dev, &ai, &cmd), "vkAllocateCommandBuffers");
  struct FreeCmd {
    QueueSubmitter& q;
    VkCommandBuffer cmd;
    // After a loss the buffer may still be pending; destroying the pool frees it later.
    ~FreeCmd() {
      if (!q.device_lost_.load()) vkFreeCommandBuffers(q.device_.device, q.pool_, 1, &cmd);
    }
  } free_cmd{*this, cmd};
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  VKATTN_VK(vkBeginCommandBuffer(cmd, &bi), "vkBeginCommandBuffer");
  record(cmd);
  VKATTN_VK(vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd;
  VKATTN_VK(vkResetFences(dev, 1, &fence_), "vkResetFences");
  VkResult r = vkQueueSubmit(device_.queue, 1, &si, fence_);
  const char* what = "vkQueueSubmit";
  if (r == VK_SUCCESS) {
    bool sliced = static_cast<bool>(wait_hook_);
    r = vkWaitForFences(dev, 1, &fence_, VK_TRUE, sliced ? kWaitSliceNs : UINT64_MAX);
    while (r == VK_TIMEOUT) {
      if (sliced) {
        try {
          sliced = wait_hook_();
        } catch (...) {
          sliced = false;  // the submission is in flight: finish waiting for it regardless
        }
      }
      r = vkWaitForFences(dev, 1, &fence_, VK_TRUE, sliced ? kWaitSliceNs : UINT64_MAX);
    }
    what = "vkWaitForFences";
  }
  if (r == VK_ERROR_DEVICE_LOST) {
    device_lost_.store(true);
    device_.log_message(LogLevel::kError,
                        std::string(what) + " returned VK_ERROR_DEVICE_LOST; the context refuses further work");
  }
  VKATTN_VK(r, what);
  return Status::ok();
}

void QueueSubmitter::set_wait_hook(std::function<bool()> hook) {
  std::lock_guard<std::mutex> lock(mutex_);
  wait_hook_ = std::move(hook);
}

}  // namespace vkattn
