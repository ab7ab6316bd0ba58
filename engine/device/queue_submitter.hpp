// One-shot submissions to the device's queue: record, submit, wait. Used by the context's
// submit_and_wait (plans' run(), tensor transfers) and the coopmat layout probe.
#pragma once

#include <vulkan/vulkan_core.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "device/device.hpp"
#include "vkattn/status.hpp"

namespace vkattn {

class QueueSubmitter {
 public:
  static Result<std::unique_ptr<QueueSubmitter>> create(const Device& device);
  ~QueueSubmitter();
  QueueSubmitter(const QueueSubmitter&) = delete;
  QueueSubmitter& operator=(const QueueSubmitter&) = delete;

  // Records with `record` into a fresh primary command buffer, submits it and waits; serialized
  // by an internal lock. VK_ERROR_DEVICE_LOST comes back as kDeviceLost, and every later call then
  // returns kDeviceLost without touching the queue.
  Status submit_and_wait(const std::function<void(VkCommandBuffer)>& record);
  bool device_lost() const { return device_lost_.load(); }

  // While a hook is set, submit_and_wait waits for the GPU in slices of kWaitSliceNs and calls
  // it between them, until it returns false (nothing more to do: the rest of that wait blocks).
  // The ring sets one for the length of a call so that MPI moves the shards in flight while the
  // GPU computes (MPI progresses a transfer only inside its own calls). An empty function
  // restores the plain wait. (Sliced waits are not free: on lavapipe, slicing every wait of a
  // ring of one rank cost 20 %.) The hook runs with the submitter's lock held: it must not
  // submit or set a hook itself; one that throws is treated as returning false. One hook per
  // context: a second set_wait_hook replaces the first.
  static constexpr std::uint64_t kWaitSliceNs = 100'000;
  void set_wait_hook(std::function<bool()> hook);

 private:
  explicit QueueSubmitter(const Device& device) : device_(device) {}

  const Device& device_;
  std::mutex mutex_;  // guards pool_ and queue submissions
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  std::function<bool()> wait_hook_;  // set_wait_hook (guarded by mutex_)
  // Set when a submission or wait returned VK_ERROR_DEVICE_LOST (the Vulkan device cannot
  // recover; the host recreates it).
  std::atomic<bool> device_lost_{false};
};

}  // namespace vkattn
