// Validation of one TensorView against what a kernel expects, and how it is then bound.
#pragma once

#include <vulkan/vulkan_core.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "vkattn/status.hpp"
#include "vkattn/tensor.hpp"

namespace vkattn {

struct Device;

// What a kernel expects of one tensor argument.
struct ViewRequirement {
  const char* name = "";                   // "q", "lse" ... (prefix of every message)
  std::span<const std::int64_t> shape;     // expected logical shape
  std::span<const char* const> dim_names;  // "B", "Hq" ... one per dim
  DType dtype = DType::kF32;
  bool innermost_contiguous = true;  // last stride must be 1
  bool written = false;              // output: no self-overlap; fp16 words not shared
  bool broadcast = false;            // a dim (but the last) may be 1 where more is expected: stride 0
  bool dense = false;                // strides must be row-major contiguous
};

// A validated view, ready to bind: the descriptor range starts at an aligned byte offset and the
// kernel adds `element_offset`; strides are in elements.
struct BoundView {
  VkDescriptorBufferInfo descriptor{};
  std::uint32_t element_offset = 0;
  std::array<std::uint32_t, kMaxRank> strides{};
  VkDeviceSize first_byte = 0;  // bytes [first_byte, end_byte) of the buffer the view may touch
  VkDeviceSize end_byte = 0;
};

// Every check names the field and its value, e.g. "q.shape[3] (D) = 12, expected 64".
Result<BoundView> check_view(const Device& device, const TensorView& view, const ViewRequirement& req);

// kInvalidArgument if the written view `out` may touch bytes of `in` (same buffer, ranges meet).
Status check_no_overlap(const BoundView& out, const char* out_name, const TensorView& out_view, const BoundView& in,
                        const char* in_name, const TensorView& in_view);

}  // namespace vkattn
