// Sums of [B, H, S, D] rows on the device (shaders/row_add.comp). The ring backward adds every
// pair's dQ, dK and dV into fp32 accumulators with it, in a fixed order (deterministic), and
// writes the sums out in the tensors' dtype, so gradients never pass through host memory but
// between ranks.
#pragma once

#include <vulkan/vulkan_core.h>

#include <cstdint>
#include <memory>

#include "vkattn/context.hpp"
#include "vkattn/status.hpp"
#include "vkattn/tensor.hpp"

namespace vkattn {

class RowAdd {
 public:
  // dst (dst_dtype) = [dst +] src (src_dtype) over rows of `width` elements (even, <= 256 x 2);
  // `accumulate` false writes src converted.
  static Result<RowAdd> create(Context& ctx, DType src, DType dst, std::int64_t width, bool accumulate);
  RowAdd(RowAdd&&) noexcept;
  RowAdd& operator=(RowAdd&&) noexcept;
  ~RowAdd();

  // Records the add of `src` into `dst`, two [B, H, rows, width] views of the same shape (the
  // innermost stride 1, fp16 / bf16 rows starting at even elements). Views are checked first;
  // nothing is recorded on error.
  Status record(VkCommandBuffer cmd, const TensorView& src, const TensorView& dst);

 private:
  struct Impl;
  explicit RowAdd(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkattn
