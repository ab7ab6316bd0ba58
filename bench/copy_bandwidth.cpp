#include "copy_bandwidth.hpp"

#include <algorithm>
#include <vector>

#include "gpu_timer.hpp"

namespace vkattn::bench {

Result<double> measure_copy_bandwidth(Context& ctx, VkDeviceSize bytes, double warm_up_seconds) {
  Result<Tensor> src = Tensor::create_bytes(ctx, bytes);
  if (!src) return src.status();
  Result<Tensor> dst = Tensor::create_bytes(ctx, bytes);
  if (!dst) return dst.status();
  if (Status s = src->fill(1.0f); !s) return s;
  Result<GpuTimer> timer = GpuTimer::create(ctx);
  if (!timer) return timer.status();
  const VkBufferCopy region{0, 0, bytes};
  const auto copy = [&](VkCommandBuffer cmd) {
    vkCmdCopyBuffer(cmd, src->buffer(), dst->buffer(), 1, &region);
    return Status::ok();
  };
  double warm = 0.0;
  for (int i = 0; i < 2 || (warm < warm_up_seconds && i < 10000); ++i) {
    Result<double> t = timer->time(copy);
    if (!t) return t.status();
    warm += *t;
  }
  std::vector<double> seconds;
  for (int i = 0; i < 9; ++i) {
    Result<double> t = timer->time(copy);
    if (!t) return t.status();
    seconds.push_back(*t);
  }
  std::sort(seconds.begin(), seconds.end());
  return 2.0 * static_cast<double>(bytes) / seconds[seconds.size() / 2] * 1e-9;
}

}  // namespace vkattn::bench
