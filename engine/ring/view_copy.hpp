// Copies between a [B, H, S, D] TensorView (any strides, D contiguous) on the device and dense
// [B][H][S][D] bytes: host bytes through a host-visible staging buffer, or a device buffer
// directly; one vkCmdCopyBuffer region per run of adjacent rows. The ring sends shards and
// gradients through host memory.
#pragma once

#include <cstddef>
#include <vector>

#include "vkattn/context.hpp"
#include "vkattn/status.hpp"
#include "vkattn/tensor.hpp"

namespace vkattn {

// Rows [s0, s0 + rows) of `view` (its own dtype's bytes) into `out`, dense [B][H][rows][D].
Status gather_rows(Context& ctx, const TensorView& view, std::int64_t s0, std::int64_t rows, std::vector<std::byte>& out);
// Rows [s0, s0 + rows) of `view` into the start of `dense` (a device buffer, [B][H][rows][D] in
// the view's dtype), on the device.
Status copy_rows_dense(Context& ctx, const TensorView& view, std::int64_t s0, std::int64_t rows, VkBuffer dense);
// `in` (dense [B][H][rows][D] in the view's dtype) into rows [s0, s0 + rows) of `view`.
Status scatter_rows(Context& ctx, const TensorView& view, std::int64_t s0, std::int64_t rows,
                    const std::vector<std::byte>& in);

}  // namespace vkattn
