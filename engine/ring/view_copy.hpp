// Copies between a [B, H, S, D] TensorView (any strides, D contiguous) on the device and dense
// host bytes in [B][H][S][D] order, through a host-visible staging buffer and one
// vkCmdCopyBuffer region per row. The ring sends shards and gradients through host memory.
#pragma once

#include <cstddef>
#include <vector>

#include "vkattn/context.hpp"
#include "vkattn/status.hpp"
#include "vkattn/tensor.hpp"

namespace vkattn {

// Rows [s0, s0 + rows) of `view` (its own dtype's bytes) into `out`, dense [B][H][rows][D].
Status gather_rows(Context& ctx, const TensorView& view, std::int64_t s0, std::int64_t rows, std::vector<std::byte>& out);
// `in` (dense [B][H][rows][D] in the view's dtype) into rows [s0, s0 + rows) of `view`.
Status scatter_rows(Context& ctx, const TensorView& view, std::int64_t s0, std::int64_t rows,
                    const std::vector<std::byte>& in);

}  // namespace vkattn
