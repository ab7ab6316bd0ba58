// GPU time of recorded work, from Vulkan timestamps around it (used by vkattn-bench and
// vkattn-run).
#pragma once

#include <vulkan/vulkan_core.h>

#include <functional>

#include "vkattn/vkattn.hpp"

namespace vkattn::bench {

// A compute -> compute memory barrier between two recorded passes (the next reads what the last
// wrote).
void compute_barrier(VkCommandBuffer cmd);

class GpuTimer {
 public:
  static Result<GpuTimer> create(Context& ctx);
  GpuTimer(GpuTimer&& other) noexcept;
  GpuTimer& operator=(GpuTimer&&) = delete;
  ~GpuTimer();

  // Records a full barrier, a timestamp, `record(cmd)`, a timestamp; submits, waits and returns
  // the seconds between the timestamps. `record` returns the Status of its recording.
  Result<double> time(const std::function<Status(VkCommandBuffer)>& record);

 private:
  explicit GpuTimer(Context& ctx, VkQueryPool pool) : ctx_(&ctx), pool_(pool) {}
  Context* ctx_;
  VkQueryPool pool_;
};

}  // namespace vkattn::bench
