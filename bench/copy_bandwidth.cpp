#include "copy_bandwidth.hpp"

#include <algorithm>
#include <vector>

#include "gpu_timer.hpp"

namespace vkattn::bench {

Result<double> measure_copy_bandwidth(Context& ctx, VkDeviceSize bytes) {
  Result<Tensor> src = Tensor::create_bytes(ctx, bytes);
  if (!src) return src.status();
  Result<Tensor> dst = Tensor::create_bytes(ctx, bytes);
  if (!dst) return dst.status();
  if (Status s = src->fill(1.0f); !s) return s;
  Result<GpuTimer> timer = GpuTimer::create(ctx);
  if (!timer) return timer.status();
  const VkBufferCopy region{0, 0, bytes};
  std::vector<double> seconds;
  for (int i = 0; i < 11; ++i) {
    Result<double> t = timer->time([&](VkCommandBuffer cmd) {
      vkCmdCopyBuffer(cmd, src->buffer(), dst->buffer(), 1, &region);
      return Status::ok();
    });
    if (!t) return t.status();
    if (i >= 2) seconds.push_back(*t);
  }
  std::sort(seconds.begin(), seconds.end());
  return 2.0 * static_cast<double>(bytes) / seconds[seconds.size() / 2] * 1e-9;
}

}  // namespace vkattn::bench
