// Sums of [B, H, S, D] rows on the device (shaders/row_add.comp). The ring backward adds every
// pair's dQ, dK and dV into fp32 accumulators with it, in a fixed order (deterministic), and
// writes the sums out in the tensors' dtype: gradients reach host memory only to travel between
// ranks.
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
  // dst (dst_dtype) = [dst +] src (src_dtype) over rows of `width` elements (even, at most 512);
  // `accumulate` false writes src converted.
  static Result<RowAdd> create(Context& ctx, DType src, DType dst, std::int64_t width, bool accumulate);
  RowAdd(RowAdd&&) noexcept;
  RowAdd& operator=(RowAdd&&) noexcept;
  ~RowAdd();

  // `src` and `dst`: two [B, H, rows, width] views of the same shape (innermost stride 1; a
  // 16-bit dst starts its rows at even elements, as every written view). Checks them as views
  // named `src_name` and `dst_name` in the messages, and binds nothing.
  Status validate(const TensorView& src, const TensorView& dst, const char* src_name, const char* dst_name) const;
  // validate(), then the descriptor set of the pair, so that record() of it cannot fail on one.
  Status reserve(const TensorView& src, const TensorView& dst);
  // Records the add (after reserve() of the same views); nothing is recorded on error.
  Status record(VkCommandBuffer cmd, const TensorView& src, const TensorView& dst);
  // As ForwardPlan::release_descriptor_sets.
  void release_descriptor_sets();

 private:
  struct Impl;
  explicit RowAdd(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkattn
