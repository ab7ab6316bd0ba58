// Copies between a [B, H, S, D] TensorView (any strides, D contiguous) on the device and dense
// [B][H][S][D] bytes: host bytes through a host-visible staging buffer, or a device buffer
// directly; one vkCmdCopyBuffer region per run of adjacent rows. The ring sends shards and
// gradients through host memory.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include "vkattn/context.hpp"
#include "vkattn/status.hpp"
#include "vkattn/tensor.hpp"

namespace vkattn {

struct BufferAlloc;

// A host-visible staging buffer (host-cached where the device has such memory), mapped while it
// lives, grown on demand and kept between copies. The ring copies every shard and gradient
// through one: allocating and mapping a fresh one per copy (tens to hundreds of MB each) cost
// more than the copies themselves (bench/RESULTS_H100.md, twenty-fifth session).
class HostStaging {
 public:
  HostStaging();
  HostStaging(const HostStaging&) = delete;
  HostStaging& operator=(const HostStaging&) = delete;
  ~HostStaging();
  // At least `bytes` mapped; a smaller buffer is replaced (its contents are not kept).
  Status reserve(Context& ctx, VkDeviceSize bytes);
  VkBuffer buffer() const;
  std::byte* mapped() const { return mapped_; }

 private:
  std::unique_ptr<BufferAlloc> alloc_;
  std::byte* mapped_ = nullptr;
  VkDeviceSize capacity_ = 0;
};

// Bytes of rows [s0, s0 + rows) of `view`, dense: B H rows D elements of its dtype.
std::size_t dense_rows_bytes(const TensorView& view, std::int64_t rows);

// Rows [s0, s0 + rows) of `view` (its own dtype's bytes) into `out` (dense_rows_bytes long),
// dense [B][H][rows][D], through `stage`.
Status gather_rows(Context& ctx, const TensorView& view, std::int64_t s0, std::int64_t rows, HostStaging& stage,
                   std::span<std::byte> out);
// Rows [s0, s0 + rows) of `view` into the start of `dense` (a device buffer, [B][H][rows][D] in
// the view's dtype), on the device.
Status copy_rows_dense(Context& ctx, const TensorView& view, std::int64_t s0, std::int64_t rows, VkBuffer dense);
// `in` (dense [B][H][rows][D] in the view's dtype, dense_rows_bytes long) into rows
// [s0, s0 + rows) of `view`, through `stage`.
Status scatter_rows(Context& ctx, const TensorView& view, std::int64_t s0, std::int64_t rows, HostStaging& stage,
                    std::span<const std::byte> in);

}  // namespace vkattn
